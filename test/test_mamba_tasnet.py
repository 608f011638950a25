"""Mamba-TasNet: official key layouts and parameter counts, shapes, the separate() helper and a
tiny training run on the mini corpus."""

import pytest
import torch

from sep_model_checks import check_official_layout, check_trained_separator, full_fp32_on_cuda, train_tiny
from speechslytherin.models.sep.mamba_tasnet import PRESETS, MambaTasNet

# param_counts.json of the reference: counts of the official classes with the official configs.
OFFICIAL_COUNTS = {"XS": 2_210_176, "S": 7_926_528, "M": 15_647_488, "L": 58_951_168}


@pytest.fixture(autouse=True)
def _flush_denormals():
    torch.set_flush_denormal(True)


@pytest.mark.parametrize("variant", ["XS", "S", "M", "L"])
def test_official_keys_shapes_and_counts(variant):
    check_official_layout(MambaTasNet.from_preset(variant), f"mambatasnet_{variant}", OFFICIAL_COUNTS[variant])


def test_preset_values_follow_official_hparams():
    assert PRESETS["XS"] == {"N": 128, "n_layers": 16}
    assert PRESETS["L"] == {"N": 512, "n_layers": 32}
    with pytest.raises(KeyError, match="choose one of"):
        MambaTasNet.from_preset("XXL")


def test_forward_shapes_and_lengths():
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini").eval()
    with torch.no_grad():
        for n_samples in (5, 16, 17, 999, 1000, 1003):  # shorter than a frame, odd tails
            est = model(torch.randn(2, n_samples))
            assert est.shape == (2, n_samples, 2)
            assert torch.isfinite(est).all()
        assert model(torch.randn(800)).shape == (800, 2)
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.zeros(1, 1, 100))


def test_batch_items_are_independent():
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini").eval()
    mix = torch.randn(3, 640)
    with torch.no_grad():
        together = model(mix)
        alone = torch.stack([model(m[None])[0] for m in mix])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_output_is_decoder_of_masked_encoding():
    """est = decoder(encoder(mix) * mask) per source, zero beyond the last full frame."""
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini", n_src=3).eval()
    mix = torch.randn(1, 203)  # 24 frames cover 8*23+16 = 200 samples; 3 zero-padded
    with torch.no_grad():
        est = model(mix)
        w = model.encoder(mix)
        masks = model.masknet(w)
        assert masks.shape == (3, 1, 32, 24) and (masks >= 0).all()
        expected = torch.stack([torch.nn.functional.conv_transpose1d(w * masks[k], model.decoder.weight,
                                                                     stride=8)[0, 0] for k in range(3)], -1)
    torch.testing.assert_close(est[0, :200], expected, atol=1e-5, rtol=1e-4)
    assert torch.all(est[0, 200:] == 0)


def test_mask_activation_options():
    mix = torch.randn(1, 400)
    model = MambaTasNet.from_preset("mini", mask_act="softmax").eval()
    with torch.no_grad():
        masks = model.masknet(model.encoder(mix))
    torch.testing.assert_close(masks.sum(0), torch.ones_like(masks[0]))
    with pytest.raises(ValueError, match="mask_act"):
        MambaTasNet.from_preset("mini", mask_act="tanh")
    with pytest.raises(ValueError, match="stride"):
        MambaTasNet(N=32, n_layers=1, kernel_size=16, stride=4)


def test_records_constructor_args():
    model = MambaTasNet.from_preset("mini", n_src=3)
    assert model.init_args["N"] == 32 and model.init_args["n_src"] == 3
    rebuilt = MambaTasNet(**model.init_args)
    assert rebuilt.init_args == model.init_args


def test_gradients_reach_all_parameters():
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini")
    model(torch.randn(2, 320)).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_separate_helper_and_segments():
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini").train()
    mix = torch.randn(4000)
    full = model.separate(mix)
    assert full.shape == (2, 4000) and model.training  # restores the mode
    assert model.separate(mix.numpy()[None]).shape == (1, 2, 4000)
    seg = model.separate(mix, segment_samples=1500, overlap_samples=300)
    assert seg.shape == (2, 4000) and torch.isfinite(seg).all()


def test_segmented_separation_matches_when_windows_agree():
    """With a context-free stand-in separator, window-by-window = one pass, even if windows swap order."""
    from speechslytherin.models.sep.segmented import separate_in_segments

    calls = []

    def fake_model(x):  # [1, T] -> [1, T, 2]; source order flips every other call
        calls.append(x.shape[1])
        est = torch.stack([x[0] * 0.7, torch.sin(x[0])], -1)
        return (est.flip(-1) if len(calls) % 2 == 0 else est)[None]

    mix = torch.randn(5003)
    out = separate_in_segments(fake_model, mix, 1000, 250)
    torch.testing.assert_close(out, torch.stack([mix * 0.7, torch.sin(mix)], -1), atol=1e-5, rtol=1e-5)
    assert max(calls) <= 1000 and len(calls) > 5
    with pytest.raises(ValueError, match="overlap"):
        separate_in_segments(fake_model, mix, 1000, 1000)


def test_tiny_training_run_on_the_mini_corpus(mini_sep_subset, tiny_mini_sep_mixture, tmp_path):
    """One epoch of egs/mini/sep1/conf/tiny.yaml (test_train.py runs the same config for the trainer)."""
    exp = tmp_path / "exp"
    records = train_tiny("egs/mini/sep1/conf/tiny.yaml", mini_sep_subset(4, 2), exp, "--trainer.epochs=1",
                         "--trainer.n_plot_examples=0")
    assert [r["epoch"] for r in records] == [1] and records[0]["optimizer_steps"] == 2
    check_trained_separator(exp, MambaTasNet, tiny_mini_sep_mixture)


@pytest.mark.gpu
def test_cuda_forward_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    model = MambaTasNet.from_preset("mini").eval()
    mix = torch.randn(2, 8000)
    with full_fp32_on_cuda(), torch.no_grad():
        cpu = model(mix)
        gpu = model.cuda()(mix.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-3)
