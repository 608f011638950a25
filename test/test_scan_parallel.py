"""The parallel selective scan (impl='parallel') against the sequential reference, on CPU."""

import itertools

import pytest
import torch

from speechslytherin.nnet.mamba import selective_scan
from speechslytherin.nnet.mamba.scan import resolve_impl
from speechslytherin.nnet.mamba.scan_parallel import linear_scan_, selective_scan_parallel
from speechslytherin.nnet.mamba.scan_ref import selective_scan_ref
from test_scan import assert_close, make_inputs, run_and_grad

torch.set_flush_denormal(True)


def sequential_linear_scan(a, x, reverse):
    h, out = torch.zeros_like(x[0]), torch.empty_like(x)
    for t in (range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])):
        h = a[t] * h + x[t]
        out[t] = h
    return out


@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_every_length(reverse):
    """Odd, even and power-of-two lengths all hit different branches of the odd/even recursion."""
    g = torch.Generator().manual_seed(0)
    for T in list(range(1, 34)) + [64, 100, 129]:
        a = torch.rand(T, 2, 3, generator=g, dtype=torch.float64)
        x = torch.randn(T, 2, 3, generator=g, dtype=torch.float64)
        got = linear_scan_(a.clone(), x.clone(), reverse)
        assert torch.allclose(got, sequential_linear_scan(a, x, reverse), rtol=1e-12, atol=1e-12), (T, reverse)


def compare(inp, softplus=True, reverse=False, rtol=1e-4, **kw):
    ref = run_and_grad(selective_scan_ref, inp, softplus, reverse, True)
    par = run_and_grad(selective_scan_parallel, inp, softplus, reverse, True, **kw)
    assert_close(par[0], ref[0], "out", rtol)
    assert_close(par[1], ref[1], "last_state", rtol)
    assert par[2].keys() == ref[2].keys()
    for k in ref[2]:
        assert_close(par[2][k], ref[2][k], f"grad {k}", rtol)


@pytest.mark.parametrize("with_D,with_z,with_bias,softplus", list(itertools.product([True, False], repeat=4)))
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_ref_all_options(with_D, with_z, with_bias, softplus, reverse):
    inp = make_inputs(with_D=with_D, with_z=with_z, with_bias=with_bias, seed=7)
    compare(inp, softplus, reverse, chunk_size=5)


@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_grouped_BC(groups, reverse):
    compare(make_inputs(groups=groups, d=6, seed=groups), reverse=reverse, chunk_size=4)


@pytest.mark.parametrize("chunk", [1, 2, 7, 23, 64, None])
@pytest.mark.parametrize("L", [1, 2, 17])
@pytest.mark.parametrize("reverse", [False, True])
def test_chunk_sizes_and_lengths(chunk, L, reverse):
    compare(make_inputs(L=L, seed=L), reverse=reverse, chunk_size=chunk)


@pytest.mark.parametrize("seed", range(4))
def test_random_shapes(seed):
    g = torch.Generator().manual_seed(100 + seed)
    b, n, L = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1, 4), (1, 9), (1, 80)))
    groups = [None, 1, 2][seed % 3]
    d = 2 * int(torch.randint(1, 5, (1,), generator=g))
    chunk = [None, 3, 16, 31][seed]
    compare(make_inputs(b=b, d=d, n=n, L=L, groups=groups, seed=seed), reverse=bool(seed % 2), chunk_size=chunk)


def test_longer_sequence_default_chunk():
    """Realistic state size and a default chunk that covers the whole sequence (one long scan)."""
    compare(make_inputs(b=2, d=32, n=16, L=600, seed=12), rtol=3e-4)


@pytest.mark.parametrize("reverse", [False, True])
def test_initial_state_value_and_gradient(reverse):
    inp = make_inputs(L=11, seed=2)
    h0 = torch.randn(2, 6, 4, requires_grad=True)
    res = []
    for fn, kw in ((selective_scan_ref, {}), (selective_scan_parallel, {"chunk_size": 4})):
        out, last = fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["z"], inp["delta_bias"],
                       True, True, reverse, initial_state=h0, **kw)
        grad = torch.autograd.grad(out.square().sum() + last.sum(), h0)[0]
        res.append((out.detach(), last.detach(), grad))
    for got, want, name in zip(res[1], res[0], ("out", "last", "grad initial_state")):
        assert_close(got, want, name)


@pytest.mark.parametrize("reverse", [False, True])
def test_large_steps_stay_finite(reverse):
    """|dt*A| up to ~1000 per step: decays multiply (underflow to 0), nothing overflows."""
    inp = make_inputs(L=64, seed=8, with_z=False)
    delta = (inp["delta"].detach() * 8 + 10).abs().requires_grad_()
    A = (inp["A"].detach() * 50).requires_grad_()
    args = dict(u=inp["u"], delta=delta, A=A, B=inp["B"], C=inp["C"], D=inp["D"], reverse=reverse)
    out = selective_scan(**args, impl="parallel")
    ref = selective_scan(**args, impl="ref")
    assert torch.isfinite(out).all()
    assert_close(out.detach(), ref.detach(), "large steps")
    grads = torch.autograd.grad(out.sum(), [inp["u"], delta, A, inp["B"], inp["C"]])
    ref_grads = torch.autograd.grad(ref.sum(), [inp["u"], delta, A, inp["B"], inp["C"]])
    for name, g1, g2 in zip("u delta A B C".split(), grads, ref_grads):
        assert torch.isfinite(g1).all(), name
        assert_close(g1, g2, f"grad {name}")


def test_low_precision_inputs_keep_dtype():
    inp = make_inputs(seed=4)
    with torch.no_grad():
        args = [None if inp[k] is None else inp[k].bfloat16()
                for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
        out = selective_scan(*args, delta_softplus=True, impl="parallel")
        ref = selective_scan(*args, delta_softplus=True, impl="ref")
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), ref.float(), "bf16", rtol=2e-2)


def test_dispatch_names_parallel(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("SPEECHSLYTHERIN_SCAN", raising=False)
    assert resolve_impl("parallel", cpu) == "parallel"
    assert resolve_impl(None, cpu) != "parallel"  # CPU default unchanged by this impl
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "parallel")
    assert resolve_impl(None, cpu) == "parallel"
    import speechslytherin.nnet.mamba.scan as scan_mod
    monkeypatch.setattr(scan_mod, "_cuda_scan_fn", lambda: None)
    monkeypatch.setenv("SPEECHSLYTHERIN_SCAN", "auto")
    assert resolve_impl(None, torch.device("cuda")) == "parallel"  # GPU without mamba-ssm


def test_no_grad_path_matches_grad_path():
    inp = make_inputs(seed=6)
    args = [inp[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    with_grad, h1 = selective_scan_parallel(*args, delta_softplus=True, return_last_state=True, chunk_size=6)
    with torch.no_grad():
        without, h2 = selective_scan_parallel(*args, delta_softplus=True, return_last_state=True, chunk_size=6)
    assert torch.equal(with_grad.detach(), without) and torch.equal(h1.detach(), h2)
