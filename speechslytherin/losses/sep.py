"""Separation losses: permutation-invariant negative SI-SNR, as the official recipes train."""

import torch
from speechbrain.nnet.losses import get_si_snr_with_pitwrapper


class PitSiSnrLoss(torch.nn.Module):
    """uPIT negative SI-SNR over [batch, time, n_src].

    `threshold` reproduces SpeechBrain's `threshold_byloss`: examples whose loss is already below
    it (e.g. -40 dB) are left out of the mean, so easy examples stop pulling the gradient.
    """

    def __init__(self, threshold=None):
        super().__init__()
        self.threshold = threshold

    def per_example(self, estimates, targets):
        return get_si_snr_with_pitwrapper(targets, estimates)

    def forward(self, estimates, targets):
        loss = self.per_example(estimates, targets)
        if self.threshold is not None:
            kept = loss[loss > self.threshold]
            if kept.numel() > 0:
                return kept.mean()
            return loss.mean() * 0.0  # every example is past the threshold: no gradient
        return loss.mean()
