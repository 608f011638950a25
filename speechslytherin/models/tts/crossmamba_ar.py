"""The encoder-decoder AR of the VALL-M CrossMamba variant: a bimamba phoneme encoder, then the
ConMamba Mamba decoder (models/asr/mamba_decoder.py, imported, pre-norm) over the first-level
audio embeddings: per layer a causal Mamba over the audio (UniMamba), a causal Mamba over
[phoneme encoding ; audio] keeping the audio outputs (CrossMamba), an FFN.

This is lifeiteng's encoder-decoder layout (text as memory) with attention swapped out, the
layout the reference notes (vallm_tts.md 1.3) name as the possible CrossMamba variant. Both
Mambas of a decoder layer are causal, so decoding carries their states: the encoding is run once
through each CrossMamba, then every token costs the same.

Padding: the decoder layer concatenates the whole memory, so a padded memory would put pad
tokens between text and audio; training therefore runs each sample at its own length.
"""

import torch.nn as nn

from speechslytherin.models.asr.mamba_decoder import MambaDecoder
from speechslytherin.models.tts.codec_lm import Decoder


class CrossMambaAR(nn.Module):
    def __init__(self, num_layers, d_model, dim_feedforward, dropout, encoder_layers=None, mamba_config=None):
        super().__init__()
        cfg = dict(mamba_config or {})
        self.text_encoder = Decoder(encoder_layers or num_layers, d_model, 1, "bimamba", dim_feedforward, dropout,
                                    adaptive=False, mamba_config=cfg)
        self.audio_decoder = MambaDecoder(num_layers, d_model, dim_feedforward, activation=nn.ReLU, dropout=dropout,
                                          normalize_before=True, mamba_config=cfg)

    def forward(self, x, x_lens, y, y_lens):
        """x [B, Tx, d] text embeddings, y [B, Ty, d] audio embeddings -> audio hidden [B, Ty, d]."""
        out = y.new_zeros(y.shape)
        for b in range(y.shape[0]):
            nx, ny = int(x_lens[b]), int(y_lens[b])
            memory = self.text_encoder(x[b:b + 1, :nx])
            out[b, :ny] = self.audio_decoder(y[b:b + 1, :ny], memory)[0][0]
        return out

    def prefill(self, x, y):
        """Batch 1: encode the text, run the prompt audio; returns (hidden [1, Ty, d], states)."""
        memory = self.text_encoder(x)
        states = []
        for layer in self.audio_decoder.layers:
            s_self = layer.self_mamba.allocate_inference_state(1)
            s_cross = layer.cross_mamba.allocate_inference_state(1)
            _, s_cross = layer.cross_mamba.step(memory, s_cross)
            states.append([s_self, s_cross])
        return self.step(y, states)

    def step(self, y, states):
        """The next audio embeddings [1, T, d] given the states; returns (hidden, states)."""
        new = []
        for layer, (s_self, s_cross) in zip(self.audio_decoder.layers, states):
            a, s_self = layer.self_mamba.step(layer.norm1(y), s_self)
            y = y + layer.dropout1(a)
            c, s_cross = layer.cross_mamba.step(layer.norm2(y), s_cross)
            y = y + layer.dropout2(c)
            y = y + layer.dropout3(layer.pos_ffn(layer.norm3(y)))
            new.append([s_self, s_cross])
        return self.audio_decoder.norm(y), new

