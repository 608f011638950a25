"""Small fake corpora in the real on-disk layouts, for tests (seconds to build).

Audio is a few sines plus noise, so signals are distinct, non-silent and cheap.
"""

import os

import numpy as np
import soundfile as sf

WSJ_SPEAKERS = ("011", "01v", "20a", "40b", "22h", "050")


def tone(n, sr, seed, amp=0.3):
    """A distinct, speech-level test signal: two sines with a slow envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f1, f2 = rng.uniform(100, 0.2 * sr, size=2)
    env = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 6.28))
    x = env * (np.sin(2 * np.pi * f1 * t) + 0.5 * np.sin(2 * np.pi * f2 * t + 1.0))
    x += 0.05 * rng.standard_normal(n)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def write_wav(path, wav, sr, subtype="PCM_16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, wav, sr, subtype=subtype)
    return path


def wsj_mix_name(spk1, spk2, k):
    """A wsj0-2mix style file stem: <utt1>_<gain1>_<utt2>_<-gain1>."""
    g = round(0.1 + 0.3 * k, 4)
    return f"{spk1}c020{k % 10}_{g}_{spk2}o030{k % 10}_{-g}"


def make_wsj0_2mix(root, counts=None, sr=8000, mode="min", seconds=(0.5, 0.9), seed=0,
                   pool=True, pool_sr=8000, pool_dir=("wsj0", "si_tr_s"), n_pool_spk=4,
                   utts_per_spk=3, pool_ext=".wav"):
    """Build ROOT/2speakers/wav{8k,16k}/{mode}/{tr,cv,tt}/{mix,s1,s2} (+ a si_tr_s pool).

    Returns a dict with the ids per set and the pool root (or None).
    """
    counts = counts or {"tr": 4, "cv": 2, "tt": 2}
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "2speakers", f"wav{sr // 1000}k", mode)
    ids = {}
    k = 0
    for subset, n in counts.items():
        ids[subset] = []
        for _ in range(n):
            spk1, spk2 = rng.choice(WSJ_SPEAKERS, 2, replace=False)
            stem = wsj_mix_name(spk1, spk2, k)
            length = int(rng.uniform(*seconds) * sr)
            s1 = tone(length, sr, seed * 1000 + 2 * k)
            s2 = tone(length, sr, seed * 1000 + 2 * k + 1)
            write_wav(os.path.join(base, subset, "s1", stem + ".wav"), s1, sr)
            write_wav(os.path.join(base, subset, "s2", stem + ".wav"), s2, sr)
            write_wav(os.path.join(base, subset, "mix", stem + ".wav"), 0.5 * (s1 + s2), sr)
            ids[subset].append(stem)
            k += 1
    pool_root = None
    if pool:
        pool_root = os.path.join(root, *pool_dir)
        for s, spk in enumerate(WSJ_SPEAKERS[:n_pool_spk]):
            for u in range(utts_per_spk + s % 2):  # unequal counts per speaker
                length = int(rng.uniform(*seconds) * pool_sr)
                path = os.path.join(pool_root, spk, f"{spk}c02{s}{u}{pool_ext}")
                fmt = "NIST" if pool_ext == ".wv1" else "WAV"
                os.makedirs(os.path.dirname(path), exist_ok=True)
                sf.write(path, tone(length, pool_sr, 50000 + 10 * s + u), pool_sr, subtype="PCM_16",
                         format=fmt)
    return {"ids": ids, "base": base, "pool": pool_root}


def make_sep_manifest(tmpdir, n=3, sr=8000, n_src=2, seconds=(0.4, 0.8), seed=0):
    """Write n (mix, sources) triples under tmpdir and return a manifest dict."""
    rng = np.random.default_rng(seed)
    manifest = {}
    for i in range(n):
        length = int(rng.uniform(*seconds) * sr)
        srcs = [tone(length, sr, seed * 100 + 10 * i + j) for j in range(n_src)]
        paths = [write_wav(os.path.join(tmpdir, f"s{j + 1}", f"utt{i}.wav"), s, sr) for j, s in enumerate(srcs)]
        mix = write_wav(os.path.join(tmpdir, "mix", f"utt{i}.wav"), np.sum(srcs, axis=0) * 0.5, sr)
        manifest[f"utt{i}"] = {"mix": mix, "sources": paths, "duration": length / sr, "sample_rate": sr}
    return manifest


def make_pool_manifest(tmpdir, speakers=("a", "b", "c"), counts=(3, 1, 2), sr=8000, seconds=(0.4, 0.8),
                       seed=0):
    """Write single-speaker utterances and return a pool manifest dict."""
    rng = np.random.default_rng(seed)
    manifest = {}
    for s, (spk, count) in enumerate(zip(speakers, counts)):
        for u in range(count):
            length = int(rng.uniform(*seconds) * sr)
            path = write_wav(os.path.join(tmpdir, spk, f"{spk}{u}.wav"), tone(length, sr, 7 * s + u), sr)
            manifest[f"{spk}{u}"] = {"audio": path, "speaker": spk, "duration": length / sr, "sample_rate": sr}
    return manifest


LIBRI_SPEAKERS = ("103", "1034", "1040", "1069", "1081", "1088")


def libri_mix_id(k, rng):
    s1, s2 = rng.choice(LIBRI_SPEAKERS, 2, replace=False)
    return f"{s1}-{1200 + k}-{k:04d}_{s2}-{3400 + k}-{k + 1:04d}"


def write_mix_folders(subset_dir, uid, sr, length, seed, folders, noise=True):
    """s1, s2 (+ noise) and the mixture folders asked for, one <uid>.wav each; returns the signals."""
    s1 = tone(length, sr, seed)
    s2 = tone(length, sr, seed + 1)
    nz = 0.05 * tone(length, sr, seed + 2)
    signals = {"s1": s1, "s2": s2, "mix_clean": s1 + s2, "mix_both": s1 + s2 + nz, "mix_single": s1 + nz}
    if noise:
        signals["noise"] = nz
    for folder in folders:
        if folder in signals:
            write_wav(os.path.join(subset_dir, folder, uid + ".wav"), signals[folder], sr)
    return signals


def make_libri2mix(root, counts=None, sr=8000, mode="min", types=("mix_clean", "mix_both"), seconds=(0.5, 0.9),
                   seed=0, metadata=True):
    """ROOT/Libri2Mix/wav{8k,16k}/{mode}/{train-100,dev,test,...}/{mix_*,s1,s2,noise} + metadata/*.csv,
    as LibriMix's generator writes them (csv paths: absolute paths of another machine)."""
    import csv

    counts = counts or {"train-100": 4, "dev": 2, "test": 2}
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "Libri2Mix", f"wav{sr // 1000}k", mode)
    folders = ["s1", "s2"] + list(types) + (["noise"] if types != ("mix_clean",) else [])
    ids, k = {}, 0
    for subset, n in counts.items():
        ids[subset] = []
        rows = {t: [] for t in types}
        for _ in range(n):
            uid = libri_mix_id(k, rng)
            length = int(rng.uniform(*seconds) * sr)
            write_mix_folders(os.path.join(base, subset), uid, sr, length, seed * 1000 + 3 * k, folders)
            gen = f"/gen/machine/Libri2Mix/wav{sr // 1000}k/{mode}/{subset}"
            for t in types:
                row = {"mixture_ID": uid, "mixture_path": f"{gen}/{t}/{uid}.wav",
                       "source_1_path": f"{gen}/s1/{uid}.wav", "source_2_path": f"{gen}/s2/{uid}.wav"}
                if t == "mix_both":
                    row["noise_path"] = f"{gen}/noise/{uid}.wav"
                row["length"] = length
                rows[t].append(row)
            ids[subset].append(uid)
            k += 1
        if metadata:
            for t, table in rows.items():
                path = os.path.join(base, "metadata", f"mixture_{subset}_{t}.csv")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=list(table[0]))
                    writer.writeheader()
                    writer.writerows(table)
    return {"ids": ids, "base": base}


def make_wham(root, counts=None, sr=8000, mode="min", seconds=(0.5, 0.9), seed=0):
    """ROOT/wav{8k,16k}/{mode}/{tr,cv,tt}/{mix_both,mix_clean,mix_single,s1,s2,noise} (wham_scripts layout,
    wsj0-2mix file names)."""
    counts = counts or {"tr": 4, "cv": 2, "tt": 2}
    rng = np.random.default_rng(seed)
    base = os.path.join(root, f"wav{sr // 1000}k", mode)
    folders = ["mix_both", "mix_clean", "mix_single", "s1", "s2", "noise"]
    ids, k = {}, 0
    for subset, n in counts.items():
        ids[subset] = []
        for _ in range(n):
            spk1, spk2 = rng.choice(WSJ_SPEAKERS, 2, replace=False)
            uid = wsj_mix_name(spk1, spk2, k)
            length = int(rng.uniform(*seconds) * sr)
            write_mix_folders(os.path.join(base, subset), uid, sr, length, seed * 1000 + 3 * k, folders)
            ids[subset].append(uid)
            k += 1
    return {"ids": ids, "base": base}


def make_echo2mix_tree(root, counts=None, sr=16000, seconds=1.0, seed=0, noise=False):
    """ROOT/{train,val,test}/<record>/<room>/<spk1>_<spk2>/{mix,spk1_reverb,spk2_reverb}.wav (the layout
    the SPMamba Echo2Mix indexer and a public fork read); ids '<record>-<room>-<spk1>_<spk2>'."""
    counts = counts or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    ids, k = {}, 0
    length = int(seconds * sr)
    for split, n in counts.items():
        ids[split] = []
        for i in range(n):
            s1, s2 = rng.choice(LIBRI_SPEAKERS, 2, replace=False)
            rel = (f"record{k % 3}", f"room{i}", f"{s1}_{s2}")
            folder = os.path.join(root, split, *rel)
            a, b = tone(length, sr, seed * 1000 + 3 * k), tone(length, sr, seed * 1000 + 3 * k + 1)
            nz = 0.05 * tone(length, sr, seed * 1000 + 3 * k + 2)
            write_wav(os.path.join(folder, "spk1_reverb.wav"), a, sr)
            write_wav(os.path.join(folder, "spk2_reverb.wav"), b, sr)
            write_wav(os.path.join(folder, "mix.wav"), a + b + nz, sr)
            if noise:
                write_wav(os.path.join(folder, "noise.wav"), nz, sr)
            ids[split].append("-".join(rel))
            k += 1
    return {"ids": ids}
