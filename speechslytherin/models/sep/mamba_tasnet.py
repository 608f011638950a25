"""Mamba-TasNet (Speech Slytherin, arXiv 2407.09732): a TasNet whose mask network is a stack
of bidirectional Mamba blocks.

Layout and state-dict keys follow the official release (xi-j/Mamba-TasNet, SpeechBrain 1.0
recipe) so its `encoder.ckpt`, `masknet.ckpt` and `decoder.ckpt` load with no renaming:

    mix [B, T] -> encoder (Conv1d N x 16, stride 8, ReLU) -> w [B, N, L]
    masknet:  channel-wise LayerNorm -> 1x1 conv (bottleneck) -> bidirectional Mamba stack
              (BiMamba v2, RMSNorm pre-norm blocks, final RMSNorm) -> 1x1 conv to n_src*N
              -> ReLU masks [n_src, B, N, L]
    decoder:  ConvTranspose1d(N -> 1, 16, stride 8) on w * mask, padded/trimmed to T
    -> est [B, T, n_src]   (SpeechBrain's layout)

The official variants are available as presets: ``MambaTasNet.from_preset("S")``.
"""

import torch
import torch.nn.functional as F
from speechbrain.lobes.models.conv_tasnet import ChannelwiseLayerNorm
from speechbrain.lobes.models.dual_path import Decoder, Encoder
from speechbrain.nnet.CNN import Conv1d
from torch import nn

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.sep.separator import Separator, fit_to_length
from speechslytherin.nnet.mamba import MambaStack

# hparams/WSJ0Mix/mambatasnet_{XS,S,M,L}.yaml of the official repo; "mini" is ours, for CPU tests
# and the mini-corpus recipe.
PRESETS = {
    "XS": {"N": 128, "n_layers": 16},
    "S": {"N": 256, "n_layers": 16},
    "M": {"N": 256, "n_layers": 32},
    "L": {"N": 512, "n_layers": 32},
    "mini": {"N": 32, "n_layers": 2},
}

MASK_ACTIVATIONS = ("relu", "sigmoid", "softmax")


class MambaMaskNet(nn.Module):
    """Mask estimator of Mamba-TasNet: encoder features [B, N, L] -> masks [n_src, B, N, L].

    ``mask_act="softmax"`` normalises over the sources (the official code's unused softmax
    option normalises over the feature axis instead; no official configuration uses it).
    """

    def __init__(self, N, bottleneck, n_src, n_layers, mask_act="relu", bidirectional=True,
                 mamba_kwargs=None):
        super().__init__()
        if mask_act not in MASK_ACTIVATIONS:
            raise ValueError(f"mask_act={mask_act!r}: choose one of {MASK_ACTIVATIONS}.")
        self.n_src = n_src
        self.mask_act = mask_act
        self.layer_norm = ChannelwiseLayerNorm(N)
        self.bottleneck_conv1x1 = Conv1d(
            in_channels=N, out_channels=bottleneck, kernel_size=1, bias=False
        )
        self.mamba_net = MambaStack(
            n_layers,
            bottleneck,
            bidirectional=bidirectional,
            bimamba_type="v2" if bidirectional else None,
            **(mamba_kwargs or {}),
        )
        self.mask_conv1x1 = Conv1d(
            in_channels=bottleneck, out_channels=n_src * N, kernel_size=1, bias=False
        )

    def forward(self, mix_w):
        batch, n_feat, n_frames = mix_w.shape
        y = self.layer_norm(mix_w.transpose(1, 2))  # [B, L, N]
        y = self.bottleneck_conv1x1(y)
        y = self.mamba_net(y)
        score = self.mask_conv1x1(y)  # [B, L, n_src * N]
        score = score.reshape(batch, n_frames, self.n_src, n_feat).permute(2, 0, 3, 1)
        if self.mask_act == "relu":
            return F.relu(score)
        if self.mask_act == "sigmoid":
            return torch.sigmoid(score)
        return torch.softmax(score, dim=0)


class MambaTasNet(Separator, SelfDescribing, nn.Module):
    """Mamba-TasNet separator: mix [B, T] (or [T]) -> estimates [B, T, n_src] (or [T, n_src]).

    Arguments mirror the official hparams: ``N`` = N_encoder_out (also the Mamba width unless
    ``bottleneck`` is given), ``n_layers`` = n_mamba, ``d_state`` = ssm_dim, ``expand`` =
    mamba_expand, ``d_conv`` = mamba_conv. ``scan_impl`` picks the selective-scan backend
    (None: the SPEECHSLYTHERIN_SCAN environment variable, else automatic).
    """

    def __init__(
        self,
        n_src=2,
        N=256,
        kernel_size=16,
        stride=8,
        n_layers=16,
        d_state=16,
        d_conv=4,
        expand=2,
        bidirectional=True,
        rms_norm=True,
        mask_act="relu",
        scan_impl=None,
        bottleneck=None,
        norm_epsilon=1e-5,
        fused_add_norm=False,
        residual_in_fp32=False,
    ):
        super().__init__()
        if stride != kernel_size // 2:
            raise ValueError(
                f"MambaTasNet: stride={stride} with kernel_size={kernel_size}; the (official) "
                f"SpeechBrain encoder always uses stride = kernel_size // 2 = {kernel_size // 2}."
            )
        self.n_src = n_src
        self.kernel_size = kernel_size
        self.stride = stride
        self.encoder = Encoder(kernel_size=kernel_size, out_channels=N)
        self.masknet = MambaMaskNet(
            N,
            bottleneck or N,
            n_src,
            n_layers,
            mask_act=mask_act,
            bidirectional=bidirectional,
            mamba_kwargs=dict(
                rms_norm=rms_norm,
                d_state=d_state,
                d_conv=d_conv,
                expand=expand,
                norm_epsilon=norm_epsilon,
                fused_add_norm=fused_add_norm,
                residual_in_fp32=residual_in_fp32,
                scan_impl=scan_impl,
            ),
        )
        self.decoder = Decoder(
            in_channels=N, out_channels=1, kernel_size=kernel_size, stride=stride, bias=False
        )

    @classmethod
    def from_preset(cls, name, **overrides):
        """Build an official variant ("XS", "S", "M", "L") or the CPU-sized "mini"."""
        if name not in PRESETS:
            raise KeyError(f"Unknown Mamba-TasNet preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def forward(self, mix):
        if mix.dim() == 1:
            return self.forward(mix.unsqueeze(0))[0]
        if mix.dim() != 2:
            raise ValueError(f"MambaTasNet expects a mixture [batch, time] or [time], got {tuple(mix.shape)}.")
        n_samples = mix.shape[1]
        if n_samples == 0:
            raise ValueError("MambaTasNet: the mixture is empty (0 samples).")
        if n_samples < self.kernel_size:  # too short for one encoder frame
            mix = F.pad(mix, (0, self.kernel_size - n_samples))
        mix_w = self.encoder(mix)  # [B, N, L]
        masks = self.masknet(mix_w)  # [n_src, B, N, L]
        sep_w = (mix_w.unsqueeze(0) * masks).flatten(0, 1)  # [n_src * B, N, L]
        est = self.decoder(sep_w).reshape(self.n_src, mix.shape[0], -1)  # [n_src, B, T']
        est = est.permute(1, 2, 0)  # [B, T', n_src]
        # As the official recipe: zero-pad the last samples the transposed conv leaves out, or trim.
        return fit_to_length(est, n_samples)

