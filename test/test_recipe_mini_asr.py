"""egs/mini/asr1 end to end (stages 0-5): tiny mini corpus -> LibriSpeech-layout set -> tiny ASR -> WER."""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(
    not (os.path.isfile(os.path.join(REPO, "speechslytherin", "tasks", "asr.py"))
         and os.path.isfile(os.path.join(REPO, "speechslytherin", "bin", "transcribe.py"))),
    reason="the ASR task / bin/transcribe are not in this checkout")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe_mini_asr")
    shutil.copytree(os.path.join(REPO, "egs"), root / "egs",
                    ignore=shutil.ignore_patterns("exp", "data", "db", "RESULTS.md"))
    return root / "egs" / "mini" / "asr1"


def run_recipe(recipe, *args):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO)
    db = recipe.parent / "db"
    return subprocess.run(["./run.sh", "--mini-scale", "tiny", "--config", "conf/tiny.yaml",
                           "--mini-corpus", str(db / "mini"), "--corpus-root", str(db / "mini_asr"),
                           "--mini-asr-args", "--real-test-utts 2", "--test-sets", "test_other",
                           # decoding an untrained model runs to the maximum length: greedy, few utterances
                           "--decode-args", "--beam-size 1 --ctc-weight 0 --no-progress", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)


def test_stages_0_to_5(recipe):
    out = run_recipe(recipe)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    db = recipe.parent / "db"
    assert (db / "mini" / ".complete").is_file() and (db / "mini_asr" / ".complete").is_file()
    assert sorted(os.listdir(db / "mini_asr" / "LibriSpeech")) == [
        "dev-clean", "test-clean", "test-other", "train-clean-100"]
    data, exp = recipe / "data", recipe / "exp" / "asr_tiny"
    assert not (data / "dev_other.json").exists()  # the mini set has no dev-other
    cv = json.loads((data / "cv.json").read_text())
    assert cv and all(uid.startswith("v") for uid in cv)  # held-out TTS voices
    test_other = json.loads((data / "test_other.json").read_text())
    assert len(test_other) == 2 and all(uid.startswith("r") for uid in test_other)
    hyps = json.loads((exp / "decode_test_other" / "hypotheses.json").read_text())
    assert set(hyps) == set(test_other)
    summary = json.loads((exp / "score_test_other" / "summary.json").read_text())
    assert summary["n_utts"] == 2 and summary["means"]["wer"] is not None and summary["task"] == "asr"
    results = (recipe / "RESULTS.md").read_text()
    assert "### test_other" in results and "| asr_tiny |" in results
    again = run_recipe(recipe)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 6
