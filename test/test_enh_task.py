"""The enhancement task through the one trainer: every variant trains on a tiny noisy/clean
set made from the tiny mini corpus, the GAN step keeps generator and discriminator apart, the
configs check."""

import json
import os
import subprocess
import sys

import pytest
import torch

import speechslytherin
from fake_enh import make_enh_set, make_mini_corpus
from speechslytherin.bin import check_config
from speechslytherin.bin import train as train_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "egs", "mini", "enh1", "conf", "tiny.yaml")
CONFS = [os.path.join(REPO, "egs", "voicebank", "enh1", "conf", f"{n}.yaml") for n in ("semamba", "semamba_basic",
                                                                                         "semamba_causal")]
MINI_CONF = os.path.join(REPO, "egs", "mini", "enh1", "conf", "semamba_mini.yaml")


@pytest.fixture(scope="module")
def enh_data(tmp_path_factory):
    mini = make_mini_corpus(tmp_path_factory.mktemp("mini") / "mini")
    return make_enh_set(mini, str(tmp_path_factory.mktemp("enh")), n_train=4, n_valid=2, max_seconds=1.0)


def epochs(exp):
    with open(os.path.join(exp, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_tiny_semamba_trains_through_the_cli(enh_data, tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "speechslytherin.bin.train", TINY, "--data-dir", enh_data, "--exp-dir", str(exp),
           "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    log = epochs(exp)
    assert [r["epoch"] for r in log] == [1, 2]
    for key in ("magnitude", "phase", "complex", "time", "consistency", "metric", "disc_loss", "train_pesq"):
        assert key in log[-1]["train"], key
    for key in ("loss", "si_snr", "si_snri", "pesq"):
        assert key in log[-1]["valid"], key
    assert log[1]["lr"] == pytest.approx(0.0005 * 0.99 ** 2)  # ExponentialLR 0.99 per epoch
    ckpt = next((exp / "save").glob("CKPT+*"))
    for name in ("model", "discriminator", "optimizer", "d_optimizer", "lr_scheduler", "d_lr_scheduler"):
        assert (ckpt / f"{name}.ckpt").exists(), name
    d_opt = torch.load(ckpt / "d_optimizer.ckpt", weights_only=False)
    assert d_opt["param_groups"][0]["lr"] == pytest.approx(0.0005 * 0.99 ** 2)
    assert list(exp.glob("plots/enhancement_*.png"))
    model = speechslytherin.load_model(str(exp / "model.pt"))
    assert model.task == "enh" and model.sample_rate == 16000
    assert "discriminator" not in json.dumps(list(model.state_dict()))
    with torch.no_grad():
        assert model(torch.randn(1, 5000)).shape == (1, 5000)


VARIANTS = {
    "semamba_causal": ("  expand: 2\n", "  expand: 2\n  causal: true\n"),
    "basic": ("model: !new:speechslytherin.models.enh.semamba.SEMamba\n  hid_feature: 4\n  num_tfmamba: 1\n"
              "  d_state: 4\n  expand: 2\n",
              "model: !new:speechslytherin.models.enh.semamba_basic.SEMambaBasic\n  d_model: 8\n  n_layers: 1\n"
              "  d_state: 4\n"),
    "basic_causal": ("model: !new:speechslytherin.models.enh.semamba.SEMamba\n  hid_feature: 4\n  num_tfmamba: 1\n"
                     "  d_state: 4\n  expand: 2\n",
                     "model: !new:speechslytherin.models.enh.semamba_basic.SEMambaBasic\n  d_model: 8\n"
                     "  n_layers: 1\n  d_state: 4\n  causal: true\n"),
    "mpsenet": ("model: !new:speechslytherin.models.enh.semamba.SEMamba\n  hid_feature: 4\n  num_tfmamba: 1\n"
                "  d_state: 4\n  expand: 2\n",
                "model: !new:speechslytherin.models.enh.mpsenet.MPSENet\n  dense_channel: 4\n  num_tsblocks: 1\n"
                "  n_heads: 1\n"),
    "no_discriminator_pcs_target": ("discriminator: !new:speechslytherin.models.enh.discriminator.MetricDiscriminator"
                                    "\n  dim: 4\n", "data:\n  pcs_target: true\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_train(enh_data, tmp_path, variant):
    old, new = VARIANTS[variant]
    text = open(TINY).read()
    assert old in text
    text = text.replace(old, new)
    if variant == "no_discriminator_pcs_target":
        text = text.replace("data:\n  pcs_target: true\n", "").replace("data:\n", "data:\n  pcs_target: true\n")
    conf = tmp_path / f"{variant}.yaml"
    conf.write_text(text)
    exp = tmp_path / "exp"
    train_cli.main([str(conf), "--data-dir", enh_data, "--exp-dir", str(exp), "--no-progress",
                    "--trainer.epochs=1"])
    log = epochs(exp)
    assert len(log) == 1 and torch.isfinite(torch.tensor(log[0]["valid"]["loss"]))
    assert ("disc_loss" in log[0]["train"]) == (variant != "no_discriminator_pcs_target")
    model = speechslytherin.load_model(str(exp / "model.pt"))
    with torch.no_grad():
        assert model(torch.randn(1, 4000)).shape == (1, 4000)


def test_generator_metric_term_leaves_no_gradient_in_the_discriminator():
    from speechslytherin.models.enh.discriminator import MetricDiscriminator
    from speechslytherin.tasks.enh import EnhancementBrain

    disc = MetricDiscriminator(dim=4)
    est = torch.rand(2, 201, 20, requires_grad=True)
    out = EnhancementBrain._frozen_metric(disc, torch.rand(2, 201, 20), est)
    out.sum().backward()
    assert est.grad is not None and est.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())
    assert all(p.requires_grad for p in disc.parameters())


@pytest.mark.parametrize("conf,count", [(CONFS[0], 2_258_769), (CONFS[1], None), (CONFS[2], None)])
def test_check_config_on_recipe_configs(conf, count, capsys):
    assert check_config.main([conf, "--no-forward"]) == 0
    printed = capsys.readouterr().out
    if count is not None:
        assert f"params: {count}" in printed


@pytest.mark.parametrize("conf", [TINY, MINI_CONF])
def test_check_config_with_forward(conf, capsys):
    assert check_config.main([conf, "--seconds", "0.3"]) == 0
    assert "input: [1, 4800] -> output: [1, 4800]" in capsys.readouterr().out
