"""Waveform augmentation of separation targets (on the batch, inside the training step).

`speed_perturb_sources` does what the Mamba-TasNet / SpeechBrain WSJ0Mix recipes do with
`SpeedPerturb(sample_rate, [95, 100, 105])`: each source gets its own randomly drawn speed
(resampling by speed/100, so 95 = slower and longer), the perturbed sources are cut to the
shortest of them, and the caller re-sums the mixture from the new sources.
"""

import functools

import torch


@functools.lru_cache(maxsize=16)
def _resampler(speed):
    import torchaudio.transforms as T

    # An integer speed s means "resample from s to 100": the same compact ratio SpeechBrain uses.
    return T.Resample(orig_freq=int(speed), new_freq=100)


def change_speed(wav, speed):
    """Resample [..., T] by speed/100 (speed in percent); speed 100 returns the input."""
    if speed == 100:
        return wav
    if float(speed) != int(speed):
        raise ValueError(f"speed must be an integer percentage (e.g. 95, 105), got {speed!r}.")
    resampler = _resampler(int(speed)).to(device=wav.device, dtype=wav.dtype)
    return resampler(wav)


def speed_perturb_sources(sources, sample_rate, speeds=(95, 100, 105), generator=None):
    """Speed-perturb each source of a [B, T, n_src] batch independently; returns [B, T', n_src].

    One speed is drawn per source (shared by the batch, as in the official recipe, which
    trains with batch size 1) from `generator`, so a seeded generator gives the same result.
    sample_rate is accepted for the recipe's signature; integer speeds need only the ratio.
    """
    if sources.dim() != 3:
        raise ValueError(f"sources must be [batch, time, n_src], got shape {tuple(sources.shape)}.")
    del sample_rate
    n_src = sources.shape[-1]
    picks = torch.randint(0, len(speeds), (n_src,), generator=generator)
    perturbed = [change_speed(sources[:, :, i], speeds[int(k)]) for i, k in enumerate(picks)]
    length = min(p.shape[-1] for p in perturbed)
    return torch.stack([p[:, :length] for p in perturbed], dim=-1)
