"""What LibriSpeech and LibriTTS share: the tarball layout ROOT[/<Corpus>]/<part>/<spk>/<chapter>/,
the seven part names and the --train-sets choice 100 / 460 / 960 (hours of LibriSpeech training speech).

The corpora call a part a "subset" (LibriSpeech) or a "split" (LibriTTS); `word` carries that
name into the messages.
"""

import os

from speechslytherin.prepare.common import PrepareError, check_count, header, list_dirs

TRAIN_PARTS = ("train-clean-100", "train-clean-360", "train-other-500")
DEV_PARTS = ("dev-clean", "dev-other")
TEST_PARTS = ("test-clean", "test-other")
PARTS = TRAIN_PARTS + DEV_PARTS + TEST_PARTS
TRAIN_SETS = {"100": TRAIN_PARTS[:1], "460": TRAIN_PARTS[:2], "960": TRAIN_PARTS}
TRAIN_SETS_NOTE = "100 = train-clean-100, 460 = + train-clean-360, 960 = + train-other-500"


def corpus_base(root, corpus, word, resource):
    """The folder holding the parts: ROOT/<corpus> or ROOT itself (openslr `resource` in the hint)."""
    for base in (os.path.join(root, corpus), root):
        if os.path.isdir(base) and any(os.path.isdir(os.path.join(base, s)) for s in PARTS):
            return base
    found = list_dirs(root) if os.path.isdir(root) else []
    raise PrepareError(
        f"no {corpus} {word} folder ({', '.join(PARTS)}) under {root} or {os.path.join(root, corpus)}"
        f"{' (found: ' + ', '.join(found[:10]) + ')' if found else ''}. Unpack the tarballs from openslr "
        f"resource {resource} (they create {corpus}/<{word}>/) into ROOT, or pass the right --root.")


def check_choice(corpus, word, train_sets, valid_sets, test_sets, note_prefix=""):
    """Refuse an unknown --train-sets value or part name before anything is read."""
    if str(train_sets) not in TRAIN_SETS:
        raise PrepareError(f"--train-sets {train_sets}: choose one of {', '.join(TRAIN_SETS)} "
                           f"({note_prefix}{TRAIN_SETS_NOTE})")
    for name in list(valid_sets) + list(test_sets):
        if name not in PARTS:
            raise PrepareError(f"unknown {corpus} {word} '{name}'; known: {', '.join(PARTS)}")


def present_parts(base):
    return [s for s in PARTS if os.path.isdir(os.path.join(base, s))]


def train_sets_hint(present, missing):
    """' With what is there, --train-sets N works.' when only training parts are missing and a
    smaller training set is complete, else ''."""
    have = [h for h, parts in TRAIN_SETS.items() if all(s in present for s in parts)]
    if have and set(missing) <= set(TRAIN_PARTS):
        return f" With what is there, --train-sets {have[-1]} works."
    return ""


def chapters(part_dir):
    """(speaker, chapter, chapter folder) of every <spk>/<chapter>/ below a part folder, sorted."""
    for spk in list_dirs(part_dir):
        for chapter in list_dirs(os.path.join(part_dir, spk)):
            yield spk, chapter, os.path.join(part_dir, spk, chapter)


def scan_parts(base, parts, scan, expected_counts, problems):
    """{part: scan(base, part, problems)} for each part, warning when a part's size is not the
    released corpus's (expected_counts: {part: utterances})."""
    scanned = {s: scan(base, s, problems) for s in parts}
    for s, items in scanned.items():
        if items:
            check_count(os.path.join(base, s), len(items), expected_counts.get(s))
    return scanned


def check_chapter_headers(paths, problems, expected_sr=None):
    """Read the header of the first file of each chapter folder (format and rate, not every file);
    returns the sample rates seen. Unreadable files go to problems."""
    firsts = {}
    for path in paths:
        firsts.setdefault(os.path.dirname(path), path)
    rates = set()
    for path in firsts.values():
        try:
            rates.add(header(path, expected_sr)[0])
        except PrepareError as err:
            problems.append(str(err))
    return rates


def merge_parts(entries, parts):
    """One manifest's entries: those of each part in `parts`, in that order."""
    merged = {}
    for s in parts:
        merged.update(entries[s])
    return merged
