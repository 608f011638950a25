"""SEMamba's codec (official ``models/codec_module.py`` and ``lsigmoid.py`` layouts and keys):
dense encoder, magnitude-mask decoder with a learnable sigmoid, parallel phase decoder.

Tensors are [B, C, T, F]. ``causal=True`` (the paper's causal SEMamba; not in the official
release) makes every time dependency look back only: the dilated 3x3 convs are padded on the
past side only, and InstanceNorm (statistics over all frames) becomes FrameNorm (statistics
over the frequencies of each frame). Parameter names and shapes do not change.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LearnableSigmoid1D(nn.Module):
    """beta * sigmoid(slope * x), slope [in_features] (the discriminator's output)."""

    def __init__(self, in_features, beta=1.0):
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(in_features))

    def forward(self, x):
        return self.beta * torch.sigmoid(self.slope * x)


class LearnableSigmoid2D(nn.Module):
    """beta * sigmoid(slope * x) with one slope per frequency bin: slope [F, 1], x [B, F, T]."""

    def __init__(self, in_features, beta=2.0):
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(in_features, 1))

    def forward(self, x):
        return self.beta * torch.sigmoid(self.slope * x)


class FrameNorm2d(nn.Module):
    """Causal stand-in for InstanceNorm2d(affine): normalise each (channel, frame) over the
    frequency axis only. Same parameters (weight, bias [C]) as InstanceNorm2d(affine=True)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):  # [B, C, T, F]
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def norm2d(channels, causal):
    return FrameNorm2d(channels) if causal else nn.InstanceNorm2d(channels, affine=True)


class DenseBlock(nn.Module):
    """``depth`` dilated (2^i in time) 3x3 convs, each fed the concatenation of all earlier
    outputs and the input; returns the last output. Keys: dense_block.{i}.{0,1,2}."""

    def __init__(self, hid, depth=4, kernel_size=(3, 3), causal=False):
        super().__init__()
        self.depth, self.causal = depth, causal
        kt, kf = kernel_size
        self.time_pads = []
        self.dense_block = nn.ModuleList()
        for i in range(depth):
            dil = 2 ** i
            pad_t = (kt - 1) * dil  # total time padding that keeps the length
            self.time_pads.append(pad_t)
            conv = nn.Conv2d(hid * (i + 1), hid, kernel_size, dilation=(dil, 1),
                             padding=(0 if causal else pad_t // 2, (kf - 1) // 2))
            self.dense_block.append(nn.Sequential(conv, norm2d(hid, causal), nn.PReLU(hid)))

    def forward(self, x):
        skip = x
        for i, layer in enumerate(self.dense_block):
            inp = F.pad(skip, (0, 0, self.time_pads[i], 0)) if self.causal else skip
            x = layer(inp)
            skip = torch.cat([x, skip], dim=1)
        return x


class DenseEncoder(nn.Module):
    """[B, in_ch, T, F] -> [B, hid, T, (F - 3) // 2 + 1] (201 bins -> 100)."""

    def __init__(self, in_channels=2, hid=64, causal=False):
        super().__init__()
        self.dense_conv_1 = nn.Sequential(nn.Conv2d(in_channels, hid, (1, 1)), norm2d(hid, causal), nn.PReLU(hid))
        self.dense_block = DenseBlock(hid, depth=4, causal=causal)
        self.dense_conv_2 = nn.Sequential(nn.Conv2d(hid, hid, (1, 3), stride=(1, 2)), norm2d(hid, causal),
                                          nn.PReLU(hid))

    def forward(self, x):
        return self.dense_conv_2(self.dense_block(self.dense_conv_1(x)))


class MagDecoder(nn.Module):
    """[B, hid, T, F'] -> mask [B, 1, T, n_freq] in (0, beta)."""

    def __init__(self, hid=64, n_freq=201, out_channels=1, beta=2.0, causal=False):
        super().__init__()
        self.dense_block = DenseBlock(hid, depth=4, causal=causal)
        self.mask_conv = nn.Sequential(
            nn.ConvTranspose2d(hid, hid, (1, 3), stride=(1, 2)),
            nn.Conv2d(hid, out_channels, (1, 1)),
            norm2d(out_channels, causal),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, (1, 1)),
        )
        self.lsigmoid = LearnableSigmoid2D(n_freq, beta=beta)

    def forward(self, x):
        x = self.mask_conv(self.dense_block(x))  # [B, 1, T, F]
        x = self.lsigmoid(x[:, 0].transpose(1, 2))  # [B, F, T]
        return x.transpose(1, 2).unsqueeze(1)


class PhaseDecoder(nn.Module):
    """[B, hid, T, F'] -> phase [B, 1, T, n_freq] = atan2(imag, real) of two 1x1 projections."""

    def __init__(self, hid=64, out_channels=1, causal=False):
        super().__init__()
        self.dense_block = DenseBlock(hid, depth=4, causal=causal)
        self.phase_conv = nn.Sequential(nn.ConvTranspose2d(hid, hid, (1, 3), stride=(1, 2)), norm2d(hid, causal),
                                        nn.PReLU(hid))
        self.phase_conv_r = nn.Conv2d(hid, out_channels, (1, 1))
        self.phase_conv_i = nn.Conv2d(hid, out_channels, (1, 1))

    def forward(self, x):
        x = self.phase_conv(self.dense_block(x))
        return torch.atan2(self.phase_conv_i(x), self.phase_conv_r(x))
