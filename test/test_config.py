"""Configs: overrides, section checks, and every YAML in egs/ instantiates with check_config."""

import glob
import os
import subprocess
import sys

import pytest

from speechslytherin.bin import check_config
from speechslytherin.config import ConfigError, load_config, parse_overrides

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "egs", "mini", "sep1", "conf", "tiny.yaml")


def test_parse_overrides_nests_and_parses_values():
    out = parse_overrides(["--model.n_layers=8", "trainer.epochs=3", "data.speed_perturb=[95, 105]", "x=null"])
    assert out == {"model": {"n_layers": 8}, "trainer": {"epochs": 3}, "data": {"speed_perturb": [95, 105]}, "x": None}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["--model.n_layers"])


def test_override_reaches_the_model():
    cfg = load_config(TINY, ["model.n_layers=3", "trainer.epochs=5"])
    assert len(cfg["model"].masknet.mamba_net.layers) == 3
    assert cfg.trainer["epochs"] == 5
    assert cfg.data["batch_size"] == 2  # from the file
    assert cfg.trainer["grad_clip"] == 5.0  # default


def test_unknown_override_key_names_the_key_and_a_suggestion():
    with pytest.raises(ConfigError, match=r"model\.n_layer.*Did you mean 'model\.n_layers'"):
        load_config(TINY, ["model.n_layer=3"])


def test_unknown_trainer_key_is_an_error(tmp_path):
    text = open(TINY).read().replace("  epochs: 2", "  epoch: 2")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"unknown key 'trainer\.epoch'.*Did you mean 'trainer\.epochs'"):
        load_config(path)


def test_missing_section_and_bad_class(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: sep\nsample_rate: 8000\n")
    with pytest.raises(ConfigError, match="missing top-level section 'model'"):
        load_config(path)
    path.write_text("task: sep\nsample_rate: 8000\nmodel: !new:speechslytherin.models.sep.NoSuchModel\n")
    with pytest.raises(ConfigError, match="cannot be found"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_resolved_text_carries_overrides():
    cfg = load_config(TINY, ["model.N=24"])
    assert "N: 24" in cfg.resolved_text()


ALL_CONFIGS = sorted(glob.glob(os.path.join(REPO, "egs", "*", "*", "conf", "*.yaml")))


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_check_config_runs_on_every_recipe_config(path, capsys):
    assert check_config.main([path, "--seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    params = [line for line in out.splitlines() if line.startswith("params: ")]
    assert len(params) == 1 and int(params[0].split()[1]) > 0
    cfg = load_plain(path)
    n = int(0.1 * cfg["sample_rate"])
    if cfg["task"] == "sep":  # a waveform in, one waveform per source out, same length
        assert f"input: [1, {n}] -> output: [1, {n}, " in out
    elif cfg["task"] == "enh":  # a waveform in, the enhanced waveform out
        assert f"input: [1, {n}] -> output: [1, {n}]" in out


def load_plain(path):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def test_check_config_cli_reports_errors():
    out = subprocess.run(
        [sys.executable, "-m", "speechslytherin.bin.check_config", TINY, "--model.n_layer=3"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert out.returncode == 2 and "Did you mean 'model.n_layers'" in out.stderr


OFFICIAL_COUNTS = {"XS": 2210176, "S": 7926528, "M": 15647488, "L": 58951168}


@pytest.mark.parametrize("variant", sorted(OFFICIAL_COUNTS))
def test_wsj0_2mix_configs_have_the_official_parameter_counts(variant):
    path = os.path.join(REPO, "egs", "wsj0-2mix", "sep1", "conf", f"mamba_tasnet_{variant}.yaml")
    model = load_config(path)["model"]
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_COUNTS[variant]
