"""The official ConMamba seq2seq network: SpeechBrain's ``TransformerASR`` with a ConMamba
encoder and a Transformer or Mamba decoder (xi-j/Mamba-ASR ``modules/TransformerASR.py``).

Built as the official recipe builds it (``attention_type: RelPosMHAXL``, ``normalize_before``,
``encoder_module: conmamba``): ``positional_encoding`` (RelPosEncXL, computed but unused by the
encoder), ``positional_encoding_decoder`` (sinusoidal, added to the target embeddings),
``encoder``, ``decoder``, ``custom_src_module`` (Linear + Dropout), ``custom_tgt_module``
(NormalizedEmbedding), then xavier-normal re-initialisation of every >1-d parameter (which,
as in the official code, also re-draws the Mamba A_log / projections). The forward, encode and
decode methods are SpeechBrain's own, so SpeechBrain's beam searchers drive it unchanged.
"""

from torch import nn
from speechbrain.lobes.models.transformer.Transformer import NormalizedEmbedding, PositionalEncoding, TransformerDecoder
from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.nnet.containers import ModuleList
from speechbrain.nnet.linear import Linear

from speechslytherin.models.asr.conmamba import ConMambaEncoder, activation_class
from speechslytherin.models.asr.mamba_decoder import MambaDecoder

DECODERS = ("transformer", "mamba")


class ConMambaTransformerASR(TransformerASR):
    """TransformerASR-compatible module (same attribute and state-dict names) with a ConMamba
    encoder; ``decoder_module`` is "transformer" (SpeechBrain's, regular MHA) or "mamba"."""

    def __init__(self, tgt_vocab, input_size, d_model=512, nhead=8, num_encoder_layers=12, num_decoder_layers=6,
                 d_ffn=2048, dropout=0.1, activation=nn.GELU, encoder_activation=nn.GELU, kernel_size=31,
                 bias=True, normalize_before=True, decoder_module="transformer", max_length=2500, causal=False,
                 mamba_config=None):
        nn.Module.__init__(self)  # TransformerInterface would build attention encoders we do not use
        if decoder_module not in DECODERS:
            raise ValueError(f"decoder_module {decoder_module!r}: use one of {DECODERS}")
        if num_encoder_layers < 1:
            raise ValueError("ConMambaTransformerASR needs at least one encoder layer")
        activation = activation_class(activation)
        # The attributes SpeechBrain's forward/encode/decode read.
        self.causal = bool(causal)
        self.attention_type = "RelPosMHAXL"
        self.positional_encoding_type = None
        self.output_hidden_states = False
        self.num_decoder_layers = num_decoder_layers
        self.decoder_module = decoder_module

        self.positional_encoding = RelPosEncXL(d_model)
        self.positional_encoding_decoder = PositionalEncoding(d_model, max_length)
        self.encoder = ConMambaEncoder(num_layers=num_encoder_layers, d_model=d_model, d_ffn=d_ffn,
                                       kernel_size=kernel_size, activation=activation_class(encoder_activation),
                                       bias=bias, dropout=dropout, causal=causal, mamba_config=mamba_config)
        if num_decoder_layers > 0:
            if decoder_module == "transformer":
                self.decoder = TransformerDecoder(num_layers=num_decoder_layers, nhead=nhead, d_ffn=d_ffn,
                                                  d_model=d_model, dropout=dropout, activation=activation,
                                                  normalize_before=normalize_before, causal=True,
                                                  attention_type="regularMHA")
            else:
                self.decoder = MambaDecoder(num_layers=num_decoder_layers, d_model=d_model, d_ffn=d_ffn,
                                            activation=activation, dropout=dropout,
                                            normalize_before=normalize_before, mamba_config=mamba_config)
        self.custom_src_module = ModuleList(
            Linear(input_size=input_size, n_neurons=d_model, bias=True, combine_dims=False),
            nn.Dropout(dropout),
        )
        if num_decoder_layers > 0:
            self.custom_tgt_module = ModuleList(NormalizedEmbedding(d_model, tgt_vocab))
        self._init_params()
