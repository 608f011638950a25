"""SEMamba vs its Transformer counterpart (MP-SENet): parameters, MACs and CPU forward time
for 1-10 s inputs (the SEMamba paper's FLOPs comparison, Table 2, measured here).

    PYTHONPATH=. python bench/enh_efficiency.py                      # writes docs/enh_efficiency.md
    PYTHONPATH=. python bench/enh_efficiency.py --durations 1,2 --repeats 1 --threads 2

Method
- Models at their published sizes, batch 1, 16 kHz, eval mode, no gradients.
- MACs: torch.utils.flop_counter.FlopCounterMode over one forward pass (convs, linears, matmuls,
  FLOPs / 2), plus analytic counts for what it cannot see:
  * the selective scan (a custom op), counted per call as b*d*l*n * 4 multiply-adds (delta*A,
    (delta*u)*B, the state update, the C read-out; exp, D-skip and gate not counted), the
    convention of bench/sep_efficiency.py; the counter is switched off inside the scan so the
    torch scan's own matmuls are not counted twice. The paper's thop count sees no scan at all;
  * the GRU: 3*H*(I + H) multiply-adds per step, direction and layer, counted from the input
    shape in place of whatever the counter saw inside it (the same number on CPU);
  * the attention products (QK^T and AV: 2*B*L^2*E per MultiheadAttention call), which
    FlopCounterMode misses when CPU attention runs a fused kernel; added only for what the
    counter did not already count inside the module.
  Not counted: element-wise ops, norms, softmax, FFTs.
- MACs are counted on the network's forward over the compressed spectra (the official thop
  convention, generator(noisy_mag, noisy_pha)), on the meta device, so any length costs nothing.
- Time: median of ``--repeats`` waveform-to-waveform forward passes after one warm-up, with
  ``--threads`` torch threads; models alternate at each duration so they see similar load; a
  model's longer inputs are not timed once one pass exceeds ``--max-time-s``. The machine is shared: the load average at the start and end is printed beside the
  numbers; compare rows of one run only.
"""

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SAMPLE_RATE = 16000
SCAN_MACS_PER_ELEMENT = 4


def build(name):
    from speechslytherin.models.enh.mpsenet import MPSENet
    from speechslytherin.models.enh.semamba import SEMamba
    from speechslytherin.models.enh.semamba_basic import SEMambaBasic

    return {
        "SEMamba": lambda: SEMamba(),
        "SEMamba-causal": lambda: SEMamba(causal=True),
        "MP-SENet": lambda: MPSENet(),
        "SEMamba-basic": lambda: SEMambaBasic(),
    }[name]().eval()


MODELS = ("SEMamba", "MP-SENet", "SEMamba-causal", "SEMamba-basic")  # SEMamba = the official "advanced"


class MacCounter:
    """FlopCounterMode + analytic selective-scan and attention counts (see the module doc)."""

    def __init__(self, model):
        from torch.utils.flop_counter import FlopCounterMode

        self.mode = FlopCounterMode(display=False)
        self.scan_elements = 0
        self.attention_extra = 0
        self.gru_macs = 0
        self.gru_counted_inside = 0
        self._start = {}
        self._handles = []
        for module in model.modules():
            if isinstance(module, torch.nn.MultiheadAttention):
                self._handles.append(module.register_forward_pre_hook(self._pre))
                self._handles.append(module.register_forward_hook(self._post))
            elif isinstance(module, torch.nn.GRU):
                self._handles.append(module.register_forward_pre_hook(self._pre))
                self._handles.append(module.register_forward_hook(self._gru_post))

    def _pre(self, module, args):
        self._start[id(module)] = self.mode.get_total_flops()

    def _gru_post(self, module, args, output):
        """3 H (I + H) multiply-adds per step, direction and layer, in place of what the counter saw."""
        self.gru_counted_inside += (self.mode.get_total_flops() - self._start.pop(id(module))) / 2
        x = args[0]
        steps = x.numel() // x.shape[-1]
        dirs = 2 if module.bidirectional else 1
        for layer in range(module.num_layers):
            n_in = module.input_size if layer == 0 else dirs * module.hidden_size
            self.gru_macs += steps * dirs * 3 * module.hidden_size * (n_in + module.hidden_size)

    def _post(self, module, args, output):
        counted = (self.mode.get_total_flops() - self._start.pop(id(module))) / 2
        q = args[0]
        b, length, e = (q.shape if module.batch_first else (q.shape[1], q.shape[0], q.shape[2]))
        projections = 4 * b * length * e * e
        products = 2 * b * length * length * e
        self.attention_extra += max(0, projections + products - counted)

    def __enter__(self):
        import speechslytherin.nnet.mamba.mixer as mixer
        from torch.utils._python_dispatch import _disable_current_modes

        self._mixer, self._real = mixer, mixer.selective_scan
        real, counter = mixer.selective_scan, self

        def counting_scan(u, delta, A, *args, **kwargs):
            counter.scan_elements += u.shape[0] * u.shape[1] * u.shape[2] * A.shape[1]
            with _disable_current_modes():
                return real(u, delta, A, *args, **kwargs)

        mixer.selective_scan = counting_scan
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)
        self._mixer.selective_scan = self._real
        for h in self._handles:
            h.remove()
        return False

    def result(self):
        counted = self.mode.get_total_flops() / 2 - self.gru_counted_inside
        scan = self.scan_elements * SCAN_MACS_PER_ELEMENT
        return {"macs": counted + scan + self.attention_extra + self.gru_macs, "macs_counter": counted,
                "macs_scan": scan, "macs_attention_added": self.attention_extra, "macs_gru": self.gru_macs}


@contextlib.contextmanager
def _shape_only_kernels():
    """On the meta device, the scan and the GRU only need their output shapes (both are counted
    analytically; torch's meta GRU would run a slow per-step Python decomposition)."""
    import speechslytherin.nnet.mamba.mixer as mixer

    real_scan, real_gru = mixer.selective_scan, torch.nn.GRU.forward

    def gru_shape(self, x, hx=None):
        dirs = 2 if self.bidirectional else 1
        out = x.new_empty(*x.shape[:-1], dirs * self.hidden_size)
        batch = x.shape[0] if self.batch_first else x.shape[1]
        return out, x.new_empty(dirs * self.num_layers, batch, self.hidden_size)

    mixer.selective_scan = lambda u, *args, **kwargs: torch.empty_like(u)
    torch.nn.GRU.forward = gru_shape
    try:
        yield
    finally:
        mixer.selective_scan, torch.nn.GRU.forward = real_scan, real_gru


def count_macs(name, seconds):
    """MACs of the network on the compressed spectra of a ``seconds`` input (the official thop
    convention: generator(noisy_mag, noisy_pha); the STFTs are not counted anyway), on the meta
    device so long inputs cost nothing; the scan is counted analytically, never run."""
    model = build(name).to("meta")
    frames = int(seconds * SAMPLE_RATE) // model.hop_size + 1
    mag = torch.empty(1, model.n_fft // 2 + 1, frames, device="meta")
    with _shape_only_kernels(), torch.no_grad(), MacCounter(model) as counter:
        model.enhance(mag, mag)
    return counter.result()


class _Generator(torch.nn.Module):
    """The official generator signature, generator(noisy_mag, noisy_pha), for thop."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, mag, pha):
        return self.model.enhance(mag, pha)


def count_thop(name, seconds):
    """MACs as the SEMamba author counted them: thop.profile(generator, (mag, pha)) (thop sees
    nn.Conv*/Linear/GRU/norm modules only: no scan, no attention products or in-projections)."""
    import warnings

    from thop import profile

    model = build(name).to("meta")
    frames = int(seconds * SAMPLE_RATE) // model.hop_size + 1
    mag = torch.empty(1, model.n_fft // 2 + 1, frames, device="meta")
    with _shape_only_kernels(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = profile(_Generator(model), (mag, mag), verbose=False)
    return float(macs)


def forward_time(model, seconds, repeats):
    x = torch.randn(1, int(seconds * SAMPLE_RATE))
    with torch.no_grad():
        model(x[:, : SAMPLE_RATE // 4])  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def markdown(rows, durations, label):
    thop = any("macs_thop" in run for row in rows.values() for run in row["runs"].values())
    timed = any("time_s" in run for row in rows.values() for run in row["runs"].values())
    header = ["model", "params"] + [f"GMACs {d:g} s" for d in durations]
    if thop:
        header += [f"thop GMACs {d:g} s" for d in durations]
    if timed:
        header += [f"fwd {d:g} s (s)" for d in durations]
    lines = [f"Machine: {label}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        runs = [row["runs"][d] for d in durations]
        cells = [name, f"{row['params'] / 1e6:.3f} M"] + [f"{r['macs'] / 1e9:.1f}" for r in runs]
        if thop:
            cells += [f"{r['macs_thop'] / 1e9:.1f}" if "macs_thop" in r else "-" for r in runs]
        if timed:
            cells += [f"{r['time_s']:.2f}" if "time_s" in r else "-" for r in runs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--durations", default="1,2,4,6,8,10", help="input seconds, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS[:2]), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-time-s", type=float, default=120.0,
                        help="stop timing a model's longer inputs once one forward takes longer than this")
    parser.add_argument("--no-time", action="store_true", help="count parameters and MACs only")
    parser.add_argument("--thop", action="store_true", help="also count with thop, the SEMamba author's counter "
                        "(pip install thop)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "enh_efficiency_table.md"),
                        help="markdown table to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    durations = [float(d) for d in args.durations.split(",")]
    load_start = load_average()
    rows = {}
    names = args.models.split(",")
    models = {name: build(name) for name in names}
    timing = {name: not args.no_time for name in names}
    for name in names:
        rows[name] = {"params": sum(p.numel() for p in models[name].parameters()), "runs": {}}
    for seconds in durations:  # durations outside, models inside: timed rows see the same load
        for name in names:
            result = count_macs(name, seconds)
            if args.thop:
                result["macs_thop"] = count_thop(name, seconds)
            if timing[name]:
                result["time_s"] = forward_time(models[name], seconds, args.repeats)
                timing[name] = result["time_s"] <= args.max_time_s  # longer inputs would only take longer
            rows[name]["runs"][seconds] = result
            shown = f"fwd {result['time_s']:.2f} s" if "time_s" in result else "fwd not timed"
            print(f"{name:16s} {seconds:5.1f} s  {result['macs'] / 1e9:8.2f} GMACs "
                  f"(counter {result['macs_counter'] / 1e9:.2f}, scan {result['macs_scan'] / 1e9:.2f}, "
                  f"attention added {result['macs_attention_added'] / 1e9:.2f}"
                  + (f"; thop {result['macs_thop'] / 1e9:.2f}" if "macs_thop" in result else "") + f")  {shown}",
                  flush=True)
    label = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
             f"{args.threads} torch threads, torch {torch.__version__}, load average {load_start:.1f} at start / "
             f"{load_average():.1f} at end, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    table = markdown(rows, durations, label)
    print(table)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
