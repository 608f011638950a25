"""Building blocks shared by TF-GridNet and SPMamba (TF-domain separators with a grid of
sub-band, full-band and attention modules).

Both models are the same network (ESPnet's ``TFGridNet``, which SPMamba's official code copies)
except for the sequence model inside each grid block: TF-GridNet runs a BLSTM along frequency
(intra) and along time (inter), SPMamba a bidirectional Mamba (``BiMambaConcat``). So the grid
block takes a factory for that sequence model and registers it under the official attribute
name (``intra_rnn``/``inter_rnn`` or ``intra_mamba``/``inter_mamba``); everything else keeps
the official names, so official state dicts load with no renaming:

    conv.{0,1}  blocks.i.{intra,inter}_norm.{gamma,beta}  blocks.i.{intra,inter}_<seq>.*
    blocks.i.{intra,inter}_linear.*  blocks.i.attn_conv_{Q,K,V}_h.{0,1,2}.*
    blocks.i.attn_concat_proj.{0,1,2}.*  deconv.*

Forward (``TFGridSeparator``): mix [B, T] / std -> STFT (centered, reflect padded) -> real/imag
channels [B, 2, frames, F] -> conv 3x3 + GroupNorm -> grid blocks -> deconv 3x3 to 2 x n_src
channels = the complex spectrum of each source (spectral mapping, no mask) -> iSTFT -> x std
-> [B, T, n_src].
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from speechslytherin.models.sep.separator import Separator

KERNEL = (3, 3)  # the encoder conv / decoder deconv kernel over (time, frequency)
PADDING = (1, 1)


def activation_class(name):
    """An activation of torch.nn by case-insensitive name ("prelu" -> nn.PReLU), as ESPnet's
    get_layer does; PReLU keeps its single learnable slope (a key of the official models)."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name such as 'prelu', got {name!r}.")
    for attr in dir(nn):
        if attr.lower() == name.lower():
            cls = getattr(nn, attr)
            if isinstance(cls, type) and issubclass(cls, nn.Module):
                return cls
    raise ValueError(f"activation {name!r} is not a torch.nn layer (e.g. 'prelu', 'relu', 'elu').")


class LayerNormalization4D(nn.Module):
    """Normalise [B, C, T, F] over channels per (t, f); gamma/beta [1, C, 1, 1]."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta


class LayerNormalization4DCF(nn.Module):
    """Normalise [B, C, T, F] over channels and frequency per frame; gamma/beta [1, C, 1, F]."""

    def __init__(self, channels, n_freqs, eps=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, n_freqs))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, n_freqs))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=(1, 3), keepdim=True)
        var = x.var(dim=(1, 3), unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta


def _projection(in_ch, out_ch, n_freqs, activation, eps):
    """1x1 conv -> activation -> LayerNormalization4DCF (keys .0 / .1 / .2)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), activation_class(activation)(),
                         LayerNormalization4DCF(out_ch, n_freqs, eps=eps))


def run_sequence_model(module, x):
    """[N, L, in] -> [N, L, out] for an LSTM (which returns (output, state)) or a Mamba layer."""
    out = module(x)
    return out[0] if isinstance(out, tuple) else out


class GridNetBlock(nn.Module):
    """One TF-GridNet block on [B, C, T, F]: sub-band (intra-frame, along F) sequence model,
    full-band (inter-frame, along T) sequence model, then full-band multi-head self-attention
    over frames; each part is residual.

    ``make_seq(in_features) -> (module, out_features)`` builds the sequence model for the
    unfolded features (C * emb_ks); it is registered as ``intra_<seq_name>`` and
    ``inter_<seq_name>``, and its output is folded back to C channels by a transposed conv.
    """

    def __init__(self, emb_dim, emb_ks, emb_hs, n_freqs, make_seq, seq_name, n_head=4, approx_qk_dim=512,
                 activation="prelu", eps=1e-5):
        super().__init__()
        if emb_dim % n_head:
            raise ValueError(f"emb_dim={emb_dim} must be divisible by attn_n_head={n_head}.")
        in_features = emb_dim * emb_ks
        self.seq_name = seq_name
        # registration order = the official state-dict order
        self.intra_norm = LayerNormalization4D(emb_dim, eps=eps)
        intra, out_features = make_seq(in_features)
        setattr(self, f"intra_{seq_name}", intra)
        self.intra_linear = nn.ConvTranspose1d(out_features, emb_dim, emb_ks, stride=emb_hs)
        self.inter_norm = LayerNormalization4D(emb_dim, eps=eps)
        inter, out_features = make_seq(in_features)
        setattr(self, f"inter_{seq_name}", inter)
        self.inter_linear = nn.ConvTranspose1d(out_features, emb_dim, emb_ks, stride=emb_hs)

        qk_channels = math.ceil(approx_qk_dim / n_freqs)  # "E" of the paper: approximate by design
        for h in range(n_head):
            self.add_module(f"attn_conv_Q_{h}", _projection(emb_dim, qk_channels, n_freqs, activation, eps))
            self.add_module(f"attn_conv_K_{h}", _projection(emb_dim, qk_channels, n_freqs, activation, eps))
            self.add_module(f"attn_conv_V_{h}", _projection(emb_dim, emb_dim // n_head, n_freqs, activation, eps))
        self.attn_concat_proj = _projection(emb_dim, emb_dim, n_freqs, activation, eps)
        self.emb_dim, self.emb_ks, self.emb_hs, self.n_head = emb_dim, emb_ks, emb_hs, n_head

    def _padded(self, n):
        """Length the unfold/fold pair covers exactly (n itself when emb_hs == 1)."""
        return math.ceil((n - self.emb_ks) / self.emb_hs) * self.emb_hs + self.emb_ks

    def _along_last_axis(self, norm, seq, linear, x):
        """Residual sequence modelling along the last axis of x [B, C, A, L] (A: the other axis)."""
        B, C, A, L = x.shape
        y = norm(x).permute(0, 2, 3, 1).reshape(B * A, L, C)
        # windows of emb_ks steps, features ordered c * emb_ks + k (as F.unfold orders them)
        y = y.unfold(1, self.emb_ks, self.emb_hs).flatten(2)  # [BA, L', C*ks]
        y = run_sequence_model(seq, y)  # [BA, L', H]
        y = linear(y.transpose(1, 2))  # [BA, C, L]
        return y.reshape(B, A, C, L).transpose(1, 2) + x

    def forward(self, x):
        B, C, n_frames, n_freqs = x.shape
        T, Q = self._padded(n_frames), self._padded(n_freqs)
        x = F.pad(x, (0, Q - n_freqs, 0, T - n_frames))
        seq = self.seq_name
        # intra-frame: sequences along frequency, one per frame
        x = self._along_last_axis(self.intra_norm, getattr(self, f"intra_{seq}"), self.intra_linear, x)
        # inter-frame: sequences along time, one per frequency
        x = self._along_last_axis(self.inter_norm, getattr(self, f"inter_{seq}"), self.inter_linear,
                                  x.transpose(2, 3)).transpose(2, 3)
        x = x[..., :n_frames, :n_freqs]
        return self._attention(x) + x

    def _attention(self, x):
        """Full-band self-attention between frames; each head sees all frequencies of a frame."""
        B, _, n_frames, _ = x.shape
        heads = range(self.n_head)
        q = torch.cat([getattr(self, f"attn_conv_Q_{h}")(x) for h in heads], dim=0)  # [hB, E, T, F]
        k = torch.cat([getattr(self, f"attn_conv_K_{h}")(x) for h in heads], dim=0)
        v = torch.cat([getattr(self, f"attn_conv_V_{h}")(x) for h in heads], dim=0)  # [hB, C/h, T, F]
        q = q.transpose(1, 2).flatten(2)  # [hB, T, E*F]
        k = k.transpose(1, 2).flatten(2)
        v_shape = v.transpose(1, 2).shape
        v = v.transpose(1, 2).flatten(2)  # [hB, T, C/h*F]
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=2)  # [hB, T, T]
        out = (attn @ v).reshape(v_shape).transpose(1, 2)  # [hB, C/h, T, F]
        out = out.reshape(self.n_head, B, -1, n_frames, out.shape[-1]).transpose(0, 1)
        out = out.reshape(B, -1, n_frames, out.shape[-1])  # heads concatenated on channels
        return self.attn_concat_proj(out)


class TFGridSeparator(Separator, nn.Module):
    """TF-domain separator: mix [B, T] (or [T]) -> estimates [B, T, n_src] (or [T, n_src]).

    Subclasses pass ``make_seq`` / ``seq_name`` to choose the sequence model of the grid blocks;
    ``separate()`` comes from the shared Separator mixin.
    The input is divided by its standard deviation (over time; unbiased, as ``torch.std``) and
    the outputs multiplied back, as the official code does; a silent input (std 0) is left
    unscaled instead of turning into NaN.
    """

    def __init__(self, make_seq, seq_name, n_src=2, n_fft=256, stride=64, window="hann", n_layers=6,
                 attn_n_head=4, attn_approx_qk_dim=512, emb_dim=16, emb_ks=8, emb_hs=1, activation="prelu",
                 eps=1e-5):
        super().__init__()
        if n_fft % 2:
            raise ValueError(f"n_fft must be even, got {n_fft}.")
        if window is not None and not hasattr(torch, f"{window}_window"):
            raise ValueError(f"window {window!r}: torch has no {window}_window (use e.g. 'hann').")
        self.n_src, self.n_fft, self.stride, self.window = n_src, n_fft, stride, window
        self.n_layers = n_layers
        n_freqs = n_fft // 2 + 1
        self.conv = nn.Sequential(nn.Conv2d(2, emb_dim, KERNEL, padding=PADDING), nn.GroupNorm(1, emb_dim, eps=eps))
        self.blocks = nn.ModuleList([
            GridNetBlock(emb_dim, emb_ks, emb_hs, n_freqs, make_seq, seq_name, n_head=attn_n_head,
                         approx_qk_dim=attn_approx_qk_dim, activation=activation, eps=eps)
            for _ in range(n_layers)])
        self.deconv = nn.ConvTranspose2d(emb_dim, n_src * 2, KERNEL, padding=PADDING)

    def _window(self, device):
        if self.window is None:
            return None
        return getattr(torch, f"{self.window}_window")(self.n_fft, dtype=torch.float32, device=device)

    def stft(self, wav):
        """[B, T] -> real/imag channels [B, 2, frames, F] (float32, whatever the autocast)."""
        with torch.autocast(device_type=wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, hop_length=self.stride, win_length=self.n_fft,
                              window=self._window(wav.device), center=True, pad_mode="reflect",
                              normalized=False, onesided=True, return_complex=True)  # [B, F, frames]
        spec = spec.transpose(1, 2)
        return torch.stack([spec.real, spec.imag], dim=1)

    def istft(self, ri, length):
        """real/imag [N, 2, frames, F] -> [N, length] (float32)."""
        with torch.autocast(device_type=ri.device.type, enabled=False):
            ri = ri.float()
            spec = torch.complex(ri[:, 0], ri[:, 1]).transpose(1, 2)  # [N, F, frames]
            return torch.istft(spec, self.n_fft, hop_length=self.stride, win_length=self.n_fft,
                               window=self._window(ri.device), center=True, normalized=False, onesided=True,
                               length=length)

    def forward(self, mix):
        if mix.dim() == 1:
            return self.forward(mix.unsqueeze(0))[0]
        if mix.dim() != 2:
            raise ValueError(f"{type(self).__name__} expects a mixture [batch, time] or [time], "
                             f"got {tuple(mix.shape)}.")
        n_samples = mix.shape[1]
        if n_samples < 2:
            raise ValueError(f"{type(self).__name__}: the mixture has {n_samples} samples; need at least 2.")
        std = torch.std(mix.float(), dim=1, keepdim=True)
        std = torch.where(std > 0, std, torch.ones_like(std))
        x = mix / std
        min_len = self.n_fft // 2 + 1  # reflect padding needs more samples than the pad
        if n_samples < min_len:
            x = F.pad(x, (0, min_len - n_samples))
        ri = self.stft(x)  # [B, 2, frames, F]
        B, _, n_frames, n_freqs = ri.shape
        y = self.conv(ri.to(mix.dtype))
        for block in self.blocks:
            y = block(y)
        y = self.deconv(y).reshape(B * self.n_src, 2, n_frames, n_freqs)
        est = self.istft(y, x.shape[1])[:, :n_samples].reshape(B, self.n_src, n_samples)
        return (est * std.unsqueeze(1)).transpose(1, 2).to(mix.dtype)
