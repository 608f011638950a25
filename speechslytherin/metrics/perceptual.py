"""PESQ and STOI wrappers that never stop a scoring run.

Each returns MetricResult(value, reason): value None and a reason when the metric cannot be
computed for this utterance (silent or too short audio, unsupported sample rate, ...).
"""

import collections
import warnings

import numpy as np

MetricResult = collections.namedtuple("MetricResult", "value reason")


def _prepare(est, ref):
    est = np.asarray(est, dtype=np.float64).reshape(-1)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    if n == 0:
        return None, None, "empty signal"
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(ref))):
        return None, None, "non-finite samples"
    if not np.any(ref):
        return None, None, "silent reference"
    if not np.any(est):
        return None, None, "silent estimate"
    return est, ref, None


def _pesq(est, ref, sample_rate, mode):
    if mode == "wb" and sample_rate != 16000:
        return MetricResult(None, f"wide-band PESQ needs 16000 Hz audio, got {sample_rate} Hz")
    if sample_rate not in (8000, 16000):
        return MetricResult(None, f"PESQ needs 8000 or 16000 Hz audio, got {sample_rate} Hz")
    est, ref, reason = _prepare(est, ref)
    if reason:
        return MetricResult(None, reason)
    try:
        from pesq import pesq

        return MetricResult(float(pesq(sample_rate, ref, est, mode)), None)
    except Exception as err:  # noqa: BLE001 - any PESQ failure is reported per utterance, never fatal
        return MetricResult(None, f"{type(err).__name__}: {err}".strip())


def pesq_nb(est, ref, sample_rate):
    """Narrow-band PESQ (ITU-T P.862, MOS-LQO) at 8 or 16 kHz."""
    return _pesq(est, ref, sample_rate, "nb")


def pesq_wb(est, ref, sample_rate):
    """Wide-band PESQ (ITU-T P.862.2) at 16 kHz."""
    return _pesq(est, ref, sample_rate, "wb")


def stoi(est, ref, sample_rate, extended=False):
    """STOI (or extended STOI) in [0, 1]; pystoi resamples to 10 kHz internally."""
    est, ref, reason = _prepare(est, ref)
    if reason:
        return MetricResult(None, reason)
    try:
        from pystoi import stoi as _stoi

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(_stoi(ref, est, sample_rate, extended=extended))
        for w in caught:
            if "Not enough STFT frames" in str(w.message):
                return MetricResult(None, "too short after removing silent frames (needs >= 30 frames, ~0.4 s)")
        if not np.isfinite(value):
            return MetricResult(None, "non-finite STOI")
        return MetricResult(value, None)
    except Exception as err:  # noqa: BLE001 - reported per utterance, never fatal
        return MetricResult(None, f"{type(err).__name__}: {err}".strip())
