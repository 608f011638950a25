"""Streaming separation benchmark: compute time per chunk of causal SepMamba, streamed chunk by
chunk (models/sep/sepmamba_stream.py), for a few chunk sizes; writes docs/streaming.md.

    PYTHONPATH=. python bench/streaming.py                           # causal-S, 10/20/40/100 ms chunks
    PYTHONPATH=. python bench/streaming.py --models causal-S,causal-M --seconds 4 --no-write
    PYTHONPATH=. python bench/streaming.py --device cuda --out docs/streaming_gpu.md

Each row streams `--seconds` of noise (speed does not depend on the weights, which are the
random init) after one warm-up stream, and times every push() and the final flush(). Latency:
a chunk of C ms can only start once its last sample has arrived, so a sample leaves at the
earliest C + (compute time of its chunk) + the model's algorithmic latency (105 samples =
13.1 ms at 8 kHz) after it entered. RTF = total compute time / audio duration (< 1: keeps up
with real time). The offline row is one forward pass over the whole signal, for comparison.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speechslytherin.models.sep.sepmamba import SepMamba  # noqa: E402

SAMPLE_RATE = 8000


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def stream_times(model, x, chunk, device):
    """Seconds of compute per push (and the flush, last) for one stream of x [T]."""
    streamer = model.streamer()
    times = []
    for start in range(0, x.shape[0], chunk):
        piece = x[start:start + chunk]
        sync(device)
        t0 = time.perf_counter()
        streamer.push(piece)
        sync(device)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    streamer.flush()
    sync(device)
    times.append(time.perf_counter() - t0)
    return np.asarray(times), streamer.latency


def offline_time(model, x, device, repeats=2):
    best = None
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x.unsqueeze(0))
        sync(device)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def environment(device, threads):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return (f"torch {torch.__version__}, {gpu or cpu}, {threads} thread(s), {os.cpu_count()} cores, "
            f"load average {loadavg():.1f} at start")


def run(args):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    rows = []
    for preset in args.models.split(","):
        torch.manual_seed(0)
        model = SepMamba.from_preset(preset).to(args.device).eval()
        n_params = sum(p.numel() for p in model.parameters())
        x = torch.randn(int(args.seconds * SAMPLE_RATE), device=args.device) * 0.1
        audio_s = x.shape[0] / SAMPLE_RATE
        for chunk_ms in [float(c) for c in args.chunks.split(",")]:
            chunk = max(1, int(round(chunk_ms * SAMPLE_RATE / 1000)))
            stream_times(model, x[: min(x.shape[0], 20 * chunk)], chunk, args.device)  # warm-up
            times, latency = stream_times(model, x, chunk, args.device)
            ms = times * 1000
            rows.append({
                "model": f"{preset} ({n_params / 1e6:.2f} M)", "chunk_ms": chunk_ms, "chunks": len(times),
                "mean_ms": ms.mean(), "p95_ms": np.percentile(ms, 95), "rtf": times.sum() / audio_s,
                "latency_ms": chunk_ms + np.percentile(ms, 95) + 1000 * latency / SAMPLE_RATE,
                "algo_ms": 1000 * latency / SAMPLE_RATE,
            })
            print(rows[-1], flush=True)
        off = offline_time(model, x, args.device)
        rows.append({"model": f"{preset} ({n_params / 1e6:.2f} M)", "chunk_ms": None, "chunks": 1,
                     "mean_ms": off * 1000, "p95_ms": None, "rtf": off / audio_s, "latency_ms": None,
                     "algo_ms": None})
        print(rows[-1], flush=True)
    return rows


SECTION = "## Streaming separation (causal SepMamba)"


def write_section(path, text, section=SECTION):
    """Replace (or append) this script's section of the markdown file, keeping the others."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == section), None)
    if start is None:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(path)


def table(rows, args):
    def num(v, fmt):
        return "–" if v is None else format(v, fmt)

    lines = [
        SECTION,
        "",
        f"`PYTHONPATH=. python bench/streaming.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
        f"({environment(args.device, args.threads)}; {args.seconds:g} s of 8 kHz audio per row; random weights.)",
        "",
        "Chunk by chunk with constant memory; the concatenated outputs equal the offline pass of the "
        "causal model (test/test_sepmamba_stream.py). *Latency* = chunk length + p95 compute per chunk + "
        "algorithmic latency (the U-Net's convolutions look 105 samples = 13.1 ms ahead). "
        "RTF = compute time / audio time; below 1 keeps up with real time.",
        "",
        "| model | chunk (ms) | chunks | mean ms / chunk | p95 ms / chunk | RTF | latency (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        chunk = "offline (one pass)" if r["chunk_ms"] is None else f"{r['chunk_ms']:g}"
        lines.append(f"| {r['model']} | {chunk} | {r['chunks']} | {num(r['mean_ms'], '.2f')} | "
                     f"{num(r['p95_ms'], '.2f')} | {num(r['rtf'], '.3f')} | {num(r['latency_ms'], '.1f')} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="causal-S", help="comma-separated SepMamba presets (causal ones)")
    p.add_argument("--chunks", default="10,20,40,100", help="chunk lengths in ms, comma-separated")
    p.add_argument("--seconds", type=float, default=4.0, help="audio per row")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(ROOT / "docs" / "streaming.md"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    rows = run(args)
    text = table(rows, args)
    print(text)
    if not args.no_write:
        write_section(args.out, text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
