"""Separation efficiency study: Mamba separators vs attention/RNN/conv baselines, 1 s to 60 s.

For each model at its published configuration (8 kHz, batch 1) and each input duration it
measures parameters, MACs per second of audio, forward time (eval, no grad), forward+backward
time (train mode, loss = mean square of the output) and the peak extra memory of each pass;
writes JSON, a markdown table and a log-log plot, and reports for every Mamba model the duration
from which it beats SepFormer and TF-GridNet (the Speech Slytherin efficiency question).

    PYTHONPATH=. python bench/sep_efficiency.py                              # CPU, 1..60 s
    PYTHONPATH=. python bench/sep_efficiency.py --device cuda --repeats 5
    PYTHONPATH=. python bench/sep_efficiency.py --durations 1,2,4 --repeats 1 --models mamba_tasnet,sepformer

Method
- Every (model, duration, pass) runs in a fresh subprocess (``--worker``), so memory peaks and
  failures (out of memory, time limit) are isolated. The worker builds the model, runs one
  0.25 s warm-up pass (extension loading, lazy initialisation), records the baseline, runs the
  measured pass once for memory (and MACs), then ``--repeats`` timed passes; the reported time is
  the median.
- Memory. CPU: tracemalloc does not see torch's allocator, so the worker reads the kernel's
  resident-set counters: baseline VmRSS after the model and input exist, the peak counter
  reset by writing "5" to /proc/self/clear_refs, and VmHWM after the pass; peak extra memory =
  VmHWM - baseline (activations, autograd buffers, gradients; not the weights). CUDA:
  torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus the allocation
  before the pass.
- MACs: torch.utils.flop_counter.FlopCounterMode over the measured forward pass (matmul, linear,
  conv, attention kernels: FLOPs / 2). Two kinds of ops it cannot see get analytic counts:
  * the selective scan (a custom op): each call adds b*d*l*n * SCAN_MACS_PER_ELEMENT with
    SCAN_MACS_PER_ELEMENT = 4 (per state element and step: delta*A, (delta*u)*B, the state
    update h = a*h + bu, the read-out y += C*h; the exp and the per-(b, d, l) D-skip and
    SiLU gate are not counted); FlopCounterMode is switched off inside the scan, so the
    torch scan's internal matmuls are not counted twice;
  * fused LSTMs (CPU and cuDNN kernels): 4*H*(I + H) multiply-adds per step, direction and
    layer (I = 2H above the first layer of a BiLSTM), counted from the input shape by hooks;
    whatever FlopCounterMode attributed inside the LSTM is subtracted, so nothing is counted twice.
  Not counted anywhere: element-wise ops, norms, softmax, STFT/iSTFT (FFTs). MACs/s = MACs of
  the pass / duration.
- Budgets: a model stops at the first duration whose pass fails or exceeds ``--max-run-s``
  (default 600 s per worker), and skips the remaining durations once ``--budget-s`` (per model,
  default 1800 s of worker wall time) is spent. A pass is not even started when its time or peak
  memory, extrapolated from the two previous durations (power law between linear and quadratic),
  would exceed ``--max-run-s`` (for the warm-up + repeats) or ``--mem-limit-gb`` (default on CPU:
  80 % of the memory available at start), so a long input cannot push a shared machine into the
  OOM killer. Skipped cells say why.
- "Beats from": for each metric, the smallest measured duration from which the Mamba model is
  lower than the baseline at every longer measured duration too, and, when the curves cross
  between two measured durations, the crossing interpolated on log-log axes.
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 8000
SCAN_MACS_PER_ELEMENT = 4
WARMUP_SECONDS = 0.25
DEFAULT_DURATIONS = [1, 2, 4, 8, 16, 32, 60]
DOC_BEGIN = "<!-- sep_efficiency:begin -->"
DOC_END = "<!-- sep_efficiency:end -->"

# key -> how to build it. "preset" names the model class's own preset; "overrides" are extra
# constructor arguments. All are the WSJ0-2mix (8 kHz) configurations.
MODELS = {
    "mamba_tasnet": {
        "label": "Mamba-TasNet M", "family": "mamba", "module": "speechslytherin.models.sep.mamba_tasnet",
        "cls": "MambaTasNet", "preset": "M",
        "note": "official M (15.6 M): the size whose SI-SNRi (22.4 dB) matches SepFormer's 22.3 dB"},
    "dpmamba": {
        "label": "DPMamba M", "family": "mamba", "module": "speechslytherin.models.sep.dpmamba",
        "cls": "DPMamba", "preset": "M", "note": "official M (15.9 M, 22.6 dB)"},
    "spmamba": {
        "label": "SPMamba", "family": "mamba", "module": "speechslytherin.models.sep.spmamba",
        "cls": "SPMamba", "preset": "wsj0", "note": "official wsj0 config (n_fft 256, hop 64)"},
    "sepmamba": {
        "label": "SepMamba M", "family": "mamba", "module": "speechslytherin.models.sep.sepmamba",
        "cls": "SepMamba", "preset": "M", "note": "README M (dim 128, 3 blocks; 22 M, 22.7 dB)"},
    "sepformer": {
        "label": "SepFormer", "family": "baseline", "module": "speechslytherin.models.sep.sepformer",
        "cls": "SepFormer", "preset": "wsj0-2mix", "note": "SpeechBrain WSJ0-2mix recipe (25.7 M)"},
    "tfgridnet": {
        "label": "TF-GridNet", "family": "baseline", "module": "speechslytherin.models.sep.tfgridnet",
        "cls": "TFGridNet", "preset": "espnet",
        "overrides": {"n_fft": 128, "stride": 64, "emb_dim": 64, "emb_ks": 4, "lstm_hidden_units": 256},
        "note": "D 64, I 4, H 256, n_fft 128 / hop 64: 14.44 M, the 14.4 M TF-GridNet of the "
                "SPMamba/SepMamba tables (configuration inferred from that count)"},
    "convtasnet": {
        "label": "Conv-TasNet", "family": "baseline", "module": "speechslytherin.models.sep.convtasnet",
        "cls": "ConvTasNet", "preset": "paper", "note": "paper config with SpeechBrain's blocks (3.4 M)"},
    "dprnn": {
        "label": "DPRNN", "family": "baseline", "module": "speechslytherin.models.sep.dprnn",
        "cls": "DPRNN", "preset": "paper", "note": "paper / SpeechBrain recipe (2.6 M)"},
}
DEFAULT_MODELS = ["mamba_tasnet", "dpmamba", "spmamba", "sepmamba", "sepformer", "tfgridnet", "convtasnet"]
TARGETS = ("sepformer", "tfgridnet")
METRICS = {  # key in a result row -> (title, unit)
    "fwd_s": ("forward time", "s"),
    "fwdbwd_s": ("forward+backward time", "s"),
    "fwd_mem": ("forward peak memory", "bytes"),
    "fwdbwd_mem": ("forward+backward peak memory", "bytes"),
    "gmacs_per_s": ("MACs per second of audio", "GMAC/s"),
}


# ---------------------------------------------------------------- building and counting


def model_available(key):
    """(True, None) if the model's module imports, else (False, reason)."""
    import importlib

    spec = MODELS[key]
    try:
        module = importlib.import_module(spec["module"])
        getattr(module, spec["cls"])
    except (ImportError, AttributeError) as err:
        return False, f"{spec['module']}.{spec['cls']} not importable ({type(err).__name__}: {err})"
    return True, None


def build_model(key):
    import importlib

    spec = MODELS[key]
    cls = getattr(importlib.import_module(spec["module"]), spec["cls"])
    return cls.from_preset(spec["preset"], **spec.get("overrides", {}))


class MacCounter:
    """FlopCounterMode plus analytic counts for the selective scan and fused LSTMs (see module doc)."""

    def __init__(self, model):
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        self.model = model
        self.mode = FlopCounterMode(display=False)
        self.scan_elements = 0
        self.scan_calls = 0
        self.lstm_macs = 0
        self.lstm_counted_inside = 0
        self._handles = []
        self._lstm_start = {}
        for module in model.modules():
            if isinstance(module, torch.nn.LSTM):
                self._handles.append(module.register_forward_pre_hook(self._lstm_pre))
                self._handles.append(module.register_forward_hook(self._lstm_post))

    def _lstm_pre(self, module, args):
        self._lstm_start[id(module)] = self.mode.get_total_flops()

    def _lstm_post(self, module, args, output):
        self.lstm_counted_inside += self.mode.get_total_flops() - self._lstm_start.pop(id(module))
        x = args[0]
        steps = x.numel() // x.shape[-1]  # batch * time, either layout
        dirs = 2 if module.bidirectional else 1
        hidden = module.hidden_size
        macs = 0
        for layer in range(module.num_layers):
            n_in = module.input_size if layer == 0 else dirs * hidden
            macs += dirs * 4 * hidden * (n_in + hidden)
        self.lstm_macs += steps * macs

    def __enter__(self):
        import speechslytherin.nnet.mamba.mixer as mixer
        from torch.utils._python_dispatch import _disable_current_modes

        self._mixer = mixer
        self._real_scan = real_scan = mixer.selective_scan
        counter = self

        def counting_scan(u, delta, A, *args, **kwargs):
            counter.scan_calls += 1
            counter.scan_elements += u.shape[0] * u.shape[1] * u.shape[2] * A.shape[1]
            with _disable_current_modes():
                return real_scan(u, delta, A, *args, **kwargs)

        mixer.selective_scan = counting_scan
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)
        self._mixer.selective_scan = self._real_scan
        for handle in self._handles:
            handle.remove()
        return False

    def result(self):
        counted = (self.mode.get_total_flops() - self.lstm_counted_inside) / 2
        scan_macs = self.scan_elements * SCAN_MACS_PER_ELEMENT
        return {"macs": counted + scan_macs + self.lstm_macs, "macs_counter": counted, "macs_scan": scan_macs,
                "macs_lstm": self.lstm_macs, "scan_calls": self.scan_calls, "scan_elements": self.scan_elements}


# ---------------------------------------------------------------- the worker (one measurement)


def _proc_status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def run_worker(job):
    """Measure one (model, duration, pass) and return a dict (printed as JSON by main)."""
    import torch

    torch.set_flush_denormal(True)
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    device = torch.device(job["device"])
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(job["model"]).to(device)
    train = job["pass"] == "fwdbwd"
    model.train(train)
    n_params = sum(p.numel() for p in model.parameters())
    from speechslytherin.nnet.mamba.scan import resolve_impl

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def one_pass(x):
        if train:
            model.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
        else:
            with torch.no_grad():
                model(x)

    one_pass(torch.randn(1, int(WARMUP_SECONDS * SAMPLE_RATE), device=device))
    x = torch.randn(1, int(job["seconds"] * SAMPLE_RATE), device=device)
    model.zero_grad(set_to_none=True)
    gc.collect()
    sync()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _proc_status_kb("VmRSS") * 1024
        _reset_peak_rss()
    macs = None
    start = time.perf_counter()
    if train:
        one_pass(x)
    else:
        with MacCounter(model) as counter:
            one_pass(x)
        macs = counter.result()
    sync()
    first_s = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(device) - base) if cuda else (_proc_status_kb("VmHWM") * 1024 - base)
    peak = max(0, peak)  # pages freed during a tiny pass can put the kernel's peak a few KiB under the baseline
    times = []
    for _ in range(int(job["repeats"])):
        sync()
        start = time.perf_counter()
        one_pass(x)
        sync()
        times.append(time.perf_counter() - start)
    return {"params": n_params, "peak_bytes": int(peak), "times_s": times, "first_pass_s": first_s,
            "macs": macs, "scan_impl": resolve_impl(None, device), "threads": torch.get_num_threads()}


# ---------------------------------------------------------------- the driver


def launch(job, timeout_s):
    """Run one worker subprocess; returns (result dict or None, failure reason or None, wall seconds)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1.0, timeout_s), env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, f"time limit ({timeout_s:.0f} s)", time.monotonic() - start
    wall = time.monotonic() - start
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), None, wall
    tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
    if out.returncode in (-9, 137):
        reason = "killed (out of memory?)"
    elif any("out of memory" in t.lower() for t in tail):
        reason = "out of memory"
    else:
        reason = f"exit {out.returncode}: {' | '.join(tail)[-300:]}"
    return None, reason, wall


def project(rows, metric, seconds):
    """Value of ``metric`` at ``seconds`` extrapolated from the last two measured durations
    (power law, exponent clipped to [1, 2]: linear to quadratic growth); None if unknown."""
    pts = [(r["seconds"], r[metric]) for r in rows if r.get(metric) and r["seconds"] < seconds]
    if not pts:
        return None
    d1, v1 = pts[-1]
    k = 1.0
    if len(pts) >= 2:
        d0, v0 = pts[-2]
        if v0 > 0 and d1 > d0:
            k = min(2.0, max(1.0, math.log(v1 / v0) / math.log(d1 / d0)))
    return v1 * (seconds / d1) ** k


def projected_excess(rows, pass_name, seconds, args):
    """A reason to skip (memory or time projected over the limits), or None."""
    mem = project(rows, pass_name + "_mem", seconds)
    if args.mem_limit_gb and mem and mem > args.mem_limit_gb * 2**30:
        return f"projected peak memory {mem / 2**30:.1f} GiB > --mem-limit-gb {args.mem_limit_gb:.1f}"
    t = project(rows, pass_name + "_s", seconds)
    if t and t * (args.repeats + 1) > args.max_run_s:
        return f"projected {t:.0f} s per pass x {args.repeats + 1} passes > --max-run-s {args.max_run_s:.0f}"
    return None


def available_memory_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def measure_model(key, args, log, record, save=lambda: None):
    """Fill ``record`` (already in the report) row by row, calling ``save`` after each measurement."""
    ok, why = model_available(key)
    record.update({"key": key, **{k: v for k, v in MODELS[key].items() if k not in ("module",)}, "rows": []})
    if not ok:
        record["skipped"] = why
        log(f"[{key}] skipped: {why}")
        return record
    spent = 0.0
    stopped = {}  # pass -> reason
    for seconds in args.durations:
        row = {"seconds": seconds}
        for pass_name in ("fwd", "fwdbwd"):
            if pass_name in stopped:
                row[pass_name + "_skipped"] = stopped[pass_name]
                continue
            remaining = args.budget_s - spent
            too_big = projected_excess(record["rows"], pass_name, seconds, args)
            if remaining <= 0 or too_big:
                stopped[pass_name] = too_big or f"model budget ({args.budget_s:.0f} s) spent"
                row[pass_name + "_skipped"] = stopped[pass_name]
                log(f"[{key}] {seconds:g} s {pass_name}: skipped, {stopped[pass_name]}")
                continue
            job = {"model": key, "seconds": seconds, "pass": pass_name, "device": args.device,
                   "repeats": args.repeats, "threads": args.threads}
            result, failure, wall = launch(job, min(args.max_run_s, remaining))
            spent += wall
            if failure and failure.startswith("time limit") and remaining < args.max_run_s:
                failure = f"model budget (--budget-s {args.budget_s:.0f}) ran out during the pass"
                stopped[pass_name] = f"failed at {seconds:g} s: {failure}"
                row[pass_name + "_skipped"] = stopped[pass_name]
                log(f"[{key}] {seconds:g} s {pass_name}: {failure}")
                continue
            record["params"] = result["params"]
            record["scan_impl"] = result["scan_impl"]
            record["threads"] = result["threads"]
            row[pass_name + "_s"] = statistics.median(result["times_s"]) if result["times_s"] else result["first_pass_s"]
            row[pass_name + "_times"] = result["times_s"]
            row[pass_name + "_mem"] = result["peak_bytes"]
            if result["macs"]:
                row["macs"] = result["macs"]
                row["gmacs_per_s"] = result["macs"]["macs"] / seconds / 1e9
            log(f"[{key}] {seconds:g} s {pass_name}: {row[pass_name + '_s']:.3f} s, "
                f"{result['peak_bytes'] / 2**20:.0f} MiB" + (f", {row['gmacs_per_s']:.2f} GMAC/s" if result["macs"] else "")
                + f"  (worker {wall:.0f} s)")
            if row not in record["rows"]:
                record["rows"].append(row)
            save()
        if row not in record["rows"]:
            record["rows"].append(row)
    record["worker_seconds"] = spent
    return record


def beats_from(mamba, baseline, metric):
    """Where ``mamba`` is below ``baseline`` on ``metric`` for good (see module doc), or None."""
    a = {r["seconds"]: r[metric] for r in mamba["rows"] if metric in r}
    b = {r["seconds"]: r[metric] for r in baseline["rows"] if metric in r}
    common = sorted(set(a) & set(b))
    if not common:
        return {"status": "no common measurements"}
    wins = [a[d] < b[d] for d in common]
    if not wins[-1]:
        return {"status": "not within the measured durations", "up_to": common[-1]}
    first = len(wins)
    while first > 0 and wins[first - 1]:
        first -= 1
    out = {"status": "beats", "from_measured": common[first], "up_to": common[-1]}
    if first > 0:  # crossing between common[first-1] and common[first]: interpolate on log-log axes
        d0, d1 = common[first - 1], common[first]
        g0 = math.log(a[d0] / b[d0]) if a[d0] > 0 and b[d0] > 0 else None
        g1 = math.log(a[d1] / b[d1]) if a[d1] > 0 and b[d1] > 0 else None
        if g0 is not None and g1 is not None and g0 != g1:
            t = g0 / (g0 - g1)
            out["crossing_estimate"] = math.exp(math.log(d0) + t * (math.log(d1) - math.log(d0)))
    else:
        out["note"] = "already at the shortest measured duration"
    return out


def summarise(records):
    by_key = {r["key"]: r for r in records if r.get("rows")}
    summary = {}
    for mamba in (r for r in records if r.get("family") == "mamba" and r.get("rows")):
        for target in TARGETS:
            if target not in by_key:
                continue
            summary.setdefault(mamba["key"], {})[target] = {
                metric: beats_from(mamba, by_key[target], metric) for metric in METRICS
            }
    return summary


# ---------------------------------------------------------------- reports


def _fmt_time(v):
    return "–" if v is None else (f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s")


def _fmt_mem(v):
    return "–" if v is None else (f"{v / 2**20:.0f} MiB" if v < 2**30 else f"{v / 2**30:.2f} GiB")


def _fmt_beat(b):
    if b["status"] != "beats":
        return "no" + (f" (to {b['up_to']:g} s)" if "up_to" in b else "")
    text = f"from {b['from_measured']:g} s"
    if "crossing_estimate" in b:
        text += f" (cross ~{b['crossing_estimate']:.1f} s)"
    return text


def markdown(report):
    env = report["environment"]
    lines = [f"Device: {env['device_name']} ({report['device']}), torch {env['torch']}, "
             f"{env['threads']} thread(s), repeats {report['repeats']} (median), batch 1, 8 kHz. "
             f"Generated {env['date']} at git {env['git']}.", "",
             "| model | params | duration | GMAC/s | forward | fwd peak mem | fwd+bwd | fwd+bwd peak mem |",
             "|---|---|---|---|---|---|---|---|"]
    for rec in report["models"]:
        if rec.get("skipped"):
            lines.append(f"| {rec['label']} | – | – | skipped: {rec['skipped']} | | | | |")
            continue
        params = f"{rec['params'] / 1e6:.2f} M" if rec.get("params") else "–"
        for row in rec["rows"]:
            def cell(pass_name, suffix, fmt):
                if pass_name + suffix in row:
                    return fmt(row[pass_name + suffix])
                return "skipped" if pass_name + "_skipped" in row else "–"
            gmacs = f"{row['gmacs_per_s']:.2f}" if "gmacs_per_s" in row else "–"
            lines.append(f"| {rec['label']} | {params} | {row['seconds']:g} s | {gmacs} | "
                         f"{cell('fwd', '_s', _fmt_time)} | {cell('fwd', '_mem', _fmt_mem)} | "
                         f"{cell('fwdbwd', '_s', _fmt_time)} | {cell('fwdbwd', '_mem', _fmt_mem)} |")
    skipped = [(rec["label"], row["seconds"], row.get("fwd_skipped") or row.get("fwdbwd_skipped"))
               for rec in report["models"] for row in rec.get("rows", [])
               if row.get("fwd_skipped") or row.get("fwdbwd_skipped")]
    if skipped:
        lines += ["", "Skipped cells: " + "; ".join(sorted({f"{m}: {why}" for m, _, why in skipped}))]
    if report["beats"]:
        lines += ["", "Duration from which each Mamba model is lower (better) than the baseline, over the "
                  "measured durations (crossing interpolated on log-log axes):", "",
                  "| Mamba model | vs | forward time | fwd+bwd time | fwd memory | fwd+bwd memory | MACs/s |",
                  "|---|---|---|---|---|---|---|"]
        labels = {r["key"]: r["label"] for r in report["models"]}
        for key, per_target in report["beats"].items():
            for target, metrics in per_target.items():
                cells = [_fmt_beat(metrics[m]) for m in ("fwd_s", "fwdbwd_s", "fwd_mem", "fwdbwd_mem", "gmacs_per_s")]
                lines.append(f"| {labels[key]} | {labels[target]} | " + " | ".join(cells) + " |")
    def describe(r):
        scan = f" (selective scan: {r['scan_impl']})" if r.get("family") == "mamba" and r.get("scan_impl") else ""
        return f"{r.get('label', r.get('key'))}: {r.get('note', '')}{scan}"

    lines += ["", "Configurations: " + "; ".join(describe(r) for r in report["models"]) + "."]
    return "\n".join(lines) + "\n"


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("fwd_s", "forward time (s)"), ("fwdbwd_s", "forward+backward time (s)"),
              ("fwdbwd_mem", "fwd+bwd peak memory (MiB)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2))
    for ax, (metric, title) in zip(axes, panels):
        for rec in report["models"]:
            pts = [(r["seconds"], r[metric]) for r in rec.get("rows", []) if metric in r and r[metric] > 0]
            if not pts:
                continue
            xs, ys = zip(*pts)
            if metric.endswith("_mem"):
                ys = [y / 2**20 for y in ys]
            ax.plot(xs, ys, "-o" if rec["family"] == "mamba" else "--s", label=rec["label"], markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input duration (s)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Separation efficiency on {report['environment']['device_name']} ({report['device']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def environment(args):
    import torch

    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                             timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        git = "unknown"
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(args.device))
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
        except OSError:
            pass
        name += f", {os.cpu_count()} logical CPUs"
    return {"torch": torch.__version__, "python": platform.python_version(), "device_name": name,
            "threads": args.threads or torch.get_num_threads(), "git": git,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": " ".join(sys.argv)}


def write_doc(doc_path, table, label):
    """Replace the marked section of ``doc_path`` with ``label`` + ``table``."""
    text = Path(doc_path).read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"{doc_path}: no '{DOC_BEGIN}' ... '{DOC_END}' markers to replace")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    Path(doc_path).write_text(f"{head}{DOC_BEGIN}\n{label}\n\n{table}{DOC_END}{tail}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help=f"comma-separated keys of {sorted(MODELS)}")
    parser.add_argument("--durations", default=",".join(map(str, DEFAULT_DURATIONS)),
                        help="input durations in seconds (comma-separated)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per measurement (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the workers (default: torch's)")
    parser.add_argument("--budget-s", type=float, default=1800.0, help="worker wall time per model")
    parser.add_argument("--max-run-s", type=float, default=600.0, help="time limit of one worker")
    parser.add_argument("--mem-limit-gb", type=float, default=None,
                        help="skip a pass whose peak memory, extrapolated from shorter inputs, exceeds this "
                             "(default on CPU: 80%% of MemAvailable at start; CUDA out-of-memory is caught)")
    parser.add_argument("--out", default=None, help="output folder (default bench/results/sep_efficiency_<device>)")
    parser.add_argument("--doc", default=None, help="markdown file whose marked section receives the table")
    parser.add_argument("--doc-label", default="", help="line written above the table in --doc")
    parser.add_argument("--render", metavar="JSON", help="only redraw the table/plot (and --doc) of a saved "
                        "sep_efficiency.json, e.g. of a run stopped part-way")
    args = parser.parse_args(argv)
    if args.worker or args.render:
        return args
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model key(s) {unknown}; choose from {sorted(MODELS)}")
    try:
        args.durations = sorted({float(d) for d in args.durations.split(",") if d.strip()})
    except ValueError:
        parser.error(f"--durations must be numbers separated by commas, got {args.durations!r}")
    if not args.durations or min(args.durations) <= 0:
        parser.error("--durations must be positive")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device here")
    elif args.device != "cpu":
        parser.error(f"--device {args.device!r}: use cpu or cuda[:i]")
    if args.mem_limit_gb is None and args.device == "cpu" and available_memory_gb():
        args.mem_limit_gb = 0.8 * available_memory_gb()
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return 0
    if args.render:
        report = json.loads(Path(args.render).read_text())
        report["beats"] = summarise(report["models"])
        return write_reports(report, Path(args.out or Path(args.render).parent), args)
    out_dir = Path(args.out or ROOT / "bench" / "results" / f"sep_efficiency_{args.device.split(':')[0]}")
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    report = {"device": args.device, "repeats": args.repeats, "durations": args.durations,
              "sample_rate": SAMPLE_RATE, "scan_macs_per_element": SCAN_MACS_PER_ELEMENT,
              "environment": environment(args), "models": []}
    def save():  # after every measurement, so a run stopped part-way keeps its results (see --render)
        report["beats"] = summarise(report["models"])
        (out_dir / "sep_efficiency.json").write_text(json.dumps(report, indent=1))

    for key in args.models:
        record = {}
        report["models"].append(record)
        measure_model(key, args, log, record, save)
        save()
    return write_reports(report, out_dir, args)


def write_reports(report, out_dir, args):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sep_efficiency.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (out_dir / "sep_efficiency.md").write_text(table)
    plot(report, out_dir / "sep_efficiency.png")
    if args.doc:
        write_doc(args.doc, table, args.doc_label)
    print(table)
    print(f"written: {out_dir}/sep_efficiency.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
