"""Objective distances of synthesized speech to a reference recording: MCD-DTW and F0 RMSE.

Both work on 16 kHz audio with 10 ms frames and share one DTW alignment (on the cepstra), since
a synthesized sentence and its recording differ in timing.

- MCD: mel-cepstral distortion in dB, (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2), mean over
  the DTW path, with c_1..c_24 (c_0, the energy, left out) taken as the DCT of the log-amplitude
  80-band mel spectrum (25 ms Hann windows). This is the MFCC-style MCD; papers that use SPTK
  mel-generalized cepstra get somewhat different absolute values, so compare within this toolkit.
  The cepstra use the cepstrum's scaling (log|X| = c_0 + 2 sum c_d cos), and the log-mel is
  floored 80 dB below the utterance's loudest band so that silences do not dominate.
- F0 RMSE: Hz, over the aligned frames voiced in both signals. F0 comes from a normalized
  autocorrelation tracker (40 ms frames, 60-400 Hz, voiced when the peak correlation is above
  0.6 and the frame is within 35 dB of the loudest one; a 5-frame median filter removes isolated
  octave jumps); also the fraction of aligned frames
  whose voicing decisions differ (VDE).
"""

import numpy as np

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
N_FFT = 512
WIN = 400  # 25 ms
N_MELS = 80
N_CEPS = 24
FLOOR = 1e-4  # -80 dB below the loudest band: digital silence and a faint noise floor count alike
F0_WIN = 640  # 40 ms
F0_MIN, F0_MAX = 60.0, 400.0
VOICING_THRESHOLD = 0.6
SILENCE_DB = 35.0
NEAR_BEST = 0.9  # a shorter lag wins when its correlation is within 90 % of the best
MEDIAN = 5  # frames of the median filter on the F0 track
_MCD_SCALE = 10.0 / np.log(10.0) * np.sqrt(2.0)


def frames(wav, size, hop=HOP):
    """Centered frames [n, size] (reflect padding), n = len // hop + 1."""
    wav = np.asarray(wav, dtype=np.float64)
    pad = size // 2
    if len(wav) <= pad:
        wav = np.pad(wav, (0, pad + 1 - len(wav)))
    padded = np.pad(wav, (pad, pad), mode="reflect")
    n = len(wav) // hop + 1
    index = np.arange(size)[None] + hop * np.arange(n)[:, None]
    return padded[index]


_FILTERS = {}


def _mel_dct():
    if not _FILTERS:
        import torch  # noqa: F401 - the codec module's filterbank is torch-based

        from speechslytherin.tts.codec import mel_filterbank

        _FILTERS["mel"] = mel_filterbank(N_FFT // 2 + 1, N_MELS, SAMPLE_RATE).numpy().astype(np.float64)
        k = np.arange(N_MELS)
        # the cepstrum's own scaling, log|X| = c_0 + 2 sum_d c_d cos(...): c_d is a mean over the bands
        dct = np.cos(np.pi / N_MELS * (k[None] + 0.5) * np.arange(N_CEPS + 1)[:, None]) / N_MELS
        _FILTERS["dct"] = dct
    return _FILTERS["mel"], _FILTERS["dct"]


def mel_cepstrum(wav):
    """[n, 24] cepstra c_1..c_24 of 16 kHz audio."""
    mel, dct = _mel_dct()
    window = np.zeros(N_FFT)
    window[(N_FFT - WIN) // 2:(N_FFT - WIN) // 2 + WIN] = np.hanning(WIN)
    spec = np.abs(np.fft.rfft(frames(wav, N_FFT) * window, axis=1))
    mel_amp = spec @ mel
    log_mel = np.log(np.maximum(mel_amp, FLOOR * max(float(mel_amp.max()), 1e-12)))
    return (log_mel @ dct.T)[:, 1:]


def dtw_path(cost):
    """Minimum-cost monotonic alignment of a cost matrix [n, m]; returns (rows, cols) index arrays."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev = acc[i], acc[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + cost[i - 1]  # from (i-1, j-1) or (i-1, j)
        for j in range(1, m + 1):
            left = row[j - 1] + cost[i - 1, j - 1]
            row[j] = diag_up[j - 1] if diag_up[j - 1] < left else left
    i, j, rows, cols = n, m, [], []
    while i > 0 and j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        step = np.argmin((acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]))
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1]), np.array(cols[::-1])


def pitch(wav):
    """(f0 [n] in Hz, 0 where unvoiced) on the same 10 ms grid as mel_cepstrum."""
    x = frames(wav, F0_WIN)
    x = x - x.mean(1, keepdims=True)
    energy = (x ** 2).sum(1)
    spec = np.fft.rfft(x, 2 * F0_WIN, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :F0_WIN]
    lags = np.arange(F0_WIN)
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    norm = acf[:, lo:hi + 1] / (np.maximum(energy, 1e-12)[:, None] * (F0_WIN - lags[lo:hi + 1]) / F0_WIN)
    # the shortest lag whose correlation is near the best one: a periodic signal correlates as well
    # at 2 and 3 periods, and taking the maximum would halve or third the pitch
    peak = norm.max(1)
    near = norm >= NEAR_BEST * peak[:, None]
    best = near.argmax(1)
    rows = np.arange(len(best))
    for _ in range(hi - lo):  # climb to the local maximum of that peak
        step = np.minimum(best + 1, hi - lo)
        better = norm[rows, step] > norm[rows, best]
        if not better.any():
            break
        best = np.where(better, step, best)
    peak = norm[rows, best]
    loud = 10 * np.log10(np.maximum(energy, 1e-12))
    voiced = (peak > VOICING_THRESHOLD) & (loud > loud.max() - SILENCE_DB)
    f0 = np.where(voiced, SAMPLE_RATE / (best + lo), 0.0)
    from scipy.signal import medfilt

    return medfilt(f0, MEDIAN) if len(f0) >= MEDIAN else f0  # removes single-frame octave jumps


def mcd_f0(synth, ref):
    """{"mcd", "f0_rmse", "vde", "frames"} of 16 kHz synthesized audio against the reference."""
    cs, cr = mel_cepstrum(synth), mel_cepstrum(ref)
    diff = cs[:, None, :] - cr[None, :, :]
    cost = np.sqrt((diff ** 2).sum(-1))
    rows, cols = dtw_path(cost)
    mcd = float(_MCD_SCALE * cost[rows, cols].mean())
    fs, fr = pitch(synth), pitch(ref)
    fs, fr = fs[np.minimum(rows, len(fs) - 1)], fr[np.minimum(cols, len(fr) - 1)]
    both = (fs > 0) & (fr > 0)
    f0_rmse = float(np.sqrt(np.mean((fs[both] - fr[both]) ** 2))) if both.any() else None
    vde = float(np.mean((fs > 0) != (fr > 0)))
    return {"mcd": mcd, "f0_rmse": f0_rmse, "vde": vde, "frames": int(len(rows))}
