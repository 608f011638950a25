import numpy as np
import pytest
import torch

from speechslytherin.data.augment import change_speed, speed_perturb_sources


def test_speed_changes_length_and_pitch():
    sr = 8000
    t = torch.arange(8000) / sr
    x = torch.sin(2 * np.pi * 400 * t).unsqueeze(0)
    slow = change_speed(x, 95)
    fast = change_speed(x, 105)
    assert slow.shape[-1] == pytest.approx(8000 * 100 / 95, abs=1)
    assert fast.shape[-1] == pytest.approx(8000 * 100 / 105, abs=1)
    assert torch.equal(change_speed(x, 100), x)

    def peak_hz(sig):
        spec = np.abs(np.fft.rfft(sig[0].numpy()))
        return np.argmax(spec) * sr / sig.shape[-1]

    assert peak_hz(slow) == pytest.approx(400 * 0.95, abs=3)
    assert peak_hz(fast) == pytest.approx(400 * 1.05, abs=3)


def test_speed_perturb_sources_shapes_and_determinism():
    torch.manual_seed(0)
    src = torch.randn(2, 4000, 2)
    outs = set()
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        out = speed_perturb_sources(src, 8000, generator=g)
        assert out.shape[0] == 2 and out.shape[2] == 2
        outs.add(out.shape[1])
        g2 = torch.Generator().manual_seed(seed)
        assert torch.equal(out, speed_perturb_sources(src, 8000, generator=g2))
    # with speeds drawn per source, the common length is the shortest perturbed one
    assert outs <= {4000, int(np.ceil(4000 * 100 / 105)), int(np.ceil(4000 * 100 / 95))}
    assert len(outs) > 1


def test_each_source_gets_its_own_speed():
    src = torch.randn(1, 4000, 2)
    seen_different = False
    for seed in range(20):
        out = speed_perturb_sources(src, 8000, speeds=(90, 110), generator=torch.Generator().manual_seed(seed))
        a = torch.equal(out[..., 0], change_speed(src[..., 0], 90)[..., :out.shape[1]])
        b = torch.equal(out[..., 1], change_speed(src[..., 1], 90)[..., :out.shape[1]])
        seen_different |= a != b
    assert seen_different


def test_bad_shape():
    with pytest.raises(ValueError, match="batch, time, n_src"):
        speed_perturb_sources(torch.randn(100, 2), 8000)


@pytest.mark.parametrize("speed", [95, 105])
def test_matches_speechbrain_speed_perturb(speed):
    from speechbrain.augment.time_domain import SpeedPerturb

    x = torch.randn(1, 8000, generator=torch.Generator().manual_seed(speed))
    ref = SpeedPerturb(8000, [speed])(x)
    out = change_speed(x, speed)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
