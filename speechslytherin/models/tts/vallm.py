"""VALL-M: VALL-E with multi-head self-attention replaced by Mamba ("replace MHSA with Mamba",
the first author's own description; no official code exists).

Switches (each one a choice the paper leaves open):
- ``ar_mixer``: ``mamba`` (causal Mamba over the packed [phonemes ; codes] stream; decoding
  carries the recurrent state: constant work and memory per token) or ``attn``;
- ``nar_mixer``: ``bimamba`` (bimamba v2, the authors' encoder mixer), ``mamba`` (causal) or
  ``attn``. Mixed settings give the Mamba/Transformer hybrids.

Default: ``ar_mixer='mamba', nar_mixer='bimamba'`` = every MHSA replaced, the reading of the
authors' sentence that needs no further guess (reference notes vallm_tts.md 1.3). What it
loses: the phonemes see only earlier phonemes in the AR stream (no bidirectional prefix), the
"masked attention of two inputs" the abstract says Mamba does worse at; the hybrids
(``ar_mixer: attn`` or ``nar_mixer: attn``) are the configs to compare against it.

- ``ar_layout``: ``decoder_only`` (default, as VALL-E) or ``crossmamba``: a bimamba phoneme
  encoder (``encoder_layers``, default num_layers) and the ConMamba Mamba decoder (UniMamba +
  CrossMamba over [phoneme encoding ; audio] + FFN) as the AR, see crossmamba_ar.py.

The FFN, pre-norm residuals, embeddings, heads and training recipe are VALL-E's; a Mamba
mixer (expand 2, d_state 16) has about 6.4 d^2 parameters against attention's 4 d^2, so at
equal depth VALL-M is about 1.2x larger (``num_layers`` can be lowered to match).
"""

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.tts.codec_lm import CodecLM, resolve_preset


class VALLM(SelfDescribing, CodecLM):
    def __init__(self, preset="nano", d_model=None, nhead=None, num_layers=None, ar_mixer="mamba",
                 nar_mixer="bimamba", n_codebooks=8, codebook_size=1024, num_text_tokens=512,
                 dim_feedforward=None, dropout=0.1, share_embedding=True, prefix_mode=1,
                 mamba_config=None, ar_layout="decoder_only", encoder_layers=None, ar_input_noise=0.0):
        d_model, nhead, num_layers = resolve_preset(preset, d_model, nhead, num_layers)
        CodecLM.__init__(self, d_model, nhead, num_layers, ar_mixer=ar_mixer, nar_mixer=nar_mixer,
                         n_codebooks=n_codebooks, codebook_size=codebook_size, num_text_tokens=num_text_tokens,
                         dim_feedforward=dim_feedforward, dropout=dropout, share_embedding=share_embedding,
                         prefix_mode=prefix_mode, mamba_config=mamba_config, ar_layout=ar_layout,
                         encoder_layers=encoder_layers, ar_input_noise=ar_input_noise)
