"""A tiny noisy/clean enhancement set for the enhancement tests: clean speech from the tiny mini
corpus (or tones when asked), generated noise (white, pink-ish, hum) at 0-10 dB SNR, written as
tr.json / cv.json in the one-source separation manifest format the enh task reads."""

import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000


def make_mini_corpus(out):
    """The tiny mini corpus (seconds); returns its root."""
    cmd = [sys.executable, "-m", "speechslytherin.bin.make_mini", "--out", str(out), "--scale", "tiny",
           "--no-progress", "--jobs", "1"]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": REPO})
    return str(out)


def noise(kind, n, rng):
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        return np.cumsum(rng.standard_normal(n)) * 0.02 + rng.standard_normal(n) * 0.3
    t = np.arange(n) / SR
    return np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t) + 0.05 * rng.standard_normal(n)


def mix_at_snr(clean, nz, snr_db):
    p_s = np.mean(clean ** 2) + 1e-12
    p_n = np.mean(nz ** 2) + 1e-12
    return clean + nz * np.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))


def make_enh_set(mini_root, out, n_train=6, n_valid=2, max_seconds=2.0, seed=0):
    """Write noisy/clean pairs under out/ and out/tr.json, out/cv.json; returns out."""
    rng = np.random.default_rng(seed)
    with open(os.path.join(mini_root, "utterances.json"), encoding="utf-8") as f:
        utts = json.load(f)
    for split, count in (("tr", n_train), ("cv", n_valid)):
        chosen = sorted(uid for uid, u in utts.items() if u["split"] == split)[:count]
        manifest = {}
        for k, uid in enumerate(chosen):
            clean, sr = sf.read(os.path.join(mini_root, utts[uid]["path"]), dtype="float64")
            assert sr == SR
            clean = clean[: int(max_seconds * SR)]
            kind = ("white", "pink", "hum")[k % 3]
            noisy = mix_at_snr(clean, noise(kind, len(clean), rng), float(rng.choice([0, 5, 10])))
            peak = max(np.abs(noisy).max(), np.abs(clean).max())
            if peak > 0.99:
                noisy, clean = noisy * 0.99 / peak, clean * 0.99 / peak
            paths = {}
            for name, wav in (("noisy", noisy), ("clean", clean)):
                paths[name] = os.path.join(out, split, name, f"{uid}.wav")
                os.makedirs(os.path.dirname(paths[name]), exist_ok=True)
                sf.write(paths[name], wav, SR, subtype="PCM_16")
            manifest[uid] = {"mix": paths["noisy"], "sources": [paths["clean"]], "duration": len(clean) / SR,
                             "sample_rate": SR, "noise": kind}
        with open(os.path.join(out, f"{split}.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
    return str(out)
