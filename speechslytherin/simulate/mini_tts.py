"""The mini TTS set: the mini corpus's synthetic voices and sentences written as a LibriTTS tree.

    python -m speechslytherin.bin.simulate --kind mini-tts --root ../db/mini --out ../db/mini_tts

Split mapping (mini corpus split -> LibriTTS split), so `prepare/libritts.py` reads it:
    tr      training TTS voices                 -> train-clean-100
    cv      held-out TTS voices                 -> dev-clean
    tt_tts  unseen TTS voices, several          -> test-clean   (stage 2 keeps some utterances of
            utterances each                                      each voice as 3 s prompts, the
                                                                 others as targets)
The recorded people of the corpus's tt split (telephone prompts upsampled from 8 kHz) are left
out: they are not the condition the mini codec and models are built for.

Differences from the real corpus, on purpose: audio stays at the mini corpus's 16 kHz (LibriTTS
is 24 kHz; prepare accepts one rate per tree and stage 2 resamples to the codec rate), the
speaker folders are the mini speaker codes (t00, v01, e02) instead of numbers, and there is one
chapter (1) per speaker (2 holds the extra sentences below). Ids are
<spk>_<chapter>_<paragraph 000000>_<sentence 000000>. <id>.normalized.txt holds the sentence with
punctuation and digits spelled out (what LibriTTS's normalized text is), <id>.original.txt the
sentence as synthesized.

`extra_train_utts` (default 0) adds that many new grammar sentences per training voice, read by
the corpus's own synthesis machinery (extra_speech.py) into chapter 2 of the training speakers: a
TTS model on the mini set is data-bound (the nano ARs memorize the 2,820 corpus utterances), and
synthesis costs seconds. A drawn sentence that is also a cv or test sentence is dropped, so no
held-out text is ever trained on.

Built in a temporary folder and renamed into place; deterministic (the corpus is copied in id
order; `seed` draws only the extra sentences); a re-run with the same options does nothing.
"""

import json
import os
import shutil

from speechslytherin.simulate import extra_speech
from speechslytherin.simulate.derived_set import (build_in_place, finished_summary, load_mini_corpus, progress_items,
                                                  resolve_folders)
from speechslytherin.text.numbers import spell_digits
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
SPLIT_TO_LIBRITTS = {"tr": "train-clean-100", "cv": "dev-clean", "tt_tts": "test-clean"}
CHAPTER = "1"
EXTRA_CHAPTER = "2"
EXTRA_STREAM = 7500  # random streams of the extra sentences (mini-asr's use 7000+ and 8000+)


class MiniTtsError(RuntimeError):
    """The mini corpus or the output folder is not usable as asked; the message says what to do."""


def normalized_text(raw):
    """LibriTTS-style normalized text: the sentence with punctuation, digits spelled out."""
    return " ".join(spell_digits(str(raw)).split())


def _conflict(out_dir):
    """The message for an out_dir that holds a mini TTS set made otherwise."""
    return lambda found: (f"{out_dir} already holds a mini TTS set made with other options or from another corpus "
                          f"(there: {json.dumps(found, sort_keys=True)[:200]}). Choose another --out or delete it.")


def _extra_training_speech(speakers, utterances, n_per_speaker, seed, work, jobs, progress, log):
    """{speaker: [meta]} of n_per_speaker new sentences per training voice, none of them a held-out text."""
    extra_speech.require_training_voices(speakers, MiniTtsError, "use --extra-train-utts 0")
    held_out = {u["text"] for u in utterances.values() if u["split"] in ("cv", "tt_tts")}
    wanted, streams = extra_speech.sentence_jobs(speakers, n_per_speaker, seed, work, EXTRA_STREAM, "y")
    return extra_speech.make_until(wanted, streams, work, jobs, progress, lambda m: m["text"] not in held_out, log,
                                   "mini-tts: extra training speech")


def _build(root, tmp, utterances, speakers, min_test_utts, extra_train_utts, seed, jobs, progress, log):
    base = os.path.join(tmp, "LibriTTS")
    by_speaker = {}  # (split, speaker) -> [(source folder, chapter, utterance meta)]
    for uid in sorted(utterances):
        utt = utterances[uid]
        if utt["split"] in SPLIT_TO_LIBRITTS:
            by_speaker.setdefault((utt["split"], utt["speaker"]), []).append((root, CHAPTER, utt))
    work = os.path.join(tmp, "_work")  # synthesized extra sentences, until copied into the tree
    if extra_train_utts > 0:
        os.makedirs(work)
        made = _extra_training_speech(speakers, utterances, extra_train_utts, seed, work, jobs, progress, log)
        for spk in sorted(made):
            by_speaker.setdefault(("tr", spk), []).extend((work, EXTRA_CHAPTER, meta) for meta in made[spk])
    short = [spk for (split, spk), utts in by_speaker.items() if split == "tt_tts" and len(utts) < min_test_utts]
    if short:
        raise MiniTtsError(f"{root}: test voices {', '.join(sorted(short))} have fewer than {min_test_utts} "
                           "utterances (a prompt and targets are needed per voice); build a larger mini corpus.")
    items = []
    for key in sorted(by_speaker):
        per_chapter = {}
        for folder, chapter, utt in by_speaker[key]:
            k = per_chapter[chapter] = per_chapter.get(chapter, -1) + 1
            items.append((key, k, (folder, chapter, utt)))
    source, counts = {}, {}
    for (split, spk), k, (source_root, chapter, utt) in progress_items(items, progress, "mini-tts"):
        subset = SPLIT_TO_LIBRITTS[split]
        if "_" in spk:
            raise MiniTtsError(f"speaker code {spk!r} holds '_', which LibriTTS ids use as separator")
        if int(utt.get("sample_rate", 16000)) != 16000:
            raise MiniTtsError(f"{utt['path']}: {utt.get('sample_rate')} Hz; the mini corpus is 16 kHz")
        uid = f"{spk}_{chapter}_{k:06d}_000000"
        folder = os.path.join(base, subset, spk, chapter)
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(os.path.join(source_root, utt["path"]), os.path.join(folder, uid + ".wav"))
        raw = utt.get("raw_text") or utt["text"]
        with open(os.path.join(folder, uid + ".normalized.txt"), "w", encoding="utf-8") as f:
            f.write(normalized_text(raw))
        with open(os.path.join(folder, uid + ".original.txt"), "w", encoding="utf-8") as f:
            f.write(raw)
        source[uid] = {"split": subset, "source": utt["uid"] if chapter == CHAPTER else None,
                       "engine": utt.get("engine"), "voice": utt.get("voice"), "duration": utt.get("duration")}
        c = counts.setdefault(subset, {"utterances": 0, "speakers": set(), "hours": 0.0})
        c["utterances"] += 1
        c["speakers"].add(spk)
        c["hours"] += float(utt.get("duration") or 0.0) / 3600
    for c in counts.values():
        c["speakers"], c["hours"] = len(c["speakers"]), round(c["hours"], 4)
    shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(os.path.join(tmp, "utterances.json"), source)
    return counts


def make_mini_tts(root, out, seed=0, progress=True, min_test_utts=2, extra_train_utts=0, jobs=2, log=print):
    """Write the mini TTS set under `out` (LibriTTS/<split>/...); returns the .complete summary."""
    root, out = resolve_folders(root, out, MiniTtsError, "../db/mini_tts")
    if extra_train_utts < 0:
        raise MiniTtsError(f"--extra-train-utts must be >= 0, got {extra_train_utts}")
    utterances, speakers, corpus_params = load_mini_corpus(root, MiniTtsError, with_speakers=True)
    params = {"format_version": FORMAT_VERSION, "corpus": corpus_params, "seed": int(seed),
              "min_test_utts": int(min_test_utts)}
    if extra_train_utts:  # absent when off, so sets made before the option existed stay valid
        params["extra_train_utts"] = int(extra_train_utts)
    done = finished_summary(out, params, MiniTtsError, "mini TTS set", _conflict(out))
    if done is not None:
        log(f"{out}: mini TTS set already complete; nothing to do.")
        return done

    def fill(tmp):
        counts = _build(root, tmp, utterances, speakers, int(min_test_utts), int(extra_train_utts), seed, int(jobs),
                        progress, log)
        write_text_atomic(os.path.join(tmp, "README.txt"), __doc__.strip() + "\n\ncounts: " + json.dumps(counts) + "\n")
        return {"parameters": params, "counts": counts}

    summary = build_in_place(out, fill)
    log(f"{out}: mini TTS set in {summary['seconds']:.1f} s: {json.dumps(summary['counts'])}")
    return summary


def add_mini_tts_arguments(parser):
    """Options of `bin/simulate --kind mini-tts` (keyword names of make_mini_tts)."""
    parser.add_argument("--min-test-utts", dest="min_test_utts", type=int, default=2,
                        help="fewest utterances a test voice must have (a prompt and at least one target)")
    parser.add_argument("--extra-train-utts", dest="extra_train_utts", type=int, default=0,
                        help="more grammar sentences to synthesize per training voice, with the corpus's engines "
                             "and settings (default 0: the corpus's own); never a cv or test sentence")
    parser.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes (--extra-train-utts)")
