"""Bidirectional Mamba built from two separate stacks of Blocks (weights not shared).

- ``BiMambaConcat`` (SPMamba, SEMamba): ``forward_blocks`` / ``backward_blocks``; each direction
  returns hidden + residual (no final norm); output cat([fwd(x), flip(bwd(flip(x)))], -1).
- ``BiMambaSum`` (SepMamba): ``forward_mamba_block.mamba_blocks`` / ``backward_mamba_block.
  mamba_blocks``, LayerNorm blocks; output fwd(x) + flip(bwd(flip(x))).

Input and output are [B, L, d_model] (time in dim 1; SepMamba's layer permutes from [B, C, L]
outside). The backward stack uses ``reverse=True`` mixers, which compute exactly
flip -> mixer -> flip with the same parameters, so no flipped copies are made.
``bidirectional=False`` drops the backward stack (the causal variants: SEMamba causal,
SepMambaCausal), and then the output is fwd(x) alone.
"""

from functools import partial

import torch
import torch.nn as nn

from .block import Block, apply_mamba_init
from .mixer import Mamba
from .stack import make_norm_cls


def _norm_is_rms(norm):
    if norm not in ("rms", "layer"):
        raise ValueError(f"norm must be 'rms' (RMSNorm) or 'layer' (nn.LayerNorm), got {norm!r}")
    return norm == "rms"


def _blocks(n_layer, d_model, reverse, norm, d_state, d_conv, expand, norm_epsilon, scan_impl):
    norm_cls = make_norm_cls(_norm_is_rms(norm), norm_epsilon)
    return nn.ModuleList([
        Block(d_model, partial(Mamba, d_state=d_state, d_conv=d_conv, expand=expand, layer_idx=i,
                               scan_impl=scan_impl, reverse=reverse), norm_cls=norm_cls)
        for i in range(n_layer)])


def run_blocks(blocks, x):
    """Blocks in sequence; returns hidden + residual (what the official layers output)."""
    hidden, residual = x, None
    for block in blocks:
        hidden, residual = block(hidden, residual)
    return hidden if residual is None else hidden + residual


class BiMambaConcat(nn.Module):
    """SPMamba / SEMamba "MambaBlock": [B, L, d] -> [B, L, 2d] (or [B, L, d] if not bidirectional).
    Defaults follow both official uses: RMSNorm(eps 1e-5), d_state 16, d_conv 4, expand 4."""

    def __init__(self, d_model, n_layer=1, norm="rms", d_state=16, d_conv=4, expand=4, norm_epsilon=1e-5,
                 bidirectional=True, scan_impl=None):
        super().__init__()
        kw = dict(norm=norm, d_state=d_state, d_conv=d_conv, expand=expand, norm_epsilon=norm_epsilon,
                  scan_impl=scan_impl)
        self.bidirectional = bidirectional
        self.forward_blocks = _blocks(n_layer, d_model, False, **kw)
        self.backward_blocks = _blocks(n_layer, d_model, True, **kw) if bidirectional else None
        apply_mamba_init(self, n_layer)

    def forward(self, x):
        y = run_blocks(self.forward_blocks, x)
        if self.backward_blocks is None:
            return y
        return torch.cat([y, run_blocks(self.backward_blocks, x)], dim=-1)


class MambaBlockList(nn.Module):
    """SepMamba's per-direction ``MambaBlock``: a ``mamba_blocks`` ModuleList of Blocks."""

    def __init__(self, d_model, n_layer, reverse=False, **kw):
        super().__init__()
        self.mamba_blocks = _blocks(n_layer, d_model, reverse, **kw)

    def forward(self, x):
        return run_blocks(self.mamba_blocks, x)


class BiMambaSum(nn.Module):
    """SepMamba's ``MambaLayer``: [B, L, d] -> [B, L, d] = fwd(x) + flip(bwd(flip(x))).
    Defaults follow SepMamba (mamba-ssm create_block defaults): LayerNorm(eps 1e-5), expand 2."""

    def __init__(self, d_model, n_layer=1, norm="layer", d_state=16, d_conv=4, expand=2, norm_epsilon=1e-5,
                 bidirectional=True, scan_impl=None):
        super().__init__()
        kw = dict(norm=norm, d_state=d_state, d_conv=d_conv, expand=expand, norm_epsilon=norm_epsilon,
                  scan_impl=scan_impl)
        self.bidirectional = bidirectional
        self.forward_mamba_block = MambaBlockList(d_model, n_layer, reverse=False, **kw)
        if bidirectional:
            self.backward_mamba_block = MambaBlockList(d_model, n_layer, reverse=True, **kw)
        apply_mamba_init(self, n_layer)

    def forward(self, x):
        y = self.forward_mamba_block(x)
        if self.bidirectional:
            y = y + self.backward_mamba_block(x)
        return y
