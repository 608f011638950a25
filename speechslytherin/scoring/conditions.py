"""Scores broken down by test condition (the SNR and noise type a manifest records per utterance).

A mean over a whole test set hides where a model helps and where it hurts: a small enhancer can
gain at 2.5 dB and lose at 17.5 dB. The scorer therefore also writes, next to summary.json,
`by_condition.md` (one table per condition key: the input and the output of each metric) and
the same numbers under "by_condition" in the summary.
"""

import math

CONDITION_KEYS = ("snr", "noise_type")


def _format_condition(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _mean(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
    return (sum(vals) / len(vals)) if vals else None


def breakdown(rows, manifest, metric_keys, keys=CONDITION_KEYS):
    """{key: {condition: {"n": utts, "means": {metric: mean}, "mixture": {metric: mean}}}} over the
    scored rows, for each key that every manifest entry of the scored rows records; {} if none."""
    scored = [r for r in rows if not str(r.get("status", "")).startswith("error")]
    out = {}
    for key in keys:
        if not scored or any(key not in manifest.get(r["id"], {}) for r in scored):
            continue
        groups = {}
        for row in scored:
            groups.setdefault(manifest[row["id"]][key], []).append(row)
        out[key] = {
            _format_condition(value): {
                "n": len(group),
                "means": {m: _mean(group, m) for m in metric_keys},
                "mixture": {m: _mean(group, f"mix_{m}") for m in metric_keys},
            }
            for value, group in sorted(groups.items(), key=lambda item: _sort_key(item[0]))
        }
    return out


def markdown(by_condition, metrics, title):
    """by_condition.md text: per key a table whose cells read "input -> output"."""
    lines = [f"# {title}: scores by condition", "",
             "Each cell: the unprocessed input -> the system's output (means over the utterances of the row).", ""]
    if not by_condition:
        lines.append("The test manifest records no condition (snr, noise_type) for its utterances.")
    for key, table in by_condition.items():
        lines += [f"## {key}", "", "| " + " | ".join([key, "utts"] + [t for _, t in metrics]) + " |",
                  "|" + "---|" * (len(metrics) + 2)]
        for condition, cell in table.items():
            values = []
            for metric, _ in metrics:
                before, after = cell["mixture"][metric], cell["means"][metric]
                digits = 3 if metric in ("pesq", "stoi") else 2
                values.append("–" if before is None or after is None else f"{before:.{digits}f} → {after:.{digits}f}")
            lines.append("| " + " | ".join([condition, str(cell["n"])] + values) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
