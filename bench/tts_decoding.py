"""TTS efficiency: VALL-E (attention, KV cache) against VALL-M (Mamba, recurrent state) for AR
decoding and for one training step, versus output duration (EnCodec tokens at 75 Hz).

    PYTHONPATH=. python bench/tts_decoding.py                               # CPU, nano 1-60 s, paper 1-10 s
    PYTHONPATH=. python bench/tts_decoding.py --sizes nano --durations 1,5 --no-doc   # quick look
    PYTHONPATH=. python bench/tts_decoding.py --device cuda --paper-durations 1,2,5,10,20,30,60 \
        --out bench/results/tts_decoding_cuda --doc-label "GPU run"

Measurements (one subprocess each, so memory peaks and failures stay apart):
- *decode*: ``CodecLM.ar_generate`` for a 40-phoneme text after a 3 s prompt (225 frames),
  forced to emit exactly 75 x duration frames (EOS masked), top-k 10, batch 1, eval mode; the time
  includes the prompt prefill. VALL-E keeps a KV cache (lifeiteng re-runs the whole sequence per
  token; the cache gives the same tokens, see test/test_valle.py), VALL-M the Mamba state.
- *train*: one forward + backward of the AR + NAR loss (``stage='both'``) on one utterance of
  40 phonemes and 75 x duration frames, train mode.
- Peak memory (training: gradient buffers included): CPU: VmHWM - VmRSS around the measured call (peak counter reset through
  /proc/self/clear_refs); CUDA: max_memory_allocated - memory_allocated before the call.
- "cheaper from": the smallest measured duration from which VALL-M is below VALL-E at every longer
  measured duration.
Models are randomly initialised (speed and memory do not depend on the weights); VALL-M is the
default pure-Mamba setting (AR mamba, NAR bimamba).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAME_RATE = 75
TEXT_LEN = 40
PROMPT_FRAMES = 225
MODELS = ("valle", "vallm")
KINDS = ("decode", "train")


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def build(model, size, device):
    import torch

    from speechslytherin.models.tts.valle import VALLE
    from speechslytherin.models.tts.vallm import VALLM

    torch.manual_seed(0)
    cls = VALLE if model == "valle" else VALLM
    return cls(preset=size, n_codebooks=8, codebook_size=1024, num_text_tokens=512).to(device)


def run_worker(job):
    """One measurement; prints a JSON line."""
    import torch

    torch.set_flush_denormal(True)
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    device = job["device"]
    cuda = device.startswith("cuda")
    model = build(job["model"], job["size"], device)
    frames = int(round(job["seconds"] * FRAME_RATE))
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, 512, (1, TEXT_LEN), generator=g).to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if job["kind"] == "decode":
        model.eval()
        prompt = torch.randint(0, 1024, (1, PROMPT_FRAMES), generator=g).to(device)

        def call(n):
            return model.ar_generate(text, prompt, top_k=10, max_len=n, min_len=n)
        warm = lambda: call(3)  # noqa: E731
    else:
        model.train()
        codes = torch.randint(0, 1024, (1, 8, frames), generator=g).to(device)
        lens = (torch.tensor([TEXT_LEN], device=device), torch.tensor([frames], device=device))

        def call(n):
            model.zero_grad(set_to_none=True)
            out = model(text, lens[0], codes, lens[1], stage="both")
            out["loss"].backward()
            return out
        def warm():  # a short pass: a full-size one would leave freed memory the measured pass reuses unseen
            model.zero_grad(set_to_none=True)
            short = codes[:, :, :min(frames, 25)]
            out = model(text, lens[0], short, torch.tensor([short.shape[2]], device=device), stage="both")
            out["loss"].backward()
            model.zero_grad(set_to_none=True)
    warm()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _status_kb("VmRSS") * 1024
        _reset_peak()
    t0 = time.perf_counter()
    out = call(frames)
    sync()
    seconds = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() if cuda else _status_kb("VmHWM") * 1024) - base
    if job["kind"] == "decode":
        assert out.shape[1] == frames
    print(json.dumps({**job, "frames": frames, "time_s": seconds, "peak_bytes": max(int(peak), 0),
                      "per_frame_ms": 1000 * seconds / frames}), flush=True)


def launch(job, timeout_s):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {**job, "error": f"over {timeout_s} s"}
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {**job, "error": (out.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(lines[-1])


def _key(row):
    return (row["model"], row["size"], row["kind"], float(row["seconds"]), row["device"])


def cheaper_from(rows, size, kind, metric):
    """Smallest duration from which VALL-M < VALL-E at every longer measured duration."""
    get = {(r["model"], r["seconds"]): r.get(metric) for r in rows
           if r["size"] == size and r["kind"] == kind and "error" not in r}
    durations = sorted({s for (_, s) in get if ("valle", s) in get and ("vallm", s) in get})
    if not durations:
        return None
    start = None
    for s in reversed(durations):
        if get[("vallm", s)] < get[("valle", s)]:
            start = s
        else:
            break
    return start if start is not None else "not within measured range"


def _fmt_mem(b):
    return f"{b / 2**20:.1f} MiB" if b is not None else "-"


def markdown(report):
    rows = report["rows"]
    lines = [f"Device: {report['env']['device_name']}; torch {report['env']['torch']}; "
             f"threads {report['env']['threads']}; {report['label']}", ""]
    for size in report["sizes"]:
        for kind in KINDS:
            sel = [r for r in rows if r["size"] == size and r["kind"] == kind]
            if not sel:
                continue
            what = "AR decoding" if kind == "decode" else "training step (AR + NAR, fwd + bwd)"
            lines += [f"**{size}: {what}**", "",
                      "| output (s) | frames | VALL-E time | VALL-M time | VALL-E peak mem | VALL-M peak mem |",
                      "|---|---|---|---|---|---|"]
            for s in sorted({r["seconds"] for r in sel}):
                cell = {r["model"]: r for r in sel if r["seconds"] == s}

                def t(m):
                    r = cell.get(m)
                    return "-" if r is None else r.get("error") or f"{r['time_s']:.2f} s"

                def mem(m):
                    r = cell.get(m)
                    return "-" if r is None or "error" in r else _fmt_mem(r["peak_bytes"])
                lines.append(f"| {s:g} | {int(round(s * FRAME_RATE))} | {t('valle')} | {t('vallm')} | "
                             f"{mem('valle')} | {mem('vallm')} |")
            ct = cheaper_from(rows, size, kind, "time_s")
            cm = cheaper_from(rows, size, kind, "peak_bytes")
            lines += ["", f"VALL-M cheaper from: time {ct if ct is None or isinstance(ct, str) else f'{ct:g} s'}; "
                      f"memory {cm if cm is None or isinstance(cm, str) else f'{cm:g} s'}.", ""]
    return "\n".join(lines)


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for col, kind in enumerate(KINDS):
        for row, (metric, label) in enumerate((("time_s", "time (s)"), ("peak_bytes", "peak memory (MiB)"))):
            ax = axes[row][col]
            for size in report["sizes"]:
                for model, style in (("valle", "-o"), ("vallm", "--s")):
                    pts = sorted((r["seconds"], r[metric]) for r in report["rows"] if r["size"] == size
                                 and r["kind"] == kind and r["model"] == model and "error" not in r)
                    if pts:
                        ys = [y / 2**20 if metric == "peak_bytes" else y for _, y in pts]
                        ax.plot([x for x, _ in pts], ys, style, label=f"{'VALL-E' if model == 'valle' else 'VALL-M'} {size}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("output duration (s, 75 Hz tokens)")
            ax.set_ylabel(label)
            ax.set_title("AR decoding" if kind == "decode" else "training step")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(report["label"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def environment(args):
    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
    return {"device": args.device, "device_name": name, "torch": torch.__version__,
            "threads": args.threads or torch.get_num_threads(), "cpus": os.cpu_count(),
            "command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def write_doc(path, table, label, png):
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else f"# TTS decoding efficiency\n\n{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    body = f"{begin}\n### {label}\n\n{table}\n![{label}]({png})\n{end}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + body + tail)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", default="nano,paper")
    p.add_argument("--durations", default="1,2,5,10,20,30,60", help="output seconds for nano (and other sizes)")
    p.add_argument("--paper-durations", default="1,2,5,10", help="output seconds for the paper size")
    p.add_argument("--kinds", default="decode,train")
    p.add_argument("--max-train-seconds", type=float, default=None,
                   help="longest output for the training step (CPU: attention memory grows with T^2: "
                        "VALL-E nano needed 2.0 GiB at 30 s)")
    p.add_argument("--resume", action="store_true", help="keep the measurements already in --out, run the rest")
    p.add_argument("--threads", type=int, default=None, help="torch threads in the workers (CPU)")
    p.add_argument("--max-run-s", type=float, default=900, help="per measurement; longer durations are skipped")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "tts_decoding_cpu"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "tts_decoding.md"))
    p.add_argument("--doc-label", default=None)
    p.add_argument("--no-doc", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return 0
    sizes = args.sizes.split(",")
    env = environment(args)
    label = args.doc_label or (f"{env['device_name']} ({env['cpus']} cores, shared machine)" if args.device == "cpu"
                               else env["device_name"])
    os.makedirs(args.out, exist_ok=True)
    report = {"env": env, "label": label, "sizes": sizes, "rows": []}
    done = {}
    previous = os.path.join(args.out, "tts_decoding.json")
    if args.resume and os.path.exists(previous):
        with open(previous) as f:
            done = {_key(r): r for r in json.load(f)["rows"] if "error" not in r}
    for size in sizes:
        durations = [float(x) for x in (args.paper_durations if size == "paper" else args.durations).split(",")]
        for kind in args.kinds.split(","):
            for model in MODELS:
                for s in durations:
                    if kind == "train" and args.max_train_seconds and s > args.max_train_seconds:
                        continue
                    job = {"model": model, "size": size, "kind": kind, "seconds": s, "device": args.device,
                           "threads": args.threads}
                    row = done.get(_key(job)) or launch(job, args.max_run_s)
                    report["rows"].append(row)
                    print(json.dumps(row), flush=True)
                    with open(os.path.join(args.out, "tts_decoding.json"), "w") as f:
                        json.dump(report, f, indent=1)
                    if "error" in row:
                        break  # longer outputs would fail too
    table = markdown(report)
    png = os.path.join(args.out, "tts_decoding.png")
    plot(report, png)
    with open(os.path.join(args.out, "tts_decoding.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_doc:
        write_doc(args.doc, table, label, os.path.relpath(png, os.path.dirname(os.path.abspath(args.doc))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
