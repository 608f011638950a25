"""DPMamba: official key layouts and counts, dual-path structure, training (a step; bin/train on the
mini corpus), model files, configs."""

import os

import pytest
import torch
from speechbrain.lobes.models.dual_path import Dual_Path_Model

import speechslytherin
from sep_model_checks import (
    check_official_layout,
    check_trained_separator,
    check_training_steps,
    train_tiny,
)
from speechslytherin.bin import check_config
from speechslytherin.config import load_config
from speechslytherin.models.model_io import save_model
from speechslytherin.models.sep.dpmamba import PRESETS, DPMamba
from speechslytherin.nnet.mamba import MambaStack

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# param_counts.json of the reference: the official classes with the official configs.
OFFICIAL_COUNTS = {"XS": 2_265_857, "S": 8_136_193, "M": 15_869_441, "L": 59_788_289}
README_MILLIONS = {"XS": 2.3, "S": 8.1, "M": 15.9, "L": 59.8}


@pytest.fixture(autouse=True)
def _cpu_settings():
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)


@pytest.mark.parametrize("variant", ["XS", "S", "M", "L"])
def test_official_keys_shapes_and_counts(variant):
    assert round(OFFICIAL_COUNTS[variant] / 1e6, 1) == README_MILLIONS[variant]
    check_official_layout(DPMamba.from_preset(variant), f"dpmamba_{variant}", OFFICIAL_COUNTS[variant])


def test_presets_follow_the_official_hparams():
    # dpmamba_{XS,S}.yaml: skip_around_intra False, n_dp 8; {M,L}: True, 16; chunk 250 everywhere.
    assert PRESETS["XS"] == {"N": 128, "n_layers": 8, "skip_around_intra": False}
    assert PRESETS["M"] == {"N": 256, "n_layers": 16, "skip_around_intra": True}
    model = DPMamba.from_preset("M")
    assert model.masknet.K == 250 and model.masknet.dual_mdl[0].skip_around_intra
    assert not model.masknet.dual_mdl[0].linear_layer_after_inter_intra
    block = model.masknet.dual_mdl[3].intra_mdl
    assert isinstance(block, MambaStack) and len(block.layers) == 1 and block.bimamba_type == "v2"
    assert model.init_args["N"] == 256 and DPMamba(**model.init_args).init_args == model.init_args


def test_blocks_start_from_the_same_weights_like_the_official_deepcopy():
    """SpeechBrain's Dual_Path_Model deep-copies the intra/inter models into every block."""
    model = DPMamba.from_preset("tiny", n_layers=3)
    first = model.masknet.dual_mdl[0].state_dict()
    for block in model.masknet.dual_mdl[1:]:
        for key, value in block.state_dict().items():
            assert torch.equal(value, first[key]), key
    assert not torch.equal(model.masknet.dual_mdl[0].intra_mdl.layers[0].mixer.in_proj.weight,
                           model.masknet.dual_mdl[0].inter_mdl.layers[0].mixer.in_proj.weight)


def test_output_is_the_speechbrain_dual_path_pipeline():
    """Same weights in a Dual_Path_Model built as the official YAML does -> the same masks and output."""
    torch.manual_seed(0)
    model = DPMamba.from_preset("tiny", n_layers=2, skip_around_intra=True).eval()
    intra, inter = (MambaStack(1, 16, bidirectional=True, rms_norm=True, d_state=4) for _ in range(2))
    reference = Dual_Path_Model(in_channels=16, out_channels=16, intra_model=intra, inter_model=inter,
                                num_layers=2, norm="ln", K=20, num_spks=2, skip_around_intra=True,
                                linear_layer_after_inter_intra=False)
    reference.load_state_dict(model.masknet.state_dict(), strict=True)
    reference.eval()
    mix = torch.randn(2, 1003)
    with torch.no_grad():
        w = model.encoder(mix)
        masks = reference(w)
        torch.testing.assert_close(model.masknet(w), masks)
        est = torch.stack([model.decoder(w * m) for m in masks], -1)
        est = torch.nn.functional.pad(est, (0, 0, 0, 1003 - est.shape[1]))
        torch.testing.assert_close(model(mix), est, atol=1e-5, rtol=1e-4)


def test_inter_chunk_path_carries_context_across_chunks():
    """A change in the last chunk reaches the first chunk's output only through the inter model."""
    torch.manual_seed(0)
    model = DPMamba.from_preset("tiny").eval()  # chunks of 20 frames = 160 samples
    mix = torch.randn(1, 2000)
    changed = mix.clone()
    changed[0, -300:] += 1.0
    with torch.no_grad():
        delta = (model(mix) - model(changed))[0, :100].abs().max()
    assert delta > 1e-6


def test_shapes_and_batch_independence():
    torch.manual_seed(0)
    model = DPMamba.from_preset("tiny").eval()
    with torch.no_grad():
        for n_samples in (5, 16, 17, 999, 1003):
            assert model(torch.randn(2, n_samples)).shape == (2, n_samples, 2)
        mix = torch.randn(3, 640)
        together = model(mix)
        alone = torch.stack([model(m[None])[0] for m in mix])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
        assert model.separate(torch.randn(700)).shape == (2, 700)
    with pytest.raises(ValueError, match="stride"):
        DPMamba(N=16, n_layers=1, kernel_size=16, stride=4)


def test_reference_scan_gives_the_same_output():
    torch.manual_seed(0)
    fast = DPMamba.from_preset("tiny", scan_impl="torch").eval()
    ref = DPMamba.from_preset("tiny", scan_impl="ref").eval()
    ref.load_state_dict(fast.state_dict())
    mix = torch.randn(1, 700)
    with torch.no_grad():
        torch.testing.assert_close(fast(mix), ref(mix), atol=1e-5, rtol=1e-4)


def test_training_step_reaches_every_parameter_and_lowers_the_loss():
    torch.manual_seed(0)
    check_training_steps(DPMamba.from_preset("tiny", skip_around_intra=True))


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DPMamba.from_preset("tiny", n_src=3).eval()
    save_model(model, tmp_path / "m.pt", sample_rate=8000, task="sep")
    loaded = speechslytherin.load_model(str(tmp_path / "m.pt"))
    assert isinstance(loaded, DPMamba) and loaded.init_args == model.init_args
    mix = torch.randn(1, 900)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix), model(mix), atol=0, rtol=0)


def test_tiny_training_run_through_bin_train(mini_sep_subset, tiny_mini_sep_mixture, tmp_path):
    exp = tmp_path / "exp"
    train_tiny("egs/mini/sep1/conf/dpmamba_tiny.yaml", mini_sep_subset(4, 2), exp, "--trainer.n_plot_examples=0")
    model = check_trained_separator(exp, DPMamba, tiny_mini_sep_mixture)
    with torch.no_grad():
        assert model(torch.randn(1, 1200)).shape == (1, 1200, 2)


def test_configs_pass_check_config(capsys):
    for path in (os.path.join(REPO, "egs", "mini", "sep1", "conf", "dpmamba_tiny.yaml"),
                 os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf", "dpmamba_S.yaml")):
        assert check_config.main([path, "--seconds", "0.1"]) == 0
        assert "-> output: [1, 800, 2]" in capsys.readouterr().out
    model = load_config(os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf", "dpmamba_S.yaml"))["model"]
    check_official_layout(model, "dpmamba_S", OFFICIAL_COUNTS["S"])


# The intra and inter Mamba stacks of an official dpmamba_*.yaml (the same block, twice).
MAMBA_BLOCKS = """
{name}: !new:modules.mamba_blocks.MambaBlocksSequential
    n_mamba: !ref <n_mamba_dp> // 2
    bidirectional: True
    d_model: !ref <out_channels>
    d_state: 4
    expand: 2
    d_conv: 4
    fused_add_norm: False
    rms_norm: True
    residual_in_fp32: False"""

# An hparams file in the layout of the official dpmamba_*.yaml (only the keys the importer reads).
OFFICIAL_STYLE_HPARAMS = """
sample_rate: 8000
num_spks: 2
N_encoder_out: 16
out_channels: 16
kernel_size: 16
kernel_stride: !ref <kernel_size> // 2
n_dp: 2
chunk_size: 20
skip_around_intra: True
n_mamba_dp: 2
Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: !ref <kernel_size>
    out_channels: !ref <N_encoder_out>
""" + MAMBA_BLOCKS.format(name="Mambaintra") + MAMBA_BLOCKS.format(name="Mambainter") + """
MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: !ref <N_encoder_out>
    out_channels: !ref <out_channels>
    num_layers: !ref <n_dp>
    K: !ref <chunk_size>
    intra_model: !ref <Mambaintra>
    inter_model: !ref <Mambainter>
    norm: ln
    linear_layer_after_inter_intra: False
    skip_around_intra: !ref <skip_around_intra>
Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: !ref <N_encoder_out>
    out_channels: 1
    kernel_size: !ref <kernel_size>
    stride: !ref <kernel_stride>
    bias: False
"""


def test_official_release_imports_with_its_hparams(tmp_path):
    from speechslytherin.models.sep import dpmamba_official as importer

    torch.manual_seed(0)
    (tmp_path / "hyperparams.yaml").write_text(OFFICIAL_STYLE_HPARAMS)
    released = DPMamba(N=16, n_layers=2, chunk_size=20, skip_around_intra=True, d_state=4).eval()
    ckpt = tmp_path / "save" / "CKPT+2024-04-25+17-11-58+00"
    ckpt.mkdir(parents=True)
    for part in ("encoder", "masknet", "decoder"):  # the release: one plain state dict per module
        torch.save(getattr(released, part).state_dict(), ckpt / f"{part}.ckpt")
    config = importer.find_release_config(ckpt)
    assert config == str(tmp_path / "hyperparams.yaml")
    model, sample_rate = importer.build_from_official_config(config)
    assert sample_rate == 8000 and model.init_args == released.init_args
    state, where = importer.read_official_state_dict(tmp_path)
    assert where == str(ckpt)
    model.load_state_dict(state, strict=True)
    mix = torch.randn(1, 900)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(mix), released(mix), atol=0, rtol=0)
    assert importer.build_from_preset("M")[0].init_args == DPMamba.from_preset("M").init_args
    with pytest.raises(importer.OfficialFormatError, match="unknown DPMamba preset"):
        importer.build_from_preset("tiny")


def test_importer_refuses_a_mamba_tasnet_hparams_file(tmp_path):
    from speechslytherin.models.sep import dpmamba_official as importer

    path = tmp_path / "h.yaml"
    path.write_text("N_encoder_out: 16\nMaskNet: !new:modules.mamba_masknet.MaskNet\n    n_mamba: 2\n")
    with pytest.raises(importer.OfficialFormatError, match="from mamba-tasnet"):
        importer.build_from_official_config(path)


@pytest.mark.gpu
def test_cuda_forward_and_backward_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    model = DPMamba.from_preset("tiny")
    mix = torch.randn(2, 1600)
    cpu = model(mix)
    cpu.square().mean().backward()
    cpu_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.cuda()
    gpu = model(mix.cuda())
    gpu.square().mean().backward()
    torch.testing.assert_close(gpu.detach().cpu(), cpu.detach(), atol=1e-4, rtol=1e-3)
    for name, grad in cpu_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad.cpu(), grad, atol=1e-4, rtol=1e-2)
