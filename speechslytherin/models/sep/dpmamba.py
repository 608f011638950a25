"""DPMamba (Speech Slytherin, arXiv 2407.09732): the dual-path variant of Mamba-TasNet.

As the official recipe builds it (xi-j/Mamba-TasNet hparams/WSJ0Mix/dpmamba_{XS,S,M,L}.yaml):
SpeechBrain's ``Dual_Path_Model`` whose intra- and inter-chunk models are Mamba-TasNet's
bidirectional Mamba stacks (``MambaBlocksSequential`` with ``n_mamba_dp // 2`` = 1 BiMamba-v2
pre-norm block each, RMSNorm, final RMSNorm), between SpeechBrain's dual_path encoder/decoder:

    mix [B, T] -> encoder Conv1d(1, N, 16, stride 8) + ReLU -> [B, N, L]
    masknet: GroupNorm(1) -> 1x1 conv -> chunks of K=250 (50 % overlap)
             -> n_dp x [intra BiMamba over each chunk -> GroupNorm (+ input if skip_around_intra)
                        -> inter BiMamba across chunks -> GroupNorm -> + intra]
             -> PReLU -> 1x1 conv2d to n_src*N -> overlap-add -> tanh * sigmoid gate -> 1x1 conv
             -> ReLU masks [n_src, B, N, L]
    decoder ConvTranspose1d(N, 1, 16, stride 8) on the masked encodings -> [B, T, n_src]

``Dual_Path_Model`` deep-copies the intra/inter models into each block, as in the official code,
so every block starts from the same initial weights. No linear layer after intra/inter.
Keys and parameter counts equal the official ones exactly
(reference/official_keys/keys_dpmamba_*.json): XS 2,265,857, S 8,136,193, M 15,869,441,
L 59,788,289 (README: 2.3 / 8.1 / 15.9 / 59.8 M).
"""

from speechbrain.lobes.models.dual_path import Dual_Path_Model

from speechslytherin.models.sep.masking import MaskingSeparator, tasnet_encoder_decoder
from speechslytherin.nnet.mamba import MambaStack

# hparams/WSJ0Mix/dpmamba_{XS,S,M,L}.yaml (and the released hyperparams.yaml): N_encoder_out,
# n_dp, skip_around_intra; all have chunk_size 250, n_mamba_dp 2, d_state 16, expand 2, d_conv 4.
PRESETS = {
    "XS": {"N": 128, "n_layers": 8, "skip_around_intra": False},
    "S": {"N": 256, "n_layers": 8, "skip_around_intra": False},
    "M": {"N": 256, "n_layers": 16, "skip_around_intra": True},
    "L": {"N": 512, "n_layers": 16, "skip_around_intra": True},
    # Ours: every part present, seconds per epoch on a CPU (tests, mini recipe).
    "tiny": {"N": 16, "n_layers": 1, "chunk_size": 20, "d_state": 4},
}


class DPMamba(MaskingSeparator):
    """Dual-path Mamba separator: mix [B, T] -> estimates [B, T, n_src].

    Arguments mirror the official hparams: ``N`` = N_encoder_out = out_channels (Mamba width),
    ``n_layers`` = n_dp (dual-path blocks), ``n_mamba`` = n_mamba_dp // 2 (BiMamba blocks in each
    intra and each inter model), ``chunk_size`` = K, ``d_state`` = ssm_dim, ``expand`` =
    mamba_expand, ``d_conv`` = mamba_conv. ``scan_impl`` picks the selective-scan backend.
    """

    PRESETS = PRESETS

    def __init__(self, n_src=2, N=256, kernel_size=16, stride=8, n_layers=8, n_mamba=1, chunk_size=250,
                 skip_around_intra=False, bidirectional=True, d_state=16, d_conv=4, expand=2,
                 rms_norm=True, norm_epsilon=1e-5, fused_add_norm=False, residual_in_fp32=False,
                 scan_impl=None):
        super().__init__()
        self.n_src = n_src
        self.kernel_size = kernel_size
        self.encoder, decoder = tasnet_encoder_decoder(N, kernel_size, stride)

        def mamba():
            return MambaStack(
                n_mamba, N, bidirectional=bidirectional, bimamba_type="v2" if bidirectional else None,
                rms_norm=rms_norm, d_state=d_state, d_conv=d_conv, expand=expand, norm_epsilon=norm_epsilon,
                fused_add_norm=fused_add_norm, residual_in_fp32=residual_in_fp32, scan_impl=scan_impl,
            )

        self.masknet = Dual_Path_Model(
            in_channels=N,
            out_channels=N,
            intra_model=mamba(),
            inter_model=mamba(),
            num_layers=n_layers,
            norm="ln",
            K=chunk_size,
            num_spks=n_src,
            skip_around_intra=skip_around_intra,
            linear_layer_after_inter_intra=False,
        )
        self.decoder = decoder  # registered last: SpeechBrain's key order encoder, masknet, decoder
