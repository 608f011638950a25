"""egs/librispeech/asr1 end to end (stages 0-5) on a fake read-only LibriSpeech tree with the tiny config."""

import os
import shutil
import subprocess
import sys

import pytest

from fake_librispeech import make_librispeech, make_read_only, make_writable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(
    not (os.path.isfile(os.path.join(REPO, "speechslytherin", "tasks", "asr.py"))
         and os.path.isfile(os.path.join(REPO, "speechslytherin", "bin", "transcribe.py"))),
    reason="the ASR task / bin/transcribe are not in this checkout")


def snapshot(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe_ls")
    shutil.copytree(os.path.join(REPO, "egs"), root / "egs",
                    ignore=shutil.ignore_patterns("exp", "data", "db", "RESULTS.md"))
    corpus = root / "corpora"
    # enough training text for the tiny config's 40 pieces; few, short test utterances: decoding an
    # untrained model runs to the maximum length, which is slow
    utts = {"train-clean-100": 4, "dev-clean": 2, "dev-other": 1, "test-clean": 1, "test-other": 1}
    make_librispeech(str(corpus), speakers=2, utts=utts, seconds=(0.4, 0.7))
    make_read_only(str(corpus))
    yield root / "egs" / "librispeech" / "asr1", corpus
    make_writable(str(corpus))


def run_recipe(recipe, *args):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO)
    env.pop("LIBRISPEECH", None)
    tiny = str(recipe.parent.parent / "mini" / "asr1" / "conf" / "tiny.yaml")
    return subprocess.run(["./run.sh", "--config", tiny, "--train-sets", "100", "--prep-jobs", "2",
                           "--decode-args", "--beam-size 1 --ctc-weight 0 --no-progress", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)


def test_stages_0_to_5_then_rerun_skips(setup):
    recipe, corpus = setup
    before = snapshot(corpus)
    out = run_recipe(recipe, "--corpus-root", str(corpus), "--test-sets", "dev_other test_clean test_other")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert snapshot(corpus) == before  # nothing written into the corpus
    data, exp = recipe / "data", recipe / "exp" / "asr_tiny"
    for name in ("tr", "cv", "dev_other", "test_clean", "test_other"):
        assert (data / f"{name}.json").is_file()
    assert not (data / "dev_clean.json").exists()  # not asked for with --test-sets
    assert (data / "tokenizer" / "tokenizer.model").is_file()
    assert (exp / "model.pt").is_file()
    for name in ("dev_other", "test_clean", "test_other"):
        assert (exp / f"decode_{name}" / "hypotheses.json").is_file()
        assert (exp / f"score_{name}" / "summary.json").is_file()
        assert (exp / f"score_{name}" / "wer.csv").is_file()
    results = (recipe / "RESULTS.md").read_text()
    assert "### test_other" in results and "| asr_tiny |" in results and "WER %" in results
    for n in (0, 1):
        assert (data / f".stage{n}.done").is_file()
    for n in (2, 3, 4, 5):
        assert (exp / f".stage{n}.done").is_file()
    again = run_recipe(recipe, "--corpus-root", str(corpus), "--test-sets", "dev_other test_clean test_other")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 6


def test_missing_corpus_and_missing_subsets_are_reported(setup, tmp_path):
    recipe, corpus = setup
    out = run_recipe(recipe, "--corpus-root", str(tmp_path / "nowhere"))
    assert out.returncode != 0 and "LibriSpeech is not at" in out.stderr and "LIBRISPEECH" in out.stderr
    out = run_recipe(recipe, "--corpus-root", str(corpus), "--train-sets", "960", "--force", "true",
                     "--stop-stage", "0")
    assert out.returncode != 0
    assert "train-clean-360" in out.stderr and "train-other-500" in out.stderr and "--train-sets 100" in out.stderr
