"""LibriSpeech: verify ROOT/LibriSpeech/<subset>/<spk>/<chapter>/ and write ASR manifests.

Layout read (as the official tarballs unpack; ROOT may also be the LibriSpeech folder itself):
    <subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt     lines "<spk>-<chapter>-<utt> TEXT"

Manifests written to OUT (id -> {"audio", "text", "speaker", "duration", "sample_rate"}):
    tr.json   the training subsets of --train-sets combined (100: train-clean-100; 460: + train-clean-360;
              960: + train-other-500, as the ConMamba paper)
    cv.json   the validation subsets (default dev-clean, as the official ConMamba recipe)
    dev_clean.json dev_other.json test_clean.json test_other.json   one per test subset found

Durations are read from every file's header (soundfile), in a thread pool, and cached in
OUT/.cache/durations_<subset>.json keyed by path, size and mtime: an interrupted run resumes
and a re-run reads no header again. Transcripts are kept as the corpus writes them (upper case,
apostrophes). The mini ASR set (`bin/simulate --kind mini-asr`) is written in this layout.
"""

import os

from speechslytherin.prepare import libri_layout
from speechslytherin.prepare.common import (PrepareError, check_root_and_out, header, list_files, log,
                                            report, warn, write_manifest)
from speechslytherin.prepare.header_cache import DurationCache, read_cached
from speechslytherin.prepare.libri_layout import DEV_PARTS, PARTS, TEST_PARTS, TRAIN_SETS

SAMPLE_RATE = 16000
DEFAULT_VALID = ("dev-clean",)
DEFAULT_TEST = DEV_PARTS + TEST_PARTS
# utterances per subset in the released corpus (a different count only warns: partial copies work)
EXPECTED_COUNTS = {
    "train-clean-100": 28539, "train-clean-360": 104014, "train-other-500": 148688,
    "dev-clean": 2703, "dev-other": 2864, "test-clean": 2620, "test-other": 2939,
}


def manifest_name(subset):
    """File stem of a subset's manifest: dev-clean -> dev_clean."""
    return subset.replace("-", "_")


def corpus_base(root):
    """The folder holding the subsets: ROOT/LibriSpeech or ROOT itself."""
    return libri_layout.corpus_base(root, "LibriSpeech", "subset", 12)


def read_transcripts(path, problems):
    """{utt id: text} of one <spk>-<chapter>.trans.txt; bad lines are reported."""
    texts = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            uid, _, text = line.partition(" ")
            text = " ".join(text.split())
            if not text:
                problems.append(f"{path}:{n}: utterance {uid} has no transcript")
                continue
            texts[uid] = text
    return texts


def scan_chapter(folder, spk, chapter, problems):
    """[(uid, flac path, text)] of one chapter folder; mismatches are appended to problems."""
    trans = os.path.join(folder, f"{spk}-{chapter}.trans.txt")
    if not os.path.isfile(trans):
        problems.append(f"{folder}: transcript file {os.path.basename(trans)} missing")
        return []
    texts = read_transcripts(trans, problems)
    audio = {os.path.splitext(n)[0]: os.path.join(folder, n) for n in list_files(folder, (".flac", ".wav"))}
    for uid in sorted(set(texts) - set(audio)):
        problems.append(f"{folder}: {uid}.flac missing (listed in {os.path.basename(trans)})")
    for uid in sorted(set(audio) - set(texts)):
        problems.append(f"{audio[uid]}: no transcript line in {os.path.basename(trans)}")
    prefix = f"{spk}-{chapter}-"
    items = []
    for uid in sorted(set(texts) & set(audio)):
        if not uid.startswith(prefix):
            problems.append(f"{audio[uid]}: name does not start with {prefix} (files of chapter {spk}/{chapter} "
                            f"are named {prefix}<utt>.flac)")
            continue
        items.append((uid, audio[uid], texts[uid]))
    return items


def scan_subset(base, subset, problems):
    """[(uid, path, text, speaker)] of a subset from the folder tree and transcripts (no audio read)."""
    folder = os.path.join(base, subset)
    items = []
    for spk, chapter, chapter_dir in libri_layout.chapters(folder):
        items += [(uid, path, text, spk) for uid, path, text in scan_chapter(chapter_dir, spk, chapter, problems)]
    if not items and not problems:
        problems.append(f"{folder}: no <spk>/<chapter>/*.flac utterances")
    return items


def read_durations(paths, cache, problems, jobs=4, progress=True, desc="durations"):
    """{path: frames} from the headers (16 kHz mono checked), cached; unreadable files are problems."""
    return read_cached(paths, cache, problems, lambda path: header(path, SAMPLE_RATE)[1], jobs, progress, desc)


def _check_choice(train_sets, valid_sets, test_sets):
    libri_layout.check_choice("LibriSpeech", "subset", train_sets, valid_sets, test_sets,
                              note_prefix="hours of training speech: ")


def prepare_librispeech(root, out_dir, train_sets="960", valid_sets=DEFAULT_VALID, test_sets=DEFAULT_TEST,
                        verify_only=False, pool_only=False, jobs=4, progress=True):
    """Verify the corpus and write OUT/{tr,cv}.json and one manifest per test subset; returns {name: path}.

    Training and validation subsets are required; missing test subsets are reported and skipped.
    verify_only: check the tree and transcripts and one audio header per chapter; write nothing.
    pool_only: LibriSpeech ASR has no dynamic-mixing pool; nothing to do.
    """
    root = os.path.abspath(os.fspath(root))
    if pool_only:
        log("librispeech: no dynamic-mixing pool for ASR; nothing to do for --pool-only")
        return {}
    train_sets = str(train_sets)
    valid_sets = tuple(valid_sets)
    test_sets = tuple(test_sets)
    _check_choice(train_sets, valid_sets, test_sets)
    check_root_and_out(root, out_dir, verify_only, "Pass the folder that holds LibriSpeech/ with --root.")
    base = corpus_base(root)
    train = TRAIN_SETS[train_sets]
    required = list(dict.fromkeys(train + valid_sets))
    present = libri_layout.present_parts(base)
    missing_required = [s for s in required if s not in present]
    if missing_required:
        hint = libri_layout.train_sets_hint(present, missing_required)
        raise PrepareError(
            f"LibriSpeech at {base}: missing {', '.join(missing_required)} (needed by --train-sets {train_sets} "
            f"and validation {', '.join(valid_sets)}); present: {', '.join(present) or 'none'}. Download and "
            f"unpack the missing tarballs (openslr resource 12).{hint}"
        )
    tests = [s for s in test_sets if s in present]
    for s in test_sets:
        if s not in present:
            warn(f"LibriSpeech at {base}: test subset {s} not found; it is skipped (no {manifest_name(s)}.json).")
    subsets = list(dict.fromkeys(required + tests))
    problems = []
    scanned = libri_layout.scan_parts(base, subsets, scan_subset, EXPECTED_COUNTS, problems)
    report(problems, f"LibriSpeech at {base}")
    if verify_only:
        for items in scanned.values():
            libri_layout.check_chapter_headers([p for _, p, _, _ in items], problems, SAMPLE_RATE)
        report(problems, f"LibriSpeech at {base}")
        log(f"LibriSpeech at {base}: verified ({', '.join(f'{s} {len(v)}' for s, v in scanned.items())}); "
            "nothing written")
        return {}

    os.makedirs(out_dir, exist_ok=True)
    entries = {}
    for s in subsets:
        cache = DurationCache(os.path.join(out_dir, ".cache", f"durations_{s}.json"))
        frames = read_durations([p for _, p, _, _ in scanned[s]], cache, problems, jobs, progress, desc=s)
        entries[s] = {uid: {"audio": path, "text": text, "speaker": spk, "duration": frames[path] / SAMPLE_RATE,
                            "sample_rate": SAMPLE_RATE}
                      for uid, path, text, spk in scanned[s] if path in frames}
    report(problems, f"LibriSpeech at {base}")
    outputs = {"tr": train, "cv": valid_sets}
    outputs.update({manifest_name(s): (s,) for s in tests})
    written = {}
    for name, parts in outputs.items():
        merged = libri_layout.merge_parts(entries, parts)
        written[name], hours = write_manifest(out_dir, name, merged)
        n_spk = len({e["speaker"] for e in merged.values()})
        log(f"{written[name]}: {len(merged)} utterances, {n_spk} speakers, {hours:.2f} h ({' + '.join(parts)})")
    return written


def add_librispeech_arguments(parser):
    """Command-line options of `bin/prepare --corpus librispeech` (keyword names of prepare_librispeech)."""
    parser.add_argument("--train-sets", dest="train_sets", default="960", choices=tuple(TRAIN_SETS),
                        help="hours of training speech: 100 (train-clean-100), 460 (+ train-clean-360), "
                             "960 (+ train-other-500); default 960 as the ConMamba paper")
    parser.add_argument("--valid-sets", dest="valid_sets", nargs="+", default=list(DEFAULT_VALID),
                        choices=DEV_PARTS, help="subsets combined into cv.json (default dev-clean, as the "
                                                  "official recipe)")
    parser.add_argument("--test-sets", dest="test_sets", nargs="+", default=list(DEFAULT_TEST), choices=PARTS,
                        help="subsets written as their own manifests (dev_clean.json, ...); missing ones are "
                             "skipped with a warning")
    parser.add_argument("--jobs", type=int, default=4, help="threads reading audio headers")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
