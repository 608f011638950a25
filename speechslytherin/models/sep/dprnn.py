"""DPRNN (Luo, Chen & Yoshioka, arXiv 1910.06379): the dual-path RNN baseline of the Mamba papers.

Built from SpeechBrain's lobes as SpeechBrain's WSJ0-2mix recipe (recipes/WSJ0Mix/separation/
hparams/dprnn.yaml, also xi-j/Mamba-TasNet hparams/WSJ0Mix/dprnn.yaml): encoder Conv1d(1, 64,
kernel 2, stride 1) + ReLU (the paper's best "L=2" setting); ``Dual_Path_Model`` with 6 dual
blocks over chunks of K=250 frames, each block an intra- and an inter-chunk single-layer BLSTM
(128 hidden units per direction, ``SBRNNBlock``) followed by a linear layer back to 64 channels,
GroupNorm(1) "ln" norms, no extra skip around the intra block; ReLU masks.

Parameters: 2,608,001 (encoder 128 + masknet 2,607,745 + decoder 128): the paper's 2.6 M.
"""

from speechbrain.lobes.models.dual_path import Dual_Path_Model, SBRNNBlock

from speechslytherin.models.sep.masking import MaskingSeparator, tasnet_encoder_decoder

PRESETS = {
    # Luo et al. 2020 / SpeechBrain WSJ0Mix dprnn.yaml (18.8 dB SI-SNRi on WSJ0-2mix).
    "paper": {},
    # Ours: every part present, seconds per epoch on a CPU (tests, mini recipe).
    "tiny": {"N": 8, "hidden": 8, "n_layers": 1, "chunk_size": 20, "kernel_size": 16},
}


class DPRNN(MaskingSeparator):
    """DPRNN separator: mix [B, T] -> estimates [B, T, n_src].

    ``N`` = encoder filters = dual-path width, ``hidden`` = LSTM units per direction,
    ``n_layers`` = dual-path blocks, ``chunk_size`` = K, ``kernel_size`` = L (stride L // 2,
    so L=2 gives stride 1).
    """

    PRESETS = PRESETS

    def __init__(self, n_src=2, N=64, kernel_size=2, hidden=128, n_layers=6, chunk_size=250,
                 rnn_type="LSTM", dropout=0.0):
        super().__init__()
        self.n_src = n_src
        self.kernel_size = kernel_size
        self.encoder, decoder = tasnet_encoder_decoder(N, kernel_size, kernel_size // 2)

        def rnn():
            return SBRNNBlock(input_size=N, hidden_channels=hidden, num_layers=1, rnn_type=rnn_type,
                              dropout=dropout, bidirectional=True)

        self.masknet = Dual_Path_Model(
            in_channels=N,
            out_channels=N,
            intra_model=rnn(),
            inter_model=rnn(),
            num_layers=n_layers,
            norm="ln",
            K=chunk_size,
            num_spks=n_src,
            skip_around_intra=False,
            linear_layer_after_inter_intra=True,
        )
        self.decoder = decoder  # registered last: SpeechBrain's key order encoder, masknet, decoder
