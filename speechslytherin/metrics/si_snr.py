"""SI-SNR (scale-invariant signal-to-noise ratio), for torch tensors and numpy arrays.

Same definition and epsilons as SpeechBrain's `cal_si_snr`, which the Mamba-TasNet results
use: both signals made zero-mean, the estimate projected on the reference,
10*log10(|proj|^2 / (|est - proj|^2 + eps) + eps). Time is the last axis; any leading axes
are batch axes.
"""

import numpy as np

EPS = 1e-8


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def si_snr(est, ref, zero_mean=True, eps=EPS):
    """SI-SNR in dB of est against ref, shapes [..., T]; returns [...] (same library as input)."""
    if est.shape != ref.shape:
        raise ValueError(f"si_snr: estimate shape {tuple(est.shape)} != reference shape {tuple(ref.shape)}.")
    if _is_torch(est):
        import torch

        if zero_mean:
            est = est - est.mean(dim=-1, keepdim=True)
            ref = ref - ref.mean(dim=-1, keepdim=True)
        dot = (est * ref).sum(-1, keepdim=True)
        proj = dot * ref / ((ref**2).sum(-1, keepdim=True) + eps)
        noise = est - proj
        return 10 * torch.log10((proj**2).sum(-1) / ((noise**2).sum(-1) + eps) + eps)
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if zero_mean:
        est = est - est.mean(axis=-1, keepdims=True)
        ref = ref - ref.mean(axis=-1, keepdims=True)
    dot = (est * ref).sum(-1, keepdims=True)
    proj = dot * ref / ((ref**2).sum(-1, keepdims=True) + eps)
    noise = est - proj
    return 10 * np.log10((proj**2).sum(-1) / ((noise**2).sum(-1) + eps) + eps)


def si_snr_improvement(est, ref, mix, zero_mean=True):
    """SI-SNR(est, ref) - SI-SNR(mix, ref); mix broadcasts against ref ([..., T] or [T])."""
    if _is_torch(ref):
        mix = mix.expand_as(ref)
    else:
        mix = np.broadcast_to(np.asarray(mix), np.shape(ref))
    return si_snr(est, ref, zero_mean) - si_snr(mix, ref, zero_mean)
