"""Selective-scan benchmark: time and peak memory of each implementation vs sequence length,
beside the machine's physical floors; writes the "## Selective scan (CPU)" section of
docs/benchmarks.md.

    PYTHONPATH=. python bench/scan.py                 # full run (several minutes on 2 cores)
    PYTHONPATH=. python bench/scan.py --lengths 1024,4096 --no-write

How memory is measured: tracemalloc does not see torch's allocations, so every configuration
runs in a fresh subprocess that builds its inputs, records its resident set size (VmRSS),
resets the kernel's peak-RSS counter (writing "5" to /proc/self/clear_refs), runs the scan once
and reads VmHWM; the peak extra memory is VmHWM - VmRSS(before). It includes the outputs (and
gradients for forward+backward), which are themselves linear in L.

Floors: a fused scan must move ~16.5 bytes per (b, d, l) element in fp32 (u, delta, z in, y
out, B/C amortised), so memory floor = elements * 16.5 B / bandwidth (default 50 GB/s, the
measured 2-thread DRAM bandwidth of the development machine; pass --bandwidth-gbs); the exp
floor = elements * N / (torch.exp throughput measured here), since each element needs N exps.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Selective scan (CPU)"
GPU_SECTION = "## Selective scan (GPU)"
DEFAULT_LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768, 65536]
# The reference loop is skipped beyond these lengths: it would take minutes (and, with autograd,
# many GB: every step keeps its own graph nodes).
REF_MAX_L = {"fwd": 16384, "fwd+bwd": 4096}
# `ref_full` (forward only): its autograd backward is O(L^2) (every per-step index of a
# full-length tensor creates a full-size zero gradient), ~3 minutes already at L=1024.
REF_FULL_MAX_L = {"fwd": 16384, "fwd+bwd": 0}


def scan_materialized(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True):
    """Baseline with the structure of mamba-ssm's ``selective_scan_ref`` (the yardstick of the
    project's performance notes): exp(delta*A) and delta*B*u are materialised for the whole
    sequence as [b, d, l, n] tensors, then a per-step loop indexes them."""
    delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        h = dA[:, :, i] * h + dBu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * torch.nn.functional.silu(z)


def _status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def make_inputs(b, d, n, L, requires_grad, device="cpu"):
    g = torch.Generator().manual_seed(0)
    t = dict(u=torch.randn(b, d, L, generator=g), delta=0.5 * torch.randn(b, d, L, generator=g),
             A=-torch.rand(d, n, generator=g) - 0.5, B=torch.randn(b, n, L, generator=g),
             C=torch.randn(b, n, L, generator=g), D=torch.randn(d, generator=g),
             z=torch.randn(b, d, L, generator=g), delta_bias=0.1 * torch.randn(d, generator=g))
    return {k: v.to(device).requires_grad_(requires_grad) for k, v in t.items()}


def worker(impl, L, mode, b, d, n, repeats, device):
    """Runs in a subprocess: prints one JSON line with min time and peak extra memory
    (RSS on CPU; torch.cuda.max_memory_allocated on GPU)."""
    from speechslytherin.nnet.mamba import selective_scan
    torch.set_flush_denormal(True)
    train = mode == "fwd+bwd"
    cuda = device == "cuda"
    if impl == "cpp":  # load (or build) the extension before anything is timed or measured
        from speechslytherin.nnet.mamba.scan_cpp import load_extension
        load_extension()
    inp = make_inputs(b, d, n, L, train, device)
    gout = torch.randn(b, d, L, device=device) if train else None
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def once():
        for v in inp.values():
            v.grad = None
        if train:
            out = (scan_materialized(**inp) if impl == "ref_full"
                   else selective_scan(**inp, delta_softplus=True, impl=impl))
            out.backward(gout)
        else:
            with torch.no_grad():
                if impl == "ref_full":
                    scan_materialized(**inp)
                else:
                    selective_scan(**inp, delta_softplus=True, impl=impl)

    if cuda:
        once()  # warm-up (kernel selection, allocator)
        sync()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
    t0 = time.perf_counter()
    once()
    sync()
    times = [time.perf_counter() - t0]
    peak = (torch.cuda.max_memory_allocated() - base) / 1024 if cuda else _status_kb("VmHWM") - base
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        once()
        sync()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"ms": 1e3 * min(times), "peak_mb": peak / 1024}))


def tasnet_table(impls, seconds, device, repeats):
    """Mamba-TasNet S (from_preset("S")) on one mixture of ``seconds`` s at 8 kHz with each scan impl:
    forward (eval, no grad) and forward+backward (train mode, loss = sum of the estimates)."""
    from speechslytherin.models.sep.mamba_tasnet import MambaTasNet
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    mix = torch.randn(1, int(8000 * seconds), device=device)
    lines = ["| Mamba-TasNet S, 1 x %g s @ 8 kHz | forward | forward+backward |" % seconds, "|---|---|---|"]
    for impl in impls:
        torch.manual_seed(0)
        model = MambaTasNet.from_preset("S", scan_impl=impl).to(device)

        def fwd():
            model.eval()
            with torch.no_grad():
                model(mix)

        def train():
            model.train()
            model.zero_grad(set_to_none=True)
            model(mix).sum().backward()

        cells = []
        for fn in (fwd, train):
            fn()  # warm-up
            sync()
            cells.append(min(_timed(fn, sync) for _ in range(repeats)))
        print(f"tasnet {impl}: fwd {cells[0] * 1e3:.0f} ms, fwd+bwd {cells[1] * 1e3:.0f} ms", flush=True)
        lines.append(f"| `{impl}` | {cells[0] * 1e3:.0f} ms | {cells[1] * 1e3:.0f} ms |")
    return "\n".join(lines) + "\n"


def run_config(impl, L, mode, args):
    cmd = [sys.executable, __file__, "--worker", impl, str(L), mode, "--batch", str(args.batch),
           "--d-inner", str(args.d_inner), "--d-state", str(args.d_state), "--repeats", str(args.repeats), "--device", args.device]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker {impl} L={L} {mode} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def exp_throughput(device="cpu", numel=1 << 22, repeats=20):
    """torch.exp elements per second on a reused buffer (the scan's compute floor)."""
    x = torch.randn(numel, device=device) * 0.1
    out = torch.empty_like(x)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        numel *= 16
        x = torch.randn(numel, device=device) * 0.1
        out = torch.empty_like(x)
    torch.exp(x, out=out)
    sync()
    best = min(_timed(lambda: torch.exp(x, out=out), sync) for _ in range(repeats))
    return numel / best


def _timed(fn, sync):
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def write_section(path, text, section=SECTION):
    """Replace (or append) the '## Selective scan (CPU)' section, keeping the other sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else "# Benchmarks\n\nEach section is written by the script it names.\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.strip() == section), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", nargs=3, metavar=("IMPL", "L", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)))
    p.add_argument("--impls", default="ref_full,ref,torch,cpp")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--d-inner", type=int, default=256)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bandwidth-gbs", type=float, default=50.0)
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--ref-max", default=None, help="override REF_MAX_L as FWD,FWDBWD")
    p.add_argument("--tasnet-seconds", type=float, default=0,
                   help="also time Mamba-TasNet S on a mixture this long with each non-ref impl")
    args = p.parse_args()
    if args.worker:
        impl, L, mode = args.worker
        return worker(impl, int(L), mode, args.batch, args.d_inner, args.d_state, args.repeats, args.device)
    if args.ref_max:
        REF_MAX_L["fwd"], REF_MAX_L["fwd+bwd"] = (int(x) for x in args.ref_max.split(","))
    cuda = args.device == "cuda"
    section = GPU_SECTION if cuda else SECTION

    torch.set_flush_denormal(True)
    lengths = [int(x) for x in args.lengths.split(",")]
    impls = args.impls.split(",")
    b, d, n = args.batch, args.d_inner, args.d_state
    load_before = loadavg()
    exp_rate = exp_throughput(args.device)
    if "cpp" in impls:  # build once here, so that the workers load it from the cache
        from speechslytherin.nnet.mamba.scan_cpp import build_seconds, load_extension
        if load_extension() is None:
            raise SystemExit("bench/scan.py: the cpp extension does not build here; drop it from --impls")
        print(f"cpp extension ready in {build_seconds():.1f} s (build or cache load)", flush=True)
    rows, results = [], {}
    for L in lengths:
        for mode in ("fwd", "fwd+bwd"):
            for impl in impls:
                if (impl == "ref" and L > REF_MAX_L[mode]) or (impl == "ref_full" and L > REF_FULL_MAX_L[mode]):
                    results[(impl, L, mode)] = None
                    continue
                r = run_config(impl, L, mode, args)
                results[(impl, L, mode)] = r
                print(f"{impl:6s} L={L:6d} {mode:8s} {r['ms']:10.1f} ms  peak +{r['peak_mb']:8.1f} MB", flush=True)
    load_after = loadavg()

    def cell(impl, L, mode):
        r = results.get((impl, L, mode))
        return "skipped" if r is None else f"{r['ms']:.0f} ms / {r['peak_mb']:.0f} MB"

    def speedup(base, L, mode, fast="torch"):
        r, t = results.get((base, L, mode)), results.get((fast, L, mode))
        return "" if not r or not t else f"{r['ms'] / t['ms']:.1f}x"

    bases = [i for i in ("ref_full", "ref") if i in impls] if "torch" in impls else []
    par_vs_torch = "parallel" in impls and "torch" in impls
    cpp_vs_torch = "cpp" in impls and "torch" in impls
    shown = {mode: [i for i in impls if not (i == "ref_full" and mode == "fwd+bwd")] for mode in ("fwd", "fwd+bwd")}
    head = ["L", "floor: memory", "floor: exp"]
    for mode in ("fwd", "fwd+bwd"):
        head += [f"{impl} {mode}" for impl in shown[mode]]
        head += [f"torch vs {bs} {mode}" for bs in bases if not (bs == "ref_full" and mode == "fwd+bwd")]
        head += [f"parallel vs torch {mode}"] if par_vs_torch else []
        head += [f"cpp vs torch {mode}"] if cpp_vs_torch else []
    for L in lengths:
        el = b * d * L
        row = [str(L), f"{el * 16.5 / (args.bandwidth_gbs * 1e9) * 1e3:.3g} ms", f"{el * n / exp_rate * 1e3:.3g} ms"]
        for mode in ("fwd", "fwd+bwd"):
            row += [cell(i, L, mode) for i in shown[mode]]
            row += [speedup(bs, L, mode) for bs in bases if not (bs == "ref_full" and mode == "fwd+bwd")]
            row += [speedup("torch", L, mode, fast="parallel")] if par_vs_torch else []
            row += [speedup("torch", L, mode, fast="cpp")] if cpp_vs_torch else []
        rows.append(row)
    table = "| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n" + \
        "".join("| " + " | ".join(r) + " |\n" for r in rows)
    where = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())
    mem_note = ("peak extra CUDA memory (torch.cuda.max_memory_allocated - allocated after building the "
                "inputs and one warm-up run)") if cuda else (
        "peak extra resident memory (VmHWM - VmRSS after building the inputs, peak counter reset through "
        "/proc/self/clear_refs; includes outputs and gradients)")
    text = (f"{section}\n\n"
            f"Written by `bench/scan.py --device {args.device}` ({time.strftime('%Y-%m-%d')}; {where}, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"load average {load_before} before / {load_after} after - other jobs shared the cores, so "
            f"times are upper bounds). b={b}, d_inner={d}, d_state={n}, fp32, with D, z, delta_bias and "
            f"softplus; minimum of {args.repeats} runs, each configuration in its own process. Cells: time / "
            f"{mem_note}. `ref` = the readable per-step loop "
            f"(`impl=\"ref\"`, autograd for the backward), skipped beyond L={REF_MAX_L['fwd']} (fwd) and "
            f"L={REF_MAX_L['fwd+bwd']} (fwd+bwd), where it would take minutes; `ref_full` = a baseline with "
            f"the structure of mamba-ssm's `selective_scan_ref` (materialises [b, d, l, n] tensors; the yardstick "
            f"of reference/performance.md), forward only up to L={REF_FULL_MAX_L['fwd']} (its autograd "
            f"backward is O(L^2)); `torch` = the chunked "
            f"loop with the hand-written backward; `parallel` = chunks of many steps solved by a parallel "
            f"odd/even scan (`impl=\"parallel\"`, the GPU default without mamba-ssm); `cpp` = the fused C++ loop "
            f"(`impl=\"cpp\"`, the CPU default when it builds: OpenMP over (b, d) lanes, AVX-512 for d_state=16, "
            f"chunk-boundary states saved for the backward). Floors: memory = b*d*L*16.5 B / {args.bandwidth_gbs:g} GB/s; "
            f"exp = b*d*L*N exps at the measured torch.exp throughput of {exp_rate / 1e9:.2f} G/s.\n\n"
            + table)
    model_impls = [i for i in impls if i not in ("ref", "ref_full")]
    if args.tasnet_seconds and model_impls:
        text += "\n" + tasnet_table(model_impls, args.tasnet_seconds, args.device, args.repeats)
    print("\n" + text)
    if not args.no_write:
        write_section(Path(args.out), text, section)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
