"""A VoiceBank-DEMAND-like noisy/clean set from the mini corpus, written in VoiceBank's layout.

    python -m speechslytherin.bin.simulate --kind mini-enh --root ../db/mini --out ../db/mini_enh

Clean speech: mini-corpus utterances (16 kHz), each used once, with a faint recording floor
(white noise 50 dB below the active speech level) so that no file holds digital silence, as
no real recording does. Noises are generated, never recorded, and differ between train and test
as VoiceBank's DEMAND noises do:

    train (SNR 0/5/10/15 dB): babble (3-6 other training voices), white, pink, hum50 (50 Hz
                              mains hum with harmonics), tones (melodies of harmonic notes)
    test (SNR 2.5/7.5/12.5/17.5 dB): chatter (2-4 other test voices), brown, hum60 (buzzier
                              60 Hz hum), chords (sustained square-wave chords)

SNR = active speech level (levels.active_level_db) over noise power; a pair whose peak would
clip is scaled down as a whole, keeping its SNR.

Speakers, named like VoiceBank's so that the voicebank preparation's defaults apply unchanged
(the map to the mini speakers is in speakers.json):
- train: the mini corpus's tr speakers (p301, p302, ...) and its cv speakers, the first two of
  which take the names of VoiceBank's held-out validation speakers p226 and p287;
- test: the mini corpus's tt speakers, real recorded people (p232, p257, p403, ...), so test
  voices are unseen in training (and real voices, while the training voices are synthetic);
- test_tts: the mini corpus's tt_tts speakers (p501, p502, ...), unseen TTS voices: the matched
  condition, beside the real one, as egs/mini/sep1 reports both (written when the mini corpus has
  tt_tts, which `make_mini --test-voices both`, the default, gives).

Layout (the DataShare zips unpacked): clean_trainset_28spk_wav/, noisy_trainset_28spk_wav/,
clean_testset_wav/, noisy_testset_wav/, logfiles/log_{trainset_28spk,testset}.txt,
trainset_28spk_txt/, testset_txt/, and for test_tts (not in VoiceBank; the voicebank preparation
reads it as the extra test set tt_tts when present) clean_testset_tts_wav/, noisy_testset_tts_wav/,
logfiles/log_testset_tts.txt, testset_tts_txt/. The train and test folders are byte-identical to
those of format 1 (each split draws from its own seeds). Files are written at 48 kHz by default, VoiceBank's rate, so
the recipe's resampling stage runs as on the real corpus (`sample_rate=16000` skips it).

Deterministic from the seed; built in a temporary folder renamed at the end (atomic); a folder
already built with the same parameters is left as it is.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np

from speechslytherin.data.audio import read_audio, write_audio
from speechslytherin.simulate.levels import active_level_db, resample
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

SOURCE_RATE = 16000
TRAIN_SNRS = (0.0, 5.0, 10.0, 15.0)
TEST_SNRS = (2.5, 7.5, 12.5, 17.5)
TRAIN_NOISES = ("babble", "white", "pink", "hum50", "tones")
TEST_NOISES = ("chatter", "brown", "hum60", "chords")
FLOOR_BELOW_SPEECH_DB = 50.0
VALID_NAMES = ("p226", "p287")
TEST_NAMES = ("p232", "p257")
# utterances: train in total, per validation speaker, test in total
SCALES = {
    "tiny": {"train": 16, "valid": 3, "test": 6},
    "small": {"train": 300, "valid": 20, "test": 60},
    "default": {"train": 1200, "valid": 30, "test": 200},
}
FORMAT_VERSION = 2  # 2: test_tts added
BABBLE_POOL = 64  # utterances per split kept in memory as babble voices
FOLDERS = {"train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt",
                     "trainset_28spk_txt"),
           "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt", "testset_txt"),
           "test_tts": ("clean_testset_tts_wav", "noisy_testset_tts_wav", "log_testset_tts.txt", "testset_tts_txt")}
# set -> the mini corpus split its speech comes from (babble voices too), and its index in the seeds
SOURCE_SPLITS = {"train": ("tr", "cv"), "test": ("tt",), "test_tts": ("tt_tts",)}
SEED_INDEX = {"train": 0, "test": 1, "test_tts": 2}


class MiniEnhError(RuntimeError):
    """The source is not a usable mini corpus, or the output folder holds something else."""


def _rng(seed, *purpose):
    return np.random.default_rng([int(seed), *[int(p) for p in purpose]])


# ---------------------------------------------------------------- noises (16 kHz, unit RMS)

def _unit(x):
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 0 else x


def coloured_noise(n, rng, exponent):
    """Gaussian noise with power spectrum ~ f**exponent (0 white, -1 pink, -2 brown), above 20 Hz."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SOURCE_RATE)
    gain = np.where(f >= 20.0, np.maximum(f, 20.0) ** (exponent / 2.0), 0.0)
    return _unit(np.fft.irfft(spec * gain, n))


def hum(n, rng, f0, buzzy):
    """Mains hum: harmonics of f0 (odd ones stronger when buzzy), slow wobble, a little hiss."""
    t = np.arange(n) / SOURCE_RATE
    f0 = f0 * (1 + rng.uniform(-0.005, 0.005))
    out = np.zeros(n)
    for h in range(1, int(7000 // f0)):
        amp = rng.uniform(0.5, 1.0) / h ** (0.7 if buzzy and h % 2 else 1.3)
        out += amp * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
    out *= 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))
    return _unit(_unit(out) + 0.05 * coloured_noise(n, rng, -1.0))


def _note(freq, length, odd_only, rng):
    t = np.arange(length) / SOURCE_RATE
    wave = np.zeros(length)
    harmonics = range(1, 16, 2) if odd_only else range(1, 9)
    for h in harmonics:
        if h * freq < 7000:
            wave += np.sin(2 * np.pi * h * freq * t) / h
    attack = min(length, int(0.01 * SOURCE_RATE))
    env = np.exp(-t * rng.uniform(1.0, 4.0) * (0.3 if odd_only else 1.0))
    env[:attack] *= np.linspace(0, 1, attack)
    return wave * env


def music(n, rng, chords):
    """Generated music: a melody of harmonic notes (train) or sustained square-wave chords (test)."""
    out = np.zeros(n)
    pos = 0
    root = rng.integers(45, 60)
    scale = [0, 3, 5, 7, 10] if chords else [0, 2, 4, 7, 9]
    while pos < n:
        length = int(SOURCE_RATE * (rng.uniform(0.4, 1.0) if chords else rng.uniform(0.12, 0.45)))
        degrees = [0, 2, 4] if chords else [0]
        base = rng.integers(0, len(scale))
        for d in degrees:
            step = base + d
            midi = root + scale[step % len(scale)] + 12 * (step // len(scale)) + (12 if not chords else 0)
            freq = 440.0 * 2 ** ((midi - 69) / 12)
            note = _note(freq, min(length * 2, n - pos), chords, rng)
            out[pos:pos + len(note)] += note
        pos += length
    return _unit(out)


def babble(n, rng, pool, n_voices):
    """Sum of n_voices utterances from pool (list of 16 kHz arrays), each tiled to n samples."""
    out = np.zeros(n)
    for idx in rng.choice(len(pool), size=min(n_voices, len(pool)), replace=False):
        wav = pool[idx]
        reps = int(np.ceil((n + len(wav)) / len(wav)))
        tiled = np.tile(wav, reps)
        start = rng.integers(0, len(wav))
        out += _unit(tiled[start:start + n])
    return _unit(out)


def make_noise(kind, n, rng, pool):
    if kind in ("babble", "chatter"):
        lo, hi = (3, 6) if kind == "babble" else (2, 4)
        return babble(n, rng, pool, int(rng.integers(lo, hi + 1)))
    if kind in ("white", "pink", "brown"):
        return coloured_noise(n, rng, {"white": 0.0, "pink": -1.0, "brown": -2.0}[kind])
    if kind in ("hum50", "hum60"):
        return hum(n, rng, 50.0 if kind == "hum50" else 60.0, buzzy=kind == "hum60")
    if kind in ("tones", "chords"):
        return music(n, rng, chords=kind == "chords")
    raise ValueError(f"unknown noise kind {kind!r}")


def mix_at_snr(clean, noise, snr_db, rng):
    """(clean with floor, noisy) at the given SNR (active speech level over noise power)."""
    level = active_level_db(clean, SOURCE_RATE)
    floor_rms = 10 ** ((level - FLOOR_BELOW_SPEECH_DB) / 20)
    clean = clean.astype(np.float64) + floor_rms * rng.standard_normal(len(clean))
    noise_rms = 10 ** ((level - snr_db) / 20)
    noisy = clean + noise_rms * noise
    peak = max(np.max(np.abs(noisy)), np.max(np.abs(clean)))
    if peak > 0.99:
        clean, noisy = clean * 0.99 / peak, noisy * 0.99 / peak
    return clean, noisy


# ---------------------------------------------------------------- planning

def load_mini(root):
    """(utterances, speakers by split) of a mini corpus; MiniEnhError if it is not one."""
    path = os.path.join(root, "utterances.json")
    if not os.path.isfile(path):
        raise MiniEnhError(f"{path} not found: --root must be a mini corpus (python -m "
                           "speechslytherin.bin.make_mini --out DIR).")
    with open(path, encoding="utf-8") as f:
        utterances = json.load(f)
    by_split = {}
    for uid, u in sorted(utterances.items()):
        by_split.setdefault(u["split"], {}).setdefault(u["speaker"], []).append(uid)
    for split in ("tr", "cv", "tt"):
        if split not in by_split:
            raise MiniEnhError(f"{path}: no '{split}' utterances; rebuild the mini corpus.")
    if len(by_split["cv"]) < 2:
        raise MiniEnhError(f"{path}: {len(by_split['cv'])} cv speaker(s); two are needed for validation.")
    return utterances, by_split


def speaker_names(by_split):
    """{mini speaker: VoiceBank-like name} (see the module docstring)."""
    names = {}
    for i, spk in enumerate(sorted(by_split["tr"])):
        names[spk] = f"p{301 + i}"
    for i, spk in enumerate(sorted(by_split["cv"])):
        names[spk] = VALID_NAMES[i] if i < len(VALID_NAMES) else f"p{301 + len(by_split['tr']) + i}"
    for i, spk in enumerate(sorted(by_split["tt"])):
        names[spk] = TEST_NAMES[i] if i < len(TEST_NAMES) else f"p{401 + i}"
    for i, spk in enumerate(sorted(by_split.get("tt_tts", {}))):
        names[spk] = f"p{501 + i}"
    return names


def _round_robin(groups, limit, rng):
    """Up to `limit` ids taken in turn from each group (each shuffled), deterministic."""
    queues = [list(rng.permutation(ids)) for _, ids in sorted(groups.items())]
    out = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def plan(by_split, scale, seed):
    """{"train": [uid...], "test": [uid...], "test_tts"?: [uid...]}: validation speakers' utterances
    are part of train; test_tts only when the corpus has tt_tts voices."""
    counts = SCALES[scale]
    cv_sorted = sorted(by_split["cv"])
    valid = {spk: by_split["cv"][spk] for spk in cv_sorted[:2]}
    train_groups = dict(by_split["tr"])
    train_groups.update({spk: by_split["cv"][spk] for spk in cv_sorted[2:]})
    train = _round_robin(train_groups, counts["train"], _rng(seed, 1))
    for i, (spk, ids) in enumerate(sorted(valid.items())):
        train += _round_robin({spk: ids}, counts["valid"], _rng(seed, 2, i))
    chosen = {"train": train, "test": _round_robin(by_split["tt"], counts["test"], _rng(seed, 3))}
    if by_split.get("tt_tts"):
        chosen["test_tts"] = _round_robin(by_split["tt_tts"], counts["test"], _rng(seed, 4))
    return chosen


# ---------------------------------------------------------------- building

def _parameters(scale, seed, sample_rate, root):
    return {"kind": "mini-enh", "format_version": FORMAT_VERSION, "scale": scale, "seed": int(seed),
            "sample_rate": int(sample_rate), "source": os.path.abspath(root)}


def _existing(out_dir, params):
    """True if out_dir is this set already; MiniEnhError if it holds something else."""
    marker = os.path.join(out_dir, ".complete")
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            done = json.load(f).get("parameters")
        if done == params:
            return True
        raise MiniEnhError(f"{out_dir} holds a mini-enh set made with other parameters ({done}); delete it or "
                           "choose another --out.")
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise MiniEnhError(f"{out_dir} exists and is not a finished mini-enh set; delete it or choose another --out.")
    return False


def make_mini_enh(root, out, seed=0, progress=True, scale="default", sample_rate=48000, log=print):
    """Build the set in `out` (no-op if already built with the same parameters); returns a summary."""
    from tqdm import tqdm

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    if sample_rate not in (16000, 48000):
        raise ValueError(f"sample_rate {sample_rate}: choose 48000 (VoiceBank's rate) or 16000.")
    root, out = os.path.abspath(os.fspath(root)), os.path.abspath(os.fspath(out))
    if out == root or out.startswith(root + os.sep):
        raise MiniEnhError(f"--out {out} is inside the source corpus {root}; never write into a corpus.")
    utterances, by_split = load_mini(root)
    params = _parameters(scale, seed, sample_rate, root)
    if _existing(out, params):
        log(f"{out}: mini-enh set already complete ({scale}, seed {seed}); nothing to do.")
        with open(os.path.join(out, ".complete"), encoding="utf-8") as f:
            return json.load(f)
    start = time.time()
    names = speaker_names(by_split)
    chosen = plan(by_split, scale, seed)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=os.path.dirname(out))
    try:
        def load(uid):
            return read_audio(os.path.join(root, utterances[uid]["path"]), expected_sr=SOURCE_RATE)[0]

        counts = {}
        for split in chosen:
            split_index = SEED_INDEX[split]
            clean_dir, noisy_dir, log_name, txt_dir = FOLDERS[split]
            noises, snrs = (TRAIN_NOISES, TRAIN_SNRS) if split == "train" else (TEST_NOISES, TEST_SNRS)
            # babble voices: the split's own speakers (never the target's)
            pool_ids = sorted(u for s in SOURCE_SPLITS[split] for ids in by_split[s].values() for u in ids)
            pick = _rng(seed, 20 + split_index).permutation(len(pool_ids))[:BABBLE_POOL]
            pool = {pool_ids[j]: load(pool_ids[j]) for j in sorted(pick)}
            per_speaker = {}
            lines = []
            order = _rng(seed, 10 + split_index).permutation(len(chosen[split]))
            for k, i in enumerate(tqdm(order, desc=f"mini-enh {split}", unit="utt", disable=not progress)):
                uid = chosen[split][i]
                spk = utterances[uid]["speaker"]
                name = names[spk]
                per_speaker[name] = per_speaker.get(name, 0) + 1
                vb_id = f"{name}_{per_speaker[name]:03d}"
                kind, snr = noises[k % len(noises)], snrs[(k // len(noises)) % len(snrs)]
                rng = _rng(seed, 100 + split_index, k)
                clean = load(uid)
                voices = [w for u, w in pool.items() if utterances[u]["speaker"] != spk]
                noise = make_noise(kind, len(clean), rng, voices)
                clean_out, noisy_out = mix_at_snr(clean, noise, snr, rng)
                for folder, wav in ((clean_dir, clean_out), (noisy_dir, noisy_out)):
                    write_audio(os.path.join(tmp, folder, f"{vb_id}.wav"), resample(wav, SOURCE_RATE, sample_rate),
                                sample_rate)
                if utterances[uid].get("text"):  # some recorded prompts have no transcript
                    write_text_atomic(os.path.join(tmp, txt_dir, f"{vb_id}.txt"), utterances[uid]["text"] + "\n")
                lines.append((vb_id, f"{vb_id} {kind} {snr:g}\n", uid))
            lines.sort()
            write_text_atomic(os.path.join(tmp, "logfiles", log_name), "".join(line for _, line, _ in lines))
            counts[split] = {"utterances": len(lines), "speakers": len(per_speaker)}
        split_of = {spk: split for split, groups in by_split.items() for spk in groups}
        speaker_table = {names[spk]: {"mini_speaker": spk, "mini_split": split_of[spk]} for spk in sorted(names)}
        write_json_atomic(os.path.join(tmp, "speakers.json"), speaker_table)
        summary = {"parameters": params, "counts": counts, "seconds": round(time.time() - start, 2)}
        write_text_atomic(os.path.join(tmp, "README.txt"), _readme(params, counts))
        write_json_atomic(os.path.join(tmp, ".complete"), summary)
        _make_readable(tmp)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked above)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"{out}: mini-enh set ({scale}, seed {seed}, {sample_rate} Hz) built in {summary['seconds']:.1f} s: {counts}")
    return summary


def _make_readable(top):
    for dirpath, _, files in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def _readme(params, counts):
    return (
        "speechslytherin mini-enh set (VoiceBank-DEMAND layout; synthesized, not a real-data benchmark)\n\n"
        f"made with: python -m speechslytherin.bin.simulate --kind mini-enh --root {params['source']} "
        f"--scale {params['scale']} --seed {params['seed']} --sample-rate {params['sample_rate']}\n"
        f"counts: {json.dumps(counts)}\n\n"
        f"train noises {', '.join(TRAIN_NOISES)} at SNR {', '.join(f'{s:g}' for s in TRAIN_SNRS)} dB;\n"
        f"test noises {', '.join(TEST_NOISES)} at SNR {', '.join(f'{s:g}' for s in TEST_SNRS)} dB.\n"
        "Validation speakers p226 and p287 are inside the train folders, as in VoiceBank-DEMAND.\n"
        "Test speakers (testset) are the mini corpus's real recorded people (unseen voices);\n"
        "testset_tts (when counted above) holds unseen TTS voices, the matched condition.\n"
        "speakers.json maps each VoiceBank-like name to the mini corpus speaker.\n"
    )


def add_mini_enh_arguments(parser):
    """Options of `bin/simulate --kind mini-enh` (keyword names of make_mini_enh)."""
    parser.add_argument("--scale", default="default", choices=sorted(SCALES),
                        help="tiny (tests, seconds) | small | default (about 1200 train utterances)")
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=48000, choices=(48000, 16000),
                        help="48000: VoiceBank's rate, the recipe resamples (default); 16000: no resampling")
