"""Mamba decoder of ConMamba (xi-j/Mamba-ASR ``MambaDecoderLayer``): attention-free seq2seq.

Each layer: a causal Mamba over the target (``self_mamba``), then a causal Mamba run over the
concatenation [encoder memory; target] of which only the last len(target) outputs are kept
(``cross_mamba``: the target positions have read the whole utterance), then the position-wise
FFN. Three LayerNorms (eps 1e-6), pre-norm by default, dropout on each residual branch. The
encoder memory is used whole (padding included), as in the official code.
"""

import torch
from torch import nn
from speechbrain.nnet.attention import PositionalwiseFeedForward
from speechbrain.nnet.normalization import LayerNorm

from speechslytherin.models.asr.conmamba import activation_class, mamba_settings
from speechslytherin.nnet.mamba import Mamba


class MambaDecoderLayer(nn.Module):
    def __init__(self, d_model, d_ffn, activation=nn.ReLU, dropout=0.0, normalize_before=False, mamba_config=None):
        super().__init__()
        cfg = mamba_settings(mamba_config)
        cfg.pop("bidirectional")  # the decoder is always causal
        self.self_mamba = Mamba(d_model=d_model, **cfg)
        self.cross_mamba = Mamba(d_model=d_model, **cfg)
        self.pos_ffn = PositionalwiseFeedForward(d_ffn=d_ffn, input_size=d_model, dropout=dropout,
                                                 activation=activation)
        self.norm1 = LayerNorm(d_model, eps=1e-6)
        self.norm2 = LayerNorm(d_model, eps=1e-6)
        self.norm3 = LayerNorm(d_model, eps=1e-6)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.normalize_before = normalize_before

    def _sublayer(self, tgt, norm, dropout, fn):
        """Residual branch in pre-norm (norm -> fn -> add) or post-norm (fn -> add -> norm) order."""
        if self.normalize_before:
            return tgt + dropout(fn(norm(tgt)))
        return norm(tgt + dropout(fn(tgt)))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, pos_embs_tgt=None, pos_embs_src=None):
        tgt = self._sublayer(tgt, self.norm1, self.dropout1, self.self_mamba)
        n = tgt.shape[1]
        tgt = self._sublayer(tgt, self.norm2, self.dropout2,
                             lambda t: self.cross_mamba(torch.cat([memory, t], dim=1))[:, -n:])
        tgt = self._sublayer(tgt, self.norm3, self.dropout3, self.pos_ffn)
        return tgt, None, None


class MambaDecoder(nn.Module):
    """Stack of Mamba decoder layers + LayerNorm; returns (output, [None], [None]) like
    SpeechBrain's TransformerDecoder (no attention maps to return)."""

    def __init__(self, num_layers, d_model, d_ffn, activation=nn.ReLU, dropout=0.0, normalize_before=False,
                 mamba_config=None):
        super().__init__()
        activation = activation_class(activation)
        self.layers = nn.ModuleList([
            MambaDecoderLayer(d_model=d_model, d_ffn=d_ffn, activation=activation, dropout=dropout,
                              normalize_before=normalize_before, mamba_config=mamba_config)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, eps=1e-6)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, pos_embs_tgt=None, pos_embs_src=None):
        output = tgt
        for layer in self.layers:
            output, _, _ = layer(output, memory)
        return self.norm(output), [None], [None]
