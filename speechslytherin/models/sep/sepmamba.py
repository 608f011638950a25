"""SepMamba (arXiv 2410.20997): a waveform U-Net whose every stage is a stack of Mamba blocks.

Layout, activations and state-dict keys follow the official code (itsmeeandrew/SepMamba,
src/models/SepMamba.py and SepMambaCausal.py), so its ``model_state_dict`` loads unchanged:

    mix [B, T] -> [B, 1, T]
    down.0..2:  Conv1d(c_in, c_out, k, stride s, no padding) -> act -> MambaLayer   (1 -> d -> 2d -> 4d)
    up.0..1:    ConvTranspose1d(c_in, c_out, k, s) -> act -> zero-pad right to the skip's length
                -> cat([skip, x]) -> Conv1d(2 c_out, c_out, 1) ("conv1d_fusion") -> act -> MambaLayer
                (4d -> 2d -> d; the skips are the outputs of down.1 and down.0)
    decoder:    ConvTranspose1d(d, n_src, k, s): the waveforms directly, no masks
    -> [B, T', n_src], zero-padded (or trimmed) to T  (SpeechBrain's layout, as MambaTasNet)

MambaLayer = ``BiMambaSum``: separate forward and backward stacks of ``num_blocks`` LayerNorm
Mamba blocks (d_state 16, d_conv 4, expand 2), each returning hidden + residual, summed. The
causal variant (``causal=True``, official ``SepMambaCausal``) has the forward stack only; its
convolutions are unchanged, so each output sample sees a fixed, finite stretch of future input
(105 samples with the official kernels 16 and strides 2), which models/sep/sepmamba_stream.py
uses to separate a stream chunk by chunk.

Unlike the official code (which builds its right padding with ``.cuda()``), everything runs on CPU.
The variants are presets: ``SepMamba.from_preset("S")``, "M", "causal-S", "causal-M".
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.sep.separator import Separator, fit_to_length
from speechslytherin.nnet.mamba import BiMambaSum

# src/conf/model/SepMamba.yaml, SepMambaCausal.yaml and the README's M sizes; "mini" and
# "tiny" are ours (CPU recipe and tests).
_OFFICIAL_CONV = {"kernel_sizes": [16, 16, 16], "strides": [2, 2, 2], "act_fn": "relu"}
PRESETS = {
    "S": {"dim": 64, "num_blocks": 4, **_OFFICIAL_CONV},
    "M": {"dim": 128, "num_blocks": 3, **_OFFICIAL_CONV},
    "causal-S": {"dim": 64, "num_blocks": 8, "causal": True, **_OFFICIAL_CONV},
    "causal-M": {"dim": 128, "num_blocks": 6, "causal": True, **_OFFICIAL_CONV},
    "mini": {"dim": 32, "num_blocks": 2, **_OFFICIAL_CONV},
    "causal-mini": {"dim": 32, "num_blocks": 4, "causal": True, **_OFFICIAL_CONV},
}

# The official activation table (src/models/SepMamba.py); each stage owns its own module.
ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "mish": nn.Mish, "prelu": nn.PReLU}
N_STAGES = 3  # the official U-Net is written for exactly three down and two up stages


def make_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"SepMamba: act_fn={name!r}; choose one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]()


def min_input_length(kernel_sizes, strides):
    """Fewest input samples that leave at least one frame after every down stage."""
    need = 1
    for k, s in zip(reversed(kernel_sizes), reversed(strides)):
        need = (need - 1) * s + k
    return need


class DownSample(nn.Module):
    """Strided conv -> activation -> Mamba layer, on [B, C, L]."""

    def __init__(self, c_in, c_out, kernel_size, stride, mamba_layer, act_fn):
        super().__init__()
        self.conv1d = nn.Conv1d(c_in, c_out, kernel_size=kernel_size, stride=stride)
        self.mamba_layer = mamba_layer
        self.act = make_activation(act_fn)

    def forward(self, x):
        x = self.act(self.conv1d(x))
        return self.mamba_layer(x.transpose(1, 2)).transpose(1, 2)


class UpSample(nn.Module):
    """Transposed conv -> activation -> right zero-pad to the skip -> concat(skip, x) ->
    1x1 fusion conv -> activation -> Mamba layer, on [B, C, L]."""

    def __init__(self, c_in, c_out, kernel_size, stride, mamba_layer, act_fn):
        super().__init__()
        self.convT1d = nn.ConvTranspose1d(c_in, c_out, kernel_size=kernel_size, stride=stride)
        self.conv1d_fusion = nn.Conv1d(c_in, c_out, kernel_size=1)
        self.mamba_layer = mamba_layer
        self.act = make_activation(act_fn)

    def forward(self, x, skip):
        x = self.act(self.convT1d(x))
        # With no conv padding the transposed conv is never longer than the skip (0 or 1 short
        # at stride 2); the official code pads, after the activation, with exact zeros.
        if x.shape[-1] < skip.shape[-1]:
            x = F.pad(x, (0, skip.shape[-1] - x.shape[-1]))
        x = self.act(self.conv1d_fusion(torch.cat([skip, x], dim=1)))
        return self.mamba_layer(x.transpose(1, 2)).transpose(1, 2)


class SepMamba(Separator, SelfDescribing, nn.Module):
    """SepMamba separator: mix [B, T] (or [T]) -> estimates [B, T, n_src] (or [T, n_src]).

    ``dim``, ``kernel_sizes``, ``strides``, ``num_blocks``, ``act_fn`` are the official
    arguments; ``causal=True`` is SepMambaCausal. ``n_src`` is the decoder's output channels
    (the official code hard-codes 2). ``d_state``/``d_conv``/``expand`` are the Mamba mixer's
    (official: mamba-ssm 1.2 defaults 16/4/2); ``scan_impl`` picks the selective-scan backend
    (None: the SPEECHSLYTHERIN_SCAN environment variable, else automatic).
    """

    def __init__(self, dim=64, kernel_sizes=(16, 16, 16), strides=(2, 2, 2), num_blocks=4, act_fn="relu",
                 causal=False, n_src=2, d_state=16, d_conv=4, expand=2, scan_impl=None):
        super().__init__()
        kernel_sizes, strides = [int(k) for k in kernel_sizes], [int(s) for s in strides]
        if len(kernel_sizes) != N_STAGES or len(strides) != N_STAGES:
            raise ValueError(f"SepMamba: kernel_sizes and strides need {N_STAGES} entries each (one per "
                             f"down stage), got {kernel_sizes} and {strides}.")
        if any(s < 1 or k < s for k, s in zip(kernel_sizes, strides)):
            raise ValueError(f"SepMamba: every stride must be >= 1 and <= its kernel size, got "
                             f"kernel_sizes={kernel_sizes}, strides={strides}.")
        make_activation(act_fn)
        self.n_src, self.causal = int(n_src), bool(causal)
        self.kernel_sizes, self.strides = kernel_sizes, strides
        self.min_length = min_input_length(kernel_sizes, strides)

        def mamba_layer(width):
            return BiMambaSum(width, n_layer=num_blocks, norm="layer", d_state=d_state, d_conv=d_conv,
                              expand=expand, bidirectional=not causal, scan_impl=scan_impl)

        widths = [1, dim, 2 * dim, 4 * dim]
        self.down = nn.ModuleList([
            DownSample(widths[i], widths[i + 1], kernel_sizes[i], strides[i], mamba_layer(widths[i + 1]), act_fn)
            for i in range(N_STAGES)])
        # up.0 undoes down.2 (4d -> 2d), up.1 undoes down.1 (2d -> d)
        self.up = nn.ModuleList([
            UpSample(widths[i + 1], widths[i], kernel_sizes[i], strides[i], mamba_layer(widths[i]), act_fn)
            for i in (2, 1)])
        self.decoder = nn.ConvTranspose1d(dim, self.n_src, kernel_size=kernel_sizes[0], stride=strides[0])

    @classmethod
    def from_preset(cls, name, **overrides):
        """Build an official variant ("S", "M", "causal-S", "causal-M") or a CPU-sized one."""
        if name not in PRESETS:
            raise KeyError(f"Unknown SepMamba preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def forward_waveform(self, x):
        """The official network on [B, 1, T] (T >= min_length) -> [B, n_src, T'] with T' <= T."""
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        skips.pop()  # the bottleneck output is not a skip
        for up in self.up:
            x = up(x, skips.pop())
        return self.decoder(x)

    def forward(self, mix):
        if mix.dim() == 1:
            return self.forward(mix.unsqueeze(0))[0]
        if mix.dim() != 2:
            raise ValueError(f"SepMamba expects a mixture [batch, time] or [time], got {tuple(mix.shape)}.")
        n_samples = mix.shape[1]
        if n_samples == 0:
            raise ValueError("SepMamba: the mixture is empty (0 samples).")
        if n_samples < self.min_length:  # too short for one frame at the bottleneck
            mix = F.pad(mix, (0, self.min_length - n_samples))
        est = self.forward_waveform(mix.unsqueeze(1)).transpose(1, 2)  # [B, T', n_src]
        # The official training trims the targets to T'; for whole inputs we zero-pad the last
        # (T - k) mod s samples the convolutions leave out, or trim a padded short input.
        return fit_to_length(est, n_samples)


    def streamer(self, batch=1):
        """A chunk-by-chunk separator of a stream (causal models only); see sepmamba_stream.py."""
        from speechslytherin.models.sep.sepmamba_stream import SepMambaStreamer

        return SepMambaStreamer(self, batch=batch)
