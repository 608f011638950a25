"""The Mamba (selective SSM) mixer, with mamba-ssm 1.x parameter names, shapes and init, and
Vision-Mamba's "bimamba v2" bidirectional variant (Mamba-TasNet, ConMamba).

Official checkpoints load without renaming: in_proj, conv1d, x_proj, dt_proj, A_log, D,
out_proj (+ conv1d_b, x_proj_b, dt_proj_b, A_b_log, D_b for v2).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv import anticausal_conv_silu, causal_conv_silu
from .scan import resolve_impl, selective_scan
from .scan_cpp import selective_scan_cpp
from .scan_torch import selective_scan_torch

BIMAMBA_TYPES = ("none", "v2")


def s4d_real_A_log(d_inner, d_state, device=None):
    """log(1..d_state) per channel: A = -exp(A_log) = -(1..N) (S4D-real)."""
    A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device).repeat(d_inner, 1)
    return torch.log(A)


class Mamba(nn.Module):
    """Selective SSM mixer: [B, L, d_model] -> [B, L, d_model].

    ``bimamba_type="v2"`` adds a backward branch (own conv1d_b, x_proj_b, dt_proj_b, A_b_log,
    D_b; shared in_proj/out_proj) that sees the time-reversed x and z; the output is
    out_proj(0.5*y_fwd + 0.5*flip(y_bwd)) (or the sum when ``if_divide_out=False``). We compute
    the backward branch without flips: an anti-causal conv and a reverse-time scan.
    ``scan_impl`` overrides the scan selection (None = ``selective_scan``'s default).
    ``reverse=True`` makes the mixer run right-to-left: exactly flip -> mixer -> flip, with the
    same parameters (used for the backward stacks of BiMambaConcat / BiMambaSum)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", dt_min=0.001,
                 dt_max=0.1, dt_init="random", dt_scale=1.0, dt_init_floor=1e-4, conv_bias=True,
                 bias=False, bimamba_type="none", if_divide_out=True, layer_idx=None,
                 scan_impl=None, device=None, dtype=None, reverse=False):
        super().__init__()
        if bimamba_type is None:
            bimamba_type = "none"
        if bimamba_type not in BIMAMBA_TYPES:
            raise ValueError(f"Mamba: bimamba_type {bimamba_type!r} not supported; use one of {BIMAMBA_TYPES}")
        if dt_init not in ("random", "constant"):
            raise ValueError(f"Mamba: dt_init must be 'random' or 'constant', got {dt_init!r}")
        fk = {"device": device, "dtype": dtype}
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.bimamba_type, self.if_divide_out = bimamba_type, if_divide_out
        self.layer_idx, self.scan_impl, self.reverse = layer_idx, scan_impl, bool(reverse)

        # Creation order follows mamba-ssm / Vim so that a seeded init draws the same numbers.
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **fk)
        self.conv1d = self._make_conv(conv_bias, fk)
        self.act = nn.SiLU()
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **fk)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **fk)
        self._init_dt_proj(self.dt_proj, dt_init, dt_scale, dt_min, dt_max, dt_init_floor)
        self.A_log = nn.Parameter(s4d_real_A_log(self.d_inner, d_state, device))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.D._no_weight_decay = True
        if bimamba_type == "v2":
            # Vim quirk kept on purpose: dt_proj_b keeps nn.Linear's default init and its bias
            # is not marked _no_reinit, so init_mamba_weights zeroes it.
            self.A_b_log = nn.Parameter(s4d_real_A_log(self.d_inner, d_state, device))
            self.A_b_log._no_weight_decay = True
            self.conv1d_b = self._make_conv(conv_bias, fk)
            self.x_proj_b = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **fk)
            self.dt_proj_b = nn.Linear(self.dt_rank, self.d_inner, bias=True, **fk)
            self.D_b = nn.Parameter(torch.ones(self.d_inner, device=device))
            self.D_b._no_weight_decay = True
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)

    def _make_conv(self, conv_bias, fk):
        return nn.Conv1d(self.d_inner, self.d_inner, kernel_size=self.d_conv, groups=self.d_inner,
                         padding=self.d_conv - 1, bias=conv_bias, **fk)

    def _init_dt_proj(self, dt_proj, dt_init, dt_scale, dt_min, dt_max, dt_init_floor):
        std = self.dt_rank ** -0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(dt_proj.weight, std)
        else:
            nn.init.uniform_(dt_proj.weight, -std, std)
        # dt ~ log-uniform in [dt_min, dt_max], floored; bias = softplus^-1(dt)
        dt = torch.exp(torch.rand(self.d_inner, device=dt_proj.weight.device)
                       * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            dt_proj.bias.copy_(inv_dt)
        dt_proj.bias._no_reinit = True

    # -- full-sequence pass ------------------------------------------------------------------
    def _ssm_inputs(self, x, x_proj, dt_proj):
        """Project the conv output x [b, d, l] into (delta, B, C) of the scan."""
        x_dbl = x_proj(x.transpose(1, 2))  # [b, l, R + 2N]
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, dt_proj.weight).transpose(1, 2)  # bias goes in as delta_bias
        return delta, Bm.transpose(1, 2), Cm.transpose(1, 2)

    def _branch(self, x, z, conv, x_proj, dt_proj, A_log, D, reverse):
        conv_fn = anticausal_conv_silu if reverse else causal_conv_silu
        xc = conv_fn(x, conv.weight, conv.bias)
        delta, Bm, Cm = self._ssm_inputs(xc, x_proj, dt_proj)
        A = -torch.exp(A_log.float())
        return selective_scan(xc, delta, A, Bm, Cm, D.float(), z=z, delta_bias=dt_proj.bias.float(),
                              delta_softplus=True, reverse=reverse, impl=self.scan_impl)

    def forward(self, hidden_states):
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.d_model:
            raise ValueError(f"Mamba: expected input [batch, length, {self.d_model}], "
                             f"got {tuple(hidden_states.shape)}")
        xz = self.in_proj(hidden_states).transpose(1, 2)  # [b, 2*d_inner, l]
        x, z = xz.chunk(2, dim=1)
        y = self._branch(x, z, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D, reverse=self.reverse)
        if self.bimamba_type == "v2":
            y_b = self._branch(x, z, self.conv1d_b, self.x_proj_b, self.dt_proj_b, self.A_b_log, self.D_b,
                               reverse=not self.reverse)
            y = (y + y_b) * 0.5 if self.if_divide_out else y + y_b
        return self.out_proj(y.transpose(1, 2))

    # -- streaming (causal mixer only) ------------------------------------------------------
    def allocate_inference_state(self, batch, dtype=None):
        """Zero (conv_state [B, d_inner, d_conv], ssm_state [B, d_inner, d_state] fp32)."""
        dev = self.out_proj.weight.device
        conv_dtype = dtype or self.conv1d.weight.dtype
        return (torch.zeros(batch, self.d_inner, self.d_conv, device=dev, dtype=conv_dtype),
                torch.zeros(batch, self.d_inner, self.d_state, device=dev, dtype=torch.float32))

    def step(self, x_chunk, state):
        """Process the next T>=1 frames [B, T, d_model] given the state of everything before;
        returns (y [B, T, d_model], new_state). Chunk by chunk equals the full pass."""
        if self.bimamba_type != "none" or self.reverse:
            raise RuntimeError("Mamba.step: a bidirectional (bimamba v2) or reverse mixer looks at the "
                               "future and cannot stream; use bimamba_type='none', reverse=False")
        conv_state, ssm_state = state
        xz = self.in_proj(x_chunk).transpose(1, 2)
        x, z = xz.chunk(2, dim=1)
        window = torch.cat([conv_state.to(x.dtype), x], dim=-1)  # last d_conv inputs + chunk
        new_conv_state = window[..., -self.d_conv:].to(conv_state.dtype).contiguous()
        xc = F.silu(F.conv1d(window[..., 1:], self.conv1d.weight, self.conv1d.bias, groups=self.d_inner))
        delta, Bm, Cm = self._ssm_inputs(xc, self.x_proj, self.dt_proj)
        A = -torch.exp(self.A_log.float())
        # The fused C++ scan takes an initial state too and is 2-3x faster per streamed chunk on CPU;
        # elsewhere (and when another scan is asked for) the PyTorch loop carries the state.
        scan = selective_scan_cpp if resolve_impl(self.scan_impl, xc.device) == "cpp" else selective_scan_torch
        y, new_ssm_state = scan(
            xc, delta, A, Bm, Cm, self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True, return_last_state=True, initial_state=ssm_state)
        return self.out_proj(y.transpose(1, 2)), (new_conv_state, new_ssm_state)
