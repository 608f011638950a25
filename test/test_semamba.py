"""SEMamba models: official key layout and counts, shapes, the STFT pipeline, causality,
model files and the official-checkpoint import."""

import json
import os

import pytest
import torch

import speechslytherin
from speechslytherin.bin.import_checkpoint import CheckpointImportError, import_checkpoint
from speechslytherin.models.enh.discriminator import MetricDiscriminator
from speechslytherin.models.enh.semamba import SEMamba
from speechslytherin.models.enh.semamba_basic import SEMambaBasic
from speechslytherin.models.enh.spectral import SpectralEnhancer
from speechslytherin.models.enh.stft import mag_phase_istft, mag_phase_stft
from speechslytherin.models.model_io import save_model

# [key, shape] lists read from the official classes (copied from the project's reference folder)
REF = os.path.join(os.path.dirname(__file__), "data", "official_keys")
torch.set_num_threads(1)


def official_keys(name):
    with open(os.path.join(REF, name)) as f:
        return [(k, list(s)) for k, s in json.load(f)]


def layout(module):
    return [(k, list(v.shape)) for k, v in module.state_dict().items()]


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_generator_keys_shapes_and_count_equal_the_official():
    model = SEMamba()
    assert n_params(model) == 2_258_769
    assert layout(model) == official_keys("keys_SEMamba_advanced_generator.json")


def test_discriminator_keys_shapes_and_count_equal_the_official():
    disc = MetricDiscriminator()
    assert n_params(disc) == 181_650
    assert sum(v.numel() for v in disc.state_dict().values()) == 183_971  # + spectral-norm u/v buffers
    assert layout(disc) == official_keys("keys_SEMamba_MetricDiscriminator.json")
    assert disc(torch.rand(2, 201, 40), torch.rand(2, 201, 40)).shape == (2, 1)


def test_causal_variant_keeps_key_names_minus_the_backward_time_mamba():
    names = {k for k, _ in layout(SEMamba())}
    causal = dict(layout(SEMamba(causal=True)))
    assert set(causal) == {k for k in names if ".time_mamba.backward_blocks." not in k}
    assert causal["TSMamba.0.tlinear.weight"] == [64, 64, 1]  # forward-only time Mamba: C -> C


@pytest.mark.parametrize("make", [lambda: SEMamba.from_preset("mini"), lambda: SEMamba.from_preset("mini", causal=True),
                                  lambda: SEMambaBasic.from_preset("mini"),
                                  lambda: SEMambaBasic.from_preset("mini", causal=True)])
def test_waveform_in_waveform_out_same_length(make):
    model = make().eval()
    with torch.no_grad():
        for length in (3200, 3237):
            y = model(torch.randn(2, length))
            assert y.shape == (2, length) and torch.isfinite(y).all()
        assert model(torch.randn(3201)).shape == (3201,)
        spec = model(torch.randn(2, 3200), spectra=True)
    assert spec["mag"].shape == spec["pha"].shape == (2, 201, 33)
    assert spec["com"].shape == (2, 201, 33, 2) and spec["wave"].shape == (2, 3200)
    with pytest.raises(ValueError, match="waveform"):
        model(torch.randn(1, 1, 3200))


def test_stft_pipeline_inverts():
    x = torch.randn(2, 16037)
    mag, pha, com = mag_phase_stft(x)
    assert mag.shape == (2, 201, 161)
    torch.testing.assert_close(com[..., 0], mag * torch.cos(pha))
    y = mag_phase_istft(mag, pha, length=x.shape[-1])
    torch.testing.assert_close(y, x, atol=1e-4, rtol=1e-4)


class Identity(SpectralEnhancer):
    def __init__(self):
        super().__init__()
        self.n_fft, self.hop_size, self.win_size, self.compress_factor = 400, 100, 400, 0.3

    def enhance(self, mag, pha):
        return mag, pha, None


def test_identity_path_returns_the_input_at_its_level():
    x = 0.01 * torch.randn(2, 8000)  # far from unit RMS: the normalisation must be undone
    torch.testing.assert_close(Identity()(x), x, atol=1e-6, rtol=1e-4)


def _future_change(model, k):
    torch.manual_seed(0)
    mag, pha = torch.rand(1, 201, 40) + 0.1, torch.rand(1, 201, 40) * 6 - 3
    mag2, pha2 = mag.clone(), pha.clone()
    mag2[..., k:] += torch.rand(1, 201, 40 - k)
    with torch.no_grad():
        a, b = model.enhance(mag, pha), model.enhance(mag2, pha2)
    return max((x[..., :k] - y[..., :k]).abs().max().item() for x, y in zip(a[:2], b[:2]))


@pytest.mark.parametrize("cls", [SEMamba, SEMambaBasic])
def test_causal_variants_do_not_look_ahead(cls):
    causal = cls.from_preset("mini", causal=True).eval()
    non_causal = cls.from_preset("mini").eval()
    assert _future_change(causal, 25) < 1e-5
    assert _future_change(non_causal, 25) > 1e-4  # the check can fail


@pytest.mark.parametrize("make", [lambda: SEMamba.from_preset("mini"), lambda: SEMambaBasic.from_preset("mini")])
def test_model_file_round_trip(tmp_path, make):
    model = make().eval()
    path = save_model(model, str(tmp_path / "m.pt"), sample_rate=16000, task="enh")
    loaded = speechslytherin.load_model(path)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert loaded.sample_rate == 16000 and loaded.task == "enh"


OFFICIAL_CONFIG = """\
env_setting:
  num_gpus: 2
stft_cfg:
  sampling_rate: 16000
  n_fft: 400
  hop_size: 100
  win_size: 400
model_cfg:
  hid_feature: 16
  compress_factor: 0.3
  num_tfmamba: 2
  d_state: 16
  d_conv: 4
  expand: 2
  norm_epsilon: 0.00001
  beta: 2.0
  input_channel: 2
  output_channel: 1
"""


def test_import_official_checkpoint_round_trip(tmp_path):
    torch.manual_seed(3)
    official = SEMamba(hid_feature=16, num_tfmamba=2, expand=2).eval()
    release = tmp_path / "ckpts"
    release.mkdir()
    torch.save({"generator": official.state_dict()}, release / "g_00001000.pth")
    (release / "config.yaml").write_text(OFFICIAL_CONFIG)
    out = tmp_path / "semamba.pt"
    import_checkpoint("semamba", str(release / "g_00001000.pth"), str(out))  # config found beside it
    loaded = speechslytherin.load_model(str(out))
    assert type(loaded) is SEMamba and loaded.sample_rate == 16000 and loaded.task == "enh"
    x = torch.randn(2, 4000)
    with torch.no_grad():
        assert torch.equal(loaded(x), official(x))
    # a folder picks the newest generator file; a preset builds without a yaml
    import_checkpoint("semamba", str(release), str(tmp_path / "b.pt"), preset="mini")
    with pytest.raises(CheckpointImportError, match="does not fit"):
        import_checkpoint("semamba", str(release), str(tmp_path / "c.pt"), preset="advanced")
    torch.save({"discriminator": {}, "steps": 1}, release / "do_00001000.pth")
    with pytest.raises(CheckpointImportError, match="generator"):
        import_checkpoint("semamba", str(release / "do_00001000.pth"), str(tmp_path / "d.pt"), preset="mini")
