"""Separation baselines built from SpeechBrain's lobes: SepFormer, Conv-TasNet, DPRNN.

Counts against the published ones, equality with SpeechBrain's own recipe construction (same
keys, same output for the same weights), shapes, a training step, model files, a tiny bin/train
run per model on the mini corpus and check_config on the configs.
"""

import os

import pytest
import torch
from speechbrain.lobes.models.conv_tasnet import MaskNet as SBConvTasNetMaskNet
from speechbrain.lobes.models.dual_path import (
    Decoder,
    Dual_Path_Model,
    Encoder,
    SBRNNBlock,
    SepformerWrapper,
)

import speechslytherin
from sep_model_checks import check_trained_separator, check_training_steps, train_tiny
from speechslytherin.bin import check_config
from speechslytherin.config import load_config
from speechslytherin.models.model_io import save_model
from speechslytherin.models.sep.convtasnet import ConvTasNet
from speechslytherin.models.sep.dprnn import DPRNN
from speechslytherin.models.sep.sepformer import SepFormer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINI_CONF = os.path.join(REPO, "egs", "mini", "sep1", "conf")
WSJ_CONF = os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf")
MODELS = {"sepformer": SepFormer, "convtasnet": ConvTasNet, "dprnn": DPRNN}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def _cpu_settings():
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)


# ---------------------------------------------------------------- parameter counts


def test_sepformer_count_is_the_published_25_7_m():
    model = SepFormer.from_preset("wsj0-2mix")
    parts = {name: n_params(getattr(model, name)) for name in ("encoder", "masknet", "decoder")}
    assert parts == {"encoder": 4096, "masknet": 25_671_169, "decoder": 4096}
    assert n_params(model) == 25_679_361
    assert round(n_params(model) / 1e6, 1) == 25.7  # Mamba-TasNet README; SepFormer paper "26 M"


def test_dprnn_count_is_the_published_2_6_m():
    model = DPRNN.from_preset("paper")
    assert n_params(model) == 2_608_001
    assert round(n_params(model) / 1e6, 1) == 2.6


def paper_convtasnet_count(N=512, L=16, B=128, Sc=128, H=512, P=3, X=8, R=3, C=2):
    """Conv-TasNet as the paper lays it out: biased 1x1/depthwise convs, a residual and a skip
    output per block, PReLU before the mask conv (Luo & Mesgarani 2019, Fig. 1 / Sec. III)."""
    block = (B * H + H) + 1 + 2 * H + (H * P + H) + 1 + 2 * H + (H * B + B) + (H * Sc + Sc)
    bottleneck = 2 * N + (N * B + B)
    mask = 1 + (Sc * C * N + C * N)
    return N * L + bottleneck + R * X * block + mask + N * L


def test_convtasnet_count_against_the_paper_and_why_it_differs():
    model = ConvTasNet.from_preset("paper")
    ours = n_params(model)
    assert ours == 3_445_808
    paper = paper_convtasnet_count()
    assert paper == 5_050_545 and round(paper / 1e6, 1) == 5.1  # the "5.1 M" the papers quote
    # Exactly what SpeechBrain's TemporalBlock leaves out: skip convs, conv biases, one PReLU.
    n_blocks, H, B, Sc, N, C = 24, 512, 128, 128, 512, 2
    skip_convs = n_blocks * (H * Sc + Sc)
    biases = n_blocks * (H + H + B) + B + C * N
    assert ours + skip_convs + biases + 1 == paper
    assert n_params(ConvTasNet.from_preset("speechbrain")) == 6_582_832  # SpeechBrain's recipe config


# ---------------------------------------------------------------- same network as SpeechBrain's recipes


def copy_weights_and_compare(ours, encoder, masknet, decoder, n_samples=1203):
    """Load SpeechBrain-built modules' weights into ours (strict) and compare outputs."""
    state = {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
             **{f"masknet.{k}": v for k, v in masknet.state_dict().items()},
             **{f"decoder.{k}": v for k, v in decoder.state_dict().items()}}
    ours.load_state_dict(state, strict=True)
    ours.eval(), encoder.eval(), masknet.eval(), decoder.eval()
    mix = torch.randn(2, n_samples)
    with torch.no_grad():
        w = encoder(mix)
        masks = masknet(w)
        est = torch.stack([decoder(w * m) for m in masks], -1)  # the recipes' compute_forward
        est = torch.nn.functional.pad(est, (0, 0, 0, n_samples - est.shape[1]))
        torch.testing.assert_close(ours(mix), est, atol=1e-5, rtol=1e-4)


def test_sepformer_equals_speechbrains_sepformer():
    torch.manual_seed(0)
    kw = dict(N=16, n_layers=2, n_transformer_layers=2, nhead=2, d_ffn=32, chunk_size=20)
    ours = SepFormer(**kw)
    ref = SepformerWrapper(encoder_out_nchannels=16, masknet_chunksize=20, masknet_numlayers=2,
                           intra_numlayers=2, inter_numlayers=2, intra_nhead=2, inter_nhead=2,
                           intra_dffn=32, inter_dffn=32)
    assert list(ours.state_dict()) == list(ref.state_dict())
    copy_weights_and_compare(ours, ref.encoder, ref.masknet, ref.decoder)
    with torch.no_grad():  # and SpeechBrain's own wrapper forward
        mix = torch.randn(1, 999)
        torch.testing.assert_close(ours(mix), ref.eval()(mix), atol=1e-5, rtol=1e-4)


def test_dprnn_equals_speechbrains_recipe_construction():
    torch.manual_seed(0)
    ours = DPRNN(N=8, hidden=6, n_layers=2, chunk_size=20)

    def rnn():
        return SBRNNBlock(input_size=8, hidden_channels=6, num_layers=1, dropout=0, bidirectional=True)

    masknet = Dual_Path_Model(num_spks=2, in_channels=8, out_channels=8, num_layers=2, K=20, intra_model=rnn(),
                              inter_model=rnn(), norm="ln", linear_layer_after_inter_intra=True,
                              skip_around_intra=False)
    encoder = Encoder(kernel_size=2, out_channels=8)
    decoder = Decoder(in_channels=8, out_channels=1, kernel_size=2, stride=1, bias=False)
    copy_weights_and_compare(ours, encoder, masknet, decoder, n_samples=301)


def test_convtasnet_equals_speechbrains_recipe_construction():
    torch.manual_seed(0)
    ours = ConvTasNet(N=16, L=16, B=8, H=12, P=3, X=3, R=2)
    masknet = SBConvTasNetMaskNet(N=16, B=8, H=12, P=3, X=3, R=2, C=2, norm_type="gLN", causal=False,
                                  mask_nonlinear="relu")
    encoder = Encoder(kernel_size=16, out_channels=16)
    decoder = Decoder(in_channels=16, out_channels=1, kernel_size=16, stride=8, bias=False)
    copy_weights_and_compare(ours, encoder, masknet, decoder)


# ---------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_at_any_length(name):
    torch.manual_seed(0)
    model = MODELS[name].from_preset("tiny").eval()
    with torch.no_grad():
        for n_samples in (5, 16, 17, 999, 1003):  # shorter than a frame, odd tails
            est = model(torch.randn(2, n_samples))
            assert est.shape == (2, n_samples, 2) and torch.isfinite(est).all()
        assert model(torch.randn(800)).shape == (800, 2)
        assert model.separate(torch.randn(640)).shape == (2, 640)
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.zeros(1, 1, 100))
    with pytest.raises(KeyError, match="choose one of"):
        MODELS[name].from_preset("XXL")


def test_convtasnet_paper_config_takes_short_inputs():
    """SpeechBrain's reflect padding needs 129 frames at X=8; shorter inputs are zero-padded."""
    model = ConvTasNet.from_preset("paper").eval()
    assert model.min_samples == 128 * 8 + 16
    with torch.no_grad():
        short = torch.randn(1, 100)
        est = model(short)
        assert est.shape == (1, 100, 2)
        padded = torch.nn.functional.pad(short, (0, model.min_samples - 100))
        torch.testing.assert_close(est, model(padded)[:, :100], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_training_step_reaches_every_parameter_and_lowers_the_loss(name):
    torch.manual_seed(0)
    check_training_steps(MODELS[name].from_preset("tiny"))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_file_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name].from_preset("tiny", n_src=3).eval()
    path = tmp_path / f"{name}.pt"
    save_model(model, path, sample_rate=8000, task="sep")
    loaded = speechslytherin.load_model(str(path))
    assert type(loaded) is type(model) and loaded.init_args == model.init_args
    mix = torch.randn(1, 900)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix), model(mix), atol=0, rtol=0)


# ---------------------------------------------------------------- configs and the trainer


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tiny_training_run_through_bin_train(name, mini_sep_subset, tiny_mini_sep_mixture, tmp_path):
    exp = tmp_path / "exp"
    train_tiny(os.path.join(MINI_CONF, f"{name}_tiny.yaml"), mini_sep_subset(4, 2), exp,
               "--trainer.n_plot_examples=0")
    model = check_trained_separator(exp, MODELS[name], tiny_mini_sep_mixture)
    with torch.no_grad():
        assert model(torch.randn(1, 1200)).shape == (1, 1200, 2)


WSJ_COUNTS = {"sepformer": 25_679_361, "convtasnet": 3_445_808, "dprnn": 2_608_001}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_configs_pass_check_config_with_the_expected_counts(name, capsys):
    for path in (os.path.join(MINI_CONF, f"{name}_tiny.yaml"), os.path.join(WSJ_CONF, f"{name}.yaml")):
        assert check_config.main([path, "--seconds", "0.1"]) == 0
        assert "-> output: [1, 800, 2]" in capsys.readouterr().out
    model = load_config(os.path.join(WSJ_CONF, f"{name}.yaml"))["model"]
    assert isinstance(model, MODELS[name]) and n_params(model) == WSJ_COUNTS[name]


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cuda_forward_matches_cpu(name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    model = MODELS[name].from_preset("tiny").eval()
    mix = torch.randn(2, 1600)
    with torch.no_grad():
        cpu = model(mix)
        gpu = model.cuda()(mix.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-3)
