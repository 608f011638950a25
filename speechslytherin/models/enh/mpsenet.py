"""MP-SENet (Lu et al., Interspeech 2023 / long version arXiv 2308.08926; yxlu-0102/MP-SENet),
the Transformer model SEMamba is built from and compared against (FLOPs, paper Table).

Same STFT front end, compression, learnable-sigmoid magnitude mask and parallel phase
decoder as SEMamba; the differences are the sequence blocks and the codec details:

- 4 x TSTransformerBlock: a time TransformerBlock over frames, then a frequency one over bins,
  each = LayerNorm -> 4-head self-attention -> residual; LayerNorm -> FFN (bidirectional GRU
  C -> 2C, LeakyReLU, Linear 4C -> C) -> residual; LayerNorm; plus the outer residual;
- dense blocks with (2, 3) kernels padded on the past side in time, a padded stride-2 encoder
  conv (201 -> 101 bins) and sub-pixel transposed convs (SPConvTranspose2d) in the decoders.

Keys follow the official model (``dense_encoder.*``, ``TSTransformer.{i}.{time,freq}_transformer.*``,
``mask_decoder.*``, ``phase_decoder.*``). One deliberate difference: attention and GRU run
batch-first, the fix the official README recommends (its code attends over the batch axis).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.enh.codec import LearnableSigmoid2D
from speechslytherin.models.enh.spectral import SpectralEnhancer
from speechslytherin.models.enh.stft import polar


class SPConvTranspose2d(nn.Module):
    """Sub-pixel up-sampling along frequency: conv to r x channels, interleave (F -> r F)."""

    def __init__(self, in_channels, out_channels, kernel_size, r=1):
        super().__init__()
        self.pad1 = nn.ConstantPad2d((1, 1, 0, 0), value=0.0)
        self.out_channels, self.r = out_channels, r
        self.conv = nn.Conv2d(in_channels, out_channels * r, kernel_size=kernel_size, stride=(1, 1))

    def forward(self, x):
        out = self.conv(self.pad1(x))
        b, c, t, f = out.shape
        out = out.view(b, self.r, c // self.r, t, f).permute(0, 2, 3, 4, 1)
        return out.reshape(b, c // self.r, t, f * self.r)


class DenseBlock(nn.Module):
    def __init__(self, channels, kernel_size=(2, 3), depth=4):
        super().__init__()
        self.depth = depth
        self.dense_block = nn.ModuleList([
            nn.Sequential(nn.ConstantPad2d((1, 1, 2 ** i, 0), value=0.0),
                          nn.Conv2d(channels * (i + 1), channels, kernel_size, dilation=(2 ** i, 1)),
                          nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))
            for i in range(depth)])

    def forward(self, x):
        skip = x
        for layer in self.dense_block:
            x = layer(skip)
            skip = torch.cat([x, skip], dim=1)
        return x


class DenseEncoder(nn.Module):
    def __init__(self, channels, in_channel=2):
        super().__init__()
        self.dense_conv_1 = nn.Sequential(nn.Conv2d(in_channel, channels, (1, 1)),
                                          nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))
        self.dense_block = DenseBlock(channels, depth=4)
        self.dense_conv_2 = nn.Sequential(nn.Conv2d(channels, channels, (1, 3), (1, 2), padding=(0, 1)),
                                          nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))

    def forward(self, x):
        return self.dense_conv_2(self.dense_block(self.dense_conv_1(x)))


class MaskDecoder(nn.Module):
    def __init__(self, channels, n_freq, beta=2.0, out_channel=1):
        super().__init__()
        self.dense_block = DenseBlock(channels, depth=4)
        self.mask_conv = nn.Sequential(SPConvTranspose2d(channels, channels, (1, 3), 2),
                                       nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels),
                                       nn.Conv2d(channels, out_channel, (1, 2)))
        self.lsigmoid = LearnableSigmoid2D(n_freq, beta=beta)

    def forward(self, x):
        x = self.mask_conv(self.dense_block(x))  # [B, 1, T, F]
        return self.lsigmoid(x[:, 0].transpose(1, 2))  # [B, F, T]


class PhaseDecoder(nn.Module):
    def __init__(self, channels, out_channel=1):
        super().__init__()
        self.dense_block = DenseBlock(channels, depth=4)
        self.phase_conv = nn.Sequential(SPConvTranspose2d(channels, channels, (1, 3), 2),
                                        nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))
        self.phase_conv_r = nn.Conv2d(channels, out_channel, (1, 2))
        self.phase_conv_i = nn.Conv2d(channels, out_channel, (1, 2))

    def forward(self, x):
        x = self.phase_conv(self.dense_block(x))
        return torch.atan2(self.phase_conv_i(x), self.phase_conv_r(x))[:, 0].transpose(1, 2)  # [B, F, T]


class FFN(nn.Module):
    def __init__(self, d_model, bidirectional=True, dropout=0.0):
        super().__init__()
        self.gru = nn.GRU(d_model, d_model * 2, 1, bidirectional=bidirectional, batch_first=True)
        self.linear = nn.Linear(d_model * 2 * (2 if bidirectional else 1), d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x, _ = self.gru(x)
        return self.linear(self.dropout(F.leaky_relu(x)))


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, bidirectional=True, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.dropout1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = FFN(d_model, bidirectional=bidirectional)
        self.dropout2 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, x):
        xt = self.norm1(x)
        xt, _ = self.attention(xt, xt, xt, need_weights=False)
        x = x + self.dropout1(xt)
        x = x + self.dropout2(self.ffn(self.norm2(x)))
        return self.norm3(x)


class TSTransformerBlock(nn.Module):
    def __init__(self, channels, n_heads=4):
        super().__init__()
        self.time_transformer = TransformerBlock(channels, n_heads)
        self.freq_transformer = TransformerBlock(channels, n_heads)

    def forward(self, x):
        b, c, t, f = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        x = self.time_transformer(x) + x
        x = x.reshape(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        x = self.freq_transformer(x) + x
        return x.reshape(b, t, f, c).permute(0, 3, 1, 2)


class MPSENet(SelfDescribing, SpectralEnhancer):
    """MP-SENet generator with the toolkit's waveform interface (see ``SpectralEnhancer``)."""

    def __init__(self, dense_channel=64, num_tsblocks=4, n_heads=4, beta=2.0, compress_factor=0.3, n_fft=400,
                 hop_size=100, win_size=400):
        super().__init__()
        self.n_fft, self.hop_size, self.win_size, self.compress_factor = n_fft, hop_size, win_size, compress_factor
        self.dense_encoder = DenseEncoder(dense_channel, in_channel=2)
        self.TSTransformer = nn.ModuleList([TSTransformerBlock(dense_channel, n_heads) for _ in range(num_tsblocks)])
        self.mask_decoder = MaskDecoder(dense_channel, n_fft // 2 + 1, beta=beta)
        self.phase_decoder = PhaseDecoder(dense_channel)

    def enhance(self, noisy_mag, noisy_pha):
        x = torch.stack((noisy_mag, noisy_pha), dim=-1).permute(0, 3, 2, 1)  # [B, 2, T, F]
        x = self.dense_encoder(x)
        for block in self.TSTransformer:
            x = block(x)
        mag = noisy_mag * self.mask_decoder(x)
        pha = self.phase_decoder(x)
        return mag, pha, polar(mag, pha)
