"""Pre-norm residual Block ("add -> norm -> mixer"), RMSNorm and mamba-ssm's weight init."""

import math

import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in fp32, returned in x's dtype (key: weight)."""

    def __init__(self, d, eps=1e-5, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, device=device, dtype=dtype))

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.square().mean(-1, keepdim=True) + self.eps) * self.weight.float()
        return y.to(x.dtype)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"


class Block(nn.Module):
    """mamba-ssm's Block: residual = hidden + residual (or hidden for the first block),
    hidden = mixer(norm(residual)); returns (hidden, residual). The stack's last output is
    norm_f(hidden + residual). ``fused_add_norm`` is accepted for config compatibility: the
    Triton fused kernel computes the same function, done here unfused."""

    def __init__(self, dim, mixer_cls, norm_cls=nn.LayerNorm, fused_add_norm=False, residual_in_fp32=False):
        super().__init__()
        self.fused_add_norm = fused_add_norm
        self.residual_in_fp32 = residual_in_fp32
        self.mixer = mixer_cls(dim)
        self.norm = norm_cls(dim)

    def _add_norm(self, hidden, residual):
        residual = hidden if residual is None else hidden + residual
        normed = self.norm(residual.to(dtype=self.norm.weight.dtype))
        if self.residual_in_fp32:
            residual = residual.to(torch.float32)
        return normed, residual

    def forward(self, hidden_states, residual=None):
        normed, residual = self._add_norm(hidden_states, residual)
        return self.mixer(normed), residual

    def allocate_inference_state(self, batch, dtype=None):
        return self.mixer.allocate_inference_state(batch, dtype=dtype)

    def step(self, hidden_states, residual, state):
        """Streaming version of forward for a causal mixer: returns (hidden, residual, new_state)."""
        normed, residual = self._add_norm(hidden_states, residual)
        out, state = self.mixer.step(normed, state)
        return out, residual, state


def init_mamba_weights(module, n_layer, initializer_range=0.02, rescale_prenorm_residual=True,
                       n_residuals_per_layer=1):
    """mamba-ssm's ``_init_weights`` for ONE module; apply it to a tree with
    ``model.apply(functools.partial(init_mamba_weights, n_layer=N))`` (or ``apply_mamba_init``).

    Zeroes Linear biases not marked ``_no_reinit`` (dt_proj.bias keeps its dt init), draws
    Embedding weights from N(0, initializer_range), and re-draws the module's own
    ``out_proj.weight`` / ``fc2.weight`` with kaiming_uniform(a=sqrt(5)) scaled by
    1/sqrt(n_residuals_per_layer * n_layer) (GPT-2 residual scaling)."""
    if isinstance(module, nn.Linear):
        if module.bias is not None and not getattr(module.bias, "_no_reinit", False):
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=initializer_range)
    if rescale_prenorm_residual:
        for name, p in module.named_parameters():
            if name in ("out_proj.weight", "fc2.weight"):
                nn.init.kaiming_uniform_(p, a=math.sqrt(5))
                with torch.no_grad():
                    p /= math.sqrt(n_residuals_per_layer * n_layer)


def apply_mamba_init(model, n_layer, **kwargs):
    """Apply ``init_mamba_weights`` to every submodule, as mamba-ssm's models do."""
    model.apply(lambda m: init_mamba_weights(m, n_layer, **kwargs))
    return model
