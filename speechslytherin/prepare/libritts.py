"""LibriTTS: verify ROOT/LibriTTS/<split>/<spk>/<chapter>/ and write TTS manifests.

Layout read (as the official tarballs unpack; ROOT may also be the LibriTTS folder itself):
    <split>/<spk>/<chapter>/<spk>_<chapter>_<paragraph>_<sentence>.wav
    <split>/<spk>/<chapter>/<id>.normalized.txt    the text the models read (numbers spelled out)
    <split>/<spk>/<chapter>/<id>.original.txt      the book text (kept in the manifest)
Splits: dev-clean dev-other test-clean test-other train-clean-100 train-clean-360 train-other-500.

Manifests written to OUT (id -> {"audio", "text" (normalized), "original_text", "speaker",
"chapter", "duration", "sample_rate"}):
    tr.json   the training splits of --train-sets (100: train-clean-100; 460: + train-clean-360;
              960: + train-other-500, the full 585 h as VALL-E's LibriTTS runs)
    cv.json   --valid-sets (default dev-clean)
    tt.json   --test-sets (default test-clean)
Utterances outside --min-duration..--max-duration (default 0.5-14 s, the range of the
lifeiteng VALL-E LibriTTS recipe) are left out and counted. The corpus is 24 kHz; any single
rate is accepted (the mini TTS set is 16 kHz) and stage 2 resamples to the codec's rate.
Durations come from the headers and are cached under OUT/.cache/ (resumable).
"""

import os

from speechslytherin.prepare import libri_layout
from speechslytherin.prepare.common import (PrepareError, check_root_and_out, header, list_files, log,
                                            report, warn, write_manifest)
from speechslytherin.prepare.header_cache import DurationCache, read_cached
from speechslytherin.prepare.libri_layout import PARTS, TRAIN_SETS

DEFAULT_VALID = ("dev-clean",)
DEFAULT_TEST = ("test-clean",)
MIN_DURATION, MAX_DURATION = 0.5, 14.0
# utterances per split in the released corpus (LibriTTS paper, table 1); a different count only warns
EXPECTED_COUNTS = {
    "train-clean-100": 33236, "train-clean-360": 116500, "train-other-500": 205044,
    "dev-clean": 5736, "dev-other": 5567, "test-clean": 4837, "test-other": 5120,
}


def corpus_base(root):
    """The folder holding the splits: ROOT/LibriTTS or ROOT itself."""
    return libri_layout.corpus_base(root, "LibriTTS", "split", 60)


def _read_text(path):
    with open(path, encoding="utf-8") as f:
        return " ".join(f.read().split())


def scan_chapter(folder, spk, chapter, problems):
    """[(uid, wav path, normalized text, original text)] of one chapter folder."""
    wavs = {os.path.splitext(n)[0]: os.path.join(folder, n) for n in list_files(folder, (".wav",))}
    items = []
    prefix = f"{spk}_{chapter}_"
    for uid in sorted(wavs):
        if not uid.startswith(prefix):
            problems.append(f"{wavs[uid]}: name does not start with {prefix} (files of {spk}/{chapter} are "
                            f"named {prefix}<paragraph>_<sentence>.wav)")
            continue
        normalized = os.path.join(folder, uid + ".normalized.txt")
        if not os.path.isfile(normalized):
            problems.append(f"{folder}: {uid}.normalized.txt missing (the transcript of {uid}.wav)")
            continue
        text = _read_text(normalized)
        if not text:
            problems.append(f"{normalized}: empty transcript")
            continue
        original = os.path.join(folder, uid + ".original.txt")
        items.append((uid, wavs[uid], text, _read_text(original) if os.path.isfile(original) else None))
    texts = {n[:-len(".normalized.txt")] for n in os.listdir(folder) if n.endswith(".normalized.txt")}
    for uid in sorted(texts - set(wavs)):
        problems.append(f"{folder}: {uid}.wav missing (its .normalized.txt is there)")
    return items


def scan_split(base, split, problems):
    """[(uid, path, text, original, speaker, chapter)] of a split from the tree (no audio read)."""
    folder = os.path.join(base, split)
    items = []
    for spk, chapter, chapter_dir in libri_layout.chapters(folder):
        items += [(uid, path, text, orig, spk, chapter) for uid, path, text, orig in
                  scan_chapter(chapter_dir, spk, chapter, problems)]
    if not items:
        problems.append(f"{folder}: no <spk>/<chapter>/*.wav utterances")
    return items


def read_headers(paths, cache, problems, progress=True, desc="headers"):
    """{path: [sample_rate, frames]} from the headers, cached by size and mtime."""
    return read_cached(paths, cache, problems, lambda path: list(header(path)), 1, progress, desc)


def _check_choice(train_sets, valid_sets, test_sets):
    libri_layout.check_choice("LibriTTS", "split", train_sets, valid_sets, test_sets)


def prepare_libritts(root, out_dir, train_sets="960", valid_sets=DEFAULT_VALID, test_sets=DEFAULT_TEST,
                     min_duration=MIN_DURATION, max_duration=MAX_DURATION, verify_only=False, pool_only=False,
                     progress=True):
    """Verify the corpus and write OUT/{tr,cv,tt}.json; returns {name: path}. All named splits are
    required. verify_only: check the tree, transcripts and one header per chapter; write nothing."""
    root = os.path.abspath(os.fspath(root))
    if pool_only:
        log("libritts: no dynamic-mixing pool for TTS; nothing to do for --pool-only")
        return {}
    train_sets, valid_sets, test_sets = str(train_sets), tuple(valid_sets), tuple(test_sets)
    _check_choice(train_sets, valid_sets, test_sets)
    if not 0 <= float(min_duration) < float(max_duration):
        raise PrepareError(f"--min-duration {min_duration} / --max-duration {max_duration}: need 0 <= min < max")
    check_root_and_out(root, out_dir, verify_only, "Pass the folder that holds LibriTTS/ with --root.",
                       out_example="data/prep")
    base = corpus_base(root)
    outputs = {"tr": TRAIN_SETS[train_sets], "cv": valid_sets, "tt": test_sets}
    needed = list(dict.fromkeys(s for parts in outputs.values() for s in parts))
    present = libri_layout.present_parts(base)
    missing = [s for s in needed if s not in present]
    if missing:
        hint = libri_layout.train_sets_hint(present, missing)
        raise PrepareError(f"LibriTTS at {base}: missing {', '.join(missing)} (asked for by --train-sets "
                           f"{train_sets}, --valid-sets and --test-sets); present: {', '.join(present) or 'none'}. "
                           f"Download and unpack the missing tarballs (openslr resource 60) or choose other sets.{hint}")
    problems = []
    scanned = libri_layout.scan_parts(base, needed, scan_split, EXPECTED_COUNTS, problems)
    report(problems, f"LibriTTS at {base}")
    if verify_only:
        rates = set()
        for items in scanned.values():
            rates |= libri_layout.check_chapter_headers([p for _, p, *_ in items], problems)
        report(problems, f"LibriTTS at {base}")
        log(f"LibriTTS at {base}: verified ({', '.join(f'{s} {len(v)}' for s, v in scanned.items())}; "
            f"sample rates {sorted(rates)}); nothing written")
        return {}

    os.makedirs(out_dir, exist_ok=True)
    entries, dropped, rates = {}, {}, set()
    for s in needed:
        cache = DurationCache(os.path.join(out_dir, ".cache", f"headers_{s}.json"))
        heads = read_headers([p for _, p, *_ in scanned[s]], cache, problems, progress, desc=s)
        entries[s], dropped[s] = {}, 0
        for uid, path, text, orig, spk, chapter in scanned[s]:
            if path not in heads:
                continue
            sr, frames = heads[path]
            rates.add(sr)
            duration = frames / sr
            if not min_duration <= duration <= max_duration:
                dropped[s] += 1
                continue
            entry = {"audio": path, "text": text, "speaker": spk, "chapter": chapter,
                     "duration": round(duration, 4), "sample_rate": sr}
            if orig is not None:
                entry["original_text"] = orig
            entries[s][uid] = entry
    report(problems, f"LibriTTS at {base}")
    if len(rates) > 1:
        raise PrepareError(f"LibriTTS at {base}: files at several sample rates {sorted(rates)}; the corpus is one "
                           "rate (24 kHz). Check for mixed-in copies.")
    if rates and 24000 not in rates:
        warn(f"LibriTTS at {base}: audio at {sorted(rates)[0]} Hz, not the corpus's 24 kHz (fine for the mini set)")
    written = {}
    for name, parts in outputs.items():
        merged = libri_layout.merge_parts(entries, parts)
        if not merged:
            raise PrepareError(f"LibriTTS at {base}: no utterance of {' + '.join(parts)} lies within "
                               f"{min_duration}-{max_duration} s; widen --min-duration/--max-duration.")
        written[name], hours = write_manifest(out_dir, name, merged)
        n_drop = sum(dropped[s] for s in parts)
        log(f"{written[name]}: {len(merged)} utterances, {len({e['speaker'] for e in merged.values()})} speakers, "
            f"{hours:.2f} h ({' + '.join(parts)}; {n_drop} outside {min_duration}-{max_duration} s left out)")
    return written


def add_libritts_arguments(parser):
    """Command-line options of `bin/prepare --corpus libritts` (keyword names of prepare_libritts)."""
    parser.add_argument("--train-sets", dest="train_sets", default="960", choices=tuple(TRAIN_SETS),
                        help="training splits: 100 (train-clean-100), 460 (+ train-clean-360), 960 (+ "
                             "train-other-500; default, all of LibriTTS as VALL-E's LibriTTS runs)")
    parser.add_argument("--valid-sets", dest="valid_sets", nargs="+", default=list(DEFAULT_VALID), choices=PARTS,
                        help="splits combined into cv.json (default dev-clean)")
    parser.add_argument("--test-sets", dest="test_sets", nargs="+", default=list(DEFAULT_TEST), choices=PARTS,
                        help="splits combined into tt.json (default test-clean)")
    parser.add_argument("--min-duration", dest="min_duration", type=float, default=MIN_DURATION,
                        help=f"shortest utterance kept, seconds (default {MIN_DURATION})")
    parser.add_argument("--max-duration", dest="max_duration", type=float, default=MAX_DURATION,
                        help=f"longest utterance kept, seconds (default {MAX_DURATION})")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
