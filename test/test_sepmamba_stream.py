"""Causal SepMamba streaming: chunk outputs equal the offline pass, fixed latency, constant state,
and the --stream CLI on a wav file and on raw PCM from stdin."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speechslytherin.models.model_io import save_model
from speechslytherin.models.sep.sepmamba import SepMamba
from speechslytherin.models.sep.sepmamba_stream import (SepMambaStreamer, StreamingConv1d,
                                                        StreamingConvTranspose1d, algorithmic_latency,
                                                        ready_outputs)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 8000


@pytest.fixture(autouse=True)
def one_thread():
    """Chunks are small: one thread is faster, and two oversubscribe a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def causal():
    torch.manual_seed(0)
    return SepMamba(dim=8, num_blocks=2, d_state=4, causal=True).eval()


def stream(model, x, chunk, batch=None):
    streamer = model.streamer(batch=batch or 1)
    outs, sizes = [], []
    for start in range(0, x.shape[-1], chunk):
        out = streamer.push(x[..., start:start + chunk])
        outs.append(out)
        sizes.append(out.shape[-2])
    outs.append(streamer.flush())
    return torch.cat(outs, dim=-2), sizes, streamer


@pytest.mark.parametrize("chunk", [1, 5, 16, 37, 160, 1000])
def test_streaming_equals_offline(causal, chunk):
    T = min(1203, max(260, 40 * chunk))  # every size of chunk gets tens of pushes
    x = torch.randn(T)
    with torch.no_grad():
        offline = causal(x)
    y, sizes, streamer = stream(causal, x, chunk)
    assert y.shape == offline.shape == (T, 2)
    torch.testing.assert_close(y, offline, atol=2e-6, rtol=1e-5)
    # fixed latency: after n samples in, exactly max(0, n - latency) out
    n_in = np.minimum(np.cumsum([chunk] * len(sizes)), T)
    assert list(np.cumsum(sizes)) == [max(0, int(n) - streamer.latency) for n in n_in]


def test_streaming_batch_and_short_inputs(causal):
    x = torch.randn(3, 777)
    with torch.no_grad():
        offline = causal(x)
    y, _, _ = stream(causal, x, 50, batch=3)
    torch.testing.assert_close(y, offline, atol=2e-6, rtol=1e-5)
    for T in (1, 60, 105, 106, 107, 121):  # shorter than one bottleneck frame: padded as offline
        x = torch.randn(T)
        with torch.no_grad():
            offline = causal(x)
        y, _, _ = stream(causal, x, 32)
        torch.testing.assert_close(y, offline, atol=2e-6, rtol=1e-5)


def test_official_geometry_latency():
    assert algorithmic_latency([16, 16, 16], [2, 2, 2]) == 105  # 13.1 ms at 8 kHz
    assert ready_outputs(105, [16] * 3, [2] * 3) == 0 and ready_outputs(106, [16] * 3, [2] * 3) == 8
    # a model with other kernels still matches offline (the latency follows the geometry)
    torch.manual_seed(1)
    model = SepMamba(dim=4, num_blocks=1, d_state=4, kernel_sizes=[8, 5, 4], strides=[4, 3, 2], causal=True).eval()
    x = torch.randn(999)
    with torch.no_grad():
        offline = model(x)
    y, sizes, streamer = stream(model, x, 29)
    torch.testing.assert_close(y, offline, atol=2e-6, rtol=1e-5)
    assert streamer.latency == algorithmic_latency([8, 5, 4], [4, 3, 2])


def test_state_size_is_constant(causal):
    streamer = causal.streamer()
    sizes = []
    for _ in range(120):
        streamer.push(torch.randn(37))
        sizes.append(streamer.state_numel())
    # the buffers' phases repeat (every 8 chunks of 37 samples); their size does not grow
    assert max(sizes[70:]) == max(sizes[20:70])
    assert max(sizes) < 20000


def test_pieces_match_torch_layers():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(3, 5, 16, stride=2)
    convT = torch.nn.ConvTranspose1d(5, 3, 16, stride=2)
    x = torch.randn(2, 3, 301)
    with torch.no_grad():
        sc, outs = StreamingConv1d(conv), []
        for start in range(0, 301, 13):
            y = sc.push(x[..., start:start + 13])
            if y is not None:
                outs.append(y)
        torch.testing.assert_close(torch.cat(outs, -1), conv(x))
        frames = conv(x)
        st, outs = StreamingConvTranspose1d(convT), []
        for start in range(0, frames.shape[-1], 7):
            outs.append(st.push(frames[..., start:start + 7]))
        outs.append(st.flush())
        torch.testing.assert_close(torch.cat(outs, -1), convT(frames), atol=1e-6, rtol=1e-5)


def test_non_causal_and_misuse_are_errors(causal):
    with pytest.raises(ValueError, match="causal"):
        SepMambaStreamer(SepMamba(dim=4, num_blocks=1))
    streamer = causal.streamer()
    with pytest.raises(ValueError, match="chunk"):
        streamer.push(torch.randn(2, 10))
    streamer.push(torch.randn(10))
    streamer.flush()
    with pytest.raises(RuntimeError, match="reset"):
        streamer.push(torch.randn(10))
    streamer.reset()
    assert streamer.push(torch.randn(200)).shape == (200 - 105, 2)


# -- the CLI ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_file(causal, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream_model") / "causal.pt"
    save_model(causal, str(path), sample_rate=SR, task="sep")
    return str(path)


def _mix(path, n=2500):
    x = np.random.default_rng(3).uniform(-0.5, 0.5, n).astype(np.float32)
    sf.write(path, x, SR, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


def test_stream_cli_on_a_wav(causal, model_file, tmp_path):
    from speechslytherin.bin import separate as cli

    mix = _mix(str(tmp_path / "utt.wav"))
    cli.main(["--model", model_file, "--stream", "--chunk-ms", "13", str(tmp_path / "utt.wav"),
              "--out", str(tmp_path / "out"), "--no-progress"])
    with torch.no_grad():
        offline = causal(torch.from_numpy(mix)).numpy()
    for k in range(2):
        est, sr = sf.read(tmp_path / "out" / f"s{k + 1}" / "utt.wav", dtype="float32")
        assert sr == SR and est.shape == (2500,)
        np.testing.assert_allclose(est, offline[:, k], atol=2e-6)
    stats = json.loads((tmp_path / "out" / "stream_stats.json").read_text())["utt"]
    assert stats["chunks"] == -(-2500 // 104) + 1 and stats["chunk_ms"] == 13.0
    assert stats["mean_ms"] > 0 and stats["p95_ms"] >= 0 and stats["rtf"] > 0
    assert stats["algorithmic_latency_ms"] == pytest.approx(105 / 8)
    assert not list((tmp_path / "out").rglob("*.partial.wav"))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert list(manifest) == ["utt"]


def test_stream_cli_on_stdin_pcm(causal, model_file, tmp_path):
    mix = _mix(str(tmp_path / "utt.wav"), n=1801)
    pcm = np.round(mix * 32768).astype("<i2").tobytes()
    out = subprocess.run([sys.executable, "-m", "speechslytherin.bin.separate", "--model", model_file,
                          "--stream", "-", "--out", str(tmp_path / "out"), "--chunk-ms", "20"],
                         input=pcm, capture_output=True, cwd=REPO, timeout=600,
                         env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert b"algorithmic latency 13.1 ms" in out.stderr
    with torch.no_grad():
        offline = causal(torch.from_numpy(mix)).numpy()
    est = sf.read(tmp_path / "out" / "s1" / "stdin.wav", dtype="float32")[0]
    np.testing.assert_allclose(est, offline[:, 0], atol=2e-6)
    bad = subprocess.run([sys.executable, "-m", "speechslytherin.bin.separate", "--model", model_file,
                          "--stream", "-", "--out", str(tmp_path / "bad")], input=pcm[:-1], capture_output=True,
                         cwd=REPO, timeout=600, env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1"))
    assert bad.returncode != 0 and b"16-bit" in bad.stderr
    assert not (tmp_path / "bad" / "s1" / "stdin.wav").exists()


def test_stream_cli_refuses_non_causal_and_stdin_without_stream(tmp_path):
    from speechslytherin.bin import separate as cli

    path = tmp_path / "bi.pt"
    save_model(SepMamba(dim=4, num_blocks=1), str(path), sample_rate=SR, task="sep")
    _mix(str(tmp_path / "utt.wav"), n=300)
    with pytest.raises(SystemExit, match="causal"):
        cli.main(["--model", str(path), "--stream", str(tmp_path / "utt.wav"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="needs --stream"):
        cli.main(["--model", str(path), "-", "--out", str(tmp_path / "o")])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_streaming_equals_offline_on_gpu():
    """On CUDA the offline pass may use mamba-ssm's kernels, the stream the PyTorch step."""
    torch.manual_seed(0)
    model = SepMamba.from_preset("causal-S").cuda().eval()
    x = torch.randn(8000, device="cuda") * 0.1
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    try:
        with torch.no_grad():
            offline = model(x)
        y, _, _ = stream(model, x, 160)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.testing.assert_close(y, offline, atol=1e-4, rtol=1e-3)
