"""egs/echo2mix/sep1: stages 0-5 on a fake Echo2Mix tree, and with stage 2 simulating from the tiny mini corpus
(the reverberant noisy mini counterpart, run_mini.sh)."""

import json
import os

from fake_corpus import make_echo2mix_tree
from recipe_helpers import SHRINK, copy_egs, run, set_readonly, snapshot

SIM = "--n-mixtures 6 2 2 --duration 1.0 --rt60-range 0.15 0.3 --no-progress"


def test_echo2mix_recipe_on_a_fake_release_tree(tmp_path):
    corpus = tmp_path / "Echo2Mix"
    make_echo2mix_tree(str(corpus))
    before = snapshot(corpus)
    set_readonly(str(corpus))
    recipe = copy_egs(tmp_path) / "echo2mix" / "sep1"
    try:
        out = run(recipe, "--train-args", SHRINK, env={"ECHO2MIX": str(corpus)})
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        tt = json.loads((recipe / "data" / "tt.json").read_text())
        assert len(tt) == 2 and all(e["sources"][0].endswith("spk1_reverb.wav") for e in tt.values())
        assert "| sep_mamba_tasnet_S |" in (recipe / "RESULTS.md").read_text()
        assert snapshot(corpus) == before
    finally:
        set_readonly(str(corpus), False)


def test_run_mini_simulates_from_the_mini_corpus(tmp_path):
    egs = copy_egs(tmp_path)
    recipe = egs / "echo2mix" / "sep1"
    out = run(recipe, "--mini-scale", "tiny", "--simulate-args", SIM, "--train-args",
              SHRINK.replace("--model.N=16 ", "--model.N=16 --model.kernel_size=16 --model.stride=8 "),
              script="./run_mini.sh")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sim = egs / "mini" / "db" / "mini_echo2mix"
    infos = [json.load(open(os.path.join(d, "info.json"))) for d, _, fs in os.walk(sim) if "info.json" in fs]
    assert len(infos) == 10 and all(i["rt60"] is not None for i in infos)
    tt = json.loads((recipe / "data_mini" / "tt.json").read_text())
    assert len(tt) == 2 and all("rt60" in e and "noise" in e for e in tt.values())
    assert "nothing to do: the simulated corpus gets its manifests at stage 2" in out.stdout
    assert "| sep_mamba_tasnet_mini |" in (recipe / "RESULTS.md").read_text()


def test_simulate_needs_its_source(tmp_path):
    recipe = copy_egs(tmp_path) / "echo2mix" / "sep1"
    out = run(recipe, "--simulate", "echo2mix", "--simulate-root", str(tmp_path / "none"), "--corpus-root",
              str(tmp_path / "sim"), "--stop-stage", "0")
    assert out.returncode != 0 and "--simulate-root" in out.stderr
