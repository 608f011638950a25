"""Conv-TasNet (Luo & Mesgarani, arXiv 1809.07454): the convolutional baseline of the Mamba papers.

Built from SpeechBrain's lobes (``conv_tasnet.MaskNet``: channel-wise LayerNorm, 1x1 bottleneck,
R repeats of X dilated depthwise-separable temporal blocks with gLN, 1x1 conv to n_src*N masks)
between SpeechBrain's dual_path encoder/decoder, as SpeechBrain's WSJ0-2mix recipe builds it.

The default is the paper's best configuration (its Table and the "5.1 M" the Mamba papers cite):
N=512 filters, L=16 samples (stride 8), B=128 bottleneck, H=512 block channels, P=3 kernel,
X=8 blocks per repeat, R=3 repeats, non-causal, gLN.

Parameter count with SpeechBrain's classes: **3,445,808**, against the paper's ~5.1 M
(5,050,545 with the paper's layout). The difference, 1,604,737, is exactly what SpeechBrain's
TemporalBlock leaves out:
- the skip-connection output of every block (a 1x1 conv H -> Sc=128 with bias:
  24 x 65,664 = 1,575,936), SpeechBrain's blocks having only the residual path;
- the biases of the block convs and of the bottleneck/mask convs (24 x (512 + 512 + 128) + 128
  + 1,024 = 28,800);
- the PReLU before the mask conv (1).
The compute of the 24 blocks is unchanged apart from the skip convs. SpeechBrain's non-causal
"same" convs pad by reflection (the paper: zeros), so inputs shorter than 129 frames (1,040
samples) are zero-padded to that length before the network and the output trimmed back. Masks use ReLU (SpeechBrain's
recipe; SpeechBrain's MaskNet offers relu or softmax, while the paper uses a sigmoid).
SpeechBrain's own WSJ0-2mix recipe uses a different, causal configuration (N=256, B=256, H=512,
X=6, R=4: 6,582,832 parameters); it is available as the "speechbrain" preset.
"""

from speechbrain.lobes.models.conv_tasnet import MaskNet

from speechslytherin.models.sep.masking import MaskingSeparator, tasnet_encoder_decoder

PRESETS = {
    # Luo & Mesgarani 2019, the best non-causal configuration (15.3 dB SI-SNRi on WSJ0-2mix).
    "paper": {},
    # SpeechBrain recipes/WSJ0Mix/separation/hparams/convtasnet.yaml.
    "speechbrain": {"N": 256, "B": 256, "H": 512, "P": 3, "X": 6, "R": 4, "causal": True},
    # Ours: every part present, seconds per epoch on a CPU (tests, mini recipe).
    "tiny": {"N": 16, "B": 8, "H": 16, "P": 3, "X": 2, "R": 1},
}

MASK_NONLINEARITIES = ("relu", "softmax")


class ConvTasNet(MaskingSeparator):
    """Conv-TasNet separator: mix [B, T] -> estimates [B, T, n_src]. Argument names are the paper's."""

    PRESETS = PRESETS

    def __init__(self, n_src=2, N=512, L=16, B=128, H=512, P=3, X=8, R=3, norm_type="gLN",
                 causal=False, mask_nonlinear="relu"):
        super().__init__()
        if mask_nonlinear not in MASK_NONLINEARITIES:
            raise ValueError(f"ConvTasNet: mask_nonlinear={mask_nonlinear!r}; choose one of {MASK_NONLINEARITIES}.")
        self.n_src = n_src
        self.kernel_size = L
        # SpeechBrain's "same" convs pad by reflection, which needs more frames than the padding of
        # the most dilated block, (P - 1) * 2**(X - 1) / 2; shorter inputs are zero-padded first.
        min_frames = (P - 1) * 2 ** (X - 1) // 2 + 1
        self._min_samples = (min_frames - 1) * (L // 2) + L
        self.encoder, decoder = tasnet_encoder_decoder(N, L, L // 2)
        self.masknet = MaskNet(N=N, B=B, H=H, P=P, X=X, R=R, C=n_src, norm_type=norm_type, causal=causal,
                               mask_nonlinear=mask_nonlinear)
        self.decoder = decoder  # registered last: SpeechBrain's key order encoder, masknet, decoder

    @property
    def min_samples(self):
        return self._min_samples
