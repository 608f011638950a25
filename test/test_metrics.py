import numpy as np
import pytest
import torch

from speechslytherin.metrics import (best_permutation, pesq_nb, pesq_wb, pit_si_snr, sdr, sdr_improvement, si_snr,
                                     si_snr_improvement, stoi)
from fake_corpus import tone


def signals(n=2, T=8000, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    ref = np.stack([tone(T, 8000, seed * 10 + i) for i in range(n)]).astype(np.float64)
    est = ref + noise * rng.standard_normal(ref.shape) * np.abs(ref).mean()
    return est, ref


def test_si_snr_hand_computed():
    ref = np.array([1.0, -1.0, 1.0, -1.0])  # zero mean already
    noise = np.array([1.0, 1.0, -1.0, -1.0])  # orthogonal to ref and zero mean
    est = 3.0 * ref + 0.5 * noise  # scaling must not matter
    expected = 10 * np.log10((9 * 4) / (0.25 * 4))
    assert si_snr(est, ref) == pytest.approx(expected, abs=1e-6)
    assert si_snr(est + 7.0, ref) == pytest.approx(expected, abs=1e-6)  # offset removed by zero-mean
    assert si_snr(est + 7.0, ref, zero_mean=False) < expected


def test_si_snr_torch_numpy_agree_batched():
    est, ref = signals(n=3)
    a = si_snr(est, ref)
    b = si_snr(torch.from_numpy(est), torch.from_numpy(ref))
    assert a.shape == (3,) and isinstance(b, torch.Tensor)
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-9)


def test_si_snr_matches_speechbrain():
    from speechbrain.nnet.losses import cal_si_snr, get_si_snr_with_pitwrapper

    est, ref = signals(n=2, seed=3, noise=0.5)
    ours = si_snr(torch.tensor(est, dtype=torch.float32), torch.tensor(ref, dtype=torch.float32))
    sb = -cal_si_snr(torch.tensor(ref.T[:, None, :], dtype=torch.float32),
                     torch.tensor(est.T[:, None, :], dtype=torch.float32))[0, 0]
    torch.testing.assert_close(ours, sb, atol=1e-3, rtol=1e-4)
    # with PIT: swapped estimates give the same mean value as SpeechBrain's PIT wrapper
    swapped = est[::-1].copy()
    values, perm = pit_si_snr(swapped, ref)
    assert perm == (1, 0)
    sb_pit = -get_si_snr_with_pitwrapper(torch.tensor(ref.T[None], dtype=torch.float32),
                                         torch.tensor(swapped.T[None], dtype=torch.float32))
    assert values.mean() == pytest.approx(sb_pit.item(), abs=1e-3)


def test_si_snr_improvement():
    est, ref = signals()
    mix = ref.sum(0)
    imp = si_snr_improvement(est, ref, mix)
    np.testing.assert_allclose(imp, si_snr(est, ref) - si_snr(np.stack([mix, mix]), ref))
    t = si_snr_improvement(torch.from_numpy(est), torch.from_numpy(ref), torch.from_numpy(mix))
    np.testing.assert_allclose(t.numpy(), imp)


def test_best_permutation():
    assert best_permutation([[1, 5], [6, 0]]) == (1, 0)
    assert best_permutation([[9, 0, 0], [0, 0, 9], [0, 9, 0]]) == (0, 2, 1)
    rng = np.random.default_rng(0)
    m = rng.standard_normal((8, 8))  # uses the assignment solver
    perm = best_permutation(m)
    assert sorted(perm) == list(range(8))


@pytest.mark.parametrize("backend", ["fast_bss_eval", "mir_eval"])
def test_sdr_against_mir_eval(backend):
    import mir_eval.separation

    est, ref = signals(n=2, seed=5, noise=0.3)
    est = est[::-1].copy()
    values, perm = sdr(est, ref, backend=backend)
    with pytest.warns(FutureWarning):
        ref_sdr, _, _, ref_perm = mir_eval.separation.bss_eval_sources(ref, est)
    assert perm == tuple(ref_perm) == (1, 0)
    np.testing.assert_allclose(values, ref_sdr, atol=0.05 if backend == "fast_bss_eval" else 1e-9)


def test_sdr_improvement_and_bad_backend():
    est, ref = signals(seed=6, noise=0.2)
    mix = ref.sum(0)
    imp = sdr_improvement(est, ref, mix)
    assert np.all(imp > 5)
    with pytest.raises(ValueError, match="sdr_backend must be one of"):
        sdr(est, ref, backend="nope")
    with pytest.raises(ValueError, match="same shape"):
        sdr(est[:1], ref)


def test_pesq_and_stoi_values_and_failures():
    est, ref = signals(n=1, T=16000, seed=7, noise=0.05)
    good = pesq_nb(est[0], ref[0], 8000)
    assert good.reason is None and 3.0 < good.value <= 4.6
    noisy = pesq_nb(signals(n=1, T=16000, seed=7, noise=1.0)[0][0], ref[0], 8000)
    assert noisy.value < good.value
    s = stoi(est[0], ref[0], 8000)
    assert s.reason is None and 0.8 < s.value <= 1.0
    assert pesq_wb(est[0], ref[0], 8000) == (None, "wide-band PESQ needs 16000 Hz audio, got 8000 Hz")
    assert pesq_nb(np.zeros(16000), ref[0], 8000).reason == "silent estimate"
    assert pesq_nb(est[0], np.zeros(16000), 8000).reason == "silent reference"
    assert "BufferTooShort" in pesq_nb(est[0][:400], ref[0][:400], 8000).reason
    assert "too short" in stoi(est[0][:800], ref[0][:800], 8000).reason
    nan = est[0].copy()
    nan[3] = np.nan
    assert stoi(nan, ref[0], 8000).reason == "non-finite samples"
    assert pesq_nb(est[0], ref[0], 44100).value is None


def test_single_source_sdr_both_backends():
    est, ref = signals(n=1, seed=8, noise=0.2)
    a, pa = sdr(est, ref)
    b, pb = sdr(est, ref, backend="mir_eval")
    assert pa == pb == (0,)
    np.testing.assert_allclose(a, b, atol=0.05)
