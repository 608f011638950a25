"""The mini ASR set: the mini corpus's single utterances written as a LibriSpeech tree.

    python -m speechslytherin.bin.simulate --kind mini-asr --root ../db/mini --out ../db/mini_asr

Split mapping (mini corpus split -> LibriSpeech subset), so `prepare/librispeech.py` reads it:
    tr      TTS training voices                       -> train-clean-100
    cv      held-out TTS voices                       -> dev-clean
    tt_tts  unseen TTS voices (matched condition)     -> test-clean
    tt      real recorded speech, English prompts     -> test-other   (out of domain: a real person,
            (Asterisk telephone prompts, 8 kHz studio              telephone-band audio, and prompt
            recordings upsampled to 16 kHz)                        wording outside the training grammar)
There is no dev-other. The non-English recorded prompts of tt are left out.

Optionally more speech is made with the same machinery as the mini corpus:
- `extra_train_utts` more sentences per training voice (same engines, voices and per-utterance
  variation as the corpus; a separate random stream, so no corpus sentence is re-drawn by design);
- `real_test_utts`: test-other is topped up to this many utterances with further English
  prompts of the same recorded person(s) from the installed Asterisk sounds, processed exactly as
  the corpus processes its own (trim, level, 16 kHz);
- `prompt_text_utts` sentences per training voice made of the TEXT of the English prompts that
  are in no test set (a multi-word prompt, or 3-6 one-word prompts in a row), synthesized with the
  training voices. Measured on the default corpus: 76 % of test-other's running words are not in
  the grammar's 185-word vocabulary, 16 % are not in the grammar + these prompt texts. Test-other
  sentences are excluded by prompt name and by text, so none is ever synthesized for training.

Ids are <speaker>-<chapter>-<utt>: the speaker is the mini speaker code (t00, v01, e02, r00),
the chapter says where the audio came from (1 = the mini corpus, 2 = extra synthesis, 3 = extra
recorded prompts, 4 = synthesized prompt text). Transcripts are upper case with digits spelled
out, as in LibriSpeech.
Audio is 16 kHz 16-bit FLAC. The set is built in a temporary folder and renamed into place,
deterministic from the seed; a re-run with the same options does nothing.
"""

import json
import os
import shutil

import soundfile as sf

from speechslytherin.simulate import extra_speech, mini_corpus, voices
from speechslytherin.simulate import text as sim_text
from speechslytherin.simulate.derived_set import (build_in_place, finished_summary, load_mini_corpus, progress_items,
                                                  resolve_folders)
from speechslytherin.text.numbers import spell_digits
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
SAMPLE_RATE = 16000
SPLIT_TO_SUBSET = {"tr": "train-clean-100", "cv": "dev-clean", "tt_tts": "test-clean", "tt": "test-other"}
CHAPTER = {"corpus": "1", "synth": "2", "prompt": "3", "prompt_text": "4"}
PROMPT_TEXT_MAX_WORDS = 12  # longer prompt texts are split (utterances over 6 s are dropped)
DEFAULT_EXTRA_TRAIN = 0
DEFAULT_REAL_TEST = 250  # more than the installed English prompts in the duration range: all of them


class MiniAsrError(RuntimeError):
    """The mini corpus or the output folder is not usable as asked; the message says what to do."""


def transcript(text):
    """LibriSpeech-style transcript: digits spelled, upper case; None if other digits remain."""
    spelled = spell_digits(text).upper()
    return None if any(ch.isdigit() for ch in spelled) else spelled


def _parameters(corpus_params, seed, extra_train_utts, real_test_utts, prompt_text_utts):
    params = {"format_version": FORMAT_VERSION, "corpus": corpus_params, "seed": int(seed),
              "extra_train_utts": int(extra_train_utts), "real_test_utts": int(real_test_utts)}
    if prompt_text_utts:  # absent when off, so sets made before the option existed stay valid
        params["prompt_text_utts"] = int(prompt_text_utts)
    return params


def _conflict(out_dir, params):
    """The message for an out_dir that holds a mini ASR set made otherwise."""
    return lambda found: (f"{out_dir} already holds a mini ASR set made with other options or from another "
                          f"corpus:\n  there: {json.dumps(found, sort_keys=True)[:300]}\n  asked: "
                          f"{json.dumps(params, sort_keys=True)[:300]}\nChoose another --out or delete it.")


def _write_flac(path, wav_int16):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, wav_int16, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def _recorded_prompts(metas):
    """{(prompt set folder, prompt name)} of the recorded (Asterisk) utterances among metas."""
    return {(m["voice"], m.get("prompt")) for m in metas if m["engine"] == "asterisk"}


def _is_english_real(utt):
    return utt["engine"] == "asterisk" and utt.get("language") == "en"


# ----------------------------------------------------------------------------- extra speech
def _extra_prompt_jobs(speakers, utterances, seed):
    """Iterator of jobs reading further English prompts of the recorded people in tt."""
    inventory = voices.find_inventory()
    used = _recorded_prompts(utterances.values())
    candidates = []
    for code in sorted(speakers):
        spk = speakers[code]
        if spk["engine"] != "asterisk":
            continue
        for prompt_set, rel, raw in mini_corpus._prompt_candidates(spk, inventory):
            if prompt_set.language == "en" and raw and (prompt_set.folder, rel) not in used:
                candidates.append((code, prompt_set, rel, raw))
    rng = mini_corpus._rng(seed, 9000)
    for k, i in enumerate(rng.permutation(len(candidates))):
        code, prompt_set, rel, raw = candidates[i]
        yield dict(uid=f"{code}p{k:05d}", speaker=code, split="tt", engine="asterisk", voice=prompt_set.folder,
                   prompt=rel, language="en", raw_text=raw,
                   text=sim_text.normalise_transcript(raw),
                   source_path=os.path.join(voices.ASTERISK_SOUNDS, prompt_set.folder, rel + ".wav"))


# ----------------------------------------------------------------------------- build
def _prompt_text_pool(utterances, test_metas):
    """(multi-word texts, single-word texts) of the English prompts that are in no test set.

    Prompts recorded in the corpus or in test-other are excluded by name and by text, so no test
    sentence is ever synthesized for training; long texts are cut into chunks of at most
    PROMPT_TEXT_MAX_WORDS words."""
    inventory = voices.find_inventory()
    used = _recorded_prompts(utterances.values())
    used |= _recorded_prompts(test_metas)
    test_texts = {transcript(m["text"] or "") for m in test_metas}
    multi, single = set(), set()
    for prompt_set in inventory.prompt_sets:
        if prompt_set.language != "en":
            continue
        for key, raw in voices.read_prompt_transcripts(prompt_set).items():
            if raw.startswith("[") or (prompt_set.folder, key) in used:
                continue
            text = transcript(sim_text.normalise_transcript(raw))
            if not text or text in test_texts:
                continue
            words = text.split()
            if len(words) == 1:
                single.add(text)
            for start in range(0, len(words) if len(words) > 1 else 0, PROMPT_TEXT_MAX_WORDS):
                chunk = " ".join(words[start:start + PROMPT_TEXT_MAX_WORDS])
                if chunk not in test_texts:
                    multi.add(chunk)
    if not multi and not single:
        raise MiniAsrError("no English Asterisk prompt text outside the test set to synthesize; install "
                           "asterisk-core-sounds-en or use --prompt-text-utts 0.")
    return sorted(multi), sorted(single)


def _prompt_text_jobs(speakers, pool, n_per_speaker, seed, workdir):
    """Synthesis jobs reading prompt texts (a multi-word prompt, or 3-6 one-word prompts in a row)
    with every training voice, with the corpus's per-utterance voice variation."""
    multi, single = pool

    def make_job(spk, k, rng):
        job = mini_corpus._tts_job(spk, f"{spk['code']}q{k:05d}", rng, workdir)
        if multi and (not single or rng.random() < 0.5):
            text = multi[int(rng.integers(len(multi)))]
        else:
            text = " ".join(single[int(i)] for i in rng.integers(len(single), size=int(rng.integers(3, 7))))
        job.update(raw_text=text.lower().capitalize() + ".", text=text.lower())
        return job

    return extra_speech.training_voice_streams(speakers, n_per_speaker, seed, 8000, make_job)


def _build(root, tmp, utterances, speakers, seed, extra_train_utts, real_test_utts, prompt_text_utts, jobs,
           progress, log):
    base = os.path.join(tmp, "LibriSpeech")
    # (subset, speaker, chapter) -> [(source path, transcript, source info)]
    chapters = {}
    skipped = []

    def add(source_root, meta, kind):
        text = transcript(meta["text"] or "")
        if not text:
            skipped.append(meta["uid"])
            return
        subset = SPLIT_TO_SUBSET[meta["split"]]
        chapters.setdefault((subset, meta["speaker"], CHAPTER[kind]), []).append(
            (os.path.join(source_root, meta["path"]), text, meta))

    for uid in sorted(utterances):
        utt = utterances[uid]
        if utt["split"] == "tt" and not _is_english_real(utt):
            continue
        add(root, utt, "corpus")

    work = os.path.join(tmp, "_work")
    os.makedirs(work)
    n_real = sum(len(v) for (s, _, _), v in chapters.items() if s == "test-other")
    if real_test_utts > n_real:
        stream = _extra_prompt_jobs(speakers, utterances, seed)
        made = extra_speech.make_until({"real": real_test_utts - n_real}, {"real": stream}, work, jobs, progress,
                                       lambda m: transcript(m["text"] or "") is not None, log,
                                       "mini-asr: extra recorded prompts")
        for meta in made["real"]:
            add(work, meta, "prompt")

    if extra_train_utts > 0 or prompt_text_utts > 0:
        extra_speech.require_training_voices(speakers, MiniAsrError, "use --extra-train-utts 0 --prompt-text-utts 0")
    if extra_train_utts > 0:
        wanted, streams = extra_speech.sentence_jobs(speakers, extra_train_utts, seed, work, 7000, "x")
        made = extra_speech.make_until(wanted, streams, work, jobs, progress, lambda m: True, log,
                                       "mini-asr: extra training speech")
        for code in sorted(made):
            for meta in made[code]:
                add(work, meta, "synth")
    if prompt_text_utts > 0:
        real = [item[2] for (subset, _, _), v in chapters.items() if subset == "test-other" for item in v]
        pool = _prompt_text_pool(utterances, real)
        wanted, streams = _prompt_text_jobs(speakers, pool, prompt_text_utts, seed, work)
        made = extra_speech.make_until(wanted, streams, work, jobs, progress, lambda m: True, log,
                                       "mini-asr: prompt-text speech")
        for code in sorted(made):
            for meta in made[code]:
                add(work, meta, "prompt_text")
    source = {}
    items = [(key, k, item) for key in sorted(chapters) for k, item in enumerate(chapters[key])]
    lines = {}
    for (subset, spk, chapter), k, (path, text, meta) in progress_items(items, progress, "flac"):
        uid = f"{spk}-{chapter}-{k:04d}"
        folder = os.path.join(base, subset, spk, chapter)
        wav, sr = sf.read(path, dtype="int16")
        if sr != SAMPLE_RATE:
            raise MiniAsrError(f"{path}: {sr} Hz, expected {SAMPLE_RATE} Hz")
        _write_flac(os.path.join(folder, uid + ".flac"), wav)
        lines.setdefault(folder, []).append(f"{uid} {text}")
        source[uid] = {"subset": subset, "source": meta["uid"] if chapter == CHAPTER["corpus"] else None,
                       "engine": meta["engine"], "voice": meta["voice"], "raw_text": meta.get("raw_text"),
                       "prompt": meta.get("prompt"), "duration": round(len(wav) / SAMPLE_RATE, 4)}
    for folder, folder_lines in lines.items():
        spk, chapter = folder.split(os.sep)[-2:]
        write_text_atomic(os.path.join(folder, f"{spk}-{chapter}.trans.txt"), "\n".join(folder_lines) + "\n")
    shutil.rmtree(work)
    counts = {}
    for info in source.values():
        c = counts.setdefault(info["subset"], {"utterances": 0, "hours": 0.0})
        c["utterances"] += 1
        c["hours"] += info["duration"] / 3600
    for c in counts.values():
        c["hours"] = round(c["hours"], 3)
    write_json_atomic(os.path.join(tmp, "utterances.json"), source)
    return counts, skipped


def _readme(params, counts, skipped):
    lines = [
        "speechslytherin mini ASR set: the mini corpus's utterances in the LibriSpeech layout",
        "",
        f"made with: python -m speechslytherin.bin.simulate --kind mini-asr --seed {params['seed']} "
        f"--extra-train-utts {params['extra_train_utts']} --real-test-utts {params['real_test_utts']} "
        f"--prompt-text-utts {params.get('prompt_text_utts', 0)}",
        "",
        "subset            mini corpus split      speakers",
        "train-clean-100   tr                     TTS voices (training)",
        "dev-clean         cv                     held-out TTS voices",
        "test-clean        tt_tts                 unseen TTS voices (matched condition)",
        "test-other        tt (English prompts)   a real person: Asterisk telephone prompts (out of domain)",
        "",
        "chapters: 1 = utterance of the mini corpus, 2 = extra synthesized sentence (same voice),",
        "3 = further recorded prompt of the same person, 4 = synthesized text of prompts in no test set.",
        "Transcripts: upper case, digits spelled.",
        f"counts: {json.dumps(counts)}",
        f"left out (digits that are not whole numbers in the transcript): {len(skipped)}",
        "utterances.json: LibriSpeech id -> mini corpus id, engine, voice, raw text, duration.",
        "",
    ]
    return "\n".join(lines)


def make_mini_asr(root, out, seed=0, progress=True, extra_train_utts=DEFAULT_EXTRA_TRAIN,
                  real_test_utts=DEFAULT_REAL_TEST, prompt_text_utts=0, jobs=2, log=print):
    """Write the mini ASR set under `out` (LibriSpeech/<subset>/...); returns the .complete summary."""
    root, out = resolve_folders(root, out, MiniAsrError, "../db/mini_asr")
    if min(extra_train_utts, real_test_utts, prompt_text_utts) < 0:
        raise MiniAsrError("--extra-train-utts, --real-test-utts and --prompt-text-utts must be >= 0")
    utterances, speakers, corpus_params = load_mini_corpus(root, MiniAsrError, with_speakers=True)
    params = _parameters(corpus_params, seed, extra_train_utts, real_test_utts, prompt_text_utts)
    done = finished_summary(out, params, MiniAsrError, "mini ASR set", _conflict(out, params))
    if done is not None:
        log(f"{out}: mini ASR set already complete; nothing to do.")
        return done

    def fill(tmp):
        counts, skipped = _build(root, tmp, utterances, speakers, seed, extra_train_utts, real_test_utts,
                                 prompt_text_utts, int(jobs), progress, log)
        write_text_atomic(os.path.join(tmp, "README.txt"), _readme(params, counts, skipped))
        return {"parameters": params, "counts": counts, "left_out": len(skipped)}

    summary = build_in_place(out, fill)
    log(f"{out}: mini ASR set in {summary['seconds']:.1f} s: {json.dumps(summary['counts'])}")
    return summary


def add_mini_asr_arguments(parser):
    """Options of `bin/simulate --kind mini-asr` (keyword names of make_mini_asr)."""
    parser.add_argument("--extra-train-utts", dest="extra_train_utts", type=int, default=DEFAULT_EXTRA_TRAIN,
                        help="more sentences to synthesize per training voice, with the corpus's engines and "
                             f"settings (default {DEFAULT_EXTRA_TRAIN}: the corpus's own)")
    parser.add_argument("--real-test-utts", dest="real_test_utts", type=int, default=DEFAULT_REAL_TEST,
                        help="top test-other (real recorded speech) up to this many utterances with further "
                             "English prompts of the same person from the installed Asterisk sounds "
                             f"(default {DEFAULT_REAL_TEST}: all of them; 0: the corpus's own only)")
    parser.add_argument("--prompt-text-utts", dest="prompt_text_utts", type=int, default=0,
                        help="per training voice, synthesize this many sentences made of the text of English "
                             "telephone prompts that are in no test set (domain words for test-other; default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes")
