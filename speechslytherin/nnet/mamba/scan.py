"""One entry point, several selective-scan implementations.

- ``ref``:   readable sequential loop with autograd (tests, specification).
- ``torch``: chunked sequential loop with a hand-written backward (CPU; also works on CUDA).
- ``parallel``: long chunks solved by a parallel scan, hand-written backward (the GPU path
             when mamba-ssm is missing; see scan_parallel.py).
- ``cpp``:   fused C++ loop for CPU tensors, forward and backward (scan_cpp.py; compiled on first
             use, falls back to ``torch`` with one warning when it cannot be built).
- ``cuda``:  mamba-ssm's ``selective_scan_fn``, imported lazily and only for CUDA tensors
             (mamba_ssm fails to import on CPU-only machines, so it is never imported at module load).

Choice: an explicit ``impl`` argument (ref|torch|parallel|cpp|cuda); for ``impl="auto"`` (the default) or
None, the ``SPEECHSLYTHERIN_SCAN`` environment variable (same names); ``auto`` = on a GPU,
cuda when mamba_ssm imports, else parallel; on CPU, cpp when the extension builds, else torch.
"""

import functools
import os

import torch

from .scan_cpp import cpp_scan_available, selective_scan_cpp
from .scan_parallel import selective_scan_parallel
from .scan_ref import selective_scan_ref
from .scan_torch import selective_scan_torch

IMPLS = ("auto", "ref", "torch", "parallel", "cpp", "cuda")
ENV_VAR = "SPEECHSLYTHERIN_SCAN"


@functools.lru_cache(maxsize=1)
def _cuda_scan_fn():
    """mamba-ssm's selective_scan_fn, or None when mamba_ssm cannot be imported."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or a broken CUDA extension raising something else
        return None
    return selective_scan_fn


def cuda_scan_available():
    return torch.cuda.is_available() and _cuda_scan_fn() is not None


def resolve_impl(impl, device):
    """Turn ``impl`` (None/'auto'/name) into the concrete implementation name for ``device``."""
    if impl is None or impl.lower() == "auto":  # not chosen by the caller: the environment decides
        impl = os.environ.get(ENV_VAR, "auto") or "auto"
    impl = impl.lower()
    if impl not in IMPLS:
        raise ValueError(f"selective_scan: unknown impl {impl!r} (from argument or ${ENV_VAR}); "
                         f"choose one of {', '.join(IMPLS)}")
    if impl == "auto":
        if device.type == "cuda":
            return "cuda" if _cuda_scan_fn() is not None else "parallel"
        return "cpp" if device.type == "cpu" and cpp_scan_available() else "torch"
    if impl == "cuda":
        if device.type != "cuda":
            raise ValueError("selective_scan(impl='cuda') needs CUDA tensors; use impl='torch' on CPU")
        if _cuda_scan_fn() is None:
            raise ImportError("selective_scan(impl='cuda') needs mamba-ssm: "
                              "pip install --no-build-isolation causal-conv1d mamba-ssm")
    return impl


def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be [batch, channels, length], got {tuple(u.shape)}")
    b, d, L = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective_scan: delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"selective_scan: A must be [d={d}, n], got {tuple(A.shape)}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.dim() not in (3, 4) or t.shape[0] != b or t.shape[-1] != L or t.shape[-2] != n:
            raise ValueError(f"selective_scan: {name} must be [b={b}, n={n}, l={L}] or [b, g, n, l], "
                             f"got {tuple(t.shape)}")
    if D is not None and D.shape != (d,):
        raise ValueError(f"selective_scan: D must be [d={d}], got {tuple(D.shape)}")
    if delta_bias is not None and delta_bias.shape != (d,):
        raise ValueError(f"selective_scan: delta_bias must be [d={d}], got {tuple(delta_bias.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"selective_scan: z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")


def _flip(x):
    return None if x is None else x.flip(-1)


def _scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, reverse):
    fn = _cuda_scan_fn()
    if reverse:  # the kernel has no reverse mode: flip in, flip out
        u, delta, B, C, z = _flip(u), _flip(delta), _flip(B), _flip(C), _flip(z)
    res = fn(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus,
             return_last_state=return_last_state)
    if return_last_state:
        out, last = res
        return (_flip(out) if reverse else out), last
    return _flip(res) if reverse else res


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, reverse=False, impl="auto"):
    """Selective scan with mamba-ssm ``selective_scan_fn`` semantics.

    u, delta: [b, d, l]; A: [d, n] (real); B, C: [b, n, l] or grouped [b, g, n, l]; D: [d];
    z: [b, d, l] (out = y * silu(z)); delta_bias: [d]. Returns out [b, d, l] in u's dtype, and the
    final state [b, d, n] (fp32) when ``return_last_state``. ``reverse=True`` scans from the
    last step to the first (= flip, scan, flip) so bidirectional layers need no flips.
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    which = resolve_impl(impl, u.device)
    if which == "ref":
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                  return_last_state, reverse)
    if which == "parallel":
        return selective_scan_parallel(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                       return_last_state, reverse)
    if which == "cpp":
        return selective_scan_cpp(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                  return_last_state, reverse)
    if which == "torch":
        return selective_scan_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                    return_last_state, reverse)
    return _scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, reverse)
