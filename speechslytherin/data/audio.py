"""Audio reading and writing with checks that name the file and the fix.

All audio I/O in the toolkit goes through here (soundfile underneath), so every recipe
rejects the same bad input the same way: wrong sample rate, multi-channel, empty, corrupt
or non-finite audio.
"""

import os

import numpy as np
import soundfile as sf

from speechslytherin.utils.atomic import atomic_path


class AudioError(ValueError):
    """Raised for audio that cannot be used as it is; the message says what to do."""


def read_audio(path, expected_sr=None, mono=True, allow_empty=False):
    """Read a wav as float32 [time] (mono) or [time, channels]; returns (wav, sample_rate)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: file not found. Check the manifest or the corpus root.")
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(
            f"{path}: cannot be decoded as audio ({err}). Re-create or remove the file."
        ) from None
    if expected_sr is not None and sr != expected_sr:
        raise AudioError(
            f"{path}: sample rate {sr} Hz, expected {expected_sr} Hz. Resample the data "
            f"(e.g. `sox in.wav -r {expected_sr} out.wav`) or set sample_rate: {sr} in the config."
        )
    if mono:
        if wav.shape[1] != 1:
            raise AudioError(
                f"{path}: {wav.shape[1]} channels, expected mono. Mix down or pick a channel "
                f"(e.g. `sox in.wav -c 1 out.wav`)."
            )
        wav = wav[:, 0]
    if wav.shape[0] == 0 and not allow_empty:
        raise AudioError(f"{path}: the file holds no samples. Re-create or remove it.")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: contains NaN or Inf samples. Re-create or remove it.")
    return wav, sr


def audio_info(path):
    """(sample_rate, n_frames, channels) without reading the samples."""
    path = os.fspath(path)
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(f"{path}: cannot be read as audio ({err}).") from None
    return info.samplerate, info.frames, info.channels


def write_audio(path, wav, sample_rate, subtype="PCM_16"):
    """Write a wav atomically; float input is clipped to [-1, 1] for integer subtypes."""
    wav = np.asarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: refusing to write NaN/Inf audio (the model output is not finite).")
    if subtype.startswith("PCM"):
        wav = np.clip(wav, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, wav, sample_rate, subtype=subtype, format="WAV")
