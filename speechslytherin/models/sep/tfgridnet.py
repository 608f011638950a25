"""TF-GridNet (Wang et al., TASLP 2023 / ICASSP 2023), the BLSTM original that SPMamba builds on.

Same network as SPMamba (models/sep/tfgrid_blocks.py) with a one-layer BLSTM as the intra- and
inter-frame sequence model, as ESPnet's ``TFGridNet`` (espnet2/enh/separator/
tfgridnet_separator.py) builds it; keys follow that class (``blocks.i.intra_rnn.weight_ih_l0``
...). The official SPMamba repository keeps the BLSTM lines commented out in its model file and
its configs still carry ``lstm_hidden_units: 256``.

Presets:
- ``"espnet"``: ESPnet's defaults (n_fft 128 / hop 64, D 48, I 4, H 192; 8,175,874 parameters).
- ``"spmamba-wsj0"`` / ``"spmamba-echo2mix"``: SPMamba's own configuration with the BLSTMs put
  back (D 16, I 8, H 256 = the configs' unused lstm_hidden_units), the like-for-like baseline:
  10,379,938 (8 kHz) / 10,427,266 (16 kHz) parameters.
The TF-GridNet of SPMamba's results table (14.43 M) has no published configuration, so no
preset claims to be it.

mix [B, T] -> estimates [B, T, n_src].
"""

from torch import nn

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.sep.tfgrid_blocks import TFGridSeparator

PRESETS = {
    "espnet": {"n_fft": 128, "stride": 64, "emb_dim": 48, "emb_ks": 4, "lstm_hidden_units": 192},
    "spmamba-wsj0": {"n_fft": 256, "stride": 64, "emb_dim": 16, "emb_ks": 8, "lstm_hidden_units": 256},
    "spmamba-echo2mix": {"n_fft": 512, "stride": 128, "emb_dim": 16, "emb_ks": 8, "lstm_hidden_units": 256},
}


def _blstm(in_features, hidden):
    return nn.LSTM(in_features, hidden, 1, batch_first=True, bidirectional=True), 2 * hidden


class TFGridNet(SelfDescribing, TFGridSeparator):
    """TF-GridNet separator; arguments as ESPnet's TFGridNet (``n_srcs`` is ``n_src`` here)."""

    def __init__(self, n_src=2, n_fft=128, stride=64, window="hann", n_layers=6, lstm_hidden_units=192,
                 attn_n_head=4, attn_approx_qk_dim=512, emb_dim=48, emb_ks=4, emb_hs=1, activation="prelu",
                 eps=1e-5):
        super().__init__(lambda n_in: _blstm(n_in, lstm_hidden_units), "rnn", n_src=n_src, n_fft=n_fft,
                         stride=stride, window=window, n_layers=n_layers, attn_n_head=attn_n_head,
                         attn_approx_qk_dim=attn_approx_qk_dim, emb_dim=emb_dim, emb_ks=emb_ks, emb_hs=emb_hs,
                         activation=activation, eps=eps)

    @classmethod
    def from_preset(cls, name, **overrides):
        if name not in PRESETS:
            raise KeyError(f"Unknown TF-GridNet preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})
