"""Composite quality measures CSIG, CBAK, COVL (Hu & Loizou, IEEE TASLP 16(1), 2008).

They are linear regressions of listener ratings (signal distortion, background intrusiveness,
overall quality; 1-5 MOS scale) on four objective measures, each defined in Loizou's
"Speech Enhancement: Theory and Practice" (2nd ed.) and computed here from those definitions:

- LLR: log-likelihood ratio of LPC models (order 10 below 10 kHz, else 16), mean of the
  lowest 95 % of frames;
- WSS: Klatt's weighted spectral slope distance over 25 Gaussian critical-band filters,
  mean of the lowest 95 % of frames;
- segSNR: segmental SNR, each frame clipped to [-10, 35] dB, mean over all frames;
- PESQ: the speech-enhancement literature (CMGAN, MP-SENet, SEMamba) uses wide-band PESQ at
  16 kHz, so `pesq_mode="wb"` is the default here.

    CSIG = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS
    CBAK = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR
    COVL = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS          (each clipped to [1, 5])

Frames: 30 ms Hann windows (w[n] = 0.5 (1 - cos(2 pi n / (N + 1))), n = 1..N), hop N/4.
Both signals are cut to the shorter length and offset by the float eps, as in the reference
MATLAB code, so digital silence does not give log(0). Everything is vectorised over frames.
"""

import math

import numpy as np

from speechslytherin.metrics.perceptual import MetricResult, pesq_nb, pesq_wb

ALPHA = 0.95  # fraction of frames (the lowest) kept for LLR and WSS
SEGSNR_RANGE = (-10.0, 35.0)
# Klatt's critical bands (Hz): centre frequencies and bandwidths.
CENT_FREQ = np.array([
    50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717, 904.128, 1020.38,
    1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17,
    3597.63,
])
BANDWIDTH = np.array([
    70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914,
    140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126, 321.465,
    346.136,
])
K_MAX = 20.0      # Klatt's global-peak weight constant
K_LOC_MAX = 1.0   # Klatt's local-peak weight constant


def _frames(x, sample_rate):
    """[n_frames, win] Hann-windowed frames of 30 ms, hop win // 4."""
    win = int(round(30 * sample_rate / 1000))
    hop = win // 4
    n_frames = int(len(x) / hop - win / hop)
    if n_frames <= 0:
        raise ValueError(f"signal of {len(x)} samples is shorter than one 30 ms analysis frame")
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, win + 1) / (win + 1)))
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    return x[idx] * window


def _lowest_mean(values, alpha=ALPHA):
    """Mean of the round(alpha * n) smallest values (non-finite values sort last)."""
    v = np.sort(np.where(np.isfinite(values), values, np.inf))
    keep = v[: int(round(len(v) * alpha))]
    return float(np.mean(keep)) if len(keep) else float("nan")


def _lpc(frames, order):
    """Autocorrelation lags [F, order+1] and LPC polynomials [F, order+1] = [1, -a1, ..., -ap]
    by the Levinson-Durbin recursion, for every frame at once."""
    n = frames.shape[1]
    r = np.stack([np.einsum("ft,ft->f", frames[:, : n - k], frames[:, k:]) for k in range(order + 1)], axis=1)
    a = np.zeros((frames.shape[0], order))
    err = r[:, 0].copy()
    for i in range(order):
        acc = np.einsum("fj,fj->f", a[:, :i], r[:, i:0:-1]) if i else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            k = (r[:, i + 1] - acc) / err
        prev = a[:, :i].copy()
        a[:, i] = k
        if i:
            a[:, :i] = prev - k[:, None] * prev[:, ::-1]
        err = (1 - k * k) * err
    return r, np.concatenate([np.ones((frames.shape[0], 1)), -a], axis=1)


def llr_frames(clean, processed, sample_rate):
    """Per-frame log-likelihood ratio d = log(a_p R_c a_p' / a_c R_c a_c')."""
    order = 10 if sample_rate < 10000 else 16
    fc, fp = _frames(clean, sample_rate), _frames(processed, sample_rate)
    r_c, a_c = _lpc(fc, order)
    _, a_p = _lpc(fp, order)
    lags = np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])
    toeplitz = r_c[:, lags]  # [F, p+1, p+1]
    num = np.einsum("fi,fij,fj->f", a_p, toeplitz, a_p)
    den = np.einsum("fi,fij,fj->f", a_c, toeplitz, a_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(num / den)


def _critical_band_filters(n_half, sample_rate):
    """[25, n_half] Gaussian critical-band weights, equal area per band, zero below -30 dB."""
    max_freq = sample_rate / 2
    min_factor = math.exp(-30.0 / (2.0 * 2.303))
    j = np.arange(n_half)[None, :]
    f0 = np.floor(CENT_FREQ / max_freq * n_half)[:, None]
    bw = (BANDWIDTH / max_freq * n_half)[:, None]
    norm = (np.log(BANDWIDTH[0]) - np.log(BANDWIDTH))[:, None]
    filt = np.exp(-11 * ((j - f0) / bw) ** 2 + norm)
    return np.where(filt > min_factor, filt, 0.0)


def _nearest_peaks(energy, slope):
    """Klatt's nearest spectral peak of each band (searching right on a rising slope, left on a
    falling one), with the indexing of the reference implementation. energy [F, B], slope [F, B-1]."""
    n_frames, n_slope = slope.shape
    rows = np.arange(n_frames)
    stop_right = np.concatenate([slope <= 0, np.ones((n_frames, 1), bool)], axis=1)  # index n_slope: end
    rising = np.concatenate([np.ones((n_frames, 1), bool), slope > 0], axis=1)     # index 0 stands for -1
    peaks = np.empty_like(slope)
    for i in range(n_slope):
        n = i + np.argmax(stop_right[:, i:], axis=1)          # first n >= i with slope[n] <= 0
        right = energy[rows, n - 1]
        m = i + 1 - np.argmax(rising[:, i + 1::-1], axis=1)   # last m <= i+1 rising (ext index)
        left = energy[rows, m]
        peaks[:, i] = np.where(slope[:, i] > 0, right, left)
    return peaks


def wss_frames(clean, processed, sample_rate):
    """Per-frame weighted spectral slope distance (Klatt 1982), normalised by the weight sum."""
    win = int(round(30 * sample_rate / 1000))
    n_fft = int(2 ** math.ceil(math.log2(2 * win)))
    n_half = n_fft // 2
    filt = _critical_band_filters(n_half, sample_rate)
    energies = []
    for x in (clean, processed):
        spec = np.abs(np.fft.rfft(_frames(x, sample_rate), n_fft, axis=1)[:, :n_half]) ** 2
        energies.append(10 * np.log10(np.maximum(spec @ filt.T, 1e-10)))
    weights, slopes = [], []
    for energy in energies:
        slope = energy[:, 1:] - energy[:, :-1]
        peaks = _nearest_peaks(energy, slope)
        w_max = K_MAX / (K_MAX + energy.max(axis=1, keepdims=True) - energy[:, :-1])
        w_loc = K_LOC_MAX / (K_LOC_MAX + peaks - energy[:, :-1])
        weights.append(w_max * w_loc)
        slopes.append(slope)
    w = (weights[0] + weights[1]) / 2
    return np.sum(w * (slopes[0] - slopes[1]) ** 2, axis=1) / np.sum(w, axis=1)


def segsnr_frames(clean, processed, sample_rate):
    """Per-frame SNR (dB) of the windowed frames, clipped to [-10, 35] dB."""
    fc, fp = _frames(clean, sample_rate), _frames(processed, sample_rate)
    eps = np.finfo(np.float64).eps
    sig = np.sum(fc**2, axis=1)
    noise = np.sum((fc - fp) ** 2, axis=1)
    snr = 10 * np.log10(sig / (noise + eps) + eps)
    return np.clip(snr, *SEGSNR_RANGE)


def _align(clean, processed):
    clean = np.asarray(clean, dtype=np.float64).reshape(-1)
    processed = np.asarray(processed, dtype=np.float64).reshape(-1)
    n = min(len(clean), len(processed))
    eps = np.finfo(np.float64).eps
    return clean[:n] + eps, processed[:n] + eps


def composite_from(pesq_value, llr, wss, segsnr):
    """(CSIG, CBAK, COVL) from the four measures, each clipped to [1, 5]."""
    csig = 3.093 - 1.029 * llr + 0.603 * pesq_value - 0.009 * wss
    cbak = 1.634 + 0.478 * pesq_value - 0.007 * wss + 0.063 * segsnr
    covl = 1.594 + 0.805 * pesq_value - 0.512 * llr - 0.007 * wss
    return tuple(float(min(5.0, max(1.0, v))) for v in (csig, cbak, covl))


def composite(est, ref, sample_rate, pesq_mode="wb"):
    """Dict with csig, cbak, covl, pesq, llr, wss, segsnr for one utterance.

    Never raises: on failure (too short, silent, PESQ error) returns {"error": reason}.
    """
    try:
        clean, processed = _align(ref, est)
        if not (np.all(np.isfinite(clean)) and np.all(np.isfinite(processed))):
            return {"error": "non-finite samples"}
        # the eps offset would hide digital silence from PESQ; refuse it as the PESQ wrappers do
        for name, x in (("reference", ref), ("estimate", est)):
            if not np.any(np.asarray(x)[: len(clean)]):
                return {"error": f"silent {name}"}
        llr = _lowest_mean(llr_frames(clean, processed, sample_rate))
        wss = _lowest_mean(wss_frames(clean, processed, sample_rate))
        seg = float(np.mean(segsnr_frames(clean, processed, sample_rate)))
    except ValueError as err:
        return {"error": str(err)}
    if not all(math.isfinite(v) for v in (llr, wss, seg)):
        return {"error": "LLR/WSS/segSNR not finite (silent or degenerate frames)"}
    fn = pesq_wb if pesq_mode == "wb" else pesq_nb
    res: MetricResult = fn(processed, clean, sample_rate)
    if res.value is None:
        return {"error": f"pesq failed: {res.reason}"}
    csig, cbak, covl = composite_from(res.value, llr, wss, seg)
    return {"csig": csig, "cbak": cbak, "covl": covl, "pesq": res.value, "llr": llr, "wss": wss,
            "segsnr": seg}
