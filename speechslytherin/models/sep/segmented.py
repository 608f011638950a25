"""Separate a long recording window by window, so memory stays bounded.

A separator's output order is arbitrary per call, so each window's sources are re-ordered to
best match (highest correlation) what the previous windows produced on the shared overlap,
then the windows are cross-faded with linear ramps. This is an approximation of one pass over
the whole input (each window sees less context), meant for inputs too long for memory.
"""

import itertools

import torch


def _best_permutation(reference, estimate):
    """Order of estimate's sources [T, n_src] that best matches reference [T, n_src]."""
    ref = reference - reference.mean(0, keepdim=True)
    est = estimate - estimate.mean(0, keepdim=True)
    ref = ref / (ref.norm(dim=0, keepdim=True) + 1e-8)
    est = est / (est.norm(dim=0, keepdim=True) + 1e-8)
    corr = ref.T @ est  # [n_src(ref), n_src(est)]
    n_src = corr.shape[0]
    best = max(
        itertools.permutations(range(n_src)),
        key=lambda perm: float(sum(corr[i, perm[i]] for i in range(n_src))),
    )
    return list(best)


def separate_in_segments(model, mix, segment_samples, overlap_samples=None):
    """mix [T] -> estimates [T, n_src] from windows of ``segment_samples`` (default overlap: 1/4)."""
    n_samples = mix.shape[-1]
    segment_samples = int(segment_samples)
    if segment_samples <= 0:
        raise ValueError(f"segment_samples must be positive, got {segment_samples}.")
    if n_samples <= segment_samples:
        return model(mix.unsqueeze(0))[0]
    overlap = segment_samples // 4 if overlap_samples is None else int(overlap_samples)
    if not 0 <= overlap < segment_samples:
        raise ValueError(f"overlap_samples={overlap} must be in [0, segment_samples={segment_samples}).")
    hop = segment_samples - overlap
    starts = list(range(0, n_samples - overlap, hop))
    if starts[-1] + segment_samples < n_samples:
        starts.append(n_samples - segment_samples)
    out = None
    weight = torch.zeros(n_samples, 1, dtype=mix.dtype, device=mix.device)
    for start in starts:
        stop = min(start + segment_samples, n_samples)
        est = model(mix[start:stop].unsqueeze(0))[0]  # [len, n_src]
        if out is None:
            out = torch.zeros(n_samples, est.shape[1], dtype=est.dtype, device=est.device)
        else:
            shared = slice(start, int(start + (weight[start:stop, 0] > 0).sum()))
            if shared.stop > shared.start:
                ref = out[shared] / weight[shared]
                est = est[:, _best_permutation(ref, est[: shared.stop - start])]
        ramp = torch.ones(stop - start, 1, dtype=mix.dtype, device=mix.device)
        fade = min(overlap, stop - start)
        if start > 0 and fade > 0:  # fade in over the overlap with the previous window
            ramp[:fade, 0] = torch.linspace(0, 1, fade + 2, dtype=mix.dtype, device=mix.device)[1:-1]
        if stop < n_samples and fade > 0:  # fade out where the next window takes over
            ramp[-fade:, 0] *= torch.linspace(1, 0, fade + 2, dtype=mix.dtype, device=mix.device)[1:-1]
        out[start:stop] += est * ramp
        weight[start:stop] += ramp
    return out / weight.clamp_min(1e-8)
