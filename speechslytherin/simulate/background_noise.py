"""Background noise for simulated mixtures: recorded noise files, or generated coloured noise and babble.

Generated noise needs no download: coloured noise has a 1/f^beta power spectrum (beta 0 = white,
1 = pink, 2 = brown) with a slow level fluctuation; babble is a sum of other speakers' speech.
Noise files are taken from a folder (recursively); if it has train/val/test (or tr/cv/tt)
sub-folders, each split draws only from its own.
"""

import os

import numpy as np

from speechslytherin.data.audio import read_audio
from speechslytherin.simulate.levels import resample

NOISE_EXTS = (".wav", ".flac")
SPLIT_ALIASES = {"train": ("train", "tr"), "val": ("val", "cv", "dev"), "test": ("test", "tt")}


def coloured_noise(n, sample_rate, rng):
    """(noise of unit RMS, beta): 1/f^beta spectrum, 20 Hz floor, slow 0.1-1 Hz level changes."""
    beta = float(rng.uniform(0.0, 2.0))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate), 20.0)
    noise = np.fft.irfft(spectrum / freqs ** (beta / 2.0), n)
    t = np.arange(n) / sample_rate
    noise *= 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32), round(beta, 3)


def noise_files(folder):
    """{split: [paths]} from a noise folder; a folder without split sub-folders serves every split."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"noise folder not found: {folder}. Pass a folder of .wav/.flac noise with --noise-dir.")

    def collect(top):
        found = [os.path.join(d, n) for d, _, files in os.walk(top) for n in files
                 if os.path.splitext(n)[1].lower() in NOISE_EXTS]
        return sorted(found)

    per_split = {}
    for split, aliases in SPLIT_ALIASES.items():
        sub = next((os.path.join(folder, a) for a in aliases if os.path.isdir(os.path.join(folder, a))), None)
        if sub is not None:
            per_split[split] = collect(sub)
    if not per_split:
        everything = collect(folder)
        per_split = {split: everything for split in SPLIT_ALIASES}
    empty = [s for s in SPLIT_ALIASES if not per_split.get(s)]
    if empty:
        raise ValueError(f"{folder}: no .wav/.flac noise files for split(s) {', '.join(empty)}.")
    return per_split


def noise_from_file(path, n, sample_rate, rng):
    """A random n-sample stretch of a noise file (looped if shorter), first channel, resampled."""
    wav, sr = read_audio(path, mono=False)
    wav = resample(wav[:, 0], sr, sample_rate)
    if len(wav) < n:
        wav = np.tile(wav, int(np.ceil(n / len(wav))) + 1)
    start = int(rng.integers(0, len(wav) - n + 1))
    return wav[start:start + n].astype(np.float32)
