"""TF-GridNet (BLSTM): ESPnet key layout (= SPMamba's official layout with the BLSTMs back),
parameter counts, the official forward order, gradients, configs and a tiny training run on the mini
corpus."""

import json
import os

import pytest
import torch

import speechslytherin
from sep_model_checks import check_trained_separator, train_tiny
from speechslytherin.losses.snr import PitSnrLoss
from speechslytherin.models.sep.tfgridnet import PRESETS, TFGridNet
from test_spmamba import KEYS, OFFICIAL_COUNTS, official_forward, randomise

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(n_fft=64, stride=32, n_layers=2, attn_n_head=2, attn_approx_qk_dim=64, emb_dim=4, emb_ks=2,
             lstm_hidden_units=6)
LSTM_SUFFIXES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def blstm_params(n_in, hidden):
    return 2 * (4 * hidden * n_in + 4 * hidden * hidden + 8 * hidden)


def expected_keys_from_spmamba(spmamba_keys, hidden):
    """SPMamba's official [key, shape] list with each BiMamba replaced by ESPnet's BLSTM
    (keys of nn.LSTM(bidirectional=True)) and the fold-back conv taking 2*hidden channels."""
    out, done = [], set()
    for key, shape in spmamba_keys:
        parts = key.split(".")
        if parts[0] == "blocks" and parts[2] in ("intra_mamba", "inter_mamba"):
            rnn = f"blocks.{parts[1]}.{parts[2].replace('mamba', 'rnn')}"
            if rnn not in done:
                done.add(rnn)
                n_in = dict(spmamba_keys)[f"{'.'.join(parts[:3])}.forward_blocks.0.norm.weight"][0]
                for suffix in ("", "_reverse"):
                    out += [[f"{rnn}.weight_ih_l0{suffix}", [4 * hidden, n_in]],
                            [f"{rnn}.weight_hh_l0{suffix}", [4 * hidden, hidden]],
                            [f"{rnn}.bias_ih_l0{suffix}", [4 * hidden]],
                            [f"{rnn}.bias_hh_l0{suffix}", [4 * hidden]]]
            continue
        if parts[0] == "blocks" and parts[2] in ("intra_linear", "inter_linear") and parts[3] == "weight":
            shape = [2 * hidden] + shape[1:]
        out.append([key, shape])
    return out


@pytest.mark.parametrize("preset,json_name", [("spmamba-wsj0", "keys_spmamba-wsj0.json"),
                                              ("spmamba-echo2mix", "keys_spmamba-echo2mix.json")])
def test_keys_are_spmamba_layout_with_blstm(preset, json_name):
    path = os.path.join(KEYS, json_name)
    if not os.path.exists(path):
        pytest.skip("official key lists not available")
    with open(path) as f:
        spmamba_keys = json.load(f)
    model = TFGridNet.from_preset(preset)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == expected_keys_from_spmamba(spmamba_keys, 256)


@pytest.mark.parametrize("preset,count", [("espnet", 8_175_874), ("spmamba-wsj0", 10_379_938),
                                          ("spmamba-echo2mix", 10_427_266)])
def test_parameter_counts(preset, count):
    model = TFGridNet.from_preset(preset)
    assert sum(p.numel() for p in model.parameters()) == count
    if preset.startswith("spmamba-"):
        # = SPMamba's official count - BiMamba - its fold-back convs + BLSTMs + theirs, over 6 blocks
        in_features, emb_dim, ks, hidden = 128, 16, 8, 256
        spmamba = OFFICIAL_COUNTS[preset.split("-")[1]]
        fold = lambda n_in: n_in * emb_dim * ks + emb_dim  # noqa: E731
        per_block = 2 * (blstm_params(in_features, hidden) - 466_176 + fold(2 * hidden) - fold(2 * in_features))
        assert count == spmamba + 6 * per_block
    assert set(PRESETS) == {"espnet", "spmamba-wsj0", "spmamba-echo2mix"}
    with pytest.raises(KeyError, match="Unknown TF-GridNet preset"):
        TFGridNet.from_preset("L")


def test_forward_equals_official_order_of_operations():
    torch.manual_seed(0)
    model = randomise(TFGridNet(**SMALL)).eval()
    mix = torch.randn(2, 1234)
    with torch.no_grad():
        ours = model(mix)
        ref = official_forward(model, mix)
    assert ours.shape == (2, 1234, 2)
    torch.testing.assert_close(ours, ref.transpose(1, 2), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert model(mix[0]).shape == (1234, 2)
        assert model(torch.randn(1, 20)).shape == (1, 20, 2)


def test_gradients_and_model_file(tmp_path):
    from speechslytherin.models import save_model

    torch.manual_seed(0)
    model = TFGridNet(**SMALL)
    loss = PitSnrLoss()(model(torch.randn(2, 900)), torch.randn(2, 900, 2))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(n.endswith("intra_rnn.weight_hh_l0_reverse") and p.grad.abs().sum() > 0
               for n, p in model.named_parameters())
    model.eval()
    save_model(model, str(tmp_path / "tfg.pt"), sample_rate=8000, task="sep")
    loaded = speechslytherin.load_model(str(tmp_path / "tfg.pt"))
    mix = torch.randn(1, 700)
    with torch.no_grad():
        assert torch.equal(loaded(mix), model(mix))


@pytest.mark.parametrize("config,count", [("egs/wsj0-2mix/sep1/conf/tfgridnet.yaml", 10_379_938),
                                          ("egs/mini/sep1/conf/tfgridnet_tiny.yaml", None)])
def test_configs_check(config, count, capsys):
    from speechslytherin.bin import check_config

    args = [os.path.join(REPO, config)] + (["--no-forward"] if count else ["--seconds", "0.25"])
    assert check_config.main(args) == 0
    out = capsys.readouterr().out
    assert (f"params: {count}\n" in out) if count else ("output: [1, 2000, 2]" in out)


def test_tiny_training_run_on_the_mini_corpus(mini_sep_subset, tiny_mini_sep_mixture, tmp_path):
    exp = tmp_path / "exp"
    records = train_tiny("egs/mini/sep1/conf/tfgridnet_tiny.yaml", mini_sep_subset(4, 2), exp)
    assert [r["epoch"] for r in records] == [1, 2]
    check_trained_separator(exp, TFGridNet, tiny_mini_sep_mixture)
