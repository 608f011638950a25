"""RESULTS.md of a recipe, regenerated from every exp/*/score_*/summary.json.

One table per test set: the unprocessed mixture first, then each experiment. Regenerated
from the summaries each time, so it never drifts from what was scored.

Beside it, RESULTS.json keeps what each row was made of (means, counts, failures). A row whose
exp dir is gone (deleted to free disk, or scored on another machine and committed) stays in the
table, marked, until its entry is deleted from RESULTS.json: a result is not lost with its exp dir,
and a re-scored exp replaces its old row.
"""

import datetime
import glob
import json
import os
import platform
import sys

from speechslytherin.utils.atomic import write_text_atomic

# (summary key, column title); improvements first, as the papers report them.
COLUMNS = [
    ("si_snr_i", "SI-SNRi"), ("sdr_i", "SDRi"), ("si_snr", "SI-SNR"), ("sdr", "SDR"),
    ("pesq", "PESQ"), ("pesq_i", "PESQi"), ("stoi", "STOI"), ("stoi_i", "STOIi"),
]


def _environment(recipe_dir):
    try:
        from speechslytherin.utils.env import cpu_name, git_hash
    except ImportError:  # keep RESULTS.md working even without the env helper
        cpu_name, git_hash = platform.processor, (lambda path=None: None)
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("python", sys.version.split()[0]),
        ("torch", torch_version),
        ("git", git_hash(recipe_dir) or git_hash() or "unknown"),
        ("cpu", f"{cpu_name()} ({os.cpu_count()} cores)"),
    ]


def collect_summaries(recipe_dir):
    """All summaries under recipe_dir/exp/*/score_*/summary.json, with the file they came from."""
    found = []
    for path in sorted(glob.glob(os.path.join(recipe_dir, "exp", "*", "score_*", "summary.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, json.JSONDecodeError):
            continue  # a broken summary must not stop the others from being listed
        summary.setdefault("test_set", os.path.basename(os.path.dirname(path))[len("score_"):])
        summary.setdefault("exp_name", os.path.basename(os.path.dirname(os.path.dirname(path))))
        summary["_path"] = os.path.relpath(path, recipe_dir)
        found.append(summary)
    return found


# what a row needs; the rest of a summary (per-utterance paths, samples) stays in the exp dir
RECORD_KEYS = ("task", "exp_name", "test_set", "n_utts", "n_scored", "columns", "means", "mixture", "input_label",
               "failures", "sdr_backend")
KEPT_MARK = " †"


def sidecar_path(results_path):
    """RESULTS.json beside RESULTS.md (any name: X.md -> X.json)."""
    return os.path.splitext(results_path)[0] + ".json"


def _record(summary, recipe_dir):
    """The part of a summary that RESULTS.json keeps, with the date it was scored (its file's mtime)."""
    record = {k: summary[k] for k in RECORD_KEYS if k in summary}
    path = os.path.join(recipe_dir, summary.get("_path", ""))
    if os.path.isfile(path):
        record["scored"] = datetime.datetime.fromtimestamp(os.path.getmtime(path)).isoformat(timespec="seconds")
    return record


def load_kept_rows(results_path, present):
    """Rows of RESULTS.json whose (test set, exp) has no summary under exp/ any more."""
    path = sidecar_path(results_path)
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f).get("rows", [])
    except (OSError, json.JSONDecodeError, AttributeError) as e:
        raise ValueError(f"{path}: not a RESULTS.json written by the toolkit ({e}); fix or delete it") from e
    return [dict(r, kept=True) for r in rows if (r.get("test_set"), r.get("exp_name")) not in present]


def _fmt(value, key):
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:.3f}" if key.startswith(("pesq", "stoi")) else f"{value:.2f}"


def _columns(summaries):
    """The columns of a table: those the summaries declare (`"columns": [[key, title], ...]`,
    e.g. WER for ASR), else the separation/enhancement defaults; only columns with a value."""
    declared = []
    for s in summaries:
        for key, title in s.get("columns", []):
            if key not in [k for k, _ in declared]:
                declared.append((key, title))
    candidates = declared or COLUMNS
    return [(k, t) for k, t in candidates if any(s.get("means", {}).get(k) is not None for s in summaries)]


def _table(test_set, summaries):
    keys = _columns(summaries)
    with_backend = any("sdr_backend" in s for s in summaries)
    head = ["system", "utts"] + [t for _, t in keys] + ["failures"] + (["SDR backend"] if with_backend else [])
    tail_dashes = ["–", "–"] if with_backend else ["–"]
    lines = [f"### {test_set}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    # input row (the unprocessed mixture / noisy speech): from the summary that scored the most
    # utterances of this set; tasks without one (ASR) leave `mixture` out
    ref = max(summaries, key=lambda s: s.get("n_scored", 0))
    mix = ref.get("mixture")
    if mix:
        label = ref.get("input_label", "mixture (input)")
        mix_cells = [_fmt(mix.get(k), k) if not k.endswith("_i") else "–" for k, _ in keys]
        lines.append(f"| {label} | " + " | ".join([str(ref.get("n_scored", "?"))] + mix_cells + tail_dashes) + " |")
    for s in sorted(summaries, key=lambda s: s["exp_name"]):
        failures = s.get("failures", {})
        n_fail = sum(v for v in failures.values() if isinstance(v, int))
        cells = [str(s.get("n_scored", "?")) + (f"/{s['n_utts']}" if s.get("n_utts") != s.get("n_scored") else "")]
        cells += [_fmt(s.get("means", {}).get(k), k) for k, _ in keys]
        cells += [str(n_fail)] + ([str(s.get("sdr_backend", "–"))] if with_backend else [])
        name = s["exp_name"] + (KEPT_MARK if s.get("kept") else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if any(s.get("kept") for s in summaries):
        lines += ["", f"{KEPT_MARK.strip()} exp dir no longer here; the row is kept from RESULTS.json "
                      "(scored " + ", ".join(sorted({s.get('scored', '?')[:10] for s in summaries if s.get('kept')}))
                  + "; delete its entry there to drop it)."]
    lines.append("")
    return lines


def update_results_md(recipe_dir, out_path=None, title=None):
    """Rewrite recipe_dir/RESULTS.md from the score summaries; returns its path (None if none found)."""
    out_path = out_path or os.path.join(recipe_dir, "RESULTS.md")
    current = [_record(s, recipe_dir) for s in collect_summaries(recipe_dir)]
    kept = load_kept_rows(out_path, {(s["test_set"], s["exp_name"]) for s in current})
    summaries = current + kept
    if not summaries:
        return None
    title = title or f"Results: {os.path.basename(os.path.dirname(os.path.abspath(recipe_dir)))}/" \
                     f"{os.path.basename(os.path.abspath(recipe_dir))}"
    lines = [f"# {title}", "", "Generated by the toolkit's scoring (stage 5) from exp/*/score_*/summary.json; "
             "do not edit by hand.", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in _environment(recipe_dir)]
    lines += ["", "## Results", "",
              "Means over utterances (WER/CER: over all words/characters); *i = improvement over the "
              "unprocessed input (dB for SI-SNR/SDR). `utts` = scored / total when some failed.", ""]
    by_set = {}
    for s in summaries:
        by_set.setdefault(s["test_set"], []).append(s)
    for test_set in sorted(by_set):
        lines += _table(test_set, by_set[test_set])
    write_text_atomic(out_path, "\n".join(lines))
    rows = sorted(summaries, key=lambda r: (r["test_set"], r["exp_name"]))
    write_text_atomic(sidecar_path(out_path), json.dumps(
        {"about": "rows of RESULTS.md (speechslytherin.scoring.results_md); delete an entry to drop its row",
         "rows": [{k: v for k, v in r.items() if k != "kept"} for r in rows]}, indent=1, sort_keys=True) + "\n")
    return out_path


def recipe_dir_of(out_dir):
    """<recipe>/exp/<exp>/score_x -> <recipe>, else None."""
    exp_dir = os.path.dirname(os.path.abspath(out_dir))
    if os.path.basename(os.path.dirname(exp_dir)) == "exp":
        return os.path.dirname(os.path.dirname(exp_dir))
    return None


def update_results_after_scoring(score_dir, results_md=None):
    """What every scoring CLI does last: regenerate `results_md` (a RESULTS.md path or its recipe
    folder) or, by default, the RESULTS.md of the recipe that `score_dir` lies in; prints it."""
    recipe, results_path = results_md or recipe_dir_of(score_dir), None
    if recipe and recipe.endswith(".md"):
        recipe, results_path = os.path.dirname(recipe) or ".", recipe
    if recipe:
        path = update_results_md(recipe, out_path=results_path)
        if path:
            print(f"updated {path}")
