"""egs/mini/sep1 end to end (stages 0-5) with the tiny corpus and the tiny config, in a copy of egs/."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    shutil.copytree(os.path.join(REPO, "egs"), root / "egs",
                    ignore=shutil.ignore_patterns("exp", "data", "db", "RESULTS.md"))
    return root / "egs" / "mini" / "sep1"


def run_recipe(recipe, *args):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO)
    return subprocess.run(["./run.sh", "--mini-scale", "tiny", "--config", "conf/tiny.yaml",
                           "--corpus-root", str(recipe.parent / "db" / "mini"), *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)


def test_stages_0_to_5_then_rerun_skips(recipe):
    out = run_recipe(recipe, "--stage", "0", "--stop-stage", "5")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp = recipe / "exp" / "sep_tiny"
    assert (exp / "model.pt").is_file()
    assert (exp / "separated_tt" / "manifest.json").is_file()
    assert (exp / "score_tt" / "summary.json").is_file()
    results = (recipe / "RESULTS.md").read_text()
    assert "| mixture (input) |" in results and "| sep_tiny |" in results
    for n in (0, 1, 2):
        assert (recipe / "data" / f".stage{n}.done").is_file()
    for n in (3, 4, 5):
        assert (exp / f".stage{n}.done").is_file()
    again = run_recipe(recipe)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 6


def test_tag_gives_a_new_exp_dir_and_unknown_option_fails(recipe):
    out = run_recipe(recipe, "--stage", "3", "--stop-stage", "3", "--tag", "short",
                     "--train-args", "--trainer.epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (recipe / "exp" / "sep_tiny_short" / "model.pt").is_file()
    bad = run_recipe(recipe, "--stop-stag", "3")
    assert bad.returncode != 0 and "unknown option --stop-stag" in bad.stderr
