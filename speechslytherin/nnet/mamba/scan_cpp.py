"""Fused C++ selective scan for CPU tensors (forward and backward), built on first use.

Why: the ``torch`` impl spends most of its time dispatching one small op per time step; a
fused loop keeps each lane's state in registers and is bound by its N exps per element instead.
The kernel (csrc/selective_scan_cpu.cpp) is compiled with torch's JIT extension builder the
first time it is needed (never at import), into the default torch extensions directory or
``$SPEECHSLYTHERIN_EXT_DIR``; torch's file lock makes concurrent first uses safe (a lock left
behind by a process killed while building is cleared after ``STALE_LOCK_SECONDS``, where torch
would wait on it forever). The build
name carries a hash of the source, the flags and this CPU's feature flags, so a cache shared
between machines never loads a binary built for other instructions (-march=native). If the
build fails (no compiler, no ninja) the scan falls back to the ``torch`` impl with one warning.

Training keeps only the state entering each chunk (``chunk_size`` steps, default 64); the
backward pass recomputes a chunk's states from it, so memory is O(b*d*n*l/chunk).
"""

import functools
import hashlib
import logging
import os
import platform
import threading
import time
import warnings
from pathlib import Path

import torch

from .scan_torch import _groups, selective_scan_torch

EXT_DIR_ENV = "SPEECHSLYTHERIN_EXT_DIR"
DEFAULT_CHUNK = 64
_SOURCE = Path(__file__).resolve().parent / "csrc" / "selective_scan_cpu.cpp"
_CFLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast",
           "-std=c++17"]
_LDFLAGS = ["-fopenmp"]
STALE_LOCK_SECONDS = 600.0  # a build takes about a minute; an older lock outlived a killed build
_lock = threading.Lock()
_state = {"module": None, "error": None, "warned": False, "build_seconds": None}


def _cpu_signature():
    """The CPU's model name and feature flags (what -march=native compiles for)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    keep = [line for line in text.splitlines() if line.startswith(("flags", "model name"))][:2]
    return "\n".join(keep)


def _build_name():
    h = hashlib.sha1()
    h.update(_SOURCE.read_bytes())
    h.update(" ".join(_CFLAGS).encode())
    h.update(_cpu_signature().encode())
    h.update(torch.__version__.encode())
    return f"speechslytherin_scan_cpu_{h.hexdigest()[:12]}"


def _import_cpp_extension():
    """torch.utils.cpp_extension, without its "No CUDA runtime is found" log line on CPU machines
    (it concerns CUDA extensions, not this one)."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        log.setLevel(level)
    return cpp_extension


def wait_for_other_build(build_dir, stale_seconds=STALE_LOCK_SECONDS, poll_seconds=1.0):
    """Wait while another process builds into build_dir; clear its lock once it is stale.

    torch's builder waits for as long as the lock file exists, and a process killed while
    building (a timeout, a Ctrl-C) never removes it, so every later run would hang silently."""
    lock = os.path.join(build_dir, "lock")
    while True:
        try:
            age = time.time() - os.path.getmtime(lock)
        except OSError:
            return  # no lock: nobody is building
        if age > stale_seconds:
            warnings.warn(f"removing {lock}: a build of the C++ scan started {age / 60:.0f} min ago and never "
                          f"finished (its process was killed); building again.", RuntimeWarning, stacklevel=2)
            try:
                os.remove(lock)
            except OSError:
                pass
            return
        time.sleep(poll_seconds)


def _compile():
    cpp_extension = _import_cpp_extension()

    name = _build_name()
    build_dir = os.environ.get(EXT_DIR_ENV)
    if build_dir:
        build_dir = os.path.join(build_dir, name)
        os.makedirs(build_dir, exist_ok=True)
    try:
        wait_for_other_build(build_dir or cpp_extension._get_build_directory(name, False))
    except AttributeError:  # a torch without that private helper: torch's own waiting only
        pass
    t0 = time.perf_counter()
    module = cpp_extension.load(name=name, sources=[str(_SOURCE)], extra_cflags=_CFLAGS,
                                extra_ldflags=_LDFLAGS, build_directory=build_dir, verbose=False)
    _state["build_seconds"] = time.perf_counter() - t0
    return module


def load_extension():
    """The compiled module, building it on first call; None (after one warning) if it cannot be built."""
    if _state["module"] is not None or _state["error"] is not None:
        return _state["module"]
    with _lock:
        if _state["module"] is None and _state["error"] is None:
            try:
                _state["module"] = _compile()
            except Exception as exc:  # no compiler / ninja / headers: fall back, never crash training
                _state["error"] = exc
    return _state["module"]


def cpp_scan_available():
    """True when the fused CPU kernel is (or can be) built on this machine."""
    return load_extension() is not None


def build_error():
    """Why the extension could not be built (None when it built or was not tried)."""
    return _state["error"]


def build_seconds():
    """Seconds the first load took (compile, or load from the cache); None before it."""
    return _state["build_seconds"]


def _warn_fallback():
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"selective_scan(impl='cpp'): the C++ extension could not be built "
                      f"({type(_state['error']).__name__}: {str(_state['error'])[:300]}); using impl='torch'. "
                      "Install a C++ compiler and `pip install ninja` to get the fused CPU scan.",
                      RuntimeWarning, stacklevel=3)


def _time_major_BC(B, C):
    """B, C [b, n, l] or [b, g, n, l] -> contiguous fp32 [b, G, l, n] each (an ungrouped one is
    repeated when the other has G groups)."""
    gB, gC = _groups(B, "B"), _groups(C, "C")
    G = max(gB, gC)
    if gB not in (1, G) or gC not in (1, G):
        raise ValueError(f"selective_scan: B and C group counts differ ({gB} vs {gC}); "
                         "use equal counts or one of them ungrouped")

    def tm(x):
        x = x.float()
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return x.transpose(-1, -2).expand(x.shape[0], G, x.shape[-1], x.shape[-2]).contiguous()

    return tm(B), tm(C)


def _bc_grad(gt, shape):
    """Per-thread [threads, b, G, l, n] gradient -> ``shape`` ([b, n, l] or [b, g, n, l])."""
    g = gt.sum(0)
    if len(shape) == 3:
        return g.sum(1).transpose(-1, -2)
    if shape[1] != g.shape[1]:
        g = g.sum(1, keepdim=True)
    return g.transpose(-1, -2)


def _f32(x):
    """fp32, any strides (the kernel reads u, delta, z and the output gradient through strides)."""
    return x.float()


def _c32(x):
    return x.float().contiguous()


def _opt(x, like, contiguous=True):
    if x is None:
        return like.new_empty(0)
    return _c32(x) if contiguous else _f32(x)


class _CppScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, initial_state, softplus, reverse, chunk):
        ext = load_extension()
        uf = _f32(u)
        args = (uf, _f32(delta), _c32(A), *_time_major_BC(B, C), _opt(D, uf), _opt(z, uf, False),
                _opt(delta_bias, uf))
        out, last, bounds = ext.scan_fwd(*args, _opt(initial_state, uf), softplus, reverse, chunk, True)
        ctx.save_for_backward(*args, bounds)
        ctx.cfg = (softplus, reverse, chunk, tuple(B.shape), tuple(C.shape), initial_state is not None)
        ctx.dtypes = [None if x is None else x.dtype for x in (u, delta, A, B, C, D, z, delta_bias, initial_state)]
        return out.to(u.dtype), last

    @staticmethod
    def backward(ctx, gout, glast):
        ext = load_extension()
        uf, delta, A, Bt, Ct, D, z, bias, bounds = ctx.saved_tensors
        softplus, reverse, chunk, B_like, C_like, has_init = ctx.cfg
        gout = uf.new_zeros(uf.shape) if gout is None else _f32(gout)
        glast = uf.new_empty(0) if glast is None else _c32(glast)
        gu, gdelta, gz, gA, gD, gbias, gBt, gCt, ginit = ext.scan_bwd(
            uf, delta, A, Bt, Ct, D, z, bias, bounds, gout, glast, softplus, reverse, chunk, has_init)
        grads = [gu, gdelta, gA.sum(0), _bc_grad(gBt, B_like), _bc_grad(gCt, C_like),
                 gD.sum(0) if D.numel() else None, gz if z.numel() else None,
                 gbias.sum(0) if bias.numel() else None, ginit if has_init else None]
        grads = [None if g is None else g.to(dt) for g, dt in zip(grads, ctx.dtypes)]
        return (*grads, None, None, None)


def selective_scan_cpp(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False, reverse=False, initial_state=None, chunk_size=None):
    """Fused C++ selective scan on CPU tensors; same arguments as ``selective_scan_torch``.
    Falls back to ``selective_scan_torch`` (one warning) when the extension cannot be built."""
    if A.is_complex():
        raise NotImplementedError("selective_scan(impl='cpp'): complex A is not supported; use a real A")
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state)
    if any(t is not None and t.device.type != "cpu" for t in tensors):
        raise ValueError("selective_scan(impl='cpp') needs CPU tensors; use impl='torch' or 'cuda' on a GPU")
    if load_extension() is None:
        _warn_fallback()
        return selective_scan_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                                    reverse, initial_state, chunk_size)
    chunk = int(chunk_size or DEFAULT_CHUNK)
    if chunk < 1:
        raise ValueError(f"selective_scan(impl='cpp'): chunk_size must be >= 1, got {chunk_size}")
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if needs_grad:
        out, last = _CppScanFn.apply(u, delta, A, B, C, D, z, delta_bias, initial_state, bool(delta_softplus),
                                     bool(reverse), chunk)
    else:
        ext = load_extension()
        uf = _f32(u)
        out, last, _ = ext.scan_fwd(uf, _f32(delta), _c32(A), *_time_major_BC(B, C),
                                    _opt(D, uf), _opt(z, uf, False), _opt(delta_bias, uf), _opt(initial_state, uf),
                                    bool(delta_softplus), bool(reverse), chunk, False)
        out = out.to(u.dtype)
    return (out, last) if return_last_state else out
