"""Score enhanced speech: PESQ-WB, CSIG/CBAK/COVL, segSNR, STOI and SI-SNR, with the noisy input.

Inputs
- ref: an enhancement manifest (data/tt.json): id -> {"mix": noisy, "sources": [clean], ...}.
- est: what `bin.enhance` wrote, DIR/manifest.json (or the file): id -> {"sources": [enhanced]}.
Outputs, in out_dir: scores.csv (one row per utterance: each metric, the same metric of the
noisy input as mix_<metric>, the improvement as <metric>_i; status) and summary.json (means,
the noisy row under "mixture", the RESULTS.md columns and "noisy (input)" as the input label; the
means per SNR and noise type under "by_condition") and by_condition.md (the same as tables).

The metrics follow the usual VoiceBank-DEMAND evaluation (CMGAN's compute_metrics, which
SEMamba reports): composite measures with wide-band PESQ (metrics/composite.py), STOI by
pystoi. A metric that cannot be computed for an utterance (PESQ on silence or very short
audio, ...) is left empty for that utterance, for both the estimate and the noisy input so
that the two rows average over the same utterances, and the reason goes into its status; the
run goes on. An utterance whose audio cannot be read at all gets status "error: ...".
"""

import datetime
import math
import multiprocessing
import os

import numpy as np

from speechslytherin.data.audio import AudioError, read_audio
from speechslytherin.data.manifest import ManifestError, load_manifest
from speechslytherin.metrics.composite import composite
from speechslytherin.metrics.perceptual import stoi
from speechslytherin.metrics.si_snr import si_snr
from speechslytherin.scoring import conditions
from speechslytherin.scoring.separation import (LENGTH_TOLERANCE, _default_exp_name, _fit_length, _init_worker,
                                                _rows_to_csv, load_estimates)
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

# metric key -> RESULTS.md title, in the order of the published VoiceBank-DEMAND tables
METRICS = [("pesq", "PESQ"), ("csig", "CSIG"), ("cbak", "CBAK"), ("covl", "COVL"), ("stoi", "STOI"),
           ("segsnr", "SSNR"), ("si_snr", "SI-SNR")]
COMPOSITE_KEYS = ("pesq", "csig", "cbak", "covl", "segsnr")
INPUT_LABEL = "noisy (input)"


def columns():
    """CSV columns: metrics, noisy-input metrics, improvements, status."""
    keys = [k for k, _ in METRICS]
    return ["id"] + keys + [f"mix_{k}" for k in keys] + [f"{k}_i" for k in keys] + ["status"]


def table_columns():
    """[key, title] pairs for RESULTS.md: the published metrics, then the SI-SNR and PESQ gains."""
    return [[k, t] for k, t in METRICS] + [["pesq_i", "PESQi"], ["si_snr_i", "SI-SNRi"]]


def _metrics(est, clean, sample_rate):
    """{metric: value} and [failure notes] for one signal against the clean reference."""
    values, notes = {}, []
    comp = composite(est, clean, sample_rate, pesq_mode="wb")
    if "error" in comp:
        notes.append(f"pesq/composite failed: {comp['error']}")
    else:
        values.update({k: comp[k] for k in COMPOSITE_KEYS})
    res = stoi(est, clean, sample_rate)
    if res.value is None:
        notes.append(f"stoi failed: {res.reason}")
    else:
        values["stoi"] = res.value
    values["si_snr"] = float(si_snr(np.asarray(est, np.float64), np.asarray(clean, np.float64)))
    return values, notes


def score_utterance(uid, ref_entry, est_paths, sample_rate):
    """One CSV row (dict); never raises for bad audio or a failing metric (status says why)."""
    row = {"id": uid}
    notes = []
    try:
        if len(ref_entry["sources"]) != 1 or len(est_paths) != 1:
            raise AudioError(f"enhancement scores one clean source and one estimate, got "
                             f"{len(ref_entry['sources'])} reference(s) and {len(est_paths)} estimate(s)")
        noisy, _ = read_audio(ref_entry["mix"], expected_sr=sample_rate)
        clean, _ = read_audio(ref_entry["sources"][0], expected_sr=sample_rate)
        est, _ = read_audio(est_paths[0], expected_sr=sample_rate)
        n = len(clean)
        if abs(len(est) - n) > max(LENGTH_TOLERANCE * n, 1):
            raise AudioError(f"{est_paths[0]}: {len(est)} samples, the clean reference has {n}. The estimate "
                             "does not belong to this utterance or was cut; re-run enhancement.")
        if len(est) != n:
            notes.append(f"length {len(est)}->{n}")
        est, noisy = _fit_length(est, n), _fit_length(noisy, n)
    except (AudioError, OSError) as err:
        row["status"] = f"error: {err}"
        return row
    est_values, est_notes = _metrics(est, clean, sample_rate)
    mix_values, mix_notes = _metrics(noisy, clean, sample_rate)
    notes += est_notes + [f"input {note}" for note in mix_notes]
    for key, _ in METRICS:
        if key in est_values and key in mix_values:  # both or neither: the rows stay comparable
            row[key], row[f"mix_{key}"] = est_values[key], mix_values[key]
            row[f"{key}_i"] = est_values[key] - mix_values[key]
    row["status"] = "ok" if not notes else "; ".join(notes)
    return row


def _score_job(job):
    uid, ref_entry, est_paths, sample_rate = job
    try:
        return score_utterance(uid, ref_entry, est_paths, sample_rate)
    except Exception as err:  # noqa: BLE001 - one utterance never stops the run
        return {"id": uid, "status": f"error: {type(err).__name__}: {err}"}


def summarize(rows, **meta):
    """summary.json content: means/counts of every metric, the noisy row, failure counts."""
    ok_rows = [r for r in rows if not str(r.get("status", "")).startswith("error")]
    means, counts = {}, {}
    for key in columns()[1:-1]:
        vals = [r[key] for r in ok_rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
        means[key], counts[key] = (float(np.mean(vals)) if vals else None), len(vals)
    failures = {
        "error": len(rows) - len(ok_rows),
        "pesq": sum(1 for r in ok_rows if "pesq/composite failed" in str(r.get("status", ""))),
        "stoi": sum(1 for r in ok_rows if "stoi failed" in str(r.get("status", ""))),
    }
    failed = [{"id": r["id"], "status": r["status"]} for r in rows
              if str(r.get("status", "")).startswith("error") or "failed" in str(r.get("status", ""))]
    mixture = {k[len("mix_"):]: v for k, v in means.items() if k.startswith("mix_")}
    system = {k: v for k, v in means.items() if not k.startswith("mix_")}
    return dict(meta, task="enh", columns=table_columns(), input_label=INPUT_LABEL, n_utts=len(rows),
                n_scored=len(ok_rows), means=system, mixture=mixture, counts=counts, failures=failures,
                failed_utts=failed[:100])


def score_enhancement(ref, est, out_dir, exp_name=None, nj=2, replacements=None, progress=True):
    """Score every utterance of the ref manifest that has an estimate; returns the summary dict."""
    ref_manifest = load_manifest(ref, replacements=replacements, kind="separation")
    estimates = load_estimates(est)
    rates = {e["sample_rate"] for e in ref_manifest.values()}
    if len(rates) != 1:
        raise ManifestError(f"{ref}: mixed sample rates {sorted(rates)}; score each rate separately.")
    sample_rate = rates.pop()
    if sample_rate != 16000:
        raise ManifestError(f"{ref}: {sample_rate} Hz; wide-band PESQ and the composite measures are scored at "
                            "16000 Hz. Resample the data (voicebank recipe stage 2) first.")
    unknown = [uid for uid in estimates if uid not in ref_manifest]
    if unknown:
        raise ManifestError(f"{est}: {len(unknown)} estimate id(s) are not in {ref} (e.g. '{unknown[0]}'). The "
                            "estimates come from another test set; score them against the right manifest.")
    jobs = [(uid, ref_manifest[uid], estimates[uid], sample_rate) for uid in ref_manifest if uid in estimates]
    if not jobs:
        raise ManifestError(f"{est}: none of the {len(ref_manifest)} ids of {ref} has an estimate.")
    rows = _run_jobs(jobs, nj, progress)
    rows += [{"id": uid, "status": "error: no estimate for this id"} for uid in ref_manifest if uid not in estimates]
    order = {uid: i for i, uid in enumerate(ref_manifest)}
    rows.sort(key=lambda r: order[r["id"]])
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(os.path.join(out_dir, "scores.csv"), _rows_to_csv(rows, columns()))
    ref_path = os.fspath(ref)
    summary = summarize(
        rows, exp_name=exp_name or _default_exp_name(out_dir),
        test_set=os.path.splitext(os.path.basename(ref_path))[0], ref=os.path.abspath(ref_path),
        est=os.path.abspath(os.fspath(est)), sample_rate=sample_rate, pesq_mode="wb",
        date=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    summary["by_condition"] = conditions.breakdown(rows, ref_manifest, [k for k, _ in METRICS])
    write_text_atomic(os.path.join(out_dir, "by_condition.md"),
                      conditions.markdown(summary["by_condition"], METRICS,
                                          f"{summary['exp_name']} on {summary['test_set']}"))
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _run_jobs(jobs, nj, progress):
    """Score the jobs in `nj` single-threaded processes (fork), with a progress bar."""
    from tqdm import tqdm

    with tqdm(total=len(jobs), desc="scoring", unit="utt", disable=not progress) as bar:
        if nj <= 1 or len(jobs) < 2:
            rows = []
            for job in jobs:
                rows.append(_score_job(job))
                bar.update()
            return rows
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ctx.Pool(min(nj, len(jobs)), initializer=_init_worker) as pool:
            rows = []
            for row in pool.imap_unordered(_score_job, jobs, chunksize=2):
                rows.append(row)
                bar.update()
            return rows
