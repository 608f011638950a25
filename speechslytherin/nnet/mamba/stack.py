"""A stack of pre-norm Mamba blocks with a final norm: Mamba-TasNet's MambaBlocksSequential
(keys ``layers.{i}.mixer.*``, ``layers.{i}.norm.weight``, ``norm_f.weight``)."""

from functools import partial

import torch.nn as nn

from .block import Block, RMSNorm, apply_mamba_init
from .mixer import Mamba


def make_norm_cls(rms_norm, eps):
    return partial(RMSNorm, eps=eps) if rms_norm else partial(nn.LayerNorm, eps=eps)


class MambaStack(nn.Module):
    """[B, L, d_model] -> [B, L, d_model]: n_layer Blocks, then norm_f(hidden + residual).
    ``bidirectional=True`` uses bimamba v2 mixers (Mamba-TasNet, ConMamba); ``bimamba_type``
    may also be given directly. Weights get mamba-ssm's init with n_layer residual scaling."""

    def __init__(self, n_layer, d_model, bidirectional=False, bimamba_type=None, rms_norm=True,
                 d_state=16, d_conv=4, expand=2, norm_epsilon=1e-5, fused_add_norm=False,
                 residual_in_fp32=False, scan_impl=None):
        super().__init__()
        if bimamba_type is None:
            bimamba_type = "v2" if bidirectional else "none"
        elif bidirectional and bimamba_type == "none":
            raise ValueError("MambaStack: bidirectional=True conflicts with bimamba_type='none'")
        self.n_layer, self.d_model, self.bimamba_type = n_layer, d_model, bimamba_type
        self.residual_in_fp32 = residual_in_fp32
        norm_cls = make_norm_cls(rms_norm, norm_epsilon)
        self.layers = nn.Sequential(*[
            Block(d_model,
                  partial(Mamba, d_state=d_state, d_conv=d_conv, expand=expand, bimamba_type=bimamba_type,
                          layer_idx=i, scan_impl=scan_impl),
                  norm_cls=norm_cls, fused_add_norm=fused_add_norm, residual_in_fp32=residual_in_fp32)
            for i in range(n_layer)])
        self.norm_f = norm_cls(d_model)
        apply_mamba_init(self, n_layer)

    def forward(self, x):
        hidden, residual = x, None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        residual = hidden if residual is None else hidden + residual
        return self.norm_f(residual.to(dtype=self.norm_f.weight.dtype))

    def allocate_inference_state(self, batch, dtype=None):
        return [layer.allocate_inference_state(batch, dtype=dtype) for layer in self.layers]

    def step(self, x_chunk, states):
        """Streaming pass over the next chunk [B, T, d_model] (causal stacks only)."""
        hidden, residual, new_states = x_chunk, None, []
        for layer, st in zip(self.layers, states):
            hidden, residual, st = layer.step(hidden, residual, st)
            new_states.append(st)
        residual = hidden if residual is None else hidden + residual
        return self.norm_f(residual.to(dtype=self.norm_f.weight.dtype)), new_states
