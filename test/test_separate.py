"""bin.separate: wav and manifest inputs, output layout, resume, bad input."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from speechslytherin.bin import separate as sep_cli
from speechslytherin.models.model_io import load_model, save_model
from speechslytherin.models.sep.mamba_tasnet import MambaTasNet

SR = 8000


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = MambaTasNet(N=16, n_layers=1, d_state=4)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(model, path, sample_rate=SR, task="sep")
    return str(path)


def _wav(path, n=2400, sr=SR, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(-0.9, 0.9, (n, channels)).astype(np.float32)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, data if channels > 1 else data[:, 0], sr)
    return str(path)


def test_single_wav(tmp_path, model_file):
    mix = _wav(tmp_path / "in" / "utt1.wav")
    out = tmp_path / "out"
    sep_cli.main(["--model", model_file, mix, "--out", str(out), "--no-progress"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest) == ["utt1"]
    paths = manifest["utt1"]["sources"]
    assert paths == [str(out / "s1" / "utt1.wav"), str(out / "s2" / "utt1.wav")]
    assert manifest["utt1"]["mix"] == mix
    model = load_model(model_file)
    expected = model.separate(torch.from_numpy(sf.read(mix, dtype="float32")[0])).numpy()
    for k, path in enumerate(paths):
        info = sf.info(path)
        assert info.samplerate == SR and info.subtype == "FLOAT" and info.frames == 2400
        np.testing.assert_allclose(sf.read(path, dtype="float32")[0], expected[k], atol=1e-6)


def test_manifest_with_placeholders_and_resume(tmp_path, model_file):
    root = tmp_path / "corpus"
    _wav(root / "mix" / "a.wav", seed=1)
    _wav(root / "mix" / "b.wav", n=1601, seed=2)
    manifest = {
        "a": {"mix": "{data_root}/mix/a.wav", "sources": ["{data_root}/s1/a.wav"]},
        "b": {"mix": "{data_root}/mix/b.wav", "sources": []},
    }
    man_path = tmp_path / "tt.json"
    man_path.write_text(json.dumps(manifest))
    out = tmp_path / "out"
    args = ["--model", model_file, str(man_path), "--out", str(out), "--replace", f"data_root={root}",
            "--no-progress"]
    sep_cli.main(args)
    result = json.loads((out / "manifest.json").read_text())
    assert list(result) == ["a", "b"]
    assert result["b"]["mix"] == f"{root}/mix/b.wav"
    assert sf.info(result["b"]["sources"][1]).frames == 1601
    # resume: existing outputs are kept, a removed one is re-made
    stamp = os.path.getmtime(result["a"]["sources"][0])
    os.unlink(result["b"]["sources"][0])
    sep_cli.main(args)
    assert os.path.getmtime(result["a"]["sources"][0]) == stamp
    assert os.path.isfile(result["b"]["sources"][0])
    assert json.loads((out / "manifest.json").read_text()) == result


def test_segmented_run(tmp_path, model_file):
    mix = _wav(tmp_path / "long.wav", n=SR * 3)
    out = tmp_path / "out"
    sep_cli.main(["--model", model_file, mix, "--out", str(out), "--segment-seconds", "1", "--no-progress"])
    est, sr = sf.read(out / "s2" / "long.wav")
    assert sr == SR and est.shape == (SR * 3,) and np.isfinite(est).all()


@pytest.mark.parametrize("problem, message", [
    ("rate", "sample rate 16000 Hz, expected 8000"),
    ("stereo", "2 channels, expected mono"),
    ("empty", "holds no samples"),
    ("missing", "input not found"),
])
def test_bad_audio_is_a_clear_error(tmp_path, model_file, problem, message):
    path = tmp_path / "bad.wav"
    if problem == "rate":
        _wav(path, sr=16000)
    elif problem == "stereo":
        _wav(path, channels=2)
    elif problem == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(SystemExit) as err:
        sep_cli.main(["--model", model_file, str(path), "--out", str(tmp_path / "o"), "--no-progress"])
    assert message in str(err.value)


def test_bad_manifest_and_options(tmp_path, model_file):
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"a": {"mix": "{data_root}/a.wav"}}))
    with pytest.raises(SystemExit, match="--replace data_root=PATH"):
        sep_cli.main(["--model", model_file, str(man), "--out", str(tmp_path / "o")])
    man.write_text(json.dumps({"a": {"sources": []}}))
    with pytest.raises(SystemExit, match="has no 'mix' path"):
        sep_cli.main(["--model", model_file, str(man), "--out", str(tmp_path / "o")])
    man.write_text("{not json")
    with pytest.raises(SystemExit, match="not valid JSON"):
        sep_cli.main(["--model", model_file, str(man), "--out", str(tmp_path / "o")])
    wav = _wav(tmp_path / "x.wav")
    with pytest.raises(SystemExit, match="not a speechslytherin model file"):
        sep_cli.main(["--model", wav, wav, "--out", str(tmp_path / "o")])
