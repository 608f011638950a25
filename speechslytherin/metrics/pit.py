"""Permutation solving: which estimated source belongs to which reference."""

import itertools

import numpy as np


def pairwise(metric, est, ref):
    """M[i, j] = metric(est[j], ref[i]) for est, ref of shape [n_src, T] (numpy)."""
    n = ref.shape[0]
    est_b = np.broadcast_to(est[None, :, :], (n, est.shape[0], est.shape[1]))
    ref_b = np.broadcast_to(ref[:, None, :], (n, est.shape[0], ref.shape[1]))
    return np.asarray(metric(est_b, ref_b))


def best_permutation(scores):
    """perm maximising sum_i scores[i, perm[i]] (perm[i] = estimate index for reference i)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    if n <= 6:
        perms = list(itertools.permutations(range(n)))
        totals = [scores[np.arange(n), list(p)].sum() for p in perms]
        return tuple(int(i) for i in perms[int(np.argmax(totals))])
    from scipy.optimize import linear_sum_assignment

    _, cols = linear_sum_assignment(-scores)
    return tuple(int(i) for i in cols)


def pit_si_snr(est, ref, zero_mean=True):
    """(SI-SNR per reference [n_src], perm) with the permutation that maximises the mean."""
    from speechslytherin.metrics.si_snr import si_snr

    scores = pairwise(lambda e, r: si_snr(e, r, zero_mean), np.asarray(est, np.float64), np.asarray(ref, np.float64))
    perm = best_permutation(scores)
    return scores[np.arange(len(perm)), list(perm)], perm
