"""bin/enhance: wav or manifest in, DIR/<id>.wav + manifest.json out; resumable, --pcs, clear errors.

Most checks use a recipe-local model (a gain, `local.` package in a temp folder) so outputs are
known exactly; one runs a tiny SEMamba end to end."""

import json
import os
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from speechslytherin.bin import enhance as enhance_cli
from speechslytherin.models.model_io import save_model

SR = 16000

LOCAL_MODEL = textwrap.dedent('''
    import torch
    from speechslytherin.models.base import SelfDescribing


    class Gain(SelfDescribing, torch.nn.Module):
        """[batch, time] -> gain * [batch, time]: an enhancement model with a known output."""

        def __init__(self, gain=0.5):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor(float(gain)))

        def forward(self, x):
            return self.gain * x
''')


@pytest.fixture
def gain_model(tmp_path, monkeypatch):
    pkg = tmp_path / "code" / "local"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "gain.py").write_text(LOCAL_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    for name in ("local", "local.gain"):  # another test's local/ package must not answer
        monkeypatch.delitem(sys.modules, name, raising=False)
    from local.gain import Gain

    path = tmp_path / "gain.pt"
    save_model(Gain(0.5), path, sample_rate=SR, task="enh")
    yield str(path)
    for name in ("local.gain", "local"):
        sys.modules.pop(name, None)


def noisy_wav(path, seconds=0.6, seed=0, sr=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, x, sr, subtype="FLOAT")
    return str(path), x


def test_wav_input_gives_the_model_output(gain_model, tmp_path):
    path, x = noisy_wav(tmp_path / "in" / "p232_001.wav")
    out = tmp_path / "out"
    result = enhance_cli.enhance(gain_model, path, str(out), progress=False)
    y, sr = sf.read(out / "p232_001.wav", dtype="float32")
    assert sr == SR and sf.info(str(out / "p232_001.wav")).subtype == "FLOAT"
    np.testing.assert_allclose(y, 0.5 * x, rtol=1e-6, atol=1e-7)
    with open(out / "manifest.json") as f:
        manifest = json.load(f)
    assert manifest == result == {"p232_001": {"sources": [str(out / "p232_001.wav")], "mix": path}}


def test_manifest_input_placeholders_and_resume(gain_model, tmp_path):
    ref = {}
    for k in range(3):
        noisy_wav(tmp_path / "corpus" / f"u{k}.wav", seed=k)
        ref[f"u{k}"] = {"mix": "{data_root}/" + f"u{k}.wav", "sources": ["unused.wav"], "duration": 0.6,
                        "sample_rate": SR}
    with open(tmp_path / "tt.json", "w") as f:
        json.dump(ref, f)
    out = tmp_path / "out"
    argv = ["--model", gain_model, str(tmp_path / "tt.json"), "--out", str(out), "--no-progress",
            "--replace", f"data_root={tmp_path / 'corpus'}"]
    enhance_cli.main(argv)
    assert sorted(os.listdir(out)) == ["manifest.json", "settings.json", "u0.wav", "u1.wav", "u2.wav"]
    stamps = {n: os.stat(out / n).st_mtime_ns for n in ("u0.wav", "u2.wav")}
    os.remove(out / "u1.wav")
    enhance_cli.main(argv)  # resumes: only the missing output is made
    assert {n: os.stat(out / n).st_mtime_ns for n in ("u0.wav", "u2.wav")} == stamps
    assert os.path.isfile(out / "u1.wav")
    with open(out / "manifest.json") as f:
        assert sorted(json.load(f)) == ["u0", "u1", "u2"]
    with pytest.raises(SystemExit, match="other settings"):  # same folder with --pcs would mix outputs
        enhance_cli.main(argv + ["--pcs"])
    with pytest.raises(SystemExit, match=r"placeholder \{data_root\}"):
        enhance_cli.main(argv[:-2] + ["--out", str(tmp_path / "out2")])


def test_pcs_post_processing(gain_model, tmp_path):
    from speechslytherin.models.enh.pcs import apply_pcs

    path, x = noisy_wav(tmp_path / "a.wav")
    enhance_cli.enhance(gain_model, path, str(tmp_path / "out"), pcs=True, progress=False)
    y, _ = sf.read(tmp_path / "out" / "a.wav", dtype="float32")
    expected = apply_pcs(torch.from_numpy(0.5 * x), SR).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(y)) == pytest.approx(1.0, abs=1e-6)  # PCS peak-normalises


def test_errors_name_the_problem(gain_model, tmp_path, monkeypatch):
    path, _ = noisy_wav(tmp_path / "a8k.wav", sr=8000)
    with pytest.raises(SystemExit, match="sample rate 8000 Hz, expected 16000 Hz"):
        enhance_cli.main(["--model", gain_model, path, "--out", str(tmp_path / "o1"), "--no-progress"])
    with pytest.raises(SystemExit, match="input not found"):
        enhance_cli.main(["--model", gain_model, str(tmp_path / "none.wav"), "--out", str(tmp_path / "o2")])
    from local.gain import Gain

    save_model(Gain(1.0), tmp_path / "sep.pt", sample_rate=SR, task="sep")
    path, _ = noisy_wav(tmp_path / "b.wav")
    with pytest.raises(SystemExit, match="not an enhancement model"):
        enhance_cli.main(["--model", str(tmp_path / "sep.pt"), path, "--out", str(tmp_path / "o3")])
    with pytest.raises(SystemExit, match="model file not found"):
        enhance_cli.main(["--model", str(tmp_path / "none.pt"), path, "--out", str(tmp_path / "o4")])


def test_tiny_semamba_end_to_end(tmp_path):
    from speechslytherin.models.enh.semamba import SEMamba

    torch.manual_seed(0)
    model = SEMamba(hid_feature=4, num_tfmamba=1, d_state=4, expand=2)
    save_model(model, tmp_path / "semamba.pt", sample_rate=SR, task="enh")
    path, x = noisy_wav(tmp_path / "c.wav", seconds=0.53)
    enhance_cli.main(["--model", str(tmp_path / "semamba.pt"), path, "--out", str(tmp_path / "out"),
                      "--no-progress"])
    y, sr = sf.read(tmp_path / "out" / "c.wav", dtype="float32")
    assert sr == SR and len(y) == len(x) and np.all(np.isfinite(y)) and np.std(y) > 0
