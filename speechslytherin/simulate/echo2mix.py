"""An Echo2Mix-like set: two speakers in a simulated shoebox room plus background noise, with the
reverberant speaker images as targets (separation without dereverberation), 16 kHz, 6 s.

    python -m speechslytherin.bin.simulate --kind echo2mix --root /data/LibriSpeech --out /data/echo2mix_sim
    python -m speechslytherin.bin.simulate --kind echo2mix --root egs/mini/db/mini --out egs/mini/db/mini_echo2mix \
        --n-mixtures 200 50 50 --duration 4

Each mixture, as the SonicSet separation recipe that produced Echo2Mix draws it (SIR U(-6, 6) dB
between the speakers, noise U(10, 20) dB below the speech sum), but with pyroomacoustics shoebox rooms
(image-source method) instead of SoundSpaces scenes and static sources:
1. two different speakers of the split; each track is that speaker's utterances (active level
   normalised) laid end to end with short pauses, cut at a random point to `duration`;
2. a room with a target RT60 drawn from `rt60_range`, a microphone and the sources placed at random;
   the RT60 measured on the simulated responses is recorded (it differs from the Sabine target);
3. the reverberant images set to a speaker-to-speaker ratio U(sir_range) dB (active levels);
4. noise: a random stretch of a file from `noise_dir`, else generated coloured noise or babble
   rendered through the same room from a third position; scaled to U(snr_range) dB SNR against the
   sum of the two images;
5. everything scaled together so the mixture peaks at or below 0.9, written as 16-bit PCM.

Layout (read by prepare/echo2mix.py, the Echo2Mix layout): OUT/{train,val,test}/room<k>/<spk1>_<spk2>/
{mix,spk1_reverb,spk2_reverb,noise}.wav + info.json (room, measured RT60, SIR, SNR, sources).
info.json is written last, so a mixture with one is complete: an interrupted run resumes where it
stopped, and every mixture depends only on (seed, split, index), not on what ran before.
"""

import json
import os
import time

import numpy as np
from scipy.signal import fftconvolve

from speechslytherin.data.audio import read_audio, write_audio
from speechslytherin.simulate import background_noise, shoebox
from speechslytherin.simulate.levels import active_level_db, resample
from speechslytherin.simulate.speech_sources import SPLITS, load_speech
from speechslytherin.utils.atomic import write_json_atomic

FORMAT_VERSION = 1
PARAMS_FILE = ".echo2mix.json"
COMPLETE_FILE = ".complete"
TARGET_DBFS = -25.0
PEAK = 0.9
GAP_RANGE_S = (0.1, 0.4)
FILES = ("mix", "spk1_reverb", "spk2_reverb", "noise")
ROOM_KEYS = {"sources": "source_positions"}  # info.json names (a manifest's "sources" are files)


def _item_rng(seed, split, index):
    return np.random.default_rng([int(seed), SPLITS.index(split), int(index)])


class _SpeechCache:
    """Speech files read once, resampled and brought to the same active level (bounded in size)."""

    def __init__(self, sample_rate, limit=512):
        self.sample_rate, self.limit, self.items = sample_rate, limit, {}

    def get(self, path):
        if path not in self.items:
            if len(self.items) >= self.limit:
                self.items.clear()
            wav, sr = read_audio(path)
            wav = resample(wav, sr, self.sample_rate).astype(np.float64)
            self.items[path] = wav * 10 ** ((TARGET_DBFS - active_level_db(wav, self.sample_rate)) / 20)
        return self.items[path]


def speaker_track(paths, n, sample_rate, rng, cache):
    """(track of n samples, [paths used]): the speaker's utterances end to end, cut at random."""
    order = rng.permutation(len(paths))
    pieces, used, total = [], [], 0
    for i in range(4 * len(paths) + 4):
        if total >= n and len(pieces) >= 2:
            break
        path = paths[order[i % len(paths)]]
        wav = cache.get(path)
        gap = np.zeros(int(rng.uniform(*GAP_RANGE_S) * sample_rate))
        pieces += [wav, gap]
        used.append(path)
        total += len(wav) + len(gap)
    track = np.concatenate(pieces)
    if len(track) < n:
        track = np.pad(track, (0, n - len(track)))
    start = int(rng.integers(0, len(track) - n + 1))
    return track[start:start + n], used


def _set_active_level(wav, sample_rate, dbfs):
    return wav * 10 ** ((dbfs - active_level_db(wav, sample_rate)) / 20)


def _power_db(wav):
    return 10 * np.log10(np.mean(np.asarray(wav, dtype=np.float64) ** 2) + 1e-20)


def simulate_mixture(split, index, speakers, seed, opts, cache, noise_paths=None):
    """(signals {name: float array}, info dict) of one mixture; depends only on (seed, split, index)."""
    rng = _item_rng(seed, split, index)
    sr = opts["sample_rate"]
    n = int(round(opts["duration"] * sr))
    names = sorted(speakers)
    spk1, spk2 = (names[i] for i in rng.choice(len(names), 2, replace=False))
    dry1, utts1 = speaker_track(speakers[spk1], n, sr, rng, cache)
    dry2, utts2 = speaker_track(speakers[spk2], n, sr, rng, cache)
    room = shoebox.draw_room(rng, opts["rt60_range"], n_sources=3, max_order=opts["max_order"])
    sir = float(rng.uniform(*opts["sir_range"]))
    snr = float(rng.uniform(*opts["snr_range"]))
    others = [s for s in names if s not in (spk1, spk2)]
    if noise_paths:
        kind = "file"
    else:
        kind = "babble" if (len(others) >= 2 and rng.random() < 0.5) else "coloured"
    noise_info = {}
    if kind == "file":
        path = noise_paths[int(rng.integers(len(noise_paths)))]
        noise_dry = background_noise.noise_from_file(path, n, sr, rng).astype(np.float64)
        noise_info["noise_file"] = path
    elif kind == "babble":
        count = int(min(len(others), rng.integers(2, 6)))
        talkers = [others[i] for i in rng.choice(len(others), count, replace=False)]
        noise_dry = sum(speaker_track(speakers[t], n, sr, rng, cache)[0] for t in talkers)
        noise_info["babble_speakers"] = talkers
    else:
        noise_dry, beta = background_noise.coloured_noise(n, sr, rng)
        noise_info["noise_beta"] = beta
    rirs = shoebox.room_impulse_responses(room, sr)
    img1 = fftconvolve(dry1, rirs[0])[:n]
    img2 = fftconvolve(dry2, rirs[1])[:n]
    noise = fftconvolve(noise_dry, rirs[2])[:n] if kind != "file" else noise_dry
    img1 = _set_active_level(img1, sr, TARGET_DBFS + sir / 2)
    img2 = _set_active_level(img2, sr, TARGET_DBFS - sir / 2)
    speech = img1 + img2
    noise = noise * 10 ** ((_power_db(speech) - snr - _power_db(noise)) / 20)
    mix = speech + noise
    scale = min(1.0, PEAK / max(np.max(np.abs(mix)), np.max(np.abs(img1)), np.max(np.abs(img2)),
                                np.max(np.abs(noise)), 1e-9))
    signals = {"mix": mix * scale, "spk1_reverb": img1 * scale, "spk2_reverb": img2 * scale, "noise": noise * scale}
    rt60s = [shoebox.measured_rt60(r, sr) for r in rirs[:2]]
    measured = [r for r in rt60s if r is not None]
    info = {"id": f"room{index:05d}-{spk1}_{spk2}", "split": split, "speakers": [spk1, spk2],
            "utterances": [[os.path.basename(p) for p in utts1], [os.path.basename(p) for p in utts2]],
            "sample_rate": sr, "duration": n / sr,
            "rt60": round(float(np.mean(measured)), 4) if measured else None, "rt60_per_source": rt60s,
            **{ROOM_KEYS.get(k, k): v for k, v in room.items()},
            "sir_db": round(sir, 3), "snr_db": round(snr, 3), "noise_kind": kind, **noise_info,
            "gain": round(float(scale), 5)}
    return signals, info


_WORKER = {}


def _init_worker(out, speech, noise, seed, opts):
    _WORKER.update(out=out, speech=speech, noise=noise, seed=seed, opts=opts,
                   cache=_SpeechCache(opts["sample_rate"]))


def _make_one(job):
    """Simulate and write mixture (split, index); returns its measured RT60."""
    split, index = job
    w = _WORKER
    signals, info = simulate_mixture(split, index, w["speech"][split], w["seed"], w["opts"], w["cache"],
                                     w["noise"][split] if w["noise"] else None)
    folder = mixture_dir(w["out"], split, index, info["speakers"])
    for name in FILES:
        write_audio(os.path.join(folder, f"{name}.wav"), signals[name], w["opts"]["sample_rate"])
    write_json_atomic(os.path.join(folder, "info.json"), info)  # last: marks the mixture complete
    return info["rt60"]


def mixture_dir(out, split, index, speakers):
    return os.path.join(out, split, f"room{index:05d}", f"{speakers[0]}_{speakers[1]}")


def _done(folder):
    return os.path.isfile(os.path.join(folder, "info.json")) and all(
        os.path.isfile(os.path.join(folder, f"{name}.wav")) for name in FILES)


def _existing(out, split, index):
    """The folder of mixture `index` if a previous run completed it, else None."""
    room = os.path.join(out, split, f"room{index:05d}")
    if os.path.isdir(room):
        for name in sorted(os.listdir(room)):
            if _done(os.path.join(room, name)):
                return os.path.join(room, name)
    return None


def _check_params(out, params):
    """True if OUT is already complete with these parameters; raises if it was made with others."""
    path = os.path.join(out, PARAMS_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        if old != params:
            changed = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
            raise ValueError(f"{out} holds an echo2mix set made with other options ({', '.join(changed)} differ); "
                             "use another --out or delete that folder.")
        return os.path.isfile(os.path.join(out, COMPLETE_FILE))
    if os.path.isdir(out) and os.listdir(out):
        raise ValueError(f"{out} exists and is not an echo2mix simulation folder; use an empty or new --out.")
    return False


def _progress(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="echo2mix mixtures", unit="mix")


def make_echo2mix(root, out, seed=0, progress=True, n_mixtures=(2000, 400, 400), duration=6.0, sample_rate=16000,
                  sir_range=(-6.0, 6.0), snr_range=(10.0, 20.0), rt60_range=(0.2, 0.6), max_order=None,
                  noise_dir=None, speech_manifest=None, librispeech_subsets=None, jobs=1, log=print):
    """Simulate the set into `out` (created; `root` is only read). Returns a summary dict.

    n_mixtures: (train, val, test) counts. speech_manifest: {split: path} (or ["split=path", ...]).
    jobs: worker processes (the files do not depend on it). Re-running with the same options does
    nothing; an interrupted run resumes.
    """
    root, out = os.path.abspath(os.fspath(root)), os.path.abspath(os.fspath(out))
    if out == root or out.startswith(root + os.sep):
        raise ValueError(f"--out {out} is inside the source {root}; simulation never writes into a corpus.")
    manifests = _parse_manifests(speech_manifest)
    counts = dict(zip(SPLITS, (int(c) for c in n_mixtures)))
    if len(counts) != 3 or min(counts.values()) < 1:
        raise ValueError(f"n_mixtures must be three positive counts (train val test), got {n_mixtures}")
    for name, (lo, hi) in (("sir_range", sir_range), ("snr_range", snr_range), ("rt60_range", rt60_range)):
        if lo > hi:
            raise ValueError(f"{name}: low {lo} > high {hi}")
    opts = {"sample_rate": int(sample_rate), "duration": float(duration), "sir_range": list(map(float, sir_range)),
            "snr_range": list(map(float, snr_range)), "rt60_range": list(map(float, rt60_range)),
            "max_order": None if max_order is None else int(max_order)}
    params = {"format_version": FORMAT_VERSION, "seed": int(seed), "n_mixtures": [counts[s] for s in SPLITS],
              **opts, "source": root, "noise_dir": noise_dir and os.path.abspath(noise_dir),
              "speech_manifest": manifests, "librispeech_subsets": librispeech_subsets}
    if _check_params(out, params):
        log(f"{out}: echo2mix set already complete; nothing to do.")
        with open(os.path.join(out, COMPLETE_FILE), encoding="utf-8") as f:
            return json.load(f)
    speech = load_speech(root, manifests, librispeech_subsets)
    noise = background_noise.noise_files(noise_dir) if noise_dir else None
    os.makedirs(out, exist_ok=True)
    write_json_atomic(os.path.join(out, PARAMS_FILE), params)
    start = time.time()
    todo, resumed = [], 0
    for split in SPLITS:
        for index in range(counts[split]):
            if _existing(out, split, index) is None:
                todo.append((split, index))
            else:
                resumed += 1
    bar = _progress(sum(counts.values()), progress)
    if bar is not None:
        bar.update(resumed)
    rt60s = []
    _init_worker(out, speech, noise, seed, opts)
    pool = None
    if int(jobs) > 1 and len(todo) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(int(jobs), _init_worker, (out, speech, noise, seed, opts))
    try:
        results = pool.imap(_make_one, todo, chunksize=4) if pool else map(_make_one, todo)
        for rt60 in results:
            if rt60 is not None:
                rt60s.append(rt60)
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
    made = len(todo)
    summary = {"counts": counts, "made": made, "resumed": resumed, "seconds": round(time.time() - start, 2),
               "speakers": {s: len(speech[s]) for s in SPLITS},
               "rt60_measured_new": ([round(min(rt60s), 3), round(float(np.mean(rt60s)), 3), round(max(rt60s), 3)]
                                     if rt60s else None)}
    write_json_atomic(os.path.join(out, COMPLETE_FILE), summary)
    log(f"{out}: echo2mix set ready ({counts}; {made} made, {resumed} kept from before) in {summary['seconds']} s")
    return summary


def _parse_manifests(value):
    if not value:
        return None
    if isinstance(value, dict):
        pairs = value.items()
    else:
        pairs = []
        for item in value:
            split, sep, path = str(item).partition("=")
            if not sep or split not in SPLITS:
                raise ValueError(f"--speech-manifest {item!r}: write SPLIT=PATH with SPLIT one of {', '.join(SPLITS)}")
            pairs.append((split, path))
    return {split: os.path.abspath(path) for split, path in pairs}


def _subsets(value):
    if not value:
        return None
    out = {}
    for item in value.split(","):
        split, sep, subset = item.partition("=")
        if not sep or split not in SPLITS:
            raise ValueError(f"--librispeech-subsets {value!r}: write train=SUBSET,val=SUBSET,test=SUBSET")
        out[split] = subset
    return out


def add_echo2mix_arguments(parser):
    """Command-line options of `bin/simulate --kind echo2mix` (keyword names of make_echo2mix)."""
    parser.add_argument("--n-mixtures", dest="n_mixtures", type=int, nargs=3, default=(2000, 400, 400),
                        metavar=("TRAIN", "VAL", "TEST"), help="mixtures per split (default 2000 400 400)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per mixture (Echo2Mix: 6)")
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=16000)
    parser.add_argument("--sir-range", dest="sir_range", type=float, nargs=2, default=(-6.0, 6.0),
                        metavar=("LOW", "HIGH"), help="speaker-to-speaker ratio in dB (default -6 6)")
    parser.add_argument("--snr-range", dest="snr_range", type=float, nargs=2, default=(10.0, 20.0),
                        metavar=("LOW", "HIGH"), help="speech-to-noise ratio in dB (default 10 20)")
    parser.add_argument("--rt60-range", dest="rt60_range", type=float, nargs=2, default=(0.2, 0.6),
                        metavar=("LOW", "HIGH"), help="target RT60 in seconds (default 0.2 0.6)")
    parser.add_argument("--max-order", dest="max_order", type=int, default=None,
                        help="cap the image-source order (faster; the measured RT60 then drops)")
    parser.add_argument("--noise-dir", dest="noise_dir", default=None,
                        help="folder of noise recordings (optionally train/val/test sub-folders); default: "
                             "generated coloured noise and babble")
    parser.add_argument("--speech-manifest", dest="speech_manifest", action="append", default=None,
                        metavar="SPLIT=PATH", help="speech manifest per split (train, val, test) instead of --root's "
                                                    "mini corpus or LibriSpeech; repeat for each split")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (same files for any number)")
    parser.add_argument("--librispeech-subsets", dest="librispeech_subsets", type=_subsets, default=None,
                        help="default train=train-clean-100,val=dev-clean,test=test-clean")
