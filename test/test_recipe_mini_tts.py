"""egs/mini/tts1 end to end (stages 0-5): tiny mini corpus -> LibriTTS-layout set -> fitted mel-RVQ codec,
phonemes, tokens, prompts -> tiny VALL-M trained AR then NAR in one exp -> synthesis -> scores, RESULTS.md."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from recipe_helpers import REPO, copy_egs

pytestmark = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(REPO, *p)) for p in (
        ("speechslytherin", "tasks", "tts.py"), ("speechslytherin", "bin", "synthesize.py"),
        ("egs", "mini", "tts1", "conf", "vallm_tiny.yaml"))),
    reason="the TTS task / bin/synthesize / tiny configs are not in this checkout")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return copy_egs(tmp_path_factory.mktemp("recipe_mini_tts")) / "mini" / "tts1"


def run_recipe(recipe, *args):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO)
    return subprocess.run(["./run.sh", "--mini-scale", "tiny", "--config", "conf/vallm_tiny.yaml",
                           "--codec-args", "--max-utts 20 --iterations 3", "--train-stages", "ar nar",
                           "--synth-args", "--max-len 40", "--score-args", "--no-speaker",
                           "--mini-tts-args", "--extra-train-utts 1", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)


def test_stages_0_to_5(recipe):
    out = run_recipe(recipe)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    db, data, exp = recipe.parent / "db", recipe / "data", recipe / "exp" / "tts_vallm_tiny"
    assert (db / "mini_tts" / ".complete").is_file()
    assert sorted(os.listdir(db / "mini_tts" / "LibriTTS")) == ["dev-clean", "test-clean", "train-clean-100"]
    symbols = (data / "symbols.txt").read_text().split("\n")
    assert symbols[:2] == ["<pad>", "<unk>"]
    tr = json.loads((data / "tr.json").read_text())
    assert any(uid.split("_")[1] == "2" for uid in tr)  # --mini-tts-args reached the set: extra sentences
    entry = next(iter(tr.values()))
    codes = np.load(entry["codes"])
    assert codes.dtype == np.int16 and codes.shape == (8, entry["frames"]) and codes.max() < 256
    assert set(entry["phonemes"].split()) <= set(symbols)
    tt = json.loads((data / "tt.json").read_text())
    assert tt and all(e["prompt_id"] != uid and e["prompt_id"].split("_")[0] == uid.split("_")[0]
                      for uid, e in tt.items())  # another utterance of the same voice
    assert not set(tt) & {e["prompt_id"] for e in tt.values()}  # prompts are never targets
    assert (exp / "ar" / "model.pt").is_file() and (exp / "model.pt").is_file()
    synth = json.loads((exp / "synth_tt" / "synth.json").read_text())
    assert set(synth) == set(tt)
    summary = json.loads((exp / "score_tt" / "summary.json").read_text())
    assert summary["task"] == "tts" and summary["n_utts"] == len(tt)
    assert summary["input_label"] == "codec re-synthesis of the recording" and summary["mixture"]["mcd"] > 0
    results = (recipe / "RESULTS.md").read_text()
    assert "### tt" in results and "| tts_vallm_tiny |" in results and "codec re-synthesis" in results
    again = run_recipe(recipe)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 6


def test_ar_init_trains_an_earlier_ar_further(recipe):
    exp = recipe / "exp" / "tts_vallm_tiny"
    if not (exp / "ar" / "model.pt").is_file():
        assert run_recipe(recipe, "--stop-stage", "3").returncode == 0
    earlier = str(exp / "ar" / "model.pt")
    more = run_recipe(recipe, "--stage", "3", "--stop-stage", "3", "--tag", "more", "--ar-init", earlier)
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    run_dir = recipe / "exp" / "tts_vallm_tiny_more"
    assert earlier in (run_dir / "ar" / "overrides.yaml").read_text()  # the AR run started from it
    assert str(run_dir / "ar" / "model.pt") in (run_dir / "overrides.yaml").read_text() or \
        "exp/tts_vallm_tiny_more/ar/model.pt" in (run_dir / "overrides.yaml").read_text()  # the NAR from the new AR
    bad = run_recipe(recipe, "--stage", "3", "--tag", "x", "--train-stages", "both", "--ar-init", earlier)
    assert bad.returncode != 0 and "--ar-init" in bad.stderr
