"""The offline `mini` corpus: synthesized and recorded speech laid out like wsj0(-2mix).

Train and valid speakers are TTS voices (eSpeak NG accent+variant pairs, flite and
festival voices), split so that no voice - and no person behind a voice - is in both.
Test speakers are real people: the Asterisk prompt recordings. Every utterance is trimmed,
brought to the same active speech level, and kept twice: 16 kHz under speech/ (for
enhancement, ASR and TTS tasks) and 8 kHz for the mixtures (train utterances also form the
wsj0/si_tr_s-like pool used for dynamic mixing).

Layout written under the output folder:
    2speakers/wav8k/min/{tr,cv,tt}/{mix,s1,s2}/<utt1>_<g1>_<utt2>_<g2>.wav
    wsj0/si_tr_s/<spk>/<utt>.wav          8 kHz, train speakers only
    speech/{tr,cv,tt}/<spk>/<utt>.wav     16 kHz
    utterances.json  speakers.json  README.txt  .complete
Utterance ids are 8 characters whose first 3 are the speaker, as in wsj0.

Everything random comes from the seed, and the engines are deterministic, so one seed
always gives byte-identical files, whatever --jobs is.
"""

import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
import time

import numpy as np

from speechslytherin.data.audio import audio_info, read_audio
from speechslytherin.simulate import levels, text, tts, twomix, voices
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
SPEECH_SR = 16000
MIX_SR = 8000
MIN_DURATION_S = 1.3  # after silence trimming
MAX_DURATION_S = 6.0
PROMPT_RAW_RANGE_S = (1.5, 8.0)  # recorded prompts considered (before trimming)
TEST_VOICES = ("both", "real")

# Non-TTS voices per split. Persons never cross splits (flite kal16 = festival kal, flite slt
# = festival slt_hts, so those share a split).
FLITE_SPLIT = {"kal16": "tr", "awb": "tr", "slt": "tr", "rms": "cv"}
FESTIVAL_SPLIT = {"cmu_us_slt_arctic_hts": "tr", "ked_diphone": "cv"}
FESTIVAL_SPLIT_TTS_TEST = {"cmu_us_slt_arctic_hts": "tr", "ked_diphone": "tt_tts"}
# Typical mean pitch (Hz) of each flite voice, varied per utterance.
FLITE_F0 = {"kal16": 105.0, "awb": 110.0, "rms": 100.0, "slt": 175.0}

SCALES = {
    # espeak speakers per split, utterances per speaker per split, mixtures per split,
    # which flite/festival voices join, real speakers in tt.
    "tiny": dict(
        espeak={"tr": 2, "cv": 1, "tt": 2}, utts={"tr": 6, "cv": 6, "tt": 4},
        mixtures={"tr": 24, "cv": 8, "tt": 8}, flite=("kal16", "awb", "rms"), festival=(),
        real_persons=("allison", "june", "carlo"),
    ),
    "small": dict(
        espeak={"tr": 12, "cv": 3, "tt": 4}, utts={"tr": 30, "cv": 20, "tt": 30},
        mixtures={"tr": 600, "cv": 100, "tt": 100}, flite=tuple(FLITE_SPLIT),
        festival=tuple(FESTIVAL_SPLIT), real_persons=None,
    ),
    "default": dict(
        espeak={"tr": 44, "cv": 6, "tt": 6}, utts={"tr": 60, "cv": 30, "tt": 80},
        mixtures={"tr": 3000, "cv": 300, "tt": 300}, flite=tuple(FLITE_SPLIT),
        festival=tuple(FESTIVAL_SPLIT), real_persons=None,
    ),
}

LICENCES = {
    "espeak-ng": "eSpeak NG output (engine GPL-3+; generated audio carries no licence restriction)",
    "flite": "flite / CMU ARCTIC voices, BSD-style licence",
    "festival": "festival + festvox voices, BSD-style licence",
    "asterisk": "Asterisk prompt recordings, CC-BY-SA-3.0 (ru: CC-BY-3.0; it Menardi: CC-BY-SA-3.0 IT)",
}


class CorpusExistsError(RuntimeError):
    """The output folder holds something else than the corpus asked for."""


def _rng(seed, purpose):
    return np.random.default_rng([int(seed), int(purpose)])


def splits_for(test_voices):
    """Splits written: tt is always the recorded people (real speakers, out of domain for a
    model trained on TTS voices); "both" adds tt_tts, unseen TTS voices (the matched condition)."""
    if test_voices not in TEST_VOICES:
        raise ValueError(f"test_voices must be one of {TEST_VOICES}, got {test_voices!r}")
    return ("tr", "cv", "tt") if test_voices == "real" else ("tr", "cv", "tt_tts", "tt")


def _speaker_code(split, index, test_voices):
    prefixes = {"tr": "t", "cv": "v", "tt": "r", "tt_tts": "e"}
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return prefixes[split] + digits[index // 36] + digits[index % 36]


def utterance_count(cfg, split):
    return cfg["utts"]["tt" if split == "tt_tts" else split]


# ----------------------------------------------------------------------------- planning
def plan_speakers(inventory, scale, seed, test_voices="real"):
    """Speaker records {code, split, engine, voice, person, ...} for every split."""
    cfg = SCALES[scale]
    splits = splits_for(test_voices)
    rng = _rng(seed, 1)
    speakers = []
    # eSpeak NG: variants (voice qualities) are split between the splits, accents are free.
    variants = list(inventory.espeak_variants)
    rng.shuffle(variants)
    tts_splits = ("tr", "cv") if test_voices == "real" else ("tr", "cv", "tt_tts")
    counts = {split: cfg["espeak"]["tt" if split == "tt_tts" else split] for split in tts_splits}
    variant_pool, used = {}, 0
    for split in tts_splits[1:]:
        n_variants = max(1, min(len(variants) // 6, counts[split]))
        variant_pool[split] = variants[used : used + n_variants]
        used += n_variants
    variant_pool["tr"] = variants[used:]
    for split in tts_splits:
        grid = [(a, v) for v in variant_pool[split] for a in voices.ESPEAK_ACCENTS]
        if counts[split] > len(grid):
            raise ValueError(
                f"scale {scale!r} asks {counts[split]} eSpeak voices for {split}, only {len(grid)} exist"
            )
        for k in sorted(rng.permutation(len(grid))[: counts[split]]):
            accent, variant = grid[k]
            speakers.append(dict(
                split=split, engine="espeak-ng", voice=f"{accent}+{variant}", person=f"espeak:{variant}",
                accent=accent, variant=variant, base_pitch=int(rng.integers(25, 76)),
                base_rate=int(rng.integers(145, 191)),
            ))
    for name in cfg["flite"]:
        if name in inventory.flite_voices:
            speakers.append(dict(split=FLITE_SPLIT[name], engine="flite", voice=name,
                                 person=voices.FLITE_VOICES[name], base_f0=FLITE_F0[name]))
    for name in cfg["festival"]:
        if name in inventory.festival_voices:
            split = FESTIVAL_SPLIT[name] if test_voices == "real" else FESTIVAL_SPLIT_TTS_TEST[name]
            speakers.append(dict(split=split, engine="festival", voice=name,
                                 person=voices.FESTIVAL_VOICE_PACKAGES[name][0]))
    person_order = [p.person for p in voices.PROMPT_SETS]
    persons = sorted({s.person for s in inventory.prompt_sets}, key=person_order.index)
    if cfg["real_persons"] is not None:
        persons = [p for p in persons if p in cfg["real_persons"]]
    for person in persons:
        sets = [s for s in inventory.prompt_sets if s.person == person]
        speakers.append(dict(split=splits[-1], engine="asterisk", voice="+".join(s.folder for s in sets),
                             person=person))
    # espeak-ng + flite kal share no person, but flite slt and festival slt do: one speaker code
    by_split = {split: [] for split in splits}
    merged = {}
    for spk in speakers:
        key = (spk["split"], spk["person"]) if spk["engine"] in ("flite", "festival") else None
        if key is not None and key in merged:
            merged[key]["extra_voices"].append((spk["engine"], spk["voice"]))
            continue
        spk["extra_voices"] = []
        spk["code"] = _speaker_code(spk["split"], len(by_split[spk["split"]]), test_voices)
        by_split[spk["split"]].append(spk)
        if key is not None:
            merged[key] = spk
    _check_disjoint(by_split)
    return [spk for split in splits for spk in by_split[split]]


def _check_disjoint(by_split):
    seen = {}
    for split, spks in by_split.items():
        for spk in spks:
            other = seen.setdefault(spk["person"], split)
            if other != split:
                raise AssertionError(f"person {spk['person']} is in both {other} and {split}")


def _tts_job(spk, uid, rng, workdir):
    spoken, transcript = text.make_sentence(rng)
    job = dict(uid=uid, speaker=spk["code"], split=spk["split"], text=transcript, raw_text=spoken,
               language="en", tmp=os.path.join(workdir, uid + ".wav"))
    engines = [(spk["engine"], spk["voice"])] + list(spk["extra_voices"])
    engine, voice = engines[int(rng.integers(len(engines)))]
    job.update(engine=engine, voice=voice)
    if engine == "espeak-ng":
        job.update(accent=spk["accent"], variant=spk["variant"],
                   pitch=int(np.clip(spk["base_pitch"] + rng.integers(-8, 9), 0, 99)),
                   rate=int(round(spk["base_rate"] * rng.uniform(0.9, 1.1))))
    elif engine == "flite":
        job.update(duration_stretch=float(rng.uniform(0.9, 1.15)),
                   f0_mean=float(spk["base_f0"] * rng.uniform(0.9, 1.1)))
    else:
        job.update(duration_stretch=float(rng.uniform(0.9, 1.15)))
    return job


def _prompt_candidates(spk, inventory):
    """[(prompt set, relative path, transcript)] of speech prompts (no tones) of one person."""
    english = {k: v for s in inventory.prompt_sets if s.language == "en"
               for k, v in voices.read_prompt_transcripts(s).items()}
    non_speech = {k for k, v in english.items() if v.startswith("[")}
    found = []
    for prompt_set in inventory.prompt_sets:
        if prompt_set.person != spk["person"]:
            continue
        transcripts = voices.read_prompt_transcripts(prompt_set)
        for rel in voices.list_prompts(prompt_set):
            if rel.startswith("silence/") or rel in non_speech:
                continue
            raw = transcripts.get(rel)
            if prompt_set.transcript_file and (raw is None or raw.startswith("[")):
                continue
            path = os.path.join(voices.ASTERISK_SOUNDS, prompt_set.folder, rel + ".wav")
            sample_rate, n_frames, _ = audio_info(path)
            if PROMPT_RAW_RANGE_S[0] <= n_frames / sample_rate <= PROMPT_RAW_RANGE_S[1]:
                found.append((prompt_set, rel, raw))
    return found


def utterance_streams(speakers, inventory, seed, workdir):
    """{speaker code: iterator of synthesis/reading jobs}, in a fixed order per speaker.

    Some utterances come out too short or too long and are dropped, so the builder takes
    more from a speaker's stream until it has enough; the stream depends only on the seed.
    """
    streams = {}
    for index, spk in enumerate(speakers):
        rng = _rng(seed, 1000 + index)
        if spk["engine"] == "asterisk":
            streams[spk["code"]] = _prompt_jobs(spk, _prompt_candidates(spk, inventory), rng)
        else:
            streams[spk["code"]] = _tts_jobs(spk, rng, workdir)
    return streams


def _tts_jobs(spk, rng, workdir):
    k = 0
    while True:
        yield _tts_job(spk, f"{spk['code']}{k:05d}", rng, workdir)
        k += 1


def _prompt_jobs(spk, candidates, rng):
    for k, i in enumerate(rng.permutation(len(candidates))):
        prompt_set, rel, raw = candidates[i]
        yield dict(
            uid=f"{spk['code']}{k:05d}", speaker=spk["code"], split=spk["split"], engine="asterisk",
            voice=prompt_set.folder, prompt=rel, language=prompt_set.language,
            raw_text=raw, text=text.normalise_transcript(raw) if raw else None,
            source_path=os.path.join(voices.ASTERISK_SOUNDS, prompt_set.folder, rel + ".wav"),
        )


# ----------------------------------------------------------------------------- synthesis
def _batches(jobs, festival_batch=24):
    """Group festival jobs per voice (one process per batch); everything else alone."""
    batches, pending = [], {}
    for job in jobs:
        if job["engine"] == "festival":
            group = pending.setdefault(job["voice"], [])
            group.append(job)
            if len(group) == festival_batch:
                batches.append(pending.pop(job["voice"]))
        else:
            batches.append([job])
    batches.extend(pending[v] for v in sorted(pending))
    return batches


def _synthesise(batch):
    first = batch[0]
    if first["engine"] == "festival":
        items = [(j["raw_text"], j["duration_stretch"], j["tmp"]) for j in batch]
        return tts.festival_batch(first["voice"], items)
    if first["engine"] == "espeak-ng":
        return [tts.espeak(first["raw_text"], first["accent"], first["variant"], first["pitch"],
                           first["rate"], first["tmp"])]
    if first["engine"] == "flite":
        return [tts.flite(first["raw_text"], first["voice"], first["duration_stretch"],
                          first["f0_mean"], first["tmp"])]
    return [read_audio(first["source_path"])]


def _process_batch(args):
    """Worker: synthesise/read, trim, level-normalise, resample, write; returns metadata."""
    batch, out_root = args
    results = []
    for job, (wav, sr) in zip(batch, _synthesise(batch)):
        if "tmp" in job and os.path.exists(job["tmp"]):
            os.unlink(job["tmp"])
        wav = levels.trim_silences(wav, sr)
        duration = len(wav) / sr
        meta = {k: v for k, v in job.items() if k not in ("tmp", "source_path")}
        meta["native_sample_rate"] = sr
        if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
            results.append((meta, None))
            continue
        wav16 = levels.normalise_active_level(levels.resample(wav, sr, SPEECH_SR), SPEECH_SR)
        wav8 = twomix.to_int16(levels.normalise_active_level(levels.resample(wav, sr, MIX_SR), MIX_SR))
        rel16 = os.path.join("speech", job["split"], job["speaker"], job["uid"] + ".wav")
        _write_int16(os.path.join(out_root, rel16), twomix.to_int16(wav16), SPEECH_SR)
        meta.update(path=rel16, sample_rate=SPEECH_SR, duration=round(len(wav16) / SPEECH_SR, 4),
                    active_level_db=round(levels.active_level_db(wav16, SPEECH_SR), 2))
        if job["split"] == "tr":
            rel8 = os.path.join("wsj0", "si_tr_s", job["speaker"], job["uid"] + ".wav")
            _write_int16(os.path.join(out_root, rel8), wav8, MIX_SR)
            meta["pool_path"] = rel8
        results.append((meta, wav8))
    return results


def _write_int16(path, wav, sample_rate):
    import soundfile as sf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, wav, sample_rate, subtype="PCM_16", format="WAV")


def _run_batches(batches, out_root, n_jobs, progress):
    tasks = [(batch, out_root) for batch in batches]
    if n_jobs <= 1:
        return [_process_batch(t) for t in _progress(tasks, progress)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(n_jobs) as pool:
        return list(_progress(pool.imap(_process_batch, tasks, chunksize=4), progress, len(tasks)))


def _write_mixture_chunk(args):
    split_dir, plans, wavs = args
    return twomix.write_mixtures(split_dir, plans, wavs, MIX_SR)


def _write_mixtures_parallel(split_dir, plans, wavs_8k, n_jobs, chunk=100):
    """Mixture files are independent: write chunks of them in the worker processes."""
    tasks = []
    for start in range(0, len(plans), chunk):
        part = plans[start : start + chunk]
        needed = {u: wavs_8k[u] for p in part for u in (p[0], p[2])}
        tasks.append((split_dir, part, needed))
    if n_jobs <= 1:
        return [_write_mixture_chunk(t) for t in tasks]
    with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
        return pool.map(_write_mixture_chunk, tasks)


def _progress(iterable, enabled, total=None):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="utterances", unit="batch", leave=False)


# ----------------------------------------------------------------------------- orchestration
def corpus_parameters(scale, seed, inventory, test_voices="real"):
    return {"format_version": FORMAT_VERSION, "scale": scale, "seed": int(seed),
            "test_voices": test_voices, "inventory": inventory.signature()}


def _read_marker(out_dir):
    with open(os.path.join(out_dir, ".complete"), encoding="utf-8") as f:
        return json.load(f)


def _check_existing(out_dir, params):
    """True if out_dir already holds this corpus; raises if it holds anything else."""
    marker = os.path.join(out_dir, ".complete")
    if os.path.isfile(marker):
        found = _read_marker(out_dir).get("parameters")
        if found == params:
            return True
        raise CorpusExistsError(
            f"{out_dir} already holds a mini corpus made with different parameters:\n"
            f"  there:  {json.dumps(found, sort_keys=True)[:400]}\n"
            f"  asked:  {json.dumps(params, sort_keys=True)[:400]}\n"
            f"Choose a new --out (e.g. {out_dir.rstrip('/')}_{params['scale']}_seed{params['seed']}) "
            "or delete the old folder."
        )
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CorpusExistsError(f"{out_dir} exists and is a file, not a folder; choose another --out.")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise CorpusExistsError(
            f"{out_dir} exists and is not a finished mini corpus (no .complete marker). "
            "Delete it or choose another --out."
        )
    return False


def make_mini(out_dir, scale="default", seed=0, jobs=2, test_voices="both", progress=False, log=print):
    """Build the corpus in out_dir (no-op if already built with the same parameters).

    test_voices="real": tt = recorded people (out-of-domain for TTS-trained models);
    "both": tt = the recorded people, plus tt_tts = unseen TTS voices (matched condition).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    splits_for(test_voices)
    out_dir = os.path.abspath(out_dir)
    inventory = voices.require_inventory()
    params = corpus_parameters(scale, seed, inventory, test_voices)
    if _check_existing(out_dir, params):
        log(f"{out_dir}: mini corpus already complete ({scale}, seed {seed}); nothing to do.")
        return _read_marker(out_dir)
    start = time.time()
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        summary = _build(tmp_root, scale, seed, jobs, inventory, test_voices, progress, log)
        summary.update(parameters=params, seconds=round(time.time() - start, 2), jobs=int(jobs))
        write_json_atomic(os.path.join(tmp_root, ".complete"), summary)
        _make_readable(tmp_root)
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)  # empty (checked above)
        try:
            os.rename(tmp_root, out_dir)
        except OSError:
            # another run finished the same folder meanwhile: fine if it is this corpus
            if not _check_existing(out_dir, params):
                raise
            shutil.rmtree(tmp_root, ignore_errors=True)
            return _read_marker(out_dir)
    except BaseException:
        shutil.rmtree(tmp_root, ignore_errors=True)
        raise
    log(f"{out_dir}: mini corpus ({scale}, seed {seed}) built in {summary['seconds']:.1f} s: "
        f"{summary['counts']}")
    return summary


def _build(root, scale, seed, n_jobs, inventory, test_voices, progress, log):
    cfg = SCALES[scale]
    workdir = os.path.join(root, "_work")
    os.makedirs(workdir)
    t0 = time.time()
    splits = splits_for(test_voices)
    speakers = plan_speakers(inventory, scale, seed, test_voices)
    want = {spk["code"]: utterance_count(cfg, spk["split"]) for spk in speakers}
    streams = utterance_streams(speakers, inventory, seed, workdir)
    utterances, wavs_8k, by_speaker = {}, {}, {code: [] for code in want}
    dropped, made = [], 0
    for round_index in range(6):
        jobs = []
        for spk in speakers:
            deficit = want[spk["code"]] - len(by_speaker[spk["code"]])
            if deficit > 0:
                margin = 1.8 if spk["engine"] == "asterisk" else 1.05
                jobs += list(itertools.islice(streams[spk["code"]], int(np.ceil(deficit * margin)) + 1))
        if not jobs:
            break
        log(f"mini corpus: round {round_index + 1}: {len(jobs)} utterances to make with {n_jobs} jobs")
        made += len(jobs)
        results = [r for batch in _run_batches(_batches(jobs), root, n_jobs, progress) for r in batch]
        # keep the first N valid utterances of each speaker, in stream order
        for meta, wav8 in sorted(results, key=lambda r: r[0]["uid"]):
            kept = by_speaker[meta["speaker"]]
            if wav8 is None:
                dropped.append(meta["uid"])
            elif len(kept) >= want[meta["speaker"]]:  # surplus: remove its files
                for key in ("path", "pool_path"):
                    if key in meta:
                        os.unlink(os.path.join(root, meta[key]))
            else:
                kept.append(meta["uid"])
                utterances[meta["uid"]] = meta
                wavs_8k[meta["uid"]] = wav8
    shutil.rmtree(workdir)
    log(f"mini corpus: {len(utterances)} utterances ready after {time.time() - t0:.1f} s")
    for spk in speakers:
        if len(by_speaker.get(spk["code"], [])) < max(2, want[spk["code"]] // 2):
            raise RuntimeError(
                f"speaker {spk['code']} ({spk['engine']} {spk['voice']}) gave only "
                f"{len(by_speaker.get(spk['code'], []))} usable utterances"
            )
    _remove_empty_dirs(os.path.join(root, "speech"))
    _remove_empty_dirs(os.path.join(root, "wsj0"))

    mixture_counts = {}
    for split_index, split in enumerate(splits):
        split_speakers = {s["code"]: by_speaker[s["code"]] for s in speakers if s["split"] == split}
        plans = twomix.plan_mixtures(split_speakers, cfg["mixtures"]["tt" if split == "tt_tts" else split],
                                     _rng(seed, 10 + split_index))
        split_dir = os.path.join(root, "2speakers", "wav8k", "min", split)
        _write_mixtures_parallel(split_dir, plans, wavs_8k, n_jobs)
        mixture_counts[split] = len(plans)
    log(f"mini corpus: mixtures written after {time.time() - t0:.1f} s")

    speaker_table = {s["code"]: {k: v for k, v in s.items() if k not in ("code",)} for s in speakers}
    write_json_atomic(os.path.join(root, "utterances.json"), utterances)
    write_json_atomic(os.path.join(root, "speakers.json"), speaker_table)
    counts = {
        "speakers": {split: sum(s["split"] == split for s in speakers) for split in splits},
        "utterances": {split: sum(u["split"] == split for u in utterances.values()) for split in splits},
        "mixtures": mixture_counts,
        "made": made,
        "dropped_for_length": len(dropped),
    }
    readme = _readme(scale, seed, test_voices, counts, speakers, inventory)
    write_text_atomic(os.path.join(root, "README.txt"), readme)
    return {"counts": counts}


def _make_readable(root):
    """mkdtemp/mkstemp create owner-only modes; a corpus should be readable like any data."""
    os.chmod(root, 0o755)
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            os.chmod(path, 0o644)


def _remove_empty_dirs(top):
    for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
        if os.path.isdir(dirpath) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def _readme(scale, seed, test_voices, counts, speakers, inventory):
    engines = sorted({s["engine"] for s in speakers})
    lines = [
        "speechslytherin mini corpus (synthesized offline; not a real-data benchmark)",
        "",
        f"scale: {scale}   seed: {seed}   test voices: {test_voices}   format version: {FORMAT_VERSION}",
        f"made with: python -m speechslytherin.bin.make_mini --scale {scale} --seed {seed} "
        f"--test-voices {test_voices}",
        f"counts: {json.dumps(counts)}",
        "",
        "train (tr) and valid (cv) speakers are TTS voices; no voice or person is in two splits.",
        ("test (tt) speakers are real people (Asterisk telephone prompts, 8 kHz studio recordings)."
         if test_voices == "real" else
         "test (tt) speakers are real people (Asterisk prompts); tt_tts holds unseen TTS voices."),
        "Measured: a model trained on the TTS voices does not carry over to the real people",
        "(about 0 dB SI-SNRi on them), so real-speaker scores measure out-of-domain generalisation.",
        "2speakers/wav8k/min/: wsj0-2mix-like mixtures, ids <utt1>_<gain1 dB>_<utt2>_<gain2 dB>;",
        "  sources are level-normalised, scaled by +-x dB (x in [0, 2.5]), cut to the shorter one;",
        "  mix = s1 + s2 exactly (16-bit integers).",
        "wsj0/si_tr_s/<spk>/: 8 kHz single-speaker train utterances (dynamic-mixing pool).",
        "speech/<split>/<spk>/: 16 kHz single utterances (recorded prompts are 8 kHz upsampled).",
        "utterances.json: id -> path, speaker, text (normalised transcript), raw_text, split, engine,",
        "  voice, synthesis settings, duration, sample_rate. speakers.json: speaker -> voice.",
        "",
        f"voices found: {inventory.describe()}",
        "",
        "licences of the material:",
    ]
    lines += [f"  {LICENCES[e]}" for e in engines]
    lines += ["  Asterisk prompt transcripts come from the asterisk-core-sounds-XX packages.", ""]
    return "\n".join(lines)
