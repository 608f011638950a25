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
chapter (1) per speaker. Ids are <spk>_1_<paragraph 000000>_<sentence 000000>.
<id>.normalized.txt holds the sentence with punctuation and digits spelled out (what LibriTTS's
normalized text is), <id>.original.txt the sentence as synthesized.

Built in a temporary folder and renamed into place; deterministic (the corpus is copied in id
order, no randomness is drawn, `seed` is recorded only); a re-run with the same options does nothing.
"""

import json
import os
import shutil
import tempfile
import time

from speechslytherin.text.numbers import spell_digits
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
SPLIT_TO_LIBRITTS = {"tr": "train-clean-100", "cv": "dev-clean", "tt_tts": "test-clean"}
CHAPTER = "1"


class MiniTtsError(RuntimeError):
    """The mini corpus or the output folder is not usable as asked; the message says what to do."""


def _load_corpus(root):
    marker = os.path.join(root, ".complete")
    if not os.path.isfile(marker):
        raise MiniTtsError(f"{root}: not a finished mini corpus (no .complete). Build it first: python -m "
                           f"speechslytherin.bin.make_mini --out {root}")
    with open(os.path.join(root, "utterances.json"), encoding="utf-8") as f:
        utterances = json.load(f)
    with open(marker, encoding="utf-8") as f:
        corpus_params = json.load(f).get("parameters", {})
    if not any(u["split"] == "tt_tts" for u in utterances.values()):
        raise MiniTtsError(f"{root}: the mini corpus has no tt_tts split (unseen TTS voices), which becomes "
                           "test-clean. Rebuild it with --test-voices both (the default).")
    return utterances, corpus_params


def normalized_text(raw):
    """LibriTTS-style normalized text: the sentence with punctuation, digits spelled out."""
    return " ".join(spell_digits(str(raw)).split())


def _existing(out_dir, params):
    marker = os.path.join(out_dir, ".complete")
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            found = json.load(f).get("parameters")
        if found == params:
            return True
        raise MiniTtsError(f"{out_dir} already holds a mini TTS set made with other options or from another corpus "
                           f"(there: {json.dumps(found, sort_keys=True)[:200]}). Choose another --out or delete it.")
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise MiniTtsError(f"{out_dir} exists and is not a finished mini TTS set (no .complete marker). "
                           "Delete it or choose another --out.")
    return False


def _build(root, tmp, utterances, min_test_utts, progress):
    base = os.path.join(tmp, "LibriTTS")
    by_speaker = {}
    for uid in sorted(utterances):
        utt = utterances[uid]
        if utt["split"] in SPLIT_TO_LIBRITTS:
            by_speaker.setdefault((utt["split"], utt["speaker"]), []).append(utt)
    short = [spk for (split, spk), utts in by_speaker.items() if split == "tt_tts" and len(utts) < min_test_utts]
    if short:
        raise MiniTtsError(f"{root}: test voices {', '.join(sorted(short))} have fewer than {min_test_utts} "
                           "utterances (a prompt and targets are needed per voice); build a larger mini corpus.")
    items = [(key, k, utt) for key in sorted(by_speaker) for k, utt in enumerate(by_speaker[key])]
    if progress:
        try:
            from tqdm import tqdm

            items = tqdm(items, desc="mini-tts", unit="utt", leave=False)
        except ImportError:
            pass
    source, counts = {}, {}
    for (split, spk), k, utt in items:
        subset = SPLIT_TO_LIBRITTS[split]
        if "_" in spk:
            raise MiniTtsError(f"speaker code {spk!r} holds '_', which LibriTTS ids use as separator")
        if int(utt.get("sample_rate", 16000)) != 16000:
            raise MiniTtsError(f"{utt['path']}: {utt.get('sample_rate')} Hz; the mini corpus is 16 kHz")
        uid = f"{spk}_{CHAPTER}_{k:06d}_000000"
        folder = os.path.join(base, subset, spk, CHAPTER)
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(os.path.join(root, utt["path"]), os.path.join(folder, uid + ".wav"))
        raw = utt.get("raw_text") or utt["text"]
        with open(os.path.join(folder, uid + ".normalized.txt"), "w", encoding="utf-8") as f:
            f.write(normalized_text(raw))
        with open(os.path.join(folder, uid + ".original.txt"), "w", encoding="utf-8") as f:
            f.write(raw)
        source[uid] = {"split": subset, "source": utt["uid"], "engine": utt.get("engine"),
                       "voice": utt.get("voice"), "duration": utt.get("duration")}
        c = counts.setdefault(subset, {"utterances": 0, "speakers": set(), "hours": 0.0})
        c["utterances"] += 1
        c["speakers"].add(spk)
        c["hours"] += float(utt.get("duration") or 0.0) / 3600
    for c in counts.values():
        c["speakers"], c["hours"] = len(c["speakers"]), round(c["hours"], 4)
    write_json_atomic(os.path.join(tmp, "utterances.json"), source)
    return counts


def make_mini_tts(root, out, seed=0, progress=True, min_test_utts=2, log=print):
    """Write the mini TTS set under `out` (LibriTTS/<split>/...); returns the .complete summary."""
    root = os.path.abspath(os.fspath(root))
    out = os.path.abspath(os.fspath(out))
    if out == root or out.startswith(root + os.sep):
        raise MiniTtsError(f"--out {out} is inside the mini corpus {root}; a corpus is never written into. "
                           "Use a folder beside it, e.g. ../db/mini_tts.")
    utterances, corpus_params = _load_corpus(root)
    params = {"format_version": FORMAT_VERSION, "corpus": corpus_params, "seed": int(seed),
              "min_test_utts": int(min_test_utts)}
    if _existing(out, params):
        log(f"{out}: mini TTS set already complete; nothing to do.")
        with open(os.path.join(out, ".complete"), encoding="utf-8") as f:
            return json.load(f)
    start = time.time()
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        counts = _build(root, tmp, utterances, int(min_test_utts), progress)
        summary = {"parameters": params, "counts": counts, "seconds": round(time.time() - start, 2)}
        write_text_atomic(os.path.join(tmp, "README.txt"), __doc__.strip() + "\n\ncounts: " + json.dumps(counts) + "\n")
        write_json_atomic(os.path.join(tmp, ".complete"), summary)
        os.chmod(tmp, 0o755)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"{out}: mini TTS set in {summary['seconds']:.1f} s: {json.dumps(counts)}")
    return summary


def add_mini_tts_arguments(parser):
    """Options of `bin/simulate --kind mini-tts` (keyword names of make_mini_tts)."""
    parser.add_argument("--min-test-utts", dest="min_test_utts", type=int, default=2,
                        help="fewest utterances a test voice must have (a prompt and at least one target)")
