"""ConMamba encoder (Speech Slytherin, xi-j/Mamba-ASR): a Conformer whose self-attention is a
bidirectional Mamba.

Layer layout as the official ``modules/Conmamba.py`` (names kept, so official state dicts load):
``x + 0.5*ffn_module1(x)`` -> ``x + mamba(norm1(x))`` -> ``x + convolution_module(x)`` ->
``norm2(x + 0.5*ffn_module2(x))``; the stack ends with ``norm`` (LayerNorm, eps 1e-6).
The mixer is the core's Mamba with ``bimamba_type="v2"`` (Vision-Mamba's shared in/out
projections, averaged directions); a causal encoder uses the plain forward Mamba and a causal
depthwise convolution. No positional encoding enters the encoder and padding masks are not
used, as in the official code.
"""

import torch
from torch import nn
from speechbrain.lobes.models.transformer.Conformer import ConvolutionModule
from speechbrain.nnet.activations import Swish
from speechbrain.nnet.attention import PositionalwiseFeedForward
from speechbrain.nnet.normalization import LayerNorm

from speechslytherin.nnet.mamba import Mamba

ACTIVATIONS = {"gelu": nn.GELU, "swish": Swish, "relu": nn.ReLU, "silu": nn.SiLU}
MAMBA_DEFAULTS = {"d_state": 16, "expand": 2, "d_conv": 4, "bidirectional": True}


def activation_class(name):
    """Activation class from its config name (names keep model files JSON-only)."""
    if isinstance(name, type):
        return name
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} unknown; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[key]


def mamba_settings(mamba_config):
    """Official ``mamba_config`` (d_state, expand, d_conv, bidirectional) with defaults filled."""
    config = dict(MAMBA_DEFAULTS)
    unknown = set(mamba_config or {}) - set(config)
    if unknown:
        raise ValueError(f"mamba_config: unknown keys {sorted(unknown)}; known: {sorted(config)}")
    config.update(mamba_config or {})
    return config


def half_step_ffn(d_model, d_ffn, dropout, activation):
    """LayerNorm -> position-wise FFN -> Dropout (``ffn_module1/2`` of the official layer)."""
    return nn.Sequential(
        nn.LayerNorm(d_model),
        PositionalwiseFeedForward(d_ffn=d_ffn, input_size=d_model, dropout=dropout, activation=activation),
        nn.Dropout(dropout),
    )


class ConMambaEncoderLayer(nn.Module):
    """One ConMamba layer: half FFN, (Bi)Mamba, convolution module, half FFN, LayerNorm."""

    def __init__(self, d_model, d_ffn, kernel_size=31, activation=nn.GELU, bias=True, dropout=0.0,
                 causal=False, mamba_config=None):
        super().__init__()
        cfg = mamba_settings(mamba_config)
        bidirectional = cfg.pop("bidirectional") and not causal
        self.mamba = Mamba(d_model=d_model, bimamba_type="v2" if bidirectional else "none", **cfg)
        self.convolution_module = ConvolutionModule(d_model, kernel_size, bias, activation, dropout, causal=causal)
        self.ffn_module1 = half_step_ffn(d_model, d_ffn, dropout, activation)
        self.ffn_module2 = half_step_ffn(d_model, d_ffn, dropout, activation)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)

    def forward(self, x, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        x = x + 0.5 * self.ffn_module1(x)
        x = x + self.mamba(self.norm1(x))
        x = x + self.convolution_module(x, None, dynchunktrain_config=dynchunktrain_config)
        return self.norm2(x + 0.5 * self.ffn_module2(x))


class ConMambaEncoder(nn.Module):
    """Stack of ConMamba layers + final LayerNorm; ``forward`` returns (output, None) like
    SpeechBrain's encoders, so TransformerASR-style wrappers call it unchanged."""

    def __init__(self, num_layers, d_model, d_ffn, kernel_size=31, activation=nn.GELU, bias=True,
                 dropout=0.0, causal=False, mamba_config=None):
        super().__init__()
        activation = activation_class(activation)
        self.causal = bool(causal)
        self.layers = nn.ModuleList([
            ConMambaEncoderLayer(d_model=d_model, d_ffn=d_ffn, kernel_size=kernel_size, activation=activation,
                                 bias=bias, dropout=dropout, causal=causal, mamba_config=mamba_config)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, eps=1e-6)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        output = src
        for layer in self.layers:
            output = layer(output, dynchunktrain_config=dynchunktrain_config)
        return self.norm(output), None
