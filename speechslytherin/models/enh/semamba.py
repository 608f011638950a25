"""SEMamba (Chao et al., IEEE SLT 2024, arXiv 2405.06573): the "advanced" model of the
official release (RoyChao19477/SEMamba), and its causal variant from the paper.

    noisy [B, T] -> unit RMS -> STFT 400/100/400 Hann -> |X|^0.3, angle   [B, 201, frames]
    -> stack [B, 2, frames, 201] -> DenseEncoder (201 -> 100 bins)
    -> 4 x TFMambaBlock: time Mamba over frames (per bin), then frequency Mamba over bins
       (per frame); each = separate forward / backward pre-norm Mamba Blocks (RMSNorm),
       concatenated to 2C, ConvTranspose1d(2C, C, 1) back, residual add
    -> MagDecoder (learnable sigmoid mask, beta 2) x noisy magnitude, PhaseDecoder (atan2)
    -> iSTFT of mag^(1/0.3) e^(j pha) -> / RMS factor

State-dict keys and shapes equal the official generator's (``dense_encoder.*``,
``TSMamba.{i}.{time,freq}_mamba.{forward,backward}_blocks.0.*``, ``TSMamba.{i}.{t,f}linear.*``,
``mask_decoder.*``, ``phase_decoder.*``): 2,258,769 parameters with the defaults, so the
official ``{'generator': state_dict}`` checkpoints load unchanged (bin/import_checkpoint).

``causal=True`` (paper only, not released): time convolutions look back only, per-frame
normalisation instead of InstanceNorm, and the time Mamba runs forward only (its
``tlinear`` maps C -> C); the frequency Mamba stays bidirectional (it sees one frame).
"""

import torch
import torch.nn as nn

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.enh.codec import DenseEncoder, MagDecoder, PhaseDecoder
from speechslytherin.models.enh.spectral import SpectralEnhancer
from speechslytherin.models.enh.stft import polar
from speechslytherin.nnet.mamba import BiMambaConcat

# recipes/SEMamba_advanced/SEMamba_advanced.yaml (official); the others are this toolkit's.
PRESETS = {
    "advanced": {},
    "advanced_causal": {"causal": True},
    "mini": {"hid_feature": 16, "num_tfmamba": 2, "expand": 2},
}


class TFMambaBlock(nn.Module):
    """[B, C, T, F] -> same: time Mamba (sequences of frames), then frequency Mamba."""

    def __init__(self, hid, d_state=16, d_conv=4, expand=4, norm_epsilon=1e-5, causal=False, scan_impl=None):
        super().__init__()
        kw = dict(n_layer=1, norm="rms", d_state=d_state, d_conv=d_conv, expand=expand,
                  norm_epsilon=norm_epsilon, scan_impl=scan_impl)
        self.time_mamba = BiMambaConcat(hid, bidirectional=not causal, **kw)
        self.freq_mamba = BiMambaConcat(hid, bidirectional=True, **kw)
        self.tlinear = nn.ConvTranspose1d(hid if causal else 2 * hid, hid, 1, stride=1)
        self.flinear = nn.ConvTranspose1d(2 * hid, hid, 1, stride=1)

    def forward(self, x):
        b, c, t, f = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        x = self.tlinear(self.time_mamba(x).transpose(1, 2)).transpose(1, 2) + x
        x = x.reshape(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        x = self.flinear(self.freq_mamba(x).transpose(1, 2)).transpose(1, 2) + x
        return x.reshape(b, t, f, c).permute(0, 3, 1, 2)


class SEMamba(SelfDescribing, SpectralEnhancer):
    """SEMamba generator. ``model(noisy [B, T]) -> enhanced [B, T]``; ``model.enhance(mag, pha)``
    is the official forward on compressed spectra [B, 201, frames] -> (mag, pha, com).
    Argument names follow the official config (model_cfg / stft_cfg)."""

    def __init__(self, hid_feature=64, num_tfmamba=4, d_state=16, d_conv=4, expand=4, norm_epsilon=1e-5,
                 beta=2.0, compress_factor=0.3, n_fft=400, hop_size=100, win_size=400, input_channel=2,
                 output_channel=1, causal=False, scan_impl=None):
        super().__init__()
        self.n_fft, self.hop_size, self.win_size = n_fft, hop_size, win_size
        self.compress_factor, self.causal = compress_factor, causal
        n_freq = n_fft // 2 + 1
        if (n_freq - 3) // 2 * 2 + 3 != n_freq:
            raise ValueError(f"SEMamba: n_fft={n_fft} gives {n_freq} bins; the encoder's stride-2 conv and the "
                             f"decoders' transposed conv restore the bin count only for odd bin counts "
                             f"(n_fft divisible by 4, e.g. 400 or 512).")
        self.dense_encoder = DenseEncoder(input_channel, hid_feature, causal=causal)
        self.TSMamba = nn.ModuleList([
            TFMambaBlock(hid_feature, d_state, d_conv, expand, norm_epsilon, causal=causal, scan_impl=scan_impl)
            for _ in range(num_tfmamba)])
        self.mask_decoder = MagDecoder(hid_feature, n_freq, output_channel, beta, causal=causal)
        self.phase_decoder = PhaseDecoder(hid_feature, output_channel, causal=causal)

    @classmethod
    def from_preset(cls, name, **overrides):
        if name not in PRESETS:
            raise KeyError(f"unknown SEMamba preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def enhance(self, noisy_mag, noisy_pha):
        mag = noisy_mag.transpose(1, 2).unsqueeze(1)  # [B, 1, T, F]
        pha = noisy_pha.transpose(1, 2).unsqueeze(1)
        x = self.dense_encoder(torch.cat((mag, pha), dim=1))
        for block in self.TSMamba:
            x = block(x)
        den_mag = (self.mask_decoder(x) * mag)[:, 0].transpose(1, 2)  # [B, F, T]
        den_pha = self.phase_decoder(x)[:, 0].transpose(1, 2)
        return den_mag, den_pha, polar(den_mag, den_pha)

