"""Word and character error rates of ASR hypotheses against a manifest's transcripts.

Normalisation (the LibriSpeech convention, applied to reference and hypothesis alike):
upper case; typographic apostrophes become "'"; every character that is not a letter, digit
or apostrophe becomes a word break; apostrophes at the edges of a word are dropped (IT'S stays,
'TIS -> TIS); whitespace collapses. LibriSpeech transcripts are already in this form, so their
references are unchanged.

WER = (S + D + I) / N over all reference words of the set (not a mean of per-utterance rates);
CER likewise over characters, spaces between words included (jiwer's convention). A reference
utterance without a hypothesis counts as all deletions and is listed in the summary; hypotheses
for ids not in the reference are ignored and counted.

Outputs in out_dir: wer.csv (one row per utterance) and summary.json (WER, CER, error counts,
and the table columns RESULTS.md shows).
"""

import csv
import io
import os
import re

from speechslytherin.data.manifest import read_json_object
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

COLUMNS = [["wer", "WER %"], ["cer", "CER %"], ["sub", "Sub %"], ["del", "Del %"], ["ins", "Ins %"]]
CSV_FIELDS = ["id", "ref_words", "sub", "del", "ins", "errors", "wer", "ref_chars", "char_errors", "cer",
              "missing", "ref", "hyp"]
_NOT_WORD = re.compile(r"[^\w']+|_")


class HypothesisError(ValueError):
    """A hypotheses file that cannot be scored; the message names the file and the fix."""


def normalise_text(text):
    """LibriSpeech-style text: upper-case words of letters, digits and inner apostrophes."""
    text = str(text).upper().replace("\u2019", "'").replace("\u2018", "'")
    words = (w.strip("'") for w in _NOT_WORD.sub(" ", text).split())
    return " ".join(w for w in words if w)


def _edit_ops(ref_tokens, hyp_tokens):
    """(substitutions, deletions, insertions) of a minimum edit alignment (jiwer when possible)."""
    if not ref_tokens:
        return 0, 0, len(hyp_tokens)
    if not hyp_tokens:
        return 0, len(ref_tokens), 0
    import jiwer

    out = jiwer.process_words(" ".join(ref_tokens), " ".join(hyp_tokens))
    return out.substitutions, out.deletions, out.insertions


def _char_errors(ref, hyp):
    if not ref:
        return len(hyp)
    if not hyp:
        return len(ref)
    import jiwer

    out = jiwer.process_characters(ref, hyp)
    return out.substitutions + out.deletions + out.insertions


def score_utterance(ref, hyp):
    """Counts of one utterance from raw reference and hypothesis text (normalised here)."""
    ref_n, hyp_n = normalise_text(ref), normalise_text(hyp)
    sub, dele, ins = _edit_ops(ref_n.split(), hyp_n.split())
    n_words = len(ref_n.split())
    errors = sub + dele + ins
    char_errors = _char_errors(ref_n, hyp_n)
    return {
        "ref_words": n_words, "sub": sub, "del": dele, "ins": ins, "errors": errors,
        "wer": round(100.0 * errors / n_words, 2) if n_words else None,
        "ref_chars": len(ref_n), "char_errors": char_errors,
        "cer": round(100.0 * char_errors / len(ref_n), 2) if ref_n else None,
        "ref": ref_n, "hyp": hyp_n,
    }


def load_references(ref_path):
    """{id: text} from a manifest whose entries have "text"."""
    data = read_json_object(ref_path, missing="reference manifest not found. Run data preparation first.",
                            redo="Re-run data preparation.")
    refs = {}
    for uid, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise HypothesisError(f"{ref_path}: id '{uid}' has no \"text\" transcript; an ASR reference manifest "
                                  "needs {\"audio\", \"text\", ...} entries.")
        refs[uid] = entry["text"]
    if not refs:
        raise HypothesisError(f"{ref_path}: the manifest is empty.")
    return refs


def load_hypotheses(hyp_path):
    """{id: text} from hypotheses.json (or a folder holding it)."""
    if os.path.isdir(hyp_path):
        hyp_path = os.path.join(hyp_path, "hypotheses.json")
    data = read_json_object(hyp_path, missing="hypotheses not found. Run the decoding stage (bin/transcribe) first.",
                            redo="Re-run decoding.", error=HypothesisError, expected="id -> text")
    bad = [uid for uid, text in data.items() if not isinstance(text, str)]
    if bad:
        raise HypothesisError(f"{hyp_path}: id '{bad[0]}' (and {len(bad) - 1} more) has no text string; expected "
                              "id -> hypothesis text.")
    return data


def _percent(num, den):
    return round(100.0 * num / den, 2) if den else None


def summarize(rows, n_extra, exp_name, test_set, ref_path, hyp_path):
    words = sum(r["ref_words"] for r in rows)
    chars = sum(r["ref_chars"] for r in rows)
    counts = {k: sum(r[k] for r in rows) for k in ("sub", "del", "ins", "errors", "char_errors")}
    missing = [r["id"] for r in rows if r["missing"]]
    return {
        "task": "asr",
        "exp_name": exp_name,
        "test_set": test_set,
        "ref": os.path.abspath(ref_path),
        "hyp": os.path.abspath(hyp_path),
        "n_utts": len(rows),
        "n_scored": len(rows) - len(missing),
        "columns": COLUMNS,
        "means": {
            "wer": _percent(counts["errors"], words), "cer": _percent(counts["char_errors"], chars),
            "sub": _percent(counts["sub"], words), "del": _percent(counts["del"], words),
            "ins": _percent(counts["ins"], words),
        },
        "counts": {"words": words, "substitutions": counts["sub"], "deletions": counts["del"],
                   "insertions": counts["ins"], "word_errors": counts["errors"], "chars": chars,
                   "char_errors": counts["char_errors"],
                   "sentences_with_errors": sum(1 for r in rows if r["errors"])},
        "failures": {"missing_hypothesis": len(missing)},
        "missing_ids": missing[:50],
        "extra_hypotheses": n_extra,
        "normalisation": "upper case, punctuation except inner apostrophes removed (LibriSpeech convention)",
    }


def score_asr(ref_path, hyp_path, out_dir, exp_name=None, test_set=None, log=print):
    """Score hypotheses against a manifest; writes out_dir/{wer.csv, summary.json}; returns the summary."""
    refs = load_references(ref_path)
    hyps = load_hypotheses(hyp_path)
    rows = []
    for uid, ref in refs.items():
        hyp = hyps.get(uid)
        row = {"id": uid, "missing": hyp is None}
        row.update(score_utterance(ref, hyp or ""))
        rows.append(row)
    extra = sorted(set(hyps) - set(refs))
    if extra:
        log(f"WARNING: {len(extra)} hypotheses have ids not in {ref_path} (e.g. {extra[0]}); ignored.")
    missing = [r["id"] for r in rows if r["missing"]]
    if missing:
        log(f"WARNING: {len(missing)} of {len(rows)} utterances have no hypothesis in {hyp_path} (e.g. "
            f"{missing[0]}); they count as all deletions.")
    test_set = test_set or os.path.splitext(os.path.basename(ref_path))[0]
    exp_name = exp_name or _default_exp_name(out_dir)
    summary = summarize(rows, len(extra), exp_name, test_set, ref_path, hyp_path)
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(os.path.join(out_dir, "wer.csv"), _rows_to_csv(rows))
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _default_exp_name(out_dir):
    """exp/<exp>/score_<set> -> <exp>; else the folder name."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    return os.path.basename(parent) if os.path.basename(out_dir).startswith("score") else os.path.basename(out_dir)


def _rows_to_csv(rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()
