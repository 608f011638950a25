"""VALL-E (the lifeiteng/vall-e structure): a Transformer AR decoder with the prefix-LM mask
and a Transformer NAR decoder with stage-conditioned adaptive LayerNorm, over codec tokens.

Sizes come from a preset (``paper``: d 1024, 16 heads, 12 layers; ``small``; ``nano``: d 128,
4 heads, 4 layers; ``tiny`` for tests) or explicit d_model / nhead / num_layers. AR decoding
uses a KV cache (lifeiteng re-runs the whole sequence per token; the output is the same).
"""

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.tts.codec_lm import CodecLM, resolve_preset


class VALLE(SelfDescribing, CodecLM):
    def __init__(self, preset="nano", d_model=None, nhead=None, num_layers=None, n_codebooks=8,
                 codebook_size=1024, num_text_tokens=512, dim_feedforward=None, dropout=0.1,
                 share_embedding=True, prefix_mode=1, ar_input_noise=0.0):
        d_model, nhead, num_layers = resolve_preset(preset, d_model, nhead, num_layers)
        CodecLM.__init__(self, d_model, nhead, num_layers, ar_mixer="attn", nar_mixer="attn",
                         n_codebooks=n_codebooks, codebook_size=codebook_size, num_text_tokens=num_text_tokens,
                         dim_feedforward=dim_feedforward, dropout=dropout, share_embedding=share_embedding,
                         prefix_mode=prefix_mode, ar_input_noise=ar_input_noise)


