"""What the sets derived from the mini corpus (mini-asr, mini-tts) share: reading the finished
corpus, refusing an output folder inside it or holding something else, and building in a
temporary folder that is renamed into place only when complete (so a set is either whole or absent).

A finished set holds `.complete`: the summary, with the parameters it was made with; a re-run with
the same parameters returns that summary and does nothing.
"""

import json
import os
import shutil
import tempfile
import time

from speechslytherin.utils.atomic import write_json_atomic


def resolve_folders(root, out, error, example):
    """(root, out) as absolute paths; `error` when out lies inside the corpus (`example`: a folder beside it)."""
    root = os.path.abspath(os.fspath(root))
    out = os.path.abspath(os.fspath(out))
    if out == root or out.startswith(root + os.sep):
        raise error(f"--out {out} is inside the mini corpus {root}; a corpus is never written into. "
                    f"Use a folder beside it, e.g. {example}.")
    return root, out


def load_mini_corpus(root, error, with_speakers=False):
    """(utterances, speakers or None, the corpus's build parameters) of a finished mini corpus that has
    the tt_tts split (unseen TTS voices, which the derived sets use as test-clean)."""
    marker = os.path.join(root, ".complete")
    if not os.path.isfile(marker):
        raise error(f"{root}: not a finished mini corpus (no .complete). Build it first: python -m "
                    f"speechslytherin.bin.make_mini --out {root}")
    with open(os.path.join(root, "utterances.json"), encoding="utf-8") as f:
        utterances = json.load(f)
    speakers = None
    if with_speakers:
        with open(os.path.join(root, "speakers.json"), encoding="utf-8") as f:
            speakers = json.load(f)
    with open(marker, encoding="utf-8") as f:
        corpus_params = json.load(f).get("parameters", {})
    if not any(u["split"] == "tt_tts" for u in utterances.values()):
        raise error(f"{root}: the mini corpus has no tt_tts split (unseen TTS voices), which becomes "
                    "test-clean. Rebuild it with --test-voices both (the default).")
    return utterances, speakers, corpus_params


def finished_summary(out_dir, params, error, what, conflict):
    """The .complete summary when out_dir holds this set already (same parameters), else None.

    Raises error(conflict(parameters found)) when it holds a set made otherwise, and an error when it
    holds anything else (`what` names the set in that message)."""
    marker = os.path.join(out_dir, ".complete")
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            summary = json.load(f)
        if summary.get("parameters") == params:
            return summary
        raise error(conflict(summary.get("parameters")))
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise error(f"{out_dir} exists and is not a finished {what} (no .complete marker). "
                    "Delete it or choose another --out.")
    return None


def build_in_place(out, fill):
    """fill(tmp) writes the set into a new temporary folder beside `out` and returns its summary; the
    summary gets "seconds", is written as .complete, and the folder is renamed to `out` (absent or
    empty). On any failure the temporary folder is removed. Returns the summary."""
    start = time.time()
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        summary = fill(tmp)
        summary["seconds"] = round(time.time() - start, 2)
        write_json_atomic(os.path.join(tmp, ".complete"), summary)
        os.chmod(tmp, 0o755)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (finished_summary checked)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def progress_items(items, enabled, desc):
    """`items` wrapped in a tqdm bar counting utterances (unchanged when disabled or without tqdm)."""
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="utt", leave=False)
