"""Selective scan: every CPU implementation against the sequential reference, values and gradients."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from speechslytherin.nnet.mamba import selective_scan
from speechslytherin.nnet.mamba.scan import resolve_impl
from speechslytherin.nnet.mamba.scan_ref import selective_scan_ref
from speechslytherin.nnet.mamba.scan_torch import selective_scan_torch

torch.set_flush_denormal(True)


def make_inputs(b=2, d=6, n=4, L=23, groups=None, seed=0, with_D=True, with_z=True, with_bias=True):
    g = torch.Generator().manual_seed(seed)
    bc_shape = (b, n, L) if groups is None else (b, groups, n, L)

    def r(*s):
        return torch.randn(*s, generator=g).requires_grad_()

    return dict(
        u=r(b, d, L), delta=(0.5 * torch.randn(b, d, L, generator=g)).requires_grad_(),
        A=(-torch.rand(d, n, generator=g) * 2 - 0.1).requires_grad_(),
        B=r(*bc_shape), C=r(*bc_shape),
        D=r(d) if with_D else None, z=r(b, d, L) if with_z else None,
        delta_bias=r(d) if with_bias else None,
    )


def run_and_grad(fn, inp, softplus, reverse, last, **kw):
    res = fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["z"], inp["delta_bias"],
             softplus, last, reverse, **kw)
    out, h = res if last else (res, None)
    g = torch.Generator().manual_seed(123)
    loss = (out * torch.randn(out.shape, generator=g)).sum()
    if h is not None:
        loss = loss + (h * torch.randn(h.shape, generator=g)).sum()
    names = [k for k, v in inp.items() if v is not None]
    grads = torch.autograd.grad(loss, [inp[k] for k in names])
    return out.detach(), (None if h is None else h.detach()), dict(zip(names, grads))


def assert_close(a, b, name, rtol=1e-4):
    scale = b.abs().max().item() + 1e-6
    err = (a - b).abs().max().item()
    assert err <= rtol * scale + 1e-6, f"{name}: max err {err:.3e} vs scale {scale:.3e}"


OPTIONS = list(itertools.product([True, False], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize("with_D,with_z,with_bias,softplus", OPTIONS)
@pytest.mark.parametrize("reverse", [False, True])
def test_torch_matches_ref_all_options(with_D, with_z, with_bias, softplus, reverse):
    inp = make_inputs(with_D=with_D, with_z=with_z, with_bias=with_bias, seed=7)
    ref = run_and_grad(selective_scan_ref, inp, softplus, reverse, True)
    fast = run_and_grad(selective_scan_torch, inp, softplus, reverse, True, chunk_size=5)
    assert_close(fast[0], ref[0], "out")
    assert_close(fast[1], ref[1], "last_state")
    assert ref[2].keys() == fast[2].keys()
    for k in ref[2]:
        assert_close(fast[2][k], ref[2][k], f"grad {k}")


@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_grouped_BC(groups, reverse):
    inp = make_inputs(groups=groups, d=6, seed=groups)
    ref = run_and_grad(selective_scan_ref, inp, True, reverse, True)
    fast = run_and_grad(selective_scan_torch, inp, True, reverse, True, chunk_size=4)
    assert_close(fast[0], ref[0], "out")
    for k in ref[2]:
        assert_close(fast[2][k], ref[2][k], f"grad {k}")


def test_grouped_equals_expanded():
    """B/C with g groups == ungrouped scans of each channel group separately."""
    inp = make_inputs(groups=2, d=6, seed=3, with_z=False)
    with torch.no_grad():
        out = selective_scan_torch(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"],
                                   delta_softplus=True)
        for g in range(2):
            sl = slice(3 * g, 3 * g + 3)
            part = selective_scan_ref(inp["u"][:, sl], inp["delta"][:, sl], inp["A"][sl], inp["B"][:, g],
                                      inp["C"][:, g], inp["D"][sl], delta_softplus=True)
            assert_close(out[:, sl], part, f"group {g}")


@pytest.mark.parametrize("chunk", [1, 3, 8, 64, None])
@pytest.mark.parametrize("L", [1, 17])
def test_chunk_sizes_and_lengths(chunk, L):
    inp = make_inputs(L=L, seed=L)
    ref = run_and_grad(selective_scan_ref, inp, True, False, True)
    fast = run_and_grad(selective_scan_torch, inp, True, False, True, chunk_size=chunk)
    assert_close(fast[0], ref[0], "out")
    for k in ref[2]:
        assert_close(fast[2][k], ref[2][k], f"grad {k}")


def test_reverse_equals_flip_scan_flip():
    inp = make_inputs(seed=11)
    with torch.no_grad():
        args = [inp[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
        flipped = [x.flip(-1) if k in "u delta B C z".split() else x
                   for k, x in zip(("u", "delta", "A", "B", "C", "D", "z", "delta_bias"), args)]
        expect = selective_scan_ref(*flipped, delta_softplus=True).flip(-1)
        for impl in ("ref", "torch"):
            got = selective_scan(*args, delta_softplus=True, reverse=True, impl=impl)
            assert_close(got, expect, f"reverse {impl}")


def test_reference_single_step_closed_form():
    """L=1 from zero state: out = (dt*u*sum_n B*C + D*u) * silu(z)."""
    inp = make_inputs(L=1, seed=5)
    with torch.no_grad():
        dt = F.softplus(inp["delta"] + inp["delta_bias"][:, None])
        y = dt * inp["u"] * (inp["B"] * inp["C"]).sum(1, keepdim=True) + inp["D"][:, None] * inp["u"]
        expect = y * F.silu(inp["z"])
        got = selective_scan(*(inp[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")),
                             delta_softplus=True, impl="ref")
    assert_close(got, expect, "closed form", rtol=1e-6)


def test_initial_state_continues_a_scan():
    inp = make_inputs(L=20, seed=9, with_z=False)
    with torch.no_grad():
        args = lambda s, e: (inp["u"][..., s:e], inp["delta"][..., s:e], inp["A"], inp["B"][..., s:e],
                             inp["C"][..., s:e], inp["D"])
        full, h_full = selective_scan_ref(*args(0, 20), delta_softplus=True, return_last_state=True)
        for fn in (selective_scan_ref, selective_scan_torch):
            a, h = fn(*args(0, 8), delta_softplus=True, return_last_state=True)
            b_, h2 = fn(*args(8, 20), delta_softplus=True, return_last_state=True, initial_state=h)
            assert_close(torch.cat([a, b_], -1), full, fn.__name__)
            assert_close(h2, h_full, fn.__name__ + " state")


def test_initial_state_gradient():
    inp = make_inputs(L=9, seed=2)
    h0 = torch.randn(2, 6, 4, requires_grad=True)
    outs = []
    for fn, kw in ((selective_scan_ref, {}), (selective_scan_torch, {"chunk_size": 4})):
        o = fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["z"], inp["delta_bias"],
               True, False, False, initial_state=h0, **kw)
        outs.append(torch.autograd.grad(o.square().sum(), h0)[0])
    assert_close(outs[1], outs[0], "grad initial_state")


def test_low_precision_inputs_keep_dtype():
    inp = make_inputs(seed=4)
    with torch.no_grad():
        args = [None if inp[k] is None else inp[k].bfloat16() for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
        out = selective_scan(*args, delta_softplus=True, impl="torch")
        ref = selective_scan(*args, delta_softplus=True, impl="ref")
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), ref.float(), "bf16", rtol=2e-2)


def test_dispatch(monkeypatch):
    from speechslytherin.nnet.mamba.scan_cpp import cpp_scan_available

    cpu = torch.device("cpu")
    cpu_default = "cpp" if cpp_scan_available() else "torch"  # the fused kernel when it builds
    monkeypatch.delenv("SPEECHSLYTHERIN_SCAN", raising=False)
    assert resolve_impl(None, cpu) == cpu_default
    assert resolve_impl("auto", cpu) == cpu_default
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "ref")
    assert resolve_impl(None, cpu) == "ref"
    assert resolve_impl("auto", cpu) == "ref"  # the default defers to the environment
    assert resolve_impl("torch", cpu) == "torch"  # an explicit choice wins over the environment
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "auto")
    assert resolve_impl(None, cpu) == cpu_default
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "bogus")
    with pytest.raises(ValueError, match="SPEECHSLYTHERIN_SCAN"):
        resolve_impl(None, cpu)
    with pytest.raises(ValueError, match="CUDA tensors"):
        resolve_impl("cuda", cpu)


def test_auto_env_ref_is_used(monkeypatch):
    """The default impl='auto' on the public function defers to the environment variable."""
    inp = make_inputs(seed=1)
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "ref")
    calls = []
    import speechslytherin.nnet.mamba.scan as scan_mod
    real = scan_mod.selective_scan_ref
    monkeypatch.setattr(scan_mod, "selective_scan_ref", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        selective_scan(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"])
        selective_scan(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], impl="torch")
    assert calls == [1]


def test_shape_errors_are_clear():
    inp = make_inputs(seed=0)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(inp["u"], inp["delta"], inp["A"][:3], inp["B"], inp["C"])
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(inp["u"], inp["delta"], inp["A"], inp["B"][..., :5], inp["C"])
    with pytest.raises(ValueError, match="delta shape"):
        selective_scan(inp["u"], inp["delta"][..., :5], inp["A"], inp["B"], inp["C"])


def test_large_steps_stay_finite():
    """Per-step |dt*A| ~ 100+ (trained models reach this): multiplicative scan stays finite."""
    inp = make_inputs(L=64, seed=8, with_z=False)
    with torch.no_grad():
        delta = inp["delta"] * 8 + 10
        out = selective_scan(inp["u"], delta, inp["A"] * 10, inp["B"], inp["C"], inp["D"], impl="torch")
        ref = selective_scan(inp["u"], delta, inp["A"] * 10, inp["B"], inp["C"], inp["D"], impl="ref")
    assert torch.isfinite(out).all()
    assert_close(out, ref, "large steps")


def test_default_chunking_on_a_longer_sequence():
    """Realistic state size (n=16), several default-sized chunks, all gradients."""
    inp = make_inputs(b=2, d=32, n=16, L=600, seed=12)
    ref = run_and_grad(selective_scan_ref, inp, True, False, True)
    fast = run_and_grad(selective_scan_torch, inp, True, False, True)
    assert_close(fast[0], ref[0], "out")
    for k in ref[2]:
        assert_close(fast[2][k], ref[2][k], f"grad {k}", rtol=3e-4)
