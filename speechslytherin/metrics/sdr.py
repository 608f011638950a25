"""BSS-eval SDR with the permutation solved, via fast_bss_eval (default) or mir_eval.

mir_eval's `bss_eval_sources` is what the Mamba-TasNet results were scored with; fast_bss_eval
computes the same quantity (512-tap distortion filter) much faster. Both pick the permutation
that maximises the mean SIR, as bss_eval does.
"""

import warnings

import numpy as np

BACKENDS = ("fast_bss_eval", "mir_eval")


def sdr(est, ref, backend="fast_bss_eval"):
    """(SDR in dB per reference source [n_src], perm) for est, ref of shape [n_src, T].

    perm[i] is the estimate matched with reference i.
    """
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if est.shape != ref.shape or est.ndim != 2:
        raise ValueError(f"sdr: need est and ref of the same shape [n_src, T], got {est.shape} and {ref.shape}.")
    if backend == "fast_bss_eval":
        import fast_bss_eval

        with np.errstate(divide="ignore", invalid="ignore"):  # silent signals give inf/nan, handled by callers
            if ref.shape[0] == 1:  # its bss_eval_sources fails on one source (enhancement); SDR alone works
                values, perm = fast_bss_eval.sdr(ref, est, return_perm=False), (0,)
            else:
                values, _, _, perm = fast_bss_eval.bss_eval_sources(ref, est, compute_permutation=True)
    elif backend == "mir_eval":
        import mir_eval.separation

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecation notice of mir_eval 0.8
            values, _, _, perm = mir_eval.separation.bss_eval_sources(ref, est, compute_permutation=True)
    else:
        raise ValueError(f"sdr_backend must be one of {BACKENDS}, got {backend!r}.")
    return np.asarray(values, dtype=np.float64), tuple(int(p) for p in perm)


def sdr_improvement(est, ref, mix, backend="fast_bss_eval"):
    """SDR(est) - SDR(mixture) per reference source; mix is [T]."""
    est_sdr, _ = sdr(est, ref, backend)
    mix_sdr, _ = sdr(np.tile(np.asarray(mix, np.float64)[None], (ref.shape[0], 1)), ref, backend)
    return est_sdr - mix_sdr
