"""Fast pure-PyTorch selective scan (the CPU path; also runs on CUDA tensors).

Why this shape (measured in the project's performance notes): on a 2-core CPU, parallel and
log-space scans lose to a plain time loop, as long as the loop runs chunk by chunk over small,
reused, time-major buffers. Per chunk of T steps we compute exp(delta*A) and delta*u*B into
buffers of shape (T, b, G, N, Dg) (state laid out (N, channels) so the channel dim is
innermost), run one in-place ``addcmul_`` per step, and get y = C.h with one batched matmul.

Training uses a hand-written backward (the autograd function made by ``chunked_scan``): only the state entering each
chunk is saved; the backward pass walks the chunks in the opposite order, recomputes the
chunk's states from its saved boundary state and runs the adjoint recurrence backwards in time.
Memory is linear in L and no autograd graph is built per step.

Math, per channel d and state n (mamba-ssm semantics):
    h_t = a_t h_{t-1} + b_t,  a_t = exp(dt_t A),  b_t = dt_t u_t B_t,  y_t = C_t.h_t + D u_t
Adjoint: g_t = C_t gy_t + a_{t+1} g_{t+1};  dL/db_t = g_t;  dL/da_t = g_t h_{t-1}.
"""

import torch
import torch.nn.functional as F

# Elements per state buffer (T * b * d * n) aimed at: ~4 MiB of fp32 (with 3-4 such buffers) fits the L2/L3 share of
# one core on the development machine; T=64 for b=4, d=256, n=16 was the measured optimum (bench/scan.py).
_TARGET_BUFFER_ELEMENTS = 1 << 20
_MIN_CHUNK, _MAX_CHUNK = 16, 256


def default_chunk_size(b, d, n):
    per_step = max(1, b * d * n)
    return int(min(_MAX_CHUNK, max(_MIN_CHUNK, _TARGET_BUFFER_ELEMENTS // per_step)))


def _groups(BC, name):
    if BC.dim() == 3:
        return 1
    if BC.dim() == 4:
        return BC.shape[1]
    raise ValueError(f"selective_scan: {name} must be [b, n, l] or [b, g, n, l], got shape {tuple(BC.shape)}")


def _tm(x, s, e):
    """Time-major fp32 view-or-copy of the time slice [s, e) of a [b, ..., l] tensor -> [T, b, ...].
    May alias the input (size-1 dims): never modify the result in place.

    When time is the contiguous dim, a direct permuted copy reads with stride l (a TLB miss per
    element); copying the slice contiguously first and then transposing it as a 2-D matrix
    (PyTorch's blocked transpose) is ~3x faster. Inputs that are already time-major in memory
    (e.g. projections transposed as views) are permuted directly."""
    xs = x[..., s:e]
    T = xs.shape[-1]
    lead = xs.shape[:-1]
    if x.stride(-1) == 1 and T > 1:
        rows = xs.numel() // T if T else 0
        flat = xs.float().contiguous().view(rows, T)
        return flat.t().contiguous().view(T, *lead)
    return xs.permute(xs.dim() - 1, *range(xs.dim() - 1)).float().contiguous()


def _store_tm(dst, y_tm, s, e):
    """Write a time-major chunk [T, b, ...] into dst[..., s:e] ([b, ..., l]) via a 2-D transpose."""
    T = y_tm.shape[0]
    rows = y_tm.numel() // T if T else 0
    dst[..., s:e].copy_(y_tm.reshape(T, rows).t().contiguous().view(*dst.shape[:-1], T))


class _Geometry:
    """Shapes shared by forward and backward (also the base of scan_parallel's geometry)."""

    chunk_rule = staticmethod(default_chunk_size)  # chunk length when the caller gives none

    def __init__(self, u, A, B, C, chunk_size):
        self.b, self.d, self.L = u.shape
        self.n = A.shape[1]
        self.gB, self.gC = _groups(B, "B"), _groups(C, "C")
        self.G = max(self.gB, self.gC)
        for g in (self.gB, self.gC):
            if g not in (1, self.G):
                raise ValueError(f"selective_scan: B and C group counts differ ({self.gB} vs {self.gC}); "
                                 "use equal counts or one of them ungrouped")
        if self.d % self.G:
            raise ValueError(f"selective_scan: d={self.d} channels not divisible by {self.G} groups of B/C")
        self.Dg = self.d // self.G
        # never larger than L: streaming calls with a few frames must not allocate full buffers
        self.T = max(1, min(chunk_size or self.chunk_rule(self.b, self.d, self.n), self.L))
        self.chunks = [(s, min(s + self.T, self.L)) for s in range(0, self.L, self.T)]

    def state_view(self, h):  # [b, d, n] -> [b, G, N, Dg]
        return h.view(self.b, self.G, self.Dg, self.n).transpose(-1, -2)

    def state_out(self, h):  # [b, G, N, Dg] -> [b, d, n]
        return h.transpose(-1, -2).reshape(self.b, self.d, self.n)

    def A_layout(self, A):  # [d, n] -> [G, N, Dg]
        return A.float().t().reshape(self.n, self.G, self.Dg).permute(1, 0, 2).contiguous()

    def A_grad(self, gA):  # [G, N, Dg] -> [d, n]
        return gA.permute(1, 0, 2).reshape(self.n, self.d).t()


def _prep_delta(delta, delta_bias, softplus, s, e):
    dl = _tm(delta, s, e)
    if delta_bias is not None:
        dl = dl + delta_bias.float()  # not in place: _tm may alias the input when a dim has size 1
    if softplus:
        dl = F.softplus(dl)
    return dl


def gate_grads(go, zc, y):
    """Gradients through out = y * silu(z): (d/dz, d/dy), with silu'(z) = s (1 + z (1 - s)), s = sigmoid(z)."""
    sz = torch.sigmoid(zc)
    return go * y * sz * (1 + zc * (1 - sz)), go * (zc * sz)


class _Buffers:
    """Reused chunk buffers and their per-step views, unbound once (creating T views per chunk
    costs a few microseconds each, comparable to the step itself)."""

    def __init__(self, geo, device, adjoint=False):
        shape = (geo.b, geo.G, geo.n, geo.Dg)
        self.H = torch.empty(geo.T + 1, *shape, device=device)
        self.dA = torch.empty(geo.T, *shape, device=device)
        self.H_steps, self.dA_steps = self.H.unbind(0), self.dA.unbind(0)
        if adjoint:
            self.Gh = torch.empty(geo.T, *shape, device=device)
            self.Gh_steps = self.Gh.unbind(0)


def _recompute_states(geo, buf, dl, du, Bc, At, reverse):
    """Fill dA[:T] = exp(dt*A) and the states of one chunk into H (slot 0 = incoming state for a
    forward scan, slot T for a reverse one; the caller has put the incoming state there)."""
    T, b, G, N, Dg = dl.shape[0], geo.b, geo.G, geo.n, geo.Dg
    H = buf.H
    a = buf.dA[:T]
    torch.mul(dl.view(T, b, G, 1, Dg), At, out=a)
    a.exp_()
    S = H[1:T + 1] if not reverse else H[:T]
    torch.mul(du.view(T, b, G, 1, Dg), Bc.view(T, b, geo.gB, N, 1), out=S)
    steps_a, steps_h = buf.dA_steps, buf.H_steps
    if not reverse:
        for t in range(T):
            steps_h[t + 1].addcmul_(steps_a[t], steps_h[t])
    else:
        for t in range(T - 1, -1, -1):
            steps_h[t].addcmul_(steps_a[t], steps_h[t + 1])
    return a, S


def _contract_C(geo, Cc, S):
    """y_t[d] = sum_n C_t[n] h_t[n, d] for a chunk -> [T, b, d]."""
    T = Cc.shape[0]
    if geo.gC != geo.G:
        Cc = Cc.expand(T, geo.b, geo.G, geo.n)
    lhs = Cc.reshape(T * geo.b * geo.G, 1, geo.n)
    return torch.matmul(lhs, S.view(T * geo.b * geo.G, geo.n, geo.Dg)).view(T, geo.b, geo.d)


def _chunk_BC(BC, g, s, e):
    """[b, (g,) n, l] slice -> [T, b, g, n]."""
    x = _tm(BC, s, e)
    return x.unsqueeze(2) if g == 1 and x.dim() == 3 else x


def scan_forward(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, initial_state, chunk_size,
                 keep_boundaries):
    """Returns (out [b, d, l] fp32, last_state [b, d, n] fp32, boundary states or None)."""
    geo = _Geometry(u, A, B, C, chunk_size)
    b, d, L, n, G, Dg, T = geo.b, geo.d, geo.L, geo.n, geo.G, geo.Dg, geo.T
    dev = u.device
    At = geo.A_layout(A)
    buf = _Buffers(geo, dev)
    H = buf.H
    out = torch.empty(b, d, L, device=dev)
    carry = torch.zeros(b, G, n, Dg, device=dev) if initial_state is None else \
        geo.state_view(initial_state.float()).clone()
    Df = D.float() if D is not None else None
    order = geo.chunks if not reverse else geo.chunks[::-1]
    boundaries = [] if keep_boundaries else None
    for s, e in order:
        Tc = e - s
        dl = _prep_delta(delta, delta_bias, softplus, s, e)
        uc = _tm(u, s, e)
        Bc, Cc = _chunk_BC(B, geo.gB, s, e), _chunk_BC(C, geo.gC, s, e)
        slot_in = 0 if not reverse else Tc
        H[slot_in].copy_(carry)
        if keep_boundaries:
            boundaries.append(carry.clone())
        _, S = _recompute_states(geo, buf, dl, dl * uc, Bc, At, reverse)
        y = _contract_C(geo, Cc, S)
        if Df is not None:
            y.addcmul_(uc, Df)
        if z is not None:
            y.mul_(F.silu(_tm(z, s, e)))
        _store_tm(out, y, s, e)
        carry.copy_(H[Tc] if not reverse else H[0])
    if keep_boundaries:
        boundaries = torch.stack(boundaries) if boundaries else carry.new_zeros(0, b, G, n, Dg)
    return out, geo.state_out(carry), boundaries


def scan_backward(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, chunk_size, boundaries,
                  gout, glast):
    """Gradients (u, delta, A, B, C, D, z, delta_bias) in fp32 (None for absent inputs)."""
    geo = _Geometry(u, A, B, C, chunk_size)
    b, d, L, n, G, Dg, T = geo.b, geo.d, geo.L, geo.n, geo.G, geo.Dg, geo.T
    dev = u.device
    At = geo.A_layout(A)
    buf = _Buffers(geo, dev, adjoint=True)
    H, Gh = buf.H, buf.Gh
    Gh_tmp = torch.empty_like(Gh)
    gu = torch.empty(b, d, L, device=dev)
    gdelta = torch.empty(b, d, L, device=dev)
    gB = torch.empty(B.shape, device=dev)
    gC = torch.empty(C.shape, device=dev)
    gz = torch.empty(b, d, L, device=dev) if z is not None else None
    gA = torch.zeros(G, n, Dg, device=dev)
    gD = torch.zeros(d, device=dev) if D is not None else None
    gbias = torch.zeros(d, device=dev) if delta_bias is not None else None
    Df = D.float() if D is not None else None
    # Adjoint flowing into the chunk processed next (the earlier one in scan order).
    carry = torch.zeros(b, G, n, Dg, device=dev) if glast is None else geo.state_view(glast.float()).clone()
    fwd_order = geo.chunks if not reverse else geo.chunks[::-1]
    for idx in range(len(fwd_order) - 1, -1, -1):
        s, e = fwd_order[idx]
        Tc = e - s
        dl = _prep_delta(delta, delta_bias, softplus, s, e)
        uc = _tm(u, s, e)
        du = dl * uc
        Bc, Cc = _chunk_BC(B, geo.gB, s, e), _chunk_BC(C, geo.gC, s, e)
        H[0 if not reverse else Tc].copy_(boundaries[idx])
        a, S = _recompute_states(geo, buf, dl, du, Bc, At, reverse)
        Hprev = H[:Tc] if not reverse else H[1:Tc + 1]

        go = _tm(gout, s, e)
        if z is not None:
            y = _contract_C(geo, Cc, S)
            if Df is not None:
                y.addcmul_(uc, Df)
            gz_c, gy = gate_grads(go, _tm(z, s, e), y)
            _store_tm(gz, gz_c, s, e)
        else:
            gy = go
        gu_c = gy * Df if Df is not None else torch.zeros_like(gy)
        if Df is not None:
            gD += (gy * uc).sum((0, 1))

        # Adjoint recurrence over the chunk, backwards in scan time.
        g = Gh[:Tc]
        torch.mul(Cc.view(Tc, b, geo.gC, n, 1), gy.view(Tc, b, G, 1, Dg), out=g)
        gs, as_ = buf.Gh_steps, buf.dA_steps
        if not reverse:
            gs[Tc - 1].add_(carry)
            for t in range(Tc - 2, -1, -1):
                gs[t].addcmul_(as_[t + 1], gs[t + 1])
            torch.mul(as_[0], gs[0], out=carry)
        else:
            gs[0].add_(carry)
            for t in range(1, Tc):
                gs[t].addcmul_(as_[t - 1], gs[t - 1])
            torch.mul(as_[Tc - 1], gs[Tc - 1], out=carry)

        rows = Tc * b * G
        # dL/dC_t[n] = sum_d gy_t[d] h_t[n, d]
        # (mul + sum: a batched [n, Dg] @ [Dg, 1] product runs ~6x slower on CPU)
        gC_c = torch.mul(S, gy.view(Tc, b, G, 1, Dg), out=Gh_tmp[:Tc]).sum(-1)
        # sum_n g_t[n, d] B_t[n]  and  dL/dB_t[n] = sum_d g_t[n, d] dt_t u_t
        Bfull = Bc.expand(Tc, b, G, n) if geo.gB != G else Bc
        sB = torch.matmul(Bfull.reshape(rows, 1, n), g.view(rows, n, Dg)).view(Tc, b, d)
        gB_c = torch.mul(g, du.view(Tc, b, G, 1, Dg), out=Gh_tmp[:Tc]).sum(-1)
        gdl = sB * uc
        gu_c.addcmul_(sB, dl)
        # dL/da_t * a_t = g_t h_{t-1} a_t  (then chain through a = exp(dt A))
        W = a.mul_(g).mul_(Hprev)
        torch.mul(W, At, out=g)
        gdl += g.sum(3).view(Tc, b, d)
        torch.mul(W, dl.view(Tc, b, G, 1, Dg), out=g)
        gA += g.sum((0, 1))
        if softplus:
            gdl.mul_(torch.expm1(-dl).neg_())  # softplus'(x) = sigmoid(x) = 1 - exp(-softplus(x))
        if gbias is not None:
            gbias += gdl.sum((0, 1))

        _store_tm(gu, gu_c, s, e)
        _store_tm(gdelta, gdl, s, e)
        _store_tm(gB, gB_c.sum(2) if B.dim() == 3 else (gB_c if geo.gB == G else gB_c.sum(2, keepdim=True)), s, e)
        _store_tm(gC, gC_c.sum(2) if C.dim() == 3 else (gC_c if geo.gC == G else gC_c.sum(2, keepdim=True)), s, e)
    return gu, gdelta, geo.A_grad(gA), gB, gC, gD, gz, gbias, geo.state_out(carry)


def chunked_scan(scan_forward_fn, scan_backward_fn, impl_name):
    """A selective-scan function around a chunked scan's forward/backward pair (used by `torch`
    and `parallel`): with gradients, an autograd.Function whose forward keeps the chunk-boundary
    states and whose backward recomputes each chunk from them; without, the forward alone."""

    class ChunkedScanFn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u, delta, A, B, C, D, z, delta_bias, initial_state, softplus, reverse, chunk_size):
            out, last, bounds = scan_forward_fn(u, delta, A, B, C, D, z, delta_bias, softplus, reverse,
                                                initial_state, chunk_size, keep_boundaries=True)
            ctx.softplus, ctx.reverse, ctx.chunk_size = softplus, reverse, chunk_size
            ctx.has_initial = initial_state is not None
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, bounds)
            return out.to(u.dtype), last

        @staticmethod
        def backward(ctx, gout, glast):
            u, delta, A, B, C, D, z, delta_bias, bounds = ctx.saved_tensors
            *grads, ginit = scan_backward_fn(u, delta, A, B, C, D, z, delta_bias, ctx.softplus, ctx.reverse,
                                             ctx.chunk_size, bounds, gout, glast)
            inputs = (u, delta, A, B, C, D, z, delta_bias)
            res = [None if g is None else g.to(x.dtype) for g, x in zip(grads, inputs)]
            res.append(ginit if ctx.has_initial else None)
            return (*res, None, None, None)

    ChunkedScanFn.__name__ = ChunkedScanFn.__qualname__ = f"ChunkedScanFn_{impl_name}"

    def scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
             return_last_state=False, reverse=False, initial_state=None, chunk_size=None):
        if A.is_complex():
            raise NotImplementedError(f"selective_scan(impl='{impl_name}'): complex A is not supported; "
                                      "use a real A")
        tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state)
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
            out, last = ChunkedScanFn.apply(u, delta, A, B, C, D, z, delta_bias, initial_state,
                                            bool(delta_softplus), bool(reverse), chunk_size)
        else:
            with torch.no_grad():
                out, last, _ = scan_forward_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse,
                                               initial_state, chunk_size, keep_boundaries=False)
            out = out.to(u.dtype)
        return (out, last) if return_last_state else out

    return scan


selective_scan_torch = chunked_scan(scan_forward, scan_backward, "torch")
selective_scan_torch.__doc__ = """Chunked sequential selective scan (see module docstring); same arguments as
``selective_scan`` plus ``initial_state`` [b, d, n] and ``chunk_size`` (steps per chunk)."""
