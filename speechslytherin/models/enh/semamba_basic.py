"""SEMamba-basic (paper Fig. 1; not in the official release): a frame-wise magnitude masker
built around Mamba blocks, which the paper uses to compare Mamba with a Transformer in the
plainest setting, causal and non-causal.

    noisy [B, T] -> unit RMS -> STFT 400/100/400 Hann -> log1p|X|  [B, frames, 201]
    -> conv encoder: Conv1d(201 -> d_model, k=3) over frames + PReLU (causal: past-only padding)
    -> Mamba: causal = n_layers uni-directional pre-norm Blocks + final RMSNorm;
              non-causal = forward and backward stacks of n_layers Blocks, concatenated, Linear back
    -> FC decoder: Linear(d_model -> 201) -> learnable sigmoid (beta 2) mask on |X|
    -> noisy phase kept -> iSTFT -> / RMS factor

This is a reconstruction from the paper's description (log1p magnitude input, conv encoder,
Mamba blocks, fully connected decoder); no code or configuration of it was released, so the
widths, depth and the masking choice are this toolkit's. The interface, STFT and training path
are those of ``SEMamba``, so the same task, losses and discriminator train it.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.enh.codec import LearnableSigmoid2D
from speechslytherin.models.enh.spectral import SpectralEnhancer
from speechslytherin.models.enh.stft import polar
from speechslytherin.nnet.mamba import BiMambaConcat, MambaStack

PRESETS = {
    "basic": {},
    "basic_causal": {"causal": True},
    "mini": {"d_model": 64, "n_layers": 2},
}


class SEMambaBasic(SelfDescribing, SpectralEnhancer):
    """Basic SEMamba: ``model(noisy [B, T]) -> enhanced [B, T]``; ``enhance(mag, pha)`` works on
    compressed spectra like ``SEMamba.enhance`` (the mask acts on the uncompressed magnitude)."""

    def __init__(self, d_model=256, n_layers=4, d_state=16, d_conv=4, expand=2, norm_epsilon=1e-5, beta=2.0,
                 kernel_size=3, causal=False, compress_factor=0.3, n_fft=400, hop_size=100, win_size=400,
                 scan_impl=None):
        super().__init__()
        self.n_fft, self.hop_size, self.win_size = n_fft, hop_size, win_size
        self.compress_factor, self.causal, self.kernel_size = compress_factor, causal, kernel_size
        n_freq = n_fft // 2 + 1
        self.encoder = nn.Conv1d(n_freq, d_model, kernel_size)
        self.encoder_act = nn.PReLU(d_model)
        kw = dict(d_state=d_state, d_conv=d_conv, expand=expand, norm_epsilon=norm_epsilon, scan_impl=scan_impl)
        if causal:
            self.mamba = MambaStack(n_layers, d_model, bidirectional=False, rms_norm=True, **kw)
            self.merge = None
        else:
            self.mamba = BiMambaConcat(d_model, n_layer=n_layers, norm="rms", bidirectional=True, **kw)
            self.merge = nn.Linear(2 * d_model, d_model)
        self.decoder = nn.Linear(d_model, n_freq)
        self.lsigmoid = LearnableSigmoid2D(n_freq, beta=beta)

    @classmethod
    def from_preset(cls, name, **overrides):
        if name not in PRESETS:
            raise KeyError(f"unknown SEMamba-basic preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def enhance(self, noisy_mag, noisy_pha):
        linear_mag = noisy_mag.pow(1.0 / self.compress_factor)  # |X|, [B, F, T]
        feat = torch.log1p(linear_mag)
        pad = self.kernel_size - 1
        feat = F.pad(feat, (pad, 0) if self.causal else (pad // 2, pad - pad // 2))
        h = self.encoder_act(self.encoder(feat)).transpose(1, 2)  # [B, T, d]
        h = self.mamba(h)
        if self.merge is not None:
            h = self.merge(h)
        mask = self.lsigmoid(self.decoder(h).transpose(1, 2))  # [B, F, T]
        mag = mask.pow(self.compress_factor) * noisy_mag  # = (mask |X|)^c, finite gradient at |X| = 0
        return mag, noisy_pha, polar(mag, noisy_pha)
