"""Score separated (or enhanced) audio against a reference manifest.

Inputs
- ref: a separation manifest (data/tt.json): id -> {"mix", "sources", ...}.
- est: what the inference verb wrote, `DIR/manifest.json` (or that file itself):
  id -> {"sources": [estimated source paths, in model output order], "mix"?: ...};
  relative paths are taken relative to the manifest's folder.
Outputs, in out_dir: scores.csv (one row per utterance, written atomically) and summary.json.

The SI-SNR permutation is the one maximising mean SI-SNR (as SpeechBrain's PIT); SDR uses
bss_eval's own permutation (as mir_eval's bss_eval_sources does in the official scoring);
PESQ/STOI use the SI-SNR permutation. A PESQ/STOI failure on one utterance is recorded in
its status and counted, never fatal; an utterance that cannot be scored at all (missing or
broken estimate) gets status "error: ..." and is left out of the means.
"""

import csv
import datetime
import io
import math
import multiprocessing
import os

import numpy as np

from speechslytherin.data.audio import AudioError, read_audio
from speechslytherin.data.manifest import ManifestError, load_manifest, read_json_object
from speechslytherin.metrics.perceptual import pesq_nb, pesq_wb, stoi
from speechslytherin.metrics.pit import pit_si_snr
from speechslytherin.metrics.sdr import BACKENDS, sdr
from speechslytherin.metrics.si_snr import si_snr
from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

EST_MANIFEST = "manifest.json"
LENGTH_TOLERANCE = 0.01  # estimates may differ from the reference by up to 1 % (then padded/trimmed)


def load_estimates(est):
    """Read the inference manifest (a folder holding manifest.json, or the file); returns {id: [paths]}."""
    est = os.fspath(est)
    path = os.path.join(est, EST_MANIFEST) if os.path.isdir(est) else est
    data = read_json_object(
        path,
        missing=f"estimate manifest not found. Run the inference stage first (it writes "
                f"<dir>/{EST_MANIFEST} with id -> {{'sources': [paths]}}).",
        redo="Re-run inference.",
    )
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for uid, entry in data.items():
        srcs = entry.get("sources") if isinstance(entry, dict) else None
        if not isinstance(srcs, list) or not srcs or not all(isinstance(p, str) for p in srcs):
            raise ManifestError(f"{path}: id '{uid}' needs a 'sources' list of estimated wav paths.")
        out[uid] = [p if os.path.isabs(p) else os.path.join(base, p) for p in srcs]
    return out


def _fit_length(wav, n):
    if len(wav) >= n:
        return wav[:n]
    return np.pad(wav, (0, n - len(wav)))


def _columns(use_pesq, use_stoi):
    cols = ["id", "si_snr", "si_snr_i", "sdr", "sdr_i"]
    if use_pesq:
        cols += ["pesq", "pesq_i"]
    if use_stoi:
        cols += ["stoi", "stoi_i"]
    cols += ["mix_si_snr", "mix_sdr"]
    if use_pesq:
        cols += ["mix_pesq"]
    if use_stoi:
        cols += ["mix_stoi"]
    return cols + ["perm", "status"]


def _mean_metric(fn, ests, refs, sample_rate):
    """Mean of a per-source MetricResult metric; (value or None, reason or None)."""
    values = []
    for e, r in zip(ests, refs):
        res = fn(e, r, sample_rate)
        if res.value is None:
            return None, res.reason
        values.append(res.value)
    return float(np.mean(values)), None


def score_utterance(uid, ref_entry, est_paths, sample_rate, use_pesq=False, use_stoi=False,
                    sdr_backend="fast_bss_eval", pesq_mode="auto"):
    """One CSV row (dict) for utterance uid; never raises for bad audio (status says why)."""
    row = {"id": uid}
    notes = []
    try:
        mix, _ = read_audio(ref_entry["mix"], expected_sr=sample_rate)
        refs = np.stack([read_audio(p, expected_sr=sample_rate)[0] for p in ref_entry["sources"]])
        if len(est_paths) != refs.shape[0]:
            raise AudioError(
                f"{len(est_paths)} estimated sources but {refs.shape[0]} references. "
                "Re-run inference with the right n_src."
            )
        ests = []
        for path in est_paths:
            wav, _ = read_audio(path, expected_sr=sample_rate)
            if abs(len(wav) - len(mix)) > max(LENGTH_TOLERANCE * len(mix), 1):
                raise AudioError(
                    f"{path}: {len(wav)} samples, the mixture has {len(mix)}. The estimate does not "
                    "belong to this mixture or was cut; re-run inference."
                )
            if len(wav) != len(mix):
                notes.append(f"length {len(wav)}->{len(mix)}")
            ests.append(_fit_length(wav, len(mix)))
        ests = np.stack(ests)
    except (AudioError, OSError) as err:
        row["status"] = f"error: {err}"
        return row
    n_src = refs.shape[0]
    mixes = np.tile(mix[None].astype(np.float64), (n_src, 1))
    values, perm = pit_si_snr(ests, refs)
    mix_si = si_snr(mixes, refs)
    row["si_snr"] = float(values.mean())
    row["mix_si_snr"] = float(mix_si.mean())
    row["si_snr_i"] = row["si_snr"] - row["mix_si_snr"]
    row["perm"] = "".join(str(p) for p in perm)
    try:
        est_sdr, _ = sdr(ests, refs, sdr_backend)
        mix_sdr, _ = sdr(mixes, refs, sdr_backend)
        row["sdr"], row["mix_sdr"] = float(est_sdr.mean()), float(mix_sdr.mean())
        row["sdr_i"] = row["sdr"] - row["mix_sdr"]
        if not all(math.isfinite(row[k]) for k in ("sdr", "mix_sdr")):
            raise ValueError("non-finite SDR")
    except Exception as err:  # noqa: BLE001 - e.g. mir_eval rejects silent sources; keep the row
        for k in ("sdr", "mix_sdr", "sdr_i"):
            row.pop(k, None)
        notes.append(f"sdr failed: {type(err).__name__}: {err}")
    ordered = ests[list(perm)]
    if use_pesq:
        mode = pesq_mode if pesq_mode != "auto" else ("wb" if sample_rate == 16000 else "nb")
        fn = pesq_wb if mode == "wb" else pesq_nb
        est_v, why = _mean_metric(fn, ordered, refs, sample_rate)
        mix_v, mix_why = _mean_metric(fn, mixes, refs, sample_rate)
        if est_v is None or mix_v is None:
            notes.append(f"pesq failed: {why or mix_why}")
        else:
            row["pesq"], row["mix_pesq"], row["pesq_i"] = est_v, mix_v, est_v - mix_v
    if use_stoi:
        est_v, why = _mean_metric(stoi, ordered, refs, sample_rate)
        mix_v, mix_why = _mean_metric(stoi, mixes, refs, sample_rate)
        if est_v is None or mix_v is None:
            notes.append(f"stoi failed: {why or mix_why}")
        else:
            row["stoi"], row["mix_stoi"], row["stoi_i"] = est_v, mix_v, est_v - mix_v
    row["status"] = "ok" if not notes else "; ".join(notes)
    return row


def _score_job(job):
    uid, ref_entry, est_paths, kwargs = job
    return score_utterance(uid, ref_entry, est_paths, **kwargs)


def _init_worker():
    # Two processes on two cores: keep each one single-threaded.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _rows_to_csv(rows, columns):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _mean(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
    return (float(np.mean(vals)) if vals else None), len(vals)


def summarize(rows, columns, **meta):
    """summary.json content: means and counts of every metric column, failures, mixture row."""
    ok_rows = [r for r in rows if not str(r.get("status", "")).startswith("error")]
    metrics = [c for c in columns if c not in ("id", "perm", "status")]
    means, counts = {}, {}
    for key in metrics:
        means[key], counts[key] = _mean(ok_rows, key)
    failures = {"error": len(rows) - len(ok_rows)}
    for name in ("sdr", "pesq", "stoi"):
        failures[name] = sum(1 for r in ok_rows if f"{name} failed" in str(r.get("status", "")))
    failed = [{"id": r["id"], "status": r["status"]} for r in rows
              if str(r.get("status", "")).startswith("error") or "failed" in str(r.get("status", ""))]
    mixture = {k[len("mix_"):]: v for k, v in means.items() if k.startswith("mix_")}
    system = {k: v for k, v in means.items() if not k.startswith("mix_")}
    return dict(meta, n_utts=len(rows), n_scored=len(ok_rows), means=system, mixture=mixture,
                counts=counts, failures=failures, failed_utts=failed[:100])


def score_separation(ref, est, out_dir, use_pesq=False, use_stoi=False, sdr_backend="fast_bss_eval",
                     exp_name=None, nj=2, replacements=None, pesq_mode="auto", progress=True):
    """Score every utterance of the ref manifest found in the estimates; returns the summary dict."""
    if sdr_backend not in BACKENDS:
        raise ValueError(f"sdr_backend must be one of {BACKENDS}, got {sdr_backend!r}.")
    ref_manifest = load_manifest(ref, replacements=replacements, kind="separation")
    estimates = load_estimates(est)
    rates = {e["sample_rate"] for e in ref_manifest.values()}
    if len(rates) != 1:
        raise ManifestError(f"{ref}: mixed sample rates {sorted(rates)}; score each rate separately.")
    sample_rate = rates.pop()
    missing = [uid for uid in ref_manifest if uid not in estimates]
    unknown = [uid for uid in estimates if uid not in ref_manifest]
    if unknown:
        raise ManifestError(
            f"{est}: {len(unknown)} estimate id(s) are not in {ref} (e.g. '{unknown[0]}'). "
            "The estimates come from another test set; score them against the right manifest."
        )
    kwargs = dict(sample_rate=sample_rate, use_pesq=use_pesq, use_stoi=use_stoi, sdr_backend=sdr_backend,
                  pesq_mode=pesq_mode)
    jobs = [(uid, ref_manifest[uid], estimates[uid], kwargs) for uid in ref_manifest if uid in estimates]
    if not jobs:
        raise ManifestError(f"{est}: none of the {len(ref_manifest)} ids of {ref} has an estimate.")
    rows = _run(jobs, nj, progress)
    rows += [{"id": uid, "status": "error: no estimate for this id"} for uid in missing]
    order = {uid: i for i, uid in enumerate(ref_manifest)}
    rows.sort(key=lambda r: order[r["id"]])
    columns = _columns(use_pesq, use_stoi)
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(os.path.join(out_dir, "scores.csv"), _rows_to_csv(rows, columns))
    ref_path = os.fspath(ref)
    summary = summarize(
        rows, columns,
        exp_name=exp_name or _default_exp_name(out_dir),
        test_set=os.path.splitext(os.path.basename(ref_path))[0],
        ref=os.path.abspath(ref_path), est=os.path.abspath(os.fspath(est)), sample_rate=sample_rate,
        sdr_backend=sdr_backend,
        pesq_mode=(None if not use_pesq else (pesq_mode if pesq_mode != "auto"
                                              else ("wb" if sample_rate == 16000 else "nb"))),
        date=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _default_exp_name(out_dir):
    """exp/<name>/score_tt -> <name>."""
    return os.path.basename(os.path.dirname(os.path.abspath(out_dir)))


def _run(jobs, nj, progress):
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="scoring", unit="utt", disable=not progress)
    rows = []
    if nj <= 1 or len(jobs) < 2:
        for job in jobs:
            rows.append(_score_job(job))
            bar.update()
    else:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ctx.Pool(min(nj, len(jobs)), initializer=_init_worker) as pool:
            for row in pool.imap_unordered(_score_job, jobs, chunksize=4):
                rows.append(row)
                bar.update()
    bar.close()
    return rows
