"""PCS400: the published per-bin gains, shapes and types, identity with unit gains, and the
contrast stretch it is for."""

import numpy as np
import pytest
import torch

from speechslytherin.models.enh import pcs
from speechslytherin.models.enh.pcs import apply_pcs, pcs400_gains


def test_published_gains():
    g = pcs400_gains()
    assert g.shape == (201,)
    assert list(g[:3]) == [1.0, 1.0, 1.0]
    assert g[3] == g[4] == 1.070175439
    assert g[5] == g[7] == 1.182456140
    assert g[8] == g[9] == 1.287719298
    assert (g[10:110] == 1.4).all()
    assert g[110] == g[129] == 1.322807018
    assert g[130] == g[159] == 1.238596491
    assert g[160] == g[189] == 1.161403509
    assert g[190] == g[200] == 1.077192982


def _signal(n=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def test_types_shapes_and_peak():
    x = _signal(12345)
    y = apply_pcs(x, 16000)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-6)
    yt = apply_pcs(torch.from_numpy(np.stack([x, 0.5 * x])), 16000)
    assert torch.is_tensor(yt) and yt.shape == (2, 12345)
    np.testing.assert_allclose(yt[0].numpy(), y, atol=1e-5)
    np.testing.assert_allclose(yt[1].numpy(), apply_pcs(0.5 * x), atol=1e-5)
    with pytest.raises(ValueError, match="16000"):
        apply_pcs(x, 8000)


def test_unit_gains_reconstruct_the_input(monkeypatch):
    monkeypatch.setattr(pcs, "pcs400_gains", lambda: np.ones(201))
    x = _signal()
    y = apply_pcs(x)
    np.testing.assert_allclose(y, x / np.abs(x).max(), atol=1e-4)


def test_stretches_the_speech_band_in_the_log_domain():
    x = torch.from_numpy(_signal(seed=1).astype(np.float64))
    y = pcs._pcs_torch(x.unsqueeze(0))[0]  # before the peak normalisation

    def log1p_mag(w):
        window = torch.hamming_window(400, periodic=False, dtype=torch.float64)
        return torch.log1p(torch.stft(w, 400, 100, 400, window=window, return_complex=True).abs()).mean(-1)

    ratio = (log1p_mag(y) / log1p_mag(x)).numpy()
    assert 1.3 < ratio[20:100].mean() < 1.45  # gain 1.4 in the log1p domain (iSTFT re-analysis blurs it a bit)
    assert 1.05 < ratio[190:].mean() < 1.11  # gain 1.077 at the top
