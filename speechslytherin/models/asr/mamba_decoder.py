"""Mamba decoder of ConMamba (xi-j/Mamba-ASR ``MambaDecoderLayer``): attention-free seq2seq.

Each layer: a causal Mamba over the target (``self_mamba``), then a causal Mamba run over the
concatenation [encoder memory; target] of which only the last len(target) outputs are kept
(``cross_mamba``: the target positions have read the whole utterance), then the position-wise
FFN. Three LayerNorms (eps 1e-6), pre-norm by default, dropout on each residual branch. The
encoder memory is used whole (padding included), as in the official code.

Both Mambas are causal, so decoding can be incremental: ``start(memory)`` runs each layer's
cross Mamba over the memory once and keeps its recurrent state; ``step(tgt_t, states)`` then
feeds one new target position through every layer with the states, and gives what ``forward``
gives at that position (beam search: models/asr/mamba_beam_search.py).
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

    # -- incremental decoding ------------------------------------------------------------------
    def start(self, memory):
        """State before the first target position: (self Mamba's zero state, cross Mamba's state
        after reading the whole memory [batch, frames, d_model])."""
        self_state = self.self_mamba.allocate_inference_state(memory.shape[0], dtype=memory.dtype)
        cross_state = self.cross_mamba.allocate_inference_state(memory.shape[0], dtype=memory.dtype)
        _, cross_state = self.cross_mamba.step(memory, cross_state)
        return self_state, cross_state

    def step(self, tgt, state):
        """The next target positions [batch, T, d_model] given the state of all before them;
        returns (output, new state), equal to ``forward`` on the whole target at those positions."""
        self_state, cross_state = state
        new = {}

        def self_branch(t):
            out, new["self"] = self.self_mamba.step(t, self_state)
            return out

        def cross_branch(t):
            out, new["cross"] = self.cross_mamba.step(t, cross_state)
            return out

        tgt = self._sublayer(tgt, self.norm1, self.dropout1, self_branch)
        tgt = self._sublayer(tgt, self.norm2, self.dropout2, cross_branch)
        tgt = self._sublayer(tgt, self.norm3, self.dropout3, self.pos_ffn)
        return tgt, (new["self"], new["cross"])


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

    # -- incremental decoding ------------------------------------------------------------------
    def start(self, memory):
        """Per-layer states before the first target position (each layer has read ``memory``)."""
        return [layer.start(memory) for layer in self.layers]

    def step(self, tgt, states):
        """(output [batch, T, d_model], new states) for the next T target positions."""
        new_states = []
        for layer, state in zip(self.layers, states):
            tgt, state = layer.step(tgt, state)
            new_states.append(state)
        return self.norm(tgt), new_states


def reorder_states(states, index):
    """The decoder states of the rows ``index`` (beam search: the surviving hypotheses' parents)."""
    return [tuple(tuple(t.index_select(0, index) for t in mamba_state) for mamba_state in layer_state)
            for layer_state in states]
