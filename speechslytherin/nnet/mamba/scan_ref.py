"""Readable sequential selective scan: the ground truth the fast paths are tested against.

Semantics and layout follow mamba-ssm's ``selective_scan_fn`` (real A only):

    delta <- softplus(delta + delta_bias)          (bias / softplus optional)
    h_t   = exp(delta_t * A) * h_{t-1} + delta_t * u_t * B_t      h: [b, d, n]
    y_t   = sum_n C_t[n] * h_t[:, :, n]  +  D * u_t
    out   = y * silu(z)                             (z optional)

It builds an autograd graph per time step, so it is slow and memory-hungry on long inputs: use it
for tests and as a readable specification, never for training.
"""

import torch
import torch.nn.functional as F


def expand_groups(BC, d):
    """[b, n, l] or [b, g, n, l] -> [b, d, n, l] (channel c uses group c // (d // g))."""
    if BC.dim() == 3:
        return BC.unsqueeze(1).expand(BC.shape[0], d, BC.shape[1], BC.shape[2])
    g = BC.shape[1]
    return BC.repeat_interleave(d // g, dim=1)


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False, reverse=False, initial_state=None):
    """Sequential selective scan in float32; see the module docstring. ``initial_state`` [b, d, n]
    seeds the recurrence (used by streaming); ``reverse=True`` runs from the last step to the
    first, which equals flip -> scan -> flip."""
    dtype_in = u.dtype
    u = u.float()
    delta = delta.float()
    A = A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, L = u.shape
    Bx = expand_groups(B.float(), d)  # [b, d, n, l]
    Cx = expand_groups(C.float(), d)
    n = A.shape[1]
    h = u.new_zeros(b, d, n) if initial_state is None else initial_state.float()
    # unbind once: indexing step t of the full tensors inside the loop would make autograd
    # build a full-size zero gradient per step (O(L^2) work in the backward pass).
    us, dts, Bs, Cs = u.unbind(-1), delta.unbind(-1), Bx.unbind(-1), Cx.unbind(-1)
    ys = [None] * L
    steps = range(L - 1, -1, -1) if reverse else range(L)
    for t in steps:
        dt = dts[t][..., None]  # [b, d, 1]
        h = torch.exp(dt * A) * h + dt * us[t][..., None] * Bs[t]
        ys[t] = (h * Cs[t]).sum(-1)
    y = torch.stack(ys, dim=-1)
    out = y if D is None else y + u * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    out = out.to(dtype_in)
    return (out, h) if return_last_state else out
