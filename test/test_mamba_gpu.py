"""GPU checks: mamba-ssm's CUDA kernel vs our PyTorch scan, and our PyTorch scan on CUDA vs CPU.
Run with ``pytest -m gpu test/test_mamba_gpu.py``; skipped without CUDA (and, for the kernel
comparisons, without an importable mamba_ssm)."""

import pytest
import torch

from speechslytherin.nnet.mamba import Mamba, MambaStack, selective_scan
from speechslytherin.nnet.mamba.scan import cuda_scan_available

pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
needs_kernel = pytest.mark.skipif(not cuda_scan_available(), reason="mamba_ssm CUDA kernel not importable")


def inputs(device, b=2, d=32, n=8, L=300, groups=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    bc = (b, n, L) if groups is None else (b, groups, n, L)
    t = dict(u=torch.randn(b, d, L, generator=g), delta=0.5 * torch.randn(b, d, L, generator=g),
             A=-torch.rand(d, n, generator=g) - 0.2, B=torch.randn(*bc, generator=g), C=torch.randn(*bc, generator=g),
             D=torch.randn(d, generator=g), z=torch.randn(b, d, L, generator=g),
             delta_bias=0.1 * torch.randn(d, generator=g))
    return {k: v.to(device).requires_grad_() for k, v in t.items()}


def run(inp, impl, reverse=False):
    out, last = selective_scan(**inp, delta_softplus=True, return_last_state=True, reverse=reverse, impl=impl)
    g = torch.Generator().manual_seed(1)  # same loss weights on every device
    loss = (out * torch.randn(out.shape, generator=g).to(out.device)).sum()
    grads = torch.autograd.grad(loss, list(inp.values()))
    return out.detach(), last.detach(), dict(zip(inp, grads))


def rel_err(a, b):
    return ((a.float() - b.float()).abs().max() / (b.float().abs().max() + 1e-6)).item()


@needs_cuda
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("groups", [None, 2])
def test_torch_scan_cuda_matches_cpu(reverse, groups):
    cpu = inputs("cpu", groups=groups)
    gpu = {k: v.detach().cuda().requires_grad_() for k, v in cpu.items()}
    o1, h1, g1 = run(cpu, "torch", reverse)
    o2, h2, g2 = run(gpu, "torch", reverse)
    assert rel_err(o2.cpu(), o1) < 1e-4 and rel_err(h2.cpu(), h1) < 1e-4
    for k in g1:
        assert rel_err(g2[k].cpu(), g1[k]) < 1e-4, k


@needs_kernel
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("groups", [None, 2])
def test_cuda_kernel_matches_torch_scan(reverse, groups):
    inp = inputs("cuda", groups=groups, L=1000)
    o1, h1, g1 = run(inp, "torch", reverse)
    o2, h2, g2 = run({k: v.detach().clone().requires_grad_() for k, v in inp.items()}, "cuda", reverse)
    assert rel_err(o2, o1) < 1e-3 and rel_err(h2, h1) < 1e-3
    for k in g1:
        assert rel_err(g2[k], g1[k]) < 5e-3, k


@needs_kernel
def test_mamba_stack_cuda_kernel_matches_torch_path():
    torch.manual_seed(0)
    stack = MambaStack(2, 64, bidirectional=True).cuda()
    x = torch.randn(2, 500, 64, device="cuda")
    for layer in stack.layers:
        layer.mixer.scan_impl = "torch"
    y_torch = stack(x)
    for layer in stack.layers:
        layer.mixer.scan_impl = "cuda"
    y_cuda = stack(x)
    assert rel_err(y_cuda, y_torch) < 1e-3


@needs_cuda
def test_mixer_runs_on_cuda_with_auto_impl():
    m = Mamba(32, bimamba_type="v2").cuda()
    y = m(torch.randn(2, 100, 32, device="cuda"))
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(m.A_log.grad).all()


@needs_cuda
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("groups", [None, 2])
@pytest.mark.parametrize("chunk_size", [None, 96])
def test_parallel_scan_cuda_matches_torch_scan(reverse, groups, chunk_size):
    """The GPU default without mamba-ssm (impl='parallel') against the chunked loop, one long chunk
    (default size) and several short ones."""
    from speechslytherin.nnet.mamba.scan_parallel import selective_scan_parallel

    inp = inputs("cuda", groups=groups, L=1000, n=16)
    o1, h1, g1 = run(inp, "torch", reverse)
    inp2 = {k: v.detach().clone().requires_grad_() for k, v in inp.items()}
    out, last = selective_scan_parallel(**inp2, delta_softplus=True, return_last_state=True, reverse=reverse,
                                        chunk_size=chunk_size)
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g).to(out.device)).sum()
    g2 = dict(zip(inp2, torch.autograd.grad(loss, list(inp2.values()))))
    assert rel_err(out.detach(), o1) < 1e-4 and rel_err(last.detach(), h1) < 1e-4
    for k in g1:
        assert rel_err(g2[k], g1[k]) < 1e-4, k


@needs_cuda
def test_auto_on_cuda_picks_parallel_without_kernel(monkeypatch):
    from speechslytherin.nnet.mamba.scan import resolve_impl

    monkeypatch.delenv("SPEECHSLYTHERIN_SCAN", raising=False)
    expect = "cuda" if cuda_scan_available() else "parallel"
    assert resolve_impl(None, torch.device("cuda")) == expect


@needs_cuda
def test_parallel_scan_large_steps_finite_on_cuda():
    inp = inputs("cuda", L=4096, n=16)
    with torch.no_grad():
        inp["delta"].mul_(20).add_(30)
        inp["A"].mul_(40)
    o1, h1, g1 = run(inp, "parallel")
    o2, h2, g2 = run({k: v.detach().clone().requires_grad_() for k, v in inp.items()}, "torch")
    assert torch.isfinite(o1).all() and rel_err(o1, o2) < 1e-4
    for k in g1:
        assert torch.isfinite(g1[k]).all() and rel_err(g1[k], g2[k]) < 1e-4, k
