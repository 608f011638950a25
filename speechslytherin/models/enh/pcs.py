"""Perceptual contrast stretching (PCS400; Chao et al., the official ``models/pcs400.py``).

log1p of the STFT magnitude (n_fft 400, hop 100, Hamming window) is multiplied per frequency
bin by gains derived from band importance (1.4 in the speech band 10-109, less towards both
ends), then expm1, iSTFT with the unmodified phase, and peak normalisation to 1. Used as
inference post-processing (SEMamba +PCS) or on the clean training target
(``use_PCS400: True``).

The official code pads the signal by n_fft/2 zeros at the end and runs librosa's centred STFT
(reflect padding); librosa and torch.stft agree on centring and the window sum, so this is
computed with torch (no librosa dependency).
"""

import numpy as np
import torch

N_FFT, HOP = 400, 100
SAMPLE_RATE = 16000

# (first bin, last bin + 1, gain) of the official PCS400 table
PCS400_BANDS = (
    (0, 3, 1.0),
    (3, 5, 1.070175439),
    (5, 8, 1.182456140),
    (8, 10, 1.287719298),
    (10, 110, 1.4),
    (110, 130, 1.322807018),
    (130, 160, 1.238596491),
    (160, 190, 1.161403509),
    (190, 201, 1.077192982),
)


def pcs400_gains():
    """The 201 per-bin gains as a float64 numpy array."""
    gains = np.ones(N_FFT // 2 + 1)
    for lo, hi, g in PCS400_BANDS:
        gains[lo:hi] = g
    return gains


def _pcs_torch(wave):
    """wave [B, T] float tensor -> PCS-processed [B, T] (before peak normalisation)."""
    length = wave.shape[-1]
    padded = torch.nn.functional.pad(wave, (0, N_FFT // 2))
    window = torch.hamming_window(N_FFT, periodic=False, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(padded, N_FFT, HOP, N_FFT, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    gains = torch.as_tensor(pcs400_gains(), dtype=wave.dtype, device=wave.device)[:, None]
    mag = torch.expm1(gains * torch.log1p(spec.abs()))
    out = torch.istft(torch.polar(mag, spec.angle()), N_FFT, HOP, N_FFT, window=window, center=True,
                      length=padded.shape[-1])
    return out[..., :length]


def apply_pcs(wave, sample_rate=SAMPLE_RATE):
    """PCS400 of a waveform (numpy array or tensor, [T] or [B, T]); returns the same type and
    shape, peak-normalised to 1 per row (official). Only defined for 16 kHz."""
    if int(sample_rate) != SAMPLE_RATE:
        raise ValueError(f"PCS400 is defined for {SAMPLE_RATE} Hz audio (400-point STFT bins); got "
                         f"{sample_rate} Hz. Resample first.")
    is_numpy = not torch.is_tensor(wave)
    x = torch.as_tensor(np.asarray(wave, dtype=np.float64)) if is_numpy else wave
    single = x.dim() == 1
    x2 = x.unsqueeze(0) if single else x
    if x2.shape[-1] < N_FFT // 2 + 1:
        raise ValueError(f"apply_pcs: {x2.shape[-1]} samples is too short for a {N_FFT}-point STFT.")
    out = _pcs_torch(x2)
    peak = out.abs().amax(-1, keepdim=True)
    out = out / torch.where(peak > 0, peak, torch.ones_like(peak))
    out = out[0] if single else out
    if is_numpy:
        return out.numpy().astype(np.asarray(wave).dtype if np.asarray(wave).dtype.kind == "f" else np.float32)
    return out
