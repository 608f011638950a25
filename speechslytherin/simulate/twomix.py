"""Two-speaker mixtures the way wsj0-2mix makes them ("min" mode).

Both sources start at time 0, are brought to the same active level, and are scaled by
+x dB and -x dB with x uniform in [0, 2.5] (a relative level of 0-5 dB); the mixture and
both sources are then cut to the shorter source and scaled together so the loudest of the
three peaks at 0.9. The mixture id is `<utt1>_<x>_<utt2>_<-x>` as in wsj0-2mix.

Sources are written as 16-bit integers and the mixture is their integer sum, so
mix == s1 + s2 holds exactly in the files.
"""

import os

import numpy as np
import soundfile as sf

MAX_GAIN_DB = 2.5
PEAK = 0.9


def to_int16(wav):
    """Float in [-1, 1) -> int16 with rounding (the one quantiser used for every file)."""
    return np.clip(np.round(np.asarray(wav, dtype=np.float64) * 32768.0), -32768, 32767).astype(
        np.int16
    )


def plan_mixtures(utts_by_speaker, n_mixtures, rng):
    """[(utt1, gain1_db, utt2, gain2_db)] with two different speakers and unique ids."""
    speakers = sorted(utts_by_speaker)
    if len(speakers) < 2:
        raise ValueError(f"two-speaker mixtures need at least 2 speakers, got {speakers}")
    plans, seen = [], set()
    max_tries = 50 * n_mixtures + 100
    for _ in range(max_tries):
        if len(plans) == n_mixtures:
            break
        i, j = rng.choice(len(speakers), size=2, replace=False)
        u1 = utts_by_speaker[speakers[i]][int(rng.integers(len(utts_by_speaker[speakers[i]])))]
        u2 = utts_by_speaker[speakers[j]][int(rng.integers(len(utts_by_speaker[speakers[j]])))]
        gain = round(float(rng.uniform(0.0, MAX_GAIN_DB)), 5)
        if (u1, u2) in seen or (u2, u1) in seen:
            continue
        seen.add((u1, u2))
        plans.append((u1, gain, u2, -gain))
    if len(plans) < n_mixtures:
        raise ValueError(
            f"could only form {len(plans)} distinct mixtures of the {n_mixtures} asked; "
            "use more utterances per speaker"
        )
    return plans


def mixture_id(u1, g1, u2, g2):
    return f"{u1}_{g1:.5f}_{u2}_{g2:.5f}".replace("-0.00000", "0.00000")


def _as_float(wav):
    wav = np.asarray(wav)
    if wav.dtype == np.int16:
        return wav.astype(np.float64) / 32768.0
    return wav.astype(np.float64)


def make_mixture(wav1, gain1_db, wav2, gain2_db):
    """(mix, s1, s2) as int16 arrays, min mode; wav1/wav2 are level-normalised int16 or float."""
    a, b = (_as_float(w) for w in (wav1, wav2))
    length = min(len(a), len(b))
    s1 = a[:length] * 10.0 ** (gain1_db / 20.0)
    s2 = b[:length] * 10.0 ** (gain2_db / 20.0)
    peak = max(np.max(np.abs(s1 + s2)), np.max(np.abs(s1)), np.max(np.abs(s2)), 1e-9)
    scale = PEAK / peak
    q1, q2 = to_int16(s1 * scale), to_int16(s2 * scale)
    mix = q1.astype(np.int32) + q2.astype(np.int32)
    # |s1+s2| <= 0.9 before rounding, so the integer sum cannot leave the int16 range
    return mix.astype(np.int16), q1, q2


def write_mixtures(split_dir, plans, wavs_8k, sample_rate=8000):
    """Write mix/, s1/, s2/ under split_dir; returns {mixture id: length in samples}."""
    for sub in ("mix", "s1", "s2"):
        os.makedirs(os.path.join(split_dir, sub), exist_ok=True)
    lengths = {}
    for u1, g1, u2, g2 in plans:
        mid = mixture_id(u1, g1, u2, g2)
        mix, s1, s2 = make_mixture(wavs_8k[u1], g1, wavs_8k[u2], g2)
        for sub, wav in (("mix", mix), ("s1", s1), ("s2", s2)):
            sf.write(os.path.join(split_dir, sub, mid + ".wav"), wav, sample_rate, subtype="PCM_16")
        lengths[mid] = len(mix)
    return lengths


def si_snr_db(estimate, reference):
    """Scale-invariant SNR in dB (zero-mean), for corpus statistics."""
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref + 1e-12) * ref
    noise = est - target
    return 10.0 * np.log10((target @ target + 1e-12) / (noise @ noise + 1e-12))
