"""The STFT front end SEMamba and MP-SENet share (official ``models/stfts.py`` semantics).

Hann window, ``center=True`` with reflect padding, magnitude compressed as ``|X| ** c``
(c = 0.3), phase from ``angle``. ``addeps=True`` is the eps-guarded variant the official
consistency loss uses (sqrt(re^2 + im^2 + 1e-10), atan2(im + 1e-10, re + 1e-10)).
Input RMS normalisation scales each waveform to unit RMS, as the official loader and
inference do, and returns the factor so the output can be scaled back.
"""

import torch

EPS_CONSISTENCY = 1e-10


def hann(win_size, device):
    return torch.hann_window(win_size, device=device)


def mag_phase_stft(wave, n_fft=400, hop=100, win=400, compress=0.3, addeps=False):
    """wave [B, T] -> (compressed magnitude, phase, compressed complex [..., 2]); each [B, F, frames]."""
    spec = torch.stft(wave, n_fft, hop_length=hop, win_length=win, window=hann(win, wave.device),
                      center=True, pad_mode="reflect", normalized=False, return_complex=True)
    if addeps:
        mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + EPS_CONSISTENCY)
        pha = torch.atan2(spec.imag + EPS_CONSISTENCY, spec.real + EPS_CONSISTENCY)
    else:
        mag, pha = spec.abs(), spec.angle()
    mag = mag.pow(compress)
    com = torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)
    return mag, pha, com


def mag_phase_istft(mag, pha, n_fft=400, hop=100, win=400, compress=0.3, length=None):
    """Compressed magnitude + phase [B, F, frames] -> wave [B, length] (official: length=None)."""
    mag = mag.pow(1.0 / compress)
    spec = torch.complex(mag * torch.cos(pha), mag * torch.sin(pha))
    return torch.istft(spec, n_fft, hop_length=hop, win_length=win, window=hann(win, spec.device),
                       center=True, length=length)


def rms_norm_factor(wave, eps=1e-8):
    """sqrt(T / sum(x^2)) per row of [B, T] -> [B, 1] (eps keeps silent input finite)."""
    return torch.sqrt(wave.shape[-1] / (wave.pow(2).sum(-1, keepdim=True) + eps))


def polar(mag, pha):
    """Compressed complex spectrum [..., 2] (real, imag) from compressed magnitude and phase."""
    return torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)
