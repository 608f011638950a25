"""Waveform interface shared by the STFT-domain enhancers (SEMamba, SEMamba basic, MP-SENet).

A subclass defines ``enhance(mag, pha) -> (mag, pha, com)`` on compressed spectra, exactly the
official generator's forward. This base adds:

- ``forward(noisy [B, T] or [T]) -> enhanced, same shape``: unit-RMS normalisation of each
  input, official STFT and compression, the network, iSTFT, and the normalisation undone;
- ``spectra(wave)`` (also ``forward(wave, spectra=True)``, so a DDP-wrapped model can be called
  for it): for training, on waveforms that are already normalised (the dataset does it per
  utterance, as the official loader does): the network's compressed magnitude, phase, complex
  spectrum and the iSTFT waveform, i.e. what the losses need.
"""

import torch.nn as nn

from speechslytherin.models.enh.stft import mag_phase_istft, mag_phase_stft, rms_norm_factor


class SpectralEnhancer(nn.Module):
    """Set ``self.n_fft, self.hop_size, self.win_size, self.compress_factor`` in __init__."""

    def stft(self, wave, addeps=False):
        return mag_phase_stft(wave, self.n_fft, self.hop_size, self.win_size, self.compress_factor, addeps=addeps)

    def istft(self, mag, pha, length=None):
        return mag_phase_istft(mag, pha, self.n_fft, self.hop_size, self.win_size, self.compress_factor,
                               length=length)

    def enhance(self, noisy_mag, noisy_pha):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def spectra(self, wave):
        """Normalised noisy [B, T] -> {"mag", "pha", "com" ([B, F, frames](, 2)), "wave" [B, T]}."""
        mag, pha, _ = self.stft(wave)
        mag_g, pha_g, com_g = self.enhance(mag, pha)
        return {"mag": mag_g, "pha": pha_g, "com": com_g, "wave": self.istft(mag_g, pha_g, length=wave.shape[-1])}

    def forward(self, noisy, spectra=False):
        if spectra:
            return self.spectra(noisy)
        if noisy.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: expected a waveform [batch, time] or [time], "
                             f"got shape {tuple(noisy.shape)}")
        single = noisy.dim() == 1
        x = noisy.unsqueeze(0) if single else noisy
        if x.shape[-1] < self.n_fft // 2 + 1:
            raise ValueError(f"{type(self).__name__}: input of {x.shape[-1]} samples is shorter than the "
                             f"STFT needs ({self.n_fft // 2 + 1} samples with reflect padding).")
        factor = rms_norm_factor(x)
        out = self.spectra(x * factor)["wave"] / factor
        return out[0] if single else out
