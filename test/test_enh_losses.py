"""SEMamba losses: anti-wrapping phase terms against the official matrix form, each generator
term on known inputs, the published weights, the discriminator loss and never-crash batch PESQ."""

import math

import numpy as np
import pytest
import torch

from speechslytherin.losses.enh import WEIGHTS, BatchPesq, SEMambaLoss, anti_wrapping, normalised_pesq, phase_losses
from speechslytherin.models.enh.stft import mag_phase_stft


def official_phase_losses(phase_r, phase_g):
    """The official formulation written out: difference matrices triu(1) - triu(2) - eye."""
    def matrix(n):
        return torch.triu(torch.ones(n, n), 1) - torch.triu(torch.ones(n, n), 2) - torch.eye(n)

    f, t = phase_r.shape[1], phase_r.shape[2]
    gd_r, gd_g = phase_r.permute(0, 2, 1) @ matrix(f), phase_g.permute(0, 2, 1) @ matrix(f)
    iaf_r, iaf_g = phase_r @ matrix(t), phase_g @ matrix(t)
    return (anti_wrapping(phase_r - phase_g).mean(), anti_wrapping(gd_r - gd_g).mean(),
            anti_wrapping(iaf_r - iaf_g).mean())


def test_anti_wrapping_values():
    x = torch.tensor([0.0, 2 * math.pi, -2 * math.pi, math.pi + 0.1, 0.3, -0.3, 4 * math.pi + 0.2])
    expected = torch.tensor([0.0, 0.0, 0.0, math.pi - 0.1, 0.3, 0.3, 0.2])
    torch.testing.assert_close(anti_wrapping(x), expected, atol=1e-6, rtol=0)


def test_phase_losses_equal_the_official_matrix_form():
    torch.manual_seed(0)
    r, g = torch.rand(2, 201, 30) * 6 - 3, torch.rand(2, 201, 30) * 6 - 3
    for ours, theirs in zip(phase_losses(r, g), official_phase_losses(r, g)):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_phase_losses_on_a_constant_offset():
    r = torch.rand(1, 11, 7) * 2
    ip, gd, iaf = phase_losses(r, r + 0.5)
    assert ip.item() == pytest.approx(0.5, abs=1e-6)
    # differences cancel the offset except the first bin / frame, counted against zero (official)
    assert gd.item() == pytest.approx(0.5 / 11, abs=1e-6)
    assert iaf.item() == pytest.approx(0.5 / 7, abs=1e-6)


def test_published_weights():
    assert WEIGHTS == {"metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1, "time": 0.2,
                       "consistency": 0.1}
    assert SEMambaLoss().weights == WEIGHTS


def _est_from(wave, mag_offset=0.0):
    mag, pha, _ = mag_phase_stft(wave)
    mag = mag + mag_offset
    return {"mag": mag, "pha": pha, "com": torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), -1),
            "wave": wave}


def test_generator_terms_on_known_inputs():
    torch.manual_seed(0)
    clean = torch.randn(2, 4000)
    loss = SEMambaLoss()
    spec = loss.clean_spectra(clean)
    perfect = loss.generator_terms(_est_from(clean), clean, spec, metric_g=torch.ones(2, 1))
    for name in ("magnitude", "phase", "complex", "time", "metric"):
        assert perfect[name].item() == pytest.approx(0.0, abs=1e-6), name
    assert perfect["consistency"].item() < 1e-6  # the STFT of a waveform is consistent
    est = _est_from(clean, mag_offset=0.1)
    est["wave"] = clean + 0.5
    terms = loss.generator_terms(est, clean, spec, metric_g=torch.full((2, 1), 0.5))
    assert terms["time"].item() == pytest.approx(0.5, abs=1e-5)
    assert terms["magnitude"].item() == pytest.approx(0.01, abs=1e-4)
    assert terms["metric"].item() == pytest.approx(0.25, abs=1e-6)
    expected = sum(WEIGHTS[k] * terms[k] for k in WEIGHTS)
    assert terms["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert "metric" not in loss.generator_terms(est, clean, spec)


def test_discriminator_loss():
    ones = torch.ones(3, 1)
    assert SEMambaLoss.discriminator_loss(ones).item() == 0.0
    value = SEMambaLoss.discriminator_loss(torch.full((3, 1), 0.5), torch.full((3, 1), 0.2),
                                           torch.tensor([0.2, 0.2, 0.5]))
    assert value.item() == pytest.approx(0.25 + 0.09 / 3, abs=1e-6)
    # no PESQ target (a failed PESQ): only the real term, as the official code
    assert SEMambaLoss.discriminator_loss(ones, torch.zeros(3, 1), None).item() == 0.0


def speechlike(n, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    return (env * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 660 * t))
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("workers", [0, 1])
def test_batch_pesq_never_crashes_and_normalises(workers):
    clean = np.stack([speechlike(16000, seed=0), speechlike(16000, seed=1)])
    noisy = clean + 0.3 * np.random.default_rng(2).standard_normal(clean.shape).astype(np.float32)
    scorer = BatchPesq(16000, workers=workers)
    try:
        target = scorer(clean, noisy)
        raw = scorer.scores(clean, noisy)
        assert target.shape == (2,)
        np.testing.assert_allclose(target.numpy(), normalised_pesq(raw), rtol=1e-6)
        assert all(1.0 <= s < 4.7 for s in raw)
        assert scorer(clean, clean).min() > scorer(clean, noisy).max()
        silent = noisy.copy()
        silent[1] = 0.0
        assert scorer(clean, silent) is None  # one failed item: no target for the batch
        assert scorer.scores(clean, silent)[1] is None
    finally:
        scorer.close()
