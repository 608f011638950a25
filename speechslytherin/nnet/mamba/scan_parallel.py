"""GPU-friendly pure-PyTorch selective scan: long chunks, each solved by a parallel scan.

Why: the ``torch`` impl runs a few kernels per time step. On a GPU every kernel launch costs
microseconds while doing almost no work, so that loop is launch-bound (68 ms for L=4k on an H100
where memory traffic alone would take a fraction of a millisecond). Here a chunk of T steps
(hundreds to thousands) is materialised as time-major buffers [T, b, G, N, Dg] and the linear
recurrence h_t = a_t h_{t-1} + x_t is solved by a recursive odd/even parallel scan: O(T) work in
about 3 log2(T) in-place kernels, each reading whole contiguous [b, G, N, Dg] rows. Chunks are
chained one after the other through their boundary state, so memory is bounded by the chunk size
(``_TARGET_ELEMENTS`` floats per buffer), never by L.

Numerics: decays are combined by multiplying a_t = exp(dt_t A) (in (0, 1] for A < 0), never by
exponentiating differences of cumulative log-decays, so nothing overflows even for huge |dt*A|:
products only underflow towards 0, which is the exact limit.

Training uses a hand-written backward (like ``scan_torch``): only each chunk's incoming state is
saved; the backward pass walks the chunks in the opposite order, recomputes the chunk's states,
solves the adjoint g_t = C_t gy_t + a_{t+1} g_{t+1} with the same scan run in the other direction,
and forms the gradients in closed form.

Math, per channel d and state n (mamba-ssm semantics):
    h_t = a_t h_{t-1} + x_t,  a_t = exp(dt_t A),  x_t = dt_t u_t B_t,  y_t = C_t.h_t + D u_t
"""

import torch
import torch.nn.functional as F

from .scan_torch import _Geometry as TorchGeometry
from .scan_torch import chunked_scan, gate_grads

# Floats per [T, b, d, n] chunk buffer (64 MiB in fp32); forward keeps 2 such buffers, backward ~6.
_TARGET_ELEMENTS = 1 << 24
_MIN_CHUNK = 16


def default_chunk_size(b, d, n):
    return max(_MIN_CHUNK, _TARGET_ELEMENTS // max(1, b * d * n))


def linear_scan_(a, x, reverse=False):
    """Solve h_t = a_t h_{t-1} + x_t (``reverse``: h_t = a_t h_{t+1} + x_t) along dim 0, in place,
    with h = 0 before the first step: ``x`` becomes h. ``a`` is overwritten (segment products).

    Odd/even recursion: fold each pair of neighbours into one element, solve the half-length
    problem recursively, then finish the elements that were folded away. Every step is one
    in-place kernel over strided views of dim 0, so the rows it touches stay contiguous."""
    T = x.shape[0]
    if T < 2:
        return x
    if not reverse:
        # keep odd positions 1, 3, ...; each absorbs its left neighbour
        x_k, a_k = x[1::2], a[1::2]
        m = x_k.shape[0]
        x_k.addcmul_(a_k, x[0:2 * m:2])
        a_k.mul_(a[0:2 * m:2])
        linear_scan_(a_k, x_k, False)
        if T > 2:  # even positions 2, 4, ... take their (now final) left neighbour
            x[2::2].addcmul_(a[2::2], x[1:T - 1:2])
    else:
        # mirror image: keep positions T-2, T-4, ...; each absorbs its right neighbour
        s = T % 2
        x_k, a_k = x[s:T - 1:2], a[s:T - 1:2]
        x_k.addcmul_(a_k, x[s + 1::2])
        a_k.mul_(a[s + 1::2])
        linear_scan_(a_k, x_k, True)
        if T > 2:  # positions T-3, T-5, ... take their (now final) right neighbour
            o = (T - 1) % 2
            x[o:T - 1:2].addcmul_(a[o:T - 1:2], x[o + 1::2])
    return x


def _tm(x, s, e):
    """Time slice [s, e) of a [b, ..., l] tensor as a contiguous time-major fp32 tensor [T, b, ...]."""
    xs = x[..., s:e]
    return xs.permute(xs.dim() - 1, *range(xs.dim() - 1)).float().contiguous()


def _store(dst, y_tm, s, e):
    """Write a time-major chunk [T, b, ...] into dst[..., s:e] of a [b, ..., l] tensor."""
    dst[..., s:e].copy_(y_tm.permute(*range(1, y_tm.dim()), 0))


class _Geometry(TorchGeometry):
    """The sequential scan's geometry with this module's (longer) chunks; state layout [b, G, N, Dg]."""

    chunk_rule = staticmethod(default_chunk_size)

    def state_shape(self, T=None):
        core = (self.b, self.G, self.n, self.Dg)
        return core if T is None else (T, *core)

    def state_in(self, h):  # [b, d, n] -> [b, G, N, Dg]
        return h.float().reshape(self.b, self.G, self.Dg, self.n).transpose(-1, -2).contiguous()

    def BC(self, X, g, s, e):  # [b, (g,) n, l] slice -> [T, b, g, n]
        x = _tm(X, s, e)
        return x.unsqueeze(2) if X.dim() == 3 else x

    def split(self, t):  # [T, b, d] -> [T, b, G, 1, Dg]
        return t.view(t.shape[0], self.b, self.G, 1, self.Dg)


def _delta(delta, delta_bias, softplus, s, e):
    dl = _tm(delta, s, e)
    if delta_bias is not None:
        dl = dl + delta_bias.float()
    return F.softplus(dl) if softplus else dl


def _decays(geo, dl, At, out):
    """out <- exp(dt * A) for a chunk, [T, b, G, N, Dg]."""
    return torch.mul(geo.split(dl), At, out=out).exp_()


def _contract_C(geo, Cc, S):
    """y_t[d] = sum_n C_t[n] h_t[n, d] -> [T, b, d]."""
    T = Cc.shape[0]
    Cc = Cc.expand(T, geo.b, geo.G, geo.n)
    rows = T * geo.b * geo.G
    return torch.bmm(Cc.reshape(rows, 1, geo.n), S.reshape(rows, geo.n, geo.Dg)).view(T, geo.b, geo.d)


def _chunk_states(geo, dl, uc, Bc, At, h_in, a_buf, S, reverse):
    """S <- the chunk's states h_t given the incoming state h_in (a_buf is clobbered)."""
    Tc = dl.shape[0]
    a = _decays(geo, dl, At, a_buf[:Tc])
    torch.mul(geo.split(dl * uc), Bc.unsqueeze(-1), out=S)
    first = Tc - 1 if reverse else 0
    S[first].addcmul_(a[first], h_in)
    linear_scan_(a, S, reverse)
    return S


def scan_forward(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, initial_state, chunk_size,
                 keep_boundaries):
    """Returns (out [b, d, l] fp32, last state [b, d, n] fp32, incoming state of every chunk or None)."""
    geo = _Geometry(u, A, B, C, chunk_size)
    dev = u.device
    At = geo.A_layout(A)
    a_buf = torch.empty(geo.state_shape(geo.T), device=dev)
    S_buf = torch.empty(geo.state_shape(geo.T), device=dev)
    out = torch.empty(geo.b, geo.d, geo.L, device=dev)
    carry = torch.zeros(geo.state_shape(), device=dev) if initial_state is None else geo.state_in(initial_state)
    Df = D.float() if D is not None else None
    boundaries = [] if keep_boundaries else None
    for s, e in (geo.chunks[::-1] if reverse else geo.chunks):
        Tc = e - s
        if keep_boundaries:
            boundaries.append(carry.clone())
        dl, uc = _delta(delta, delta_bias, softplus, s, e), _tm(u, s, e)
        S = _chunk_states(geo, dl, uc, geo.BC(B, geo.gB, s, e), At, carry, a_buf, S_buf[:Tc], reverse)
        y = _contract_C(geo, geo.BC(C, geo.gC, s, e), S)
        if Df is not None:
            y.addcmul_(uc, Df)
        if z is not None:
            y.mul_(F.silu(_tm(z, s, e)))
        _store(out, y, s, e)
        carry = S[0 if reverse else Tc - 1].clone()
    if keep_boundaries:
        boundaries = torch.stack(boundaries) if boundaries else carry.new_zeros(0, *geo.state_shape())
    return out, geo.state_out(carry), boundaries


def _sum_groups(g_c, X, geo_g):
    """Per-group gradient [T, b, G, n] -> the layout of B or C ([T, b, n] or [T, b, g, n])."""
    if X.dim() == 3:
        return g_c.sum(2)
    return g_c if geo_g == g_c.shape[2] else g_c.sum(2, keepdim=True)


def scan_backward(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, chunk_size, boundaries, gout, glast):
    """Gradients (u, delta, A, B, C, D, z, delta_bias, initial_state) in fp32 (None for absent inputs)."""
    geo = _Geometry(u, A, B, C, chunk_size)
    b, d, n, G, Dg, T = geo.b, geo.d, geo.n, geo.G, geo.Dg, geo.T
    dev = u.device
    At = geo.A_layout(A)
    a_buf = torch.empty(geo.state_shape(T), device=dev)
    H = torch.empty(geo.state_shape(T + 1), device=dev)  # incoming state + the chunk's states
    g_buf = torch.empty(geo.state_shape(T), device=dev)
    dec_buf = torch.empty(geo.state_shape(T), device=dev)
    tmp = torch.empty(geo.state_shape(T), device=dev)
    gu, gdelta = torch.empty(b, d, geo.L, device=dev), torch.empty(b, d, geo.L, device=dev)
    gB, gC = torch.empty(B.shape, device=dev), torch.empty(C.shape, device=dev)
    gz = torch.empty(b, d, geo.L, device=dev) if z is not None else None
    gA = torch.zeros(G, n, Dg, device=dev)
    gD = torch.zeros(d, device=dev) if D is not None else None
    gbias = torch.zeros(d, device=dev) if delta_bias is not None else None
    Df = D.float() if D is not None else None
    # adjoint entering the chunk processed next (the previous one in scan order), already times its decay
    carry = torch.zeros(geo.state_shape(), device=dev) if glast is None else geo.state_in(glast)
    order = geo.chunks[::-1] if reverse else geo.chunks
    for idx in range(len(order) - 1, -1, -1):
        s, e = order[idx]
        Tc = e - s
        dl, uc = _delta(delta, delta_bias, softplus, s, e), _tm(u, s, e)
        du = dl * uc
        Bc, Cc = geo.BC(B, geo.gB, s, e), geo.BC(C, geo.gC, s, e)
        if reverse:
            S, Hprev, h_in = H[:Tc], H[1:Tc + 1], H[Tc]
        else:
            S, Hprev, h_in = H[1:Tc + 1], H[:Tc], H[0]
        h_in.copy_(boundaries[idx])
        _chunk_states(geo, dl, uc, Bc, At, h_in, a_buf, S, reverse)

        go = _tm(gout, s, e)
        if z is not None:
            y = _contract_C(geo, Cc, S)
            if Df is not None:
                y.addcmul_(uc, Df)
            gz_c, gy = gate_grads(go, _tm(z, s, e), y)
            _store(gz, gz_c, s, e)
        else:
            gy = go
        if Df is not None:
            gD += (gy * uc).sum((0, 1))

        # adjoint: forward scan -> g_t = C_t gy_t + a_{t+1} g_{t+1}, a scan in the other direction
        # whose decay at t is a_{t+1} (reverse scan: a_{t-1}); the boundary row's decay is never used.
        g = torch.mul(Cc.unsqueeze(-1), geo.split(gy), out=g_buf[:Tc])
        dec = dec_buf[:Tc]
        if not reverse:
            g[Tc - 1].add_(carry)
            _decays(geo, dl[1:], At, dec[:Tc - 1])
            dec[Tc - 1].fill_(1.0)
            linear_scan_(dec, g, reverse=True)
            carry = torch.exp(geo.split(dl[:1])[0] * At).mul_(g[0])
        else:
            g[0].add_(carry)
            _decays(geo, dl[:Tc - 1], At, dec[1:])
            dec[0].fill_(1.0)
            linear_scan_(dec, g, reverse=False)
            carry = torch.exp(geo.split(dl[Tc - 1:])[0] * At).mul_(g[Tc - 1])

        t_ = tmp[:Tc]
        rows = Tc * b * G
        # dL/dC_t[n] = sum_d gy_t[d] h_t[n, d];  dL/dB_t[n] = sum_d g_t[n, d] dt_t u_t
        gC_c = torch.mul(S, geo.split(gy), out=t_).sum(-1)
        gB_c = torch.mul(g, geo.split(du), out=t_).sum(-1)
        # sum_n g_t[n, d] B_t[n] feeds u and dt
        Bfull = Bc.expand(Tc, b, G, n)
        sB = torch.bmm(Bfull.reshape(rows, 1, n), g.reshape(rows, n, Dg)).view(Tc, b, d)
        gdl = sB * uc
        gu_c = sB * dl
        if Df is not None:
            gu_c.addcmul_(gy, Df)
        # dL/da_t * a_t = g_t h_{t-1} a_t, then through a = exp(dt A)
        W = _decays(geo, dl, At, a_buf[:Tc]).mul_(g).mul_(Hprev)
        gdl += torch.mul(W, At, out=t_).sum(3).view(Tc, b, d)
        gA += torch.mul(W, geo.split(dl), out=t_).sum((0, 1))
        if softplus:
            gdl.mul_(torch.expm1(-dl).neg_())  # softplus'(x) = sigmoid(x) = 1 - exp(-softplus(x))
        if gbias is not None:
            gbias += gdl.sum((0, 1))

        _store(gu, gu_c, s, e)
        _store(gdelta, gdl, s, e)
        _store(gB, _sum_groups(gB_c, B, geo.gB), s, e)
        _store(gC, _sum_groups(gC_c, C, geo.gC), s, e)
    return gu, gdelta, geo.A_grad(gA), gB, gC, gD, gz, gbias, geo.state_out(carry)


selective_scan_parallel = chunked_scan(scan_forward, scan_backward, "parallel")
selective_scan_parallel.__doc__ = """Chunked parallel selective scan (see module docstring); same arguments as
``selective_scan`` plus ``initial_state`` [b, d, n] and ``chunk_size`` (steps per chunk; default: ~16M
state elements per chunk)."""
