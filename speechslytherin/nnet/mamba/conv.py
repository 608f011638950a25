"""Depthwise causal (and anti-causal) 1-D convolution of the Mamba mixer.

causal-conv1d's CUDA kernel is used when importable and the tensors are on a GPU; otherwise
``F.conv1d`` with left padding, which is what mamba-ssm's own slow path does.
"""

import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=1)
def _causal_conv1d_fn():
    try:
        from causal_conv1d import causal_conv1d_fn
    except Exception:  # ImportError or a broken CUDA extension
        return None
    return causal_conv1d_fn


def causal_conv_silu(x, weight, bias):
    """silu(causal depthwise conv): y[t] = sum_k w[k] x[t - (K-1) + k] + bias.
    x: [b, d, l]; weight: [d, 1, K] (nn.Conv1d layout); bias: [d] or None."""
    fn = _causal_conv1d_fn() if x.is_cuda else None
    if fn is not None and x.dtype in (torch.float32, torch.float16, torch.bfloat16):
        return fn(x.contiguous(), weight.squeeze(1), bias, activation="silu")
    K, L = weight.shape[-1], x.shape[-1]
    return F.silu(F.conv1d(x, weight, bias, padding=K - 1, groups=x.shape[1])[..., :L])


def anticausal_conv_silu(x, weight, bias):
    """Exactly flip -> causal_conv_silu -> flip, without the flips:
    y[t] = sum_k w[k] x[t + (K-1) - k] + bias (looks ahead instead of back)."""
    fn = _causal_conv1d_fn() if x.is_cuda else None
    if fn is not None and x.dtype in (torch.float32, torch.float16, torch.bfloat16):
        return fn(x.flip(-1).contiguous(), weight.squeeze(1), bias, activation="silu").flip(-1)
    K = weight.shape[-1]
    return F.silu(F.conv1d(x, weight.flip(-1), bias, padding=K - 1, groups=x.shape[1])[..., K - 1:])
