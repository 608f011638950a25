"""Mamba mixer, Block, stacks and bidirectional layers against explicit constructions with flips,
official key layouts, init statistics and streaming."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from speechslytherin.nnet.mamba import (BiMambaConcat, BiMambaSum, Block, Mamba, MambaStack, RMSNorm,
                                        init_mamba_weights)
from speechslytherin.nnet.mamba.scan_ref import selective_scan_ref

torch.set_flush_denormal(True)
KEYS = Path("/work/shared/reference/official_keys")


def randomize(module, seed=0):
    """Give every parameter a random value (so zero-initialised biases etc. are exercised)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.3
            p.copy_(p + noise if "A_" in name or name.endswith("A_log") else noise + (1.0 if name.endswith("D") else 0.0))
    return module


# -- an explicit, flip-based construction written straight from the official forward pass -----
def explicit_branch(xz, conv, x_proj, dt_proj, A_log, D, d_state):
    x, z = xz.chunk(2, dim=1)
    L = x.shape[-1]
    x = F.silu(conv(x)[..., :L])  # nn.Conv1d(padding=d_conv-1) then keep the first L: causal
    dt_rank = dt_proj.weight.shape[1]
    dt, Bm, Cm = torch.split(x_proj(x.transpose(1, 2)), [dt_rank, d_state, d_state], dim=-1)
    delta = dt_proj(dt).transpose(1, 2)  # bias folded in here rather than as delta_bias
    return selective_scan_ref(x, delta, -torch.exp(A_log), Bm.transpose(1, 2), Cm.transpose(1, 2), D, z,
                              delta_softplus=True)


def explicit_mamba(m, h):
    xz = m.in_proj(h).transpose(1, 2)
    y = explicit_branch(xz, m.conv1d, m.x_proj, m.dt_proj, m.A_log, m.D, m.d_state)
    if m.bimamba_type == "v2":
        y_b = explicit_branch(xz.flip(-1), m.conv1d_b, m.x_proj_b, m.dt_proj_b, m.A_b_log, m.D_b, m.d_state)
        y = (y + y_b.flip(-1)) / 2 if m.if_divide_out else y + y_b.flip(-1)
    return m.out_proj(y.transpose(1, 2))


def grads_of(module, out, gen_seed=5):
    g = torch.Generator().manual_seed(gen_seed)
    loss = (out * torch.randn(out.shape, generator=g)).sum()
    names = [n for n, p in module.named_parameters()]
    return dict(zip(names, torch.autograd.grad(loss, [p for _, p in module.named_parameters()])))


def close(a, b, tol=2e-4):
    return (a - b).abs().max().item() <= tol * (b.abs().max().item() + 1e-6) + 1e-6


@pytest.mark.parametrize("bimamba_type,divide", [("none", True), ("v2", True), ("v2", False)])
@pytest.mark.parametrize("impl", ["torch", "ref"])
def test_mixer_matches_explicit_construction(bimamba_type, divide, impl):
    torch.manual_seed(0)
    m = randomize(Mamba(12, d_state=4, bimamba_type=bimamba_type, if_divide_out=divide, scan_impl=impl), 1)
    h = torch.randn(2, 19, 12)
    out, expect = m(h), explicit_mamba(m, h)
    assert out.shape == (2, 19, 12)
    assert close(out, expect)
    g_fast, g_exp = grads_of(m, out), grads_of(m, expect)
    for k in g_exp:
        assert close(g_fast[k], g_exp[k]), k


def test_reverse_mixer_equals_flip():
    torch.manual_seed(1)
    fwd = randomize(Mamba(8, d_state=4), 2)
    rev = Mamba(8, d_state=4, reverse=True)
    rev.load_state_dict(fwd.state_dict())
    h = torch.randn(3, 11, 8)
    assert close(rev(h), fwd(h.flip(1)).flip(1))


def test_mixer_parameter_shapes_and_init():
    torch.manual_seed(0)
    m = Mamba(64, d_state=16, expand=2, bimamba_type="v2")
    di, R = 128, 4
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "A_log": (di, 16), "D": (di,), "A_b_log": (di, 16), "D_b": (di,),
        "in_proj.weight": (2 * di, 64), "conv1d.weight": (di, 1, 4), "conv1d.bias": (di,),
        "x_proj.weight": (R + 32, di), "dt_proj.weight": (di, R), "dt_proj.bias": (di,),
        "conv1d_b.weight": (di, 1, 4), "conv1d_b.bias": (di,), "x_proj_b.weight": (R + 32, di),
        "dt_proj_b.weight": (di, R), "dt_proj_b.bias": (di,), "out_proj.weight": (64, di)}
    assert torch.allclose(-torch.exp(m.A_log), -torch.arange(1, 17.).repeat(di, 1))
    assert torch.allclose(m.A_b_log, m.A_log) and torch.all(m.D == 1) and torch.all(m.D_b == 1)
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    # log-uniform: the median of log(dt) sits near the middle of [log 1e-3, log 0.1]
    assert abs(torch.log(dt).median().item() - (math.log(1e-3) + math.log(0.1)) / 2) < 0.6
    assert m.dt_proj.weight.abs().max() <= R ** -0.5 and m.dt_proj.weight.std() > 0.3 * R ** -0.5
    assert getattr(m.dt_proj.bias, "_no_reinit", False) and not getattr(m.dt_proj_b.bias, "_no_reinit", False)


def test_init_mamba_weights_matches_mamba_ssm_rules():
    torch.manual_seed(0)
    n_layer = 9
    stack = MambaStack(n_layer, 32, bidirectional=True)
    mixer = stack.layers[0].mixer
    bound = 1 / math.sqrt(mixer.d_inner) / math.sqrt(n_layer)  # kaiming_uniform(a=sqrt5) / sqrt(n_layer)
    w = mixer.out_proj.weight
    assert w.abs().max() <= bound and w.std() > 0.5 * bound / math.sqrt(3)
    assert torch.all(mixer.dt_proj_b.bias == 0)          # Vim quirk: zeroed by the init
    assert not torch.all(mixer.dt_proj.bias == 0)        # kept: _no_reinit
    emb = nn.Embedding(100, 16)
    init_mamba_weights(emb, n_layer=2, initializer_range=0.02)
    assert abs(emb.weight.std().item() - 0.02) < 0.003
    lin = nn.Linear(4, 4)
    init_mamba_weights(lin, n_layer=2)
    assert torch.all(lin.bias == 0)


def test_mambastack_matches_official_mambatasnet_xs_keys():
    off = [(k[len("masknet.mamba_net."):], s)
           for k, s in json.loads((KEYS / "keys_mambatasnet_XS.json").read_text())
           if k.startswith("masknet.mamba_net.")]
    stack = MambaStack(16, 128, bidirectional=True, rms_norm=True)
    mine = [(k, list(v.shape)) for k, v in stack.state_dict().items()]
    assert mine == off
    assert sum(p.numel() for p in stack.parameters()) == sum(math.prod(s) for _, s in off)


def test_mambastack_forward_equals_manual_blocks():
    torch.manual_seed(3)
    stack = randomize(MambaStack(3, 16, bidirectional=True, d_state=4), 4)
    x = torch.randn(2, 13, 16)
    residual = x
    hidden = stack.layers[0].mixer(stack.layers[0].norm(x))
    for layer in list(stack.layers)[1:]:
        residual = hidden + residual
        hidden = layer.mixer(layer.norm(residual))
    expect = stack.norm_f(hidden + residual)
    assert close(stack(x), expect)


def test_rmsnorm_and_block():
    torch.manual_seed(0)
    norm = RMSNorm(6, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 6) * 3
    expect = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    assert close(norm(x), expect, 1e-6)
    assert list(norm.state_dict()) == ["weight"]
    block = Block(6, lambda d: nn.Linear(d, d), norm_cls=nn.LayerNorm)
    h, r = block(x, torch.ones_like(x))
    assert torch.allclose(r, x + 1) and torch.allclose(h, block.mixer(block.norm(x + 1)))
    assert sorted(block.state_dict()) == ["mixer.bias", "mixer.weight", "norm.bias", "norm.weight"]


def _explicit_stack(blocks, x):
    hidden, residual = x, None
    for b in blocks:
        residual = hidden if residual is None else hidden + residual
        hidden = explicit_mamba(b.mixer, b.norm(residual))
    return hidden + residual


def test_bimamba_concat_matches_explicit_flips():
    torch.manual_seed(5)
    m = randomize(BiMambaConcat(8, n_layer=2, d_state=4), 6)
    x = torch.randn(2, 15, 8)
    out = m(x)
    expect = torch.cat([_explicit_stack(m.forward_blocks, x),
                        _explicit_stack(m.backward_blocks, x.flip(1)).flip(1)], -1)
    assert out.shape == (2, 15, 16)
    assert close(out, expect)
    g1, g2 = grads_of(m, out), grads_of(m, expect)
    assert all(close(g1[k], g2[k]) for k in g2)


def test_bimamba_sum_matches_explicit_flips():
    torch.manual_seed(6)
    m = randomize(BiMambaSum(8, n_layer=2, d_state=4), 7)
    x = torch.randn(2, 15, 8)
    expect = (_explicit_stack(m.forward_mamba_block.mamba_blocks, x)
              + _explicit_stack(m.backward_mamba_block.mamba_blocks, x.flip(1)).flip(1))
    assert close(m(x), expect)


def _official(name, prefix):
    return [(k[len(prefix):], s) for k, s in json.loads((KEYS / name).read_text()) if k.startswith(prefix)]


def test_bimamba_concat_official_keys():
    spm = BiMambaConcat(128, n_layer=1)  # SPMamba: d_model = emb_dim * emb_ks = 128, expand 4
    assert [(k, list(v.shape)) for k, v in spm.state_dict().items()] == \
        _official("keys_spmamba-wsj0.json", "blocks.0.intra_mamba.")
    sem = BiMambaConcat(64, n_layer=1)  # SEMamba advanced: hid_feature 64, expand 4
    assert [(k, list(v.shape)) for k, v in sem.state_dict().items()] == \
        _official("keys_SEMamba_advanced_generator.json", "TSMamba.0.time_mamba.")


def test_bimamba_sum_official_keys():
    sep = BiMambaSum(64, n_layer=4)  # SepMamba S, first down stage: dim 64, 4 blocks
    assert [(k, list(v.shape)) for k, v in sep.state_dict().items()] == \
        _official("keys_SepMamba_S.json", "down.0.mamba_layer.")
    causal = BiMambaSum(64, n_layer=8, bidirectional=False)
    assert [(k, list(v.shape)) for k, v in causal.state_dict().items()] == \
        _official("keys_SepMambaCausal_S.json", "down.0.mamba_layer.")


@pytest.mark.parametrize("chunks", [[1] * 9, [4, 1, 3, 1], [9], [2, 5, 2]])
def test_streaming_mixer_equals_full_pass(chunks):
    torch.manual_seed(7)
    m = randomize(Mamba(8, d_state=4), 8).eval()
    x = torch.randn(2, sum(chunks), 8)
    with torch.no_grad():
        full = m(x)
        state = m.allocate_inference_state(2)
        assert state[0].shape == (2, 16, 4) and state[1].shape == (2, 16, 4)
        outs, s = [], 0
        for T in chunks:
            y, state = m.step(x[:, s:s + T], state)
            outs.append(y)
            s += T
    assert close(torch.cat(outs, 1), full, 1e-5)


def test_streaming_stack_equals_full_pass():
    torch.manual_seed(8)
    stack = randomize(MambaStack(3, 8, d_state=4), 9).eval()
    x = torch.randn(1, 12, 8)
    with torch.no_grad():
        full = stack(x)
        states, outs = stack.allocate_inference_state(1), []
        for s in range(0, 12, 5):
            y, states = stack.step(x[:, s:s + 5], states)
            outs.append(y)
    assert close(torch.cat(outs, 1), full, 1e-5)


def test_bidirectional_mixer_refuses_to_stream():
    m = Mamba(8, bimamba_type="v2")
    with pytest.raises(RuntimeError, match="cannot stream"):
        m.step(torch.randn(1, 2, 8), m.allocate_inference_state(1))


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="bimamba_type"):
        Mamba(8, bimamba_type="v1")
    with pytest.raises(ValueError, match=r"expected input \[batch, length, 8\]"):
        Mamba(8)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="norm must be"):
        BiMambaConcat(8, norm="batch")
