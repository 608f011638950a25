"""SPMamba (arXiv 2404.02063): TF-GridNet whose intra- and inter-frame BLSTMs are replaced by
bidirectional Mamba; everything else of TF-GridNet is kept (full-band self-attention, spectral
mapping output, input std normalisation).

The bidirectional Mamba is the official ``MambaBlock``: separate forward and backward stacks of
one mamba-ssm Block each (pre-norm RMSNorm, eps 1e-5; Mamba d_state 16, d_conv 4, expand 4),
outputs concatenated ([..., 2 * C * emb_ks]) and folded back to C channels by the grid block's
transposed conv. Keys and shapes equal the official model's (JusperLee/SPMamba,
look2hear/models/SPMamba.py), so its ``best_model.pth`` loads with no renaming (see
spmamba_official.py). Official configurations: ``SPMamba.from_preset("wsj0")`` (8 kHz,
n_fft 256 / hop 64, 6,094,498 parameters) and ``"echo2mix"`` (16 kHz, 512 / 128, 6,141,826).

mix [B, T] -> estimates [B, T, n_src]; the official returns [B, n_src, T].
"""

from functools import partial

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.sep.tfgrid_blocks import TFGridSeparator
from speechslytherin.nnet.mamba import BiMambaConcat

# configs/spmamba-<name>.yml of the official repository (all share n_layers 6, emb_dim 16,
# emb_ks 8, emb_hs 1, 4 heads, approx qk dim 512, PReLU, eps 1e-5, hann window).
PRESETS = {
    "wsj0": {"n_fft": 256, "stride": 64},
    "wham": {"n_fft": 256, "stride": 64},
    "librimix": {"n_fft": 256, "stride": 64},
    "echo2mix": {"n_fft": 512, "stride": 128},
}
PRESETS["8k"], PRESETS["16k"] = PRESETS["wsj0"], PRESETS["echo2mix"]  # by sample rate
PRESET_SAMPLE_RATES = {"wsj0": 8000, "wham": 8000, "librimix": 8000, "echo2mix": 16000, "8k": 8000, "16k": 16000}


def _bimamba(in_features, d_state, d_conv, expand, scan_impl):
    module = BiMambaConcat(in_features, n_layer=1, norm="rms", d_state=d_state, d_conv=d_conv, expand=expand,
                           norm_epsilon=1e-5, bidirectional=True, scan_impl=scan_impl)
    return module, 2 * in_features


class SPMamba(SelfDescribing, TFGridSeparator):
    """SPMamba separator. Arguments follow the official config names (``n_srcs`` is ``n_src``
    here); ``d_state``/``d_conv``/``expand`` are the Mamba settings the official code hard-codes,
    ``scan_impl`` picks the selective-scan backend (None: $SPEECHSLYTHERIN_SCAN, else automatic)."""

    def __init__(self, n_src=2, n_fft=256, stride=64, window="hann", n_layers=6, attn_n_head=4,
                 attn_approx_qk_dim=512, emb_dim=16, emb_ks=8, emb_hs=1, activation="prelu", eps=1e-5,
                 d_state=16, d_conv=4, expand=4, scan_impl=None):
        make_seq = partial(_bimamba, d_state=d_state, d_conv=d_conv, expand=expand, scan_impl=scan_impl)
        super().__init__(make_seq, "mamba", n_src=n_src, n_fft=n_fft, stride=stride, window=window,
                         n_layers=n_layers, attn_n_head=attn_n_head, attn_approx_qk_dim=attn_approx_qk_dim,
                         emb_dim=emb_dim, emb_ks=emb_ks, emb_hs=emb_hs, activation=activation, eps=eps)

    @classmethod
    def from_preset(cls, name, **overrides):
        """An official configuration: "wsj0", "wham", "librimix" or "8k" (8 kHz); "echo2mix" or "16k"."""
        if name not in PRESETS:
            raise KeyError(f"Unknown SPMamba preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})


