"""Speech level, silence trimming and resampling for simulated corpora.

Mixing gains only mean what they say ("speaker 1 is 1.3 dB louder") when every source is
first brought to the same *active* speech level, i.e. the RMS over frames that hold speech,
not over the pauses (the idea behind ITU-T P.56, which wsj0-2mix uses). These helpers do
that with a simple frame-energy speech detector, and trim long silences so that utterances
are mostly speech.
"""

from math import gcd

import numpy as np
from scipy.signal import resample_poly

FRAME_S = 0.02
ACTIVITY_FLOOR_DB = 35.0  # frames more than this below the loudest frame count as silence
TARGET_ACTIVE_DBFS = -25.0


def _frame_energy_db(wav, sample_rate):
    frame = max(1, int(round(FRAME_S * sample_rate)))
    n_frames = len(wav) // frame
    if n_frames == 0:
        return np.full(1, -200.0), frame
    frames = wav[: n_frames * frame].reshape(n_frames, frame).astype(np.float64)
    energy = np.mean(frames**2, axis=1)
    return 10.0 * np.log10(energy + 1e-20), frame


def active_frames(wav, sample_rate, floor_db=ACTIVITY_FLOOR_DB):
    """Boolean mask over 20 ms frames: True where the frame is speech-like (loud enough)."""
    energy_db, frame = _frame_energy_db(wav, sample_rate)
    return energy_db > (energy_db.max() - floor_db), frame


def active_level_db(wav, sample_rate):
    """RMS level (dBFS) over the active frames only."""
    mask, frame = active_frames(wav, sample_rate)
    n_frames = len(mask)
    frames = wav[: n_frames * frame].reshape(n_frames, frame).astype(np.float64)
    active = frames[mask] if mask.any() else frames
    return 10.0 * np.log10(np.mean(active**2) + 1e-20)


def speech_activity(wav, sample_rate):
    """Fraction of 20 ms frames that are active (a sanity statistic for mixtures)."""
    mask, _ = active_frames(wav, sample_rate)
    return float(mask.mean())


def trim_silences(wav, sample_rate, edge_s=0.1, max_pause_s=0.35):
    """Cut leading/trailing silence to `edge_s` and shorten inner pauses to `max_pause_s`."""
    mask, frame = active_frames(wav, sample_rate)
    if not mask.any():
        return wav
    edge = int(round(edge_s / FRAME_S))
    max_pause = int(round(max_pause_s / FRAME_S))
    idx = np.flatnonzero(mask)
    first, last = max(0, idx[0] - edge), min(len(mask), idx[-1] + 1 + edge)
    keep = np.zeros(len(mask), dtype=bool)
    keep[first:last] = True
    # shorten each run of inactive frames inside the kept span
    run_start = None
    for i in range(first, last + 1):
        silent = i < last and not mask[i]
        if silent and run_start is None:
            run_start = i
        elif not silent and run_start is not None:
            if i - run_start > max_pause:
                keep[run_start + max_pause // 2 : i - (max_pause - max_pause // 2)] = False
            run_start = None
    pieces = [wav[i * frame : (i + 1) * frame] for i in np.flatnonzero(keep)]
    return np.concatenate(pieces) if pieces else wav


def normalise_active_level(wav, sample_rate, target_dbfs=TARGET_ACTIVE_DBFS):
    """Scale so that the active speech level is `target_dbfs` (peaks limited to 0.99)."""
    gain_db = target_dbfs - active_level_db(wav, sample_rate)
    out = wav.astype(np.float64) * 10.0 ** (gain_db / 20.0)
    peak = np.max(np.abs(out)) if len(out) else 0.0
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)


def resample(wav, from_sr, to_sr):
    """Polyphase resampling (deterministic, anti-aliased)."""
    if from_sr == to_sr:
        return np.asarray(wav, dtype=np.float32)
    g = gcd(int(from_sr), int(to_sr))
    return resample_poly(wav.astype(np.float64), to_sr // g, from_sr // g).astype(np.float32)
