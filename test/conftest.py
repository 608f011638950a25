"""Shared fixtures: the tiny mini corpus, built once per pytest process and prepared as the mini
separation recipe prepares it, so every separation model's training test runs on real (synthesised)
speech mixtures rather than sine tones."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEP_SAMPLE_RATE = 8000  # the tiny separation configs (egs/mini/sep1/conf/*tiny.yaml) run at 8 kHz


def _run_module(module, *args):
    cmd = [sys.executable, "-m", module, *args]
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}"


@pytest.fixture(scope="session")
def tiny_mini_sep_data(tmp_path_factory):
    """Folder with tr/cv/tt/tt_tts.json and dm_pool.json of the tiny mini corpus at 8 kHz (min mode):
    `bin/make_mini --scale tiny`, then `bin/prepare --corpus mini` (the mini sep recipe's stages)."""
    root = tmp_path_factory.mktemp("tiny_mini_sep")
    _run_module("speechslytherin.bin.make_mini", "--out", str(root / "mini"), "--scale", "tiny", "--no-progress")
    _run_module("speechslytherin.bin.prepare", "--corpus", "mini", "--root", str(root / "mini"),
                "--out", str(root / "data"), "--sample-rate", str(SEP_SAMPLE_RATE))
    return root / "data"


@pytest.fixture(scope="session")
def mini_sep_subset(tiny_mini_sep_data, tmp_path_factory):
    """A function (n_train, n_valid) -> a data folder whose tr.json / cv.json hold the first items of
    the tiny mini ones (the same wav files), so a training test keeps the size, and the cost, it
    was written for (e.g. 4 items = 2 batches of 2 an epoch)."""
    from speechslytherin.data.manifest import load_manifest, save_manifest

    made = {}

    def subset(n_train, n_valid):
        if (n_train, n_valid) not in made:
            out = tmp_path_factory.mktemp(f"mini_sep_{n_train}tr_{n_valid}cv")
            for name, n in (("tr", n_train), ("cv", n_valid)):
                manifest = load_manifest(str(tiny_mini_sep_data / f"{name}.json"))
                if not 0 < n <= len(manifest):
                    raise ValueError(f"{name}.json of the tiny mini corpus has {len(manifest)} mixtures; "
                                     f"asked for {n}.")
                save_manifest(str(out / f"{name}.json"), dict(list(manifest.items())[:n]))
            made[(n_train, n_valid)] = out
        return made[(n_train, n_valid)]

    return subset


@pytest.fixture(scope="session")
def tiny_mini_sep_mixture(tiny_mini_sep_data):
    """The first test mixture of the tiny mini corpus (recorded speakers), float32 [T] at 8 kHz."""
    import torch

    from speechslytherin.data.audio import read_audio
    from speechslytherin.data.manifest import load_manifest

    first = next(iter(load_manifest(str(tiny_mini_sep_data / "tt.json")).values()))
    wav, _ = read_audio(first["mix"], expected_sr=SEP_SAMPLE_RATE)
    return torch.from_numpy(wav)
