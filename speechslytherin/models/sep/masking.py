"""The encoder -> mask network -> decoder pipeline shared by the TasNet-family baselines.

SepFormer, Conv-TasNet, DPRNN and DPMamba differ only in their mask network; all follow
SpeechBrain's separation recipes:

    mix [B, T] -> encoder (Conv1d N x kernel, stride kernel // 2, ReLU) -> w [B, N, L]
    masknet(w) -> masks [n_src, B, N, L]
    decoder: ConvTranspose1d(N -> 1, kernel, stride) on w * mask, zero-padded/trimmed to T
    -> est [B, T, n_src]

A subclass builds ``self.encoder``, ``self.masknet``, ``self.decoder`` and sets ``self.n_src``,
``self.kernel_size`` and ``PRESETS`` (and may override ``min_samples``); this base brings
forward(), separate() and from_preset().
"""

import torch.nn.functional as F
from speechbrain.lobes.models.dual_path import Decoder, Encoder
from torch import nn

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.sep.separator import Separator, fit_to_length


def tasnet_encoder_decoder(N, kernel_size, stride):
    """SpeechBrain's dual_path Encoder/Decoder pair (keys ``conv1d.weight`` / ``weight``)."""
    if stride != kernel_size // 2:
        raise ValueError(
            f"stride={stride} with kernel_size={kernel_size}: SpeechBrain's encoder always uses "
            f"stride = kernel_size // 2 = {kernel_size // 2}; set stride to that value."
        )
    encoder = Encoder(kernel_size=kernel_size, out_channels=N)
    decoder = Decoder(in_channels=N, out_channels=1, kernel_size=kernel_size, stride=stride, bias=False)
    return encoder, decoder


class MaskingSeparator(Separator, SelfDescribing, nn.Module):
    """Base of the masking separators: mix [B, T] (or [T]) -> estimates [B, T, n_src] (or [T, n_src])."""

    PRESETS = {}

    @property
    def min_samples(self):
        """Shortest input the network takes; shorter mixtures are zero-padded, outputs trimmed."""
        return self.kernel_size

    @classmethod
    def from_preset(cls, name, **overrides):
        """Build a named configuration of ``cls.PRESETS`` (published ones, plus "tiny" for tests)."""
        if name not in cls.PRESETS:
            raise KeyError(f"Unknown {cls.__name__} preset {name!r}; choose one of {sorted(cls.PRESETS)}.")
        return cls(**{**cls.PRESETS[name], **overrides})

    def forward(self, mix):
        name = type(self).__name__
        if mix.dim() == 1:
            return self.forward(mix.unsqueeze(0))[0]
        if mix.dim() != 2:
            raise ValueError(f"{name} expects a mixture [batch, time] or [time], got {tuple(mix.shape)}.")
        n_samples = mix.shape[1]
        if n_samples == 0:
            raise ValueError(f"{name}: the mixture is empty (0 samples).")
        if n_samples < self.min_samples:  # too short for the encoder (or the mask network)
            mix = F.pad(mix, (0, self.min_samples - n_samples))
        mix_w = self.encoder(mix)  # [B, N, L]
        masks = self.masknet(mix_w)  # [n_src, B, N, L]
        sep_w = (mix_w.unsqueeze(0) * masks).flatten(0, 1)  # [n_src * B, N, L]
        est = self.decoder(sep_w).reshape(self.n_src, mix.shape[0], -1).permute(1, 2, 0)
        return fit_to_length(est, n_samples)  # the transposed conv leaves out the last partial frame

