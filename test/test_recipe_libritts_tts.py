"""egs/libritts/tts1 on a fake tree in the real layout (24 kHz): data stages 0-2, and the EnCodec error offline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from recipe_helpers import REPO, copy_egs, snapshot
from test_prepare_libritts import SR, TREE, write_tree


def speechlike(seconds, seed):
    t = np.arange(int(seconds * SR)) / SR
    f0 = 100 + 40 * seed
    wav = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12)) * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * wav / np.abs(wav).max()).astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe_libritts_tts")
    base = write_tree(root / "corpus")
    for k, path in enumerate(sorted(base.rglob("*.wav"))):
        sf.write(path, speechlike(sf.info(path).duration, k % 3), SR, subtype="PCM_16")
    return copy_egs(root) / "libritts" / "tts1", root / "corpus"


def run(recipe, *args):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO, TORCH_HOME=str(recipe / "torch_home"))
    return subprocess.run(["./run.sh", "--prepare-args", "--train-sets 100", *args], cwd=recipe, env=env,
                          capture_output=True, text=True, timeout=600)


def test_encodec_missing_offline_is_named(setup):
    recipe, corpus = setup
    out = run(recipe, "--corpus-root", str(corpus), "--stop-stage", "2", "--data", "data_encodec")
    assert out.returncode != 0
    assert "encodec_24khz-d7cc33bc.th" in out.stderr and "d7cc33bc" in out.stderr
    assert (recipe / "data_encodec" / "prep" / "tr.json").is_file()  # stages 0-1 done before


def test_data_stages_in_the_real_layout(setup):
    recipe, corpus = setup
    before = snapshot(corpus)
    out = run(recipe, "--corpus-root", str(corpus), "--stop-stage", "2", "--codec", "mel-rvq",
              "--codec-args", "--codebook-size 32 --iterations 2")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert snapshot(corpus) == before
    data = recipe / "data"
    tr = json.loads((data / "tr.json").read_text())
    assert len(tr) == 3 and all(os.path.isfile(e["codes"]) for e in tr.values())
    tt = json.loads((data / "tt.json").read_text())
    assert list(tt) == ["61_70968_000000_000000"] and tt["61_70968_000000_000000"]["prompt_id"] == "61_70968_000001_000001"
    features = json.loads((data / "features.json").read_text())
    assert features["sample_rate"] == 16000 and features["codec_kind"] == "mel-rvq"
    assert len(TREE["test-clean"]) == 3  # the 14.5 s utterance is filtered at stage 1
