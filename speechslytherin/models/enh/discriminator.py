"""MetricGAN discriminator of SEMamba / MP-SENet (official ``models/discriminator.py``):
predicts the normalised PESQ-WB, (PESQ - 1) / 3.5 in [0, 1], of an estimate from its
compressed magnitude and the clean compressed magnitude.

    stack (clean, estimate) [B, 2, F, T] -> 4 x [spectral-norm Conv2d 4x4 stride 2 (no bias),
    InstanceNorm2d(affine), PReLU] (2 -> 16 -> 32 -> 64 -> 128) -> AdaptiveMaxPool2d(1) ->
    spectral-norm Linear(128, 64) -> Dropout 0.3 -> PReLU -> spectral-norm Linear(64, 1) ->
    learnable sigmoid (beta 1)

Keys are the official ones (``layers.{i}.weight_orig / weight_u / weight_v`` of
torch.nn.utils.spectral_norm), so ``pretrained_discriminator.pth`` loads; 181,650 parameters.
"""

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.enh.codec import LearnableSigmoid1D


class MetricDiscriminator(SelfDescribing, nn.Module):
    """D(clean_mag, est_mag) -> [B, 1]; inputs are compressed magnitudes [B, F, T]."""

    def __init__(self, dim=16, in_channel=2):
        super().__init__()
        layers = []
        channels = [in_channel, dim, dim * 2, dim * 4, dim * 8]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, (4, 4), (2, 2), (1, 1), bias=False)),
                       nn.InstanceNorm2d(c_out, affine=True), nn.PReLU(c_out)]
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                   spectral_norm(nn.Linear(dim * 8, dim * 4)), nn.Dropout(0.3), nn.PReLU(dim * 4),
                   spectral_norm(nn.Linear(dim * 4, 1)), LearnableSigmoid1D(1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x, y):
        return self.layers(torch.stack((x, y), dim=1))
