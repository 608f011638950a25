"""SepFormer (Subakan et al., arXiv 2010.13154): the attention baseline of the Mamba separation papers.

Built from SpeechBrain's lobes exactly as SpeechBrain's WSJ0-2mix recipe
(recipes/WSJ0Mix/separation/hparams/sepformer.yaml, also used by xi-j/Mamba-TasNet):
encoder Conv1d(1, 256, 16, stride 8) + ReLU; ``Dual_Path_Model`` with 2 dual blocks, chunks of
K=250 frames (50 % overlap), each block an intra- and an inter-chunk ``SBTransformerBlock`` of
8 pre-norm layers (d_model 256, 8 heads, d_ffn 1024, sinusoidal positional encoding, no
dropout), GroupNorm(1) "ln" norms, a skip around the intra transformer, no extra linear layer;
ReLU masks; transposed-conv decoder.

Parameters: 25,679,361 (encoder 4,096 + masknet 25,671,169 + decoder 4,096), the "25.7 M" the
Mamba-TasNet README and the SepFormer paper (26 M) quote.
State-dict keys are those of SpeechBrain's classes under ``encoder.``/``masknet.``/``decoder.``,
the three modules SpeechBrain's recipe checkpoints (not checked here against a released file).
"""

from speechbrain.lobes.models.dual_path import Dual_Path_Model, SBTransformerBlock

from speechslytherin.models.sep.masking import MaskingSeparator, tasnet_encoder_decoder

PRESETS = {
    # SpeechBrain WSJ0Mix sepformer.yaml (the published 22.3 dB SI-SNRi model with DM).
    "wsj0-2mix": {},
    # Ours: every part present, seconds per epoch on a CPU (tests, mini recipe).
    "tiny": {"N": 16, "n_layers": 1, "n_transformer_layers": 1, "nhead": 2, "d_ffn": 32, "chunk_size": 20},
}


def transformer_block(n_layers, d_model, nhead, d_ffn, dropout):
    return SBTransformerBlock(
        num_layers=n_layers, d_model=d_model, nhead=nhead, d_ffn=d_ffn, dropout=dropout,
        use_positional_encoding=True, norm_before=True,
    )


class SepFormer(MaskingSeparator):
    """SepFormer separator: mix [B, T] -> estimates [B, T, n_src].

    ``N`` = encoder filters = transformer width; ``n_layers`` = dual-path blocks;
    ``n_transformer_layers`` = layers in each intra and inter transformer; ``chunk_size`` = K.
    """

    PRESETS = PRESETS

    def __init__(self, n_src=2, N=256, kernel_size=16, stride=8, n_layers=2, n_transformer_layers=8,
                 nhead=8, d_ffn=1024, chunk_size=250, dropout=0.0, skip_around_intra=True):
        super().__init__()
        self.n_src = n_src
        self.kernel_size = kernel_size
        self.encoder, decoder = tasnet_encoder_decoder(N, kernel_size, stride)
        self.masknet = Dual_Path_Model(
            in_channels=N,
            out_channels=N,
            intra_model=transformer_block(n_transformer_layers, N, nhead, d_ffn, dropout),
            inter_model=transformer_block(n_transformer_layers, N, nhead, d_ffn, dropout),
            num_layers=n_layers,
            norm="ln",
            K=chunk_size,
            num_spks=n_src,
            skip_around_intra=skip_around_intra,
            linear_layer_after_inter_intra=False,
        )
        self.decoder = decoder  # registered last: SpeechBrain's key order encoder, masknet, decoder
