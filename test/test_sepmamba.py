"""SepMamba: official counts and keys, shapes, training step, importer round trip, configs,
SepMamba's dynamic-mixing rule, and a tiny training run through bin/train on the mini corpus."""

import json
import os

import numpy as np
import pytest
import torch
import yaml

import speechslytherin
from sep_model_checks import check_trained_separator, train_tiny
from speechslytherin.models.sep.sepmamba import PRESETS, SepMamba, min_input_length

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "official_keys")  # copies of the reference lists
OFFICIAL = {"S": ("SepMamba_S", 7253826), "M": ("SepMamba_M", 22249090),
            "causal-S": ("SepMambaCausal_S", 7253826), "causal-M": ("SepMambaCausal_M", 22249090)}
CONFS = [os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf", f"sepmamba_{v}.yaml")
         for v in ("S", "M", "causal_S", "causal_M")] + [
    os.path.join(REPO, "egs", "mini", "sep1", "conf", f"sepmamba_{v}.yaml") for v in ("mini", "tiny")]


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread is faster, and two oversubscribe a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small(causal=False, **kw):
    torch.manual_seed(0)
    return SepMamba(dim=8, num_blocks=1, d_state=4, causal=causal, **kw)


@pytest.mark.parametrize("preset", sorted(OFFICIAL))
def test_official_counts_and_keys(preset):
    name, count = OFFICIAL[preset]
    model = SepMamba.from_preset(preset)
    assert sum(p.numel() for p in model.parameters()) == count
    state = model.state_dict()
    with open(os.path.join(KEYS, f"keys_{name}.json")) as f:
        official = json.load(f)
    assert list(state) == [k for k, _ in official]
    assert all(list(state[k].shape) == list(shape) for k, shape in official)
    assert any(k.endswith("backward_mamba_block.mamba_blocks.0.norm.bias") for k in state) != preset.startswith("causal")


def test_shapes_lengths_and_short_inputs():
    model = small().eval()
    assert min_input_length([16, 16, 16], [2, 2, 2]) == 106 == model.min_length
    with torch.no_grad():
        for T in (1, 50, 106, 107, 1000, 1001):
            assert model(torch.randn(2, T)).shape == (2, T, 2)
        assert model(torch.randn(333)).shape == (333, 2)
        # official geometry: T=32000 -> 15993 -> 7989 -> 3987 -> 7988 (padded 7989) -> 15993 -> 32000
        full = model.forward_waveform(torch.randn(1, 1, 32000))
        assert full.shape == (1, 2, 32000)
        # 1001 samples: the convolutions cover 1000, the last one is the zero padding
        assert model.forward_waveform(torch.randn(1, 1, 1001)).shape[-1] == 1000
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="act_fn"):
        SepMamba(dim=4, act_fn="gelu")
    with pytest.raises(ValueError, match="3 entries"):
        SepMamba(dim=4, kernel_sizes=[16, 16], strides=[2, 2])


def test_prelu_has_its_parameters_and_n_src():
    model = SepMamba(dim=4, num_blocks=1, act_fn="prelu", n_src=3)
    assert "down.0.act.weight" in model.state_dict() and "up.1.act.weight" in model.state_dict()
    with torch.no_grad():
        assert model(torch.randn(1, 400)).shape == (1, 400, 3)


def test_causal_output_ignores_the_far_future():
    model = small(causal=True).eval()
    x = torch.randn(1, 2000)
    y = x.clone()
    y[:, 1200:] = torch.randn(1, 800)
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :1200 - 105], b[:, :1200 - 105])  # at most 105 samples of lookahead
    assert not torch.allclose(a[:, 1200:], b[:, 1200:])
    bi = small().eval()
    with torch.no_grad():
        assert not torch.allclose(bi(x)[:, :1000], bi(y)[:, :1000])  # the bidirectional one looks ahead


def test_gradient_step_changes_every_parameter_group():
    from speechslytherin.losses.sep import PitSiSnrLoss

    model = small()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mix, targets = torch.randn(2, 800), torch.randn(2, 800, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = PitSiSnrLoss()(model(mix), targets)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.decoder.weight.grad.abs().sum() > 0
    assert model.down[0].mamba_layer.backward_mamba_block.mamba_blocks[0].mixer.A_log.grad.abs().sum() > 0
    optimizer.step()
    assert not torch.equal(before["down.0.conv1d.weight"], model.state_dict()["down.0.conv1d.weight"])


def test_separate_and_model_file(tmp_path):
    from speechslytherin.models.model_io import save_model

    model = small(causal=True)
    save_model(model, str(tmp_path / "m.pt"), sample_rate=8000, task="sep")
    loaded = speechslytherin.load_model(str(tmp_path / "m.pt"))
    assert loaded.causal and loaded.init_args == model.init_args
    mix = torch.randn(640)
    est = loaded.separate(mix)
    assert est.shape == (2, 640)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(est, model(mix).T)


# -- importer ----------------------------------------------------------------------------------

def official_checkpoint(folder, model, hydra_model=None):
    """What the official train.py writes: {epoch, model_state_dict, optimizer_state_dict,
    lr_scheduler} as best_model.pth, beside Hydra's .hydra/config.yaml."""
    os.makedirs(folder / ".hydra", exist_ok=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=1)
    torch.save({"epoch": 7, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "lr_scheduler": scheduler.state_dict()}, folder / "best_model.pth")
    if hydra_model is not None:
        config = {"model": hydra_model, "dataset": {"_target_": "src.data.classes.Mixer.Mixer", "resample_rate": 8000},
                  "epochs": 500}
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "best_model.pth"


@pytest.mark.parametrize("causal", [False, True])
def test_import_round_trip_with_the_run_config(tmp_path, causal):
    from speechslytherin.bin.import_checkpoint import main

    model = small(causal=causal)
    target = "src.models.SepMambaCausal.SepMambaCausal" if causal else "src.models.SepMamba.SepMamba"
    hydra = {"_target_": target, "dim": 8, "kernel_sizes": [16, 16, 16], "strides": [2, 2, 2],
             "act_fn": "relu", "num_blocks": 1}
    run = tmp_path / "outputs" / "exp"
    official_checkpoint(run, model, hydra)
    # d_state 4 is not an official knob: the config build must then disagree on shapes
    with pytest.raises(SystemExit, match="does not fit"):
        main(["--from", "sepmamba", str(run), str(tmp_path / "bad.pt")])
    model = SepMamba(dim=8, num_blocks=1, causal=causal)
    official_checkpoint(run, model, hydra)
    main(["--from", "sepmamba", str(run / "best_model.pth"), str(tmp_path / "imported.pt")])
    loaded = speechslytherin.load_model(str(tmp_path / "imported.pt"))
    assert isinstance(loaded, SepMamba) and loaded.causal == causal and loaded.sample_rate == 8000
    mix = torch.randn(1, 1234)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(mix), model(mix))


def test_import_with_preset_model_yaml_and_errors(tmp_path):
    from speechslytherin.bin.import_checkpoint import CheckpointImportError, import_checkpoint
    from speechslytherin.models.sep import sepmamba_official as official

    model = SepMamba.from_preset("causal-S")
    ckpt = official_checkpoint(tmp_path / "run", model)
    loaded = import_checkpoint("sepmamba", str(ckpt), str(tmp_path / "p.pt"), preset="causal-S")
    assert sum(p.numel() for p in loaded.parameters()) == 7253826
    with pytest.raises(CheckpointImportError, match="does not fit"):
        import_checkpoint("sepmamba", str(ckpt), str(tmp_path / "x.pt"), preset="S")
    with pytest.raises(CheckpointImportError, match="hyperparams|--config|--preset"):
        import_checkpoint("sepmamba", str(ckpt), str(tmp_path / "x.pt"))
    # the official model YAML alone (src/conf/model/SepMambaCausal.yaml), with the class defaults
    model_yaml = tmp_path / "SepMambaCausal.yaml"
    model_yaml.write_text(yaml.safe_dump({"_target_": "src.models.SepMambaCausal.SepMambaCausal", "dim": 64,
                                          "kernel_sizes": [16, 16, 16], "strides": [2, 2, 2], "act_fn": "relu",
                                          "num_blocks": 8}))
    assert official.args_from_official_config(str(model_yaml))[0]["causal"] is True
    import_checkpoint("sepmamba", str(tmp_path / "run"), str(tmp_path / "y.pt"), config=str(model_yaml))
    # a toolkit config building SepMamba works too
    conf = os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf", "sepmamba_causal_S.yaml")
    import_checkpoint("sepmamba", str(ckpt), str(tmp_path / "z.pt"), config=conf)
    torch.save({"epoch": 1}, tmp_path / "run" / "last_model.pth")
    with pytest.raises(CheckpointImportError, match="model_state_dict"):
        import_checkpoint("sepmamba", str(tmp_path / "run" / "last_model.pth"), str(tmp_path / "w.pt"),
                          preset="causal-S")
    with pytest.raises(CheckpointImportError, match="preset"):
        import_checkpoint("sepmamba", str(ckpt), str(tmp_path / "w.pt"), preset="XL")
    assert official.build_from_preset("causal_m")[0].causal


# -- configs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("conf", CONFS, ids=os.path.basename)
def test_check_config(conf, capsys):
    from speechslytherin.bin import check_config

    assert check_config.main([conf, "--seconds", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "SepMamba" in printed and "-> output: [1, 800, 2]" in printed
    name = os.path.basename(conf)
    expected = {"sepmamba_S.yaml": 7253826, "sepmamba_causal_S.yaml": 7253826, "sepmamba_M.yaml": 22249090,
                "sepmamba_causal_M.yaml": 22249090}.get(name)
    if expected:
        assert f"params: {expected}" in printed


def test_published_configs_follow_the_official_recipe():
    from speechslytherin.models.official_config import load_plain_yaml

    for conf in CONFS[:4]:
        plain = load_plain_yaml(conf)
        assert plain["optimizer"]["lr"] == 1.5e-4 and plain["optimizer"]["weight_decay"] == 0.01
        assert plain["trainer"]["grad_clip"] == 5.0 and plain["trainer"]["epochs"] == 500
        data = plain["data"]
        assert data["dm_rule"] == "sepmamba" and data["segment"] == 4.0 and data["batch_size"] == 1
        assert data["dm_epoch_size"] == 20000 and data["speed_perturb"] is None
        variant = os.path.basename(conf)[len("sepmamba_"):-len(".yaml")].replace("_", "-")
        preset = PRESETS[variant]
        assert {k: plain["model"][k] for k in ("dim", "num_blocks")} == {k: preset[k] for k in ("dim", "num_blocks")}
        assert bool(plain["model"]["causal"]) == variant.startswith("causal")


# -- SepMamba's dynamic mixing rule ----------------------------------------------------------------

def test_sepmamba_dm_rule_statistics(tmp_path):
    from fake_corpus import make_pool_manifest
    from speechslytherin.data.dynamic_mixing import DynamicMixingDataset

    pool = make_pool_manifest(str(tmp_path), speakers=("a", "b", "c"), counts=(3, 1, 2))
    ds = DynamicMixingDataset(pool, 8000, epoch_size=40, segment=0.3, rule="sepmamba", seed=3)
    rng = np.random.default_rng(0)
    draws = [ds.draw_sepmamba(rng) for _ in range(6000)]
    g = np.array([d[1] for d in draws])
    assert g[:, 0].min() >= -2.5 and g[:, 0].max() <= 0 and g[:, 1].min() >= 0 and g[:, 1].max() <= 2.5
    assert g[:, 0].mean() == pytest.approx(-1.25, abs=0.05) and g[:, 1].mean() == pytest.approx(1.25, abs=0.05)
    speeds = np.array([d[2] for d in draws]).ravel()
    for s in (0.95, 1.0, 1.05):
        assert np.mean(speeds == s) == pytest.approx(1 / 3, abs=0.02)
    utts = [u for d in draws for u in d[0]]
    assert np.mean([u == "b0" for u in utts]) == pytest.approx(1 / 6, abs=0.02)  # uniform over utterances
    same_speaker = np.mean([pool[d[0][0]]["speaker"] == pool[d[0][1]]["speaker"] for d in draws])
    assert same_speaker == pytest.approx((9 + 1 + 4) / 36, abs=0.03)  # independent draws, speakers may repeat
    lengths = set()
    for i in range(len(ds)):
        item = ds[i]
        mix, src = item["mix"], item["sources"]
        torch.testing.assert_close(mix, src.sum(-1), atol=1e-6, rtol=0)
        peak = max(mix.abs().max().item(), src.abs().max().item())
        assert peak == pytest.approx(0.9, abs=1e-5)  # activlev-scaled sources are far above 1
        lengths.add(mix.shape[0])
    # 2400 samples, speed-perturbed: 2400 * 20/21 = 2285 (1.05), 2400, 2400 * 20/19 = 2526 (0.95)
    assert lengths <= {2286, 2400, 2527} and 2286 in lengths
    a = DynamicMixingDataset(pool, 8000, epoch_size=3, segment=0.3, rule="sepmamba", seed=3)
    torch.testing.assert_close(a[1]["sources"], ds[1]["sources"])
    with pytest.raises(ValueError, match="segment"):
        DynamicMixingDataset(pool, 8000, rule="sepmamba")
    with pytest.raises(ValueError, match="dm_rule"):
        DynamicMixingDataset(pool, 8000, rule="pywsj0")


def test_sepmamba_rule_scales_by_the_active_level(tmp_path):
    from fake_corpus import make_pool_manifest
    from speechslytherin.data.activlev import active_level
    from speechslytherin.data.dynamic_mixing import DynamicMixingDataset

    pool = make_pool_manifest(str(tmp_path), speakers=("a", "b"), counts=(1, 1))
    for uid, level in (("a0", 1e-4), ("b0", 4e-2)):
        pool[uid]["activlev"] = level
    ds = DynamicMixingDataset(pool, 8000, epoch_size=1, segment=0.4, rule="sepmamba",
                              sepmamba_gain_range=(0.0, 0.0), sepmamba_speeds=(1.0,))
    for idx in range(30):
        ds.epoch = idx
        item = ds[0]
        utts = item["id"].split("_")[-2:]
        if utts[0] != utts[1]:
            src = item["sources"].numpy()
            power = [float(np.mean(src[:, k] ** 2)) for k in range(2)]
            raw = [float(np.mean(ds._load(u)[:3200] ** 2)) for u in utts]
            ratio = power[0] / power[1]
            expected = (raw[0] / pool[utts[0]]["activlev"]) / (raw[1] / pool[utts[1]]["activlev"])
            assert ratio == pytest.approx(expected, rel=0.3)
            break
    else:
        pytest.fail("never drew two different utterances")
    # P.56: a tone with pauses has the level of its active part, not of the whole signal
    sr = 8000
    t = np.arange(sr) / sr
    tone = 0.1 * np.sin(2 * np.pi * 300 * t)
    gapped = np.concatenate([tone, np.zeros(2 * sr), tone])
    assert active_level(gapped, sr) == pytest.approx(0.005, rel=0.15)
    assert np.mean(gapped ** 2) == pytest.approx(0.0025, rel=0.01)
    assert active_level(np.zeros(100), sr) == 0.0


def test_activlev_file_and_yaml_key(tmp_path):
    from speechslytherin.config import task_defaults
    from speechslytherin.data.activlev import read_activlev_file

    path = tmp_path / "activlev_si_tr_s.txt"
    path.write_text("011c0201 0.0012\n011c0202 3.5e-05\n")
    assert read_activlev_file(str(path)) == {"011c0201": 0.0012, "011c0202": 3.5e-05}
    path.write_text("011c0201\n")
    with pytest.raises(ValueError, match="utterance id"):
        read_activlev_file(str(path))
    data, _ = task_defaults("sep")
    assert data["dm_rule"] == "speechbrain" and data["dm_activlev"] is None


# -- training through bin/train on the tiny mini corpus -------------------------------------------

def test_tiny_training_run_with_the_sepmamba_rule(tiny_mini_sep_data, tiny_mini_sep_mixture, tmp_path):
    exp = tmp_path / "exp"
    records = train_tiny("egs/mini/sep1/conf/sepmamba_tiny.yaml", tiny_mini_sep_data, exp, "--trainer.epochs=1")
    assert records[0]["optimizer_steps"] == 2 and np.isfinite(records[0]["valid"]["si_snr"])
    check_trained_separator(exp, SepMamba, tiny_mini_sep_mixture)
