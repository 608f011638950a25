"""tts/codec.py: the fitted mel-RVQ codec (shapes, files, re-synthesis quality) and the EnCodec wrapper."""

import numpy as np
import pytest
import torch

from speechslytherin.tts import codec as codec_mod
from speechslytherin.tts.codec import CodecError, EncodecCodec, MelRVQCodec, find_encodec_weights, load_codec

SR = 16000


def voiced(seconds, f0, seed):
    """A harmonic 'vowel' with a gliding pitch and a formant-like envelope: speech-shaped test audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    formant = rng.uniform(400, 1200)
    wav = sum(np.exp(-((k * f0 - formant) / 600) ** 2) * np.sin(k * phase) for k in range(1, 25))
    return torch.tensor(0.3 * wav / np.abs(wav).max() * np.minimum(1, 5 * t), dtype=torch.float32)


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    wavs = [voiced(1.5, f0, k) for k, f0 in enumerate((110, 140, 180, 220, 120, 200))]
    codec = MelRVQCodec(n_q=4, codebook_size=32, griffin_lim_iters=16).fit(wavs[:5], iterations=6, seed=0)
    return codec, wavs


def test_shapes_and_range(fitted):
    codec, wavs = fitted
    batch = torch.stack([wavs[5][:16000], wavs[0][:16000]])
    codes = codec.encode(batch)
    assert codes.dtype == torch.long and codes.shape == (2, 4, 16000 // 320 + 1)
    assert 0 <= int(codes.min()) and int(codes.max()) < 32
    out = codec.decode(codes)
    assert out.shape == (2, (codes.shape[2] - 1) * 320) and torch.isfinite(out).all()
    assert codec.frame_rate == 50 and codec.sample_rate == SR
    # coarse levels alone decode too (the AR-only output of a codec LM)
    assert codec.decode(codes[:, :1]).shape == out.shape


def test_decodes_a_two_frame_output(fitted):
    # an AR model may emit EOS after a frame or two; the codec must still give audio (one hop long)
    codec, _ = fitted
    wav = codec.decode(torch.zeros(1, codec.n_q, 2, dtype=torch.long))
    assert wav.shape == (1, 320) and torch.isfinite(wav).all()
    assert codec.decode(torch.zeros(1, codec.n_q, 1, dtype=torch.long)).shape == (1, 0)


def test_residual_shrinks_per_level(fitted):
    rms = fitted[0].fit_report["residual_rms"]
    assert len(rms) == 4 and all(a > b for a, b in zip(rms, rms[1:]))


def test_resynthesis_beats_noise(fitted):
    codec, wavs = fitted
    held_out = wavs[5][None]
    target = codec.log_mel(held_out)
    rebuilt = codec.log_mel(codec.decode(codec.encode(held_out)))
    n = min(target.shape[1], rebuilt.shape[1])
    err = (rebuilt[:, :n] - target[:, :n]).abs().mean()
    noise = codec.log_mel(torch.randn_like(held_out) * held_out.std())
    err_noise = (noise[:, :n] - target[:, :n]).abs().mean()
    assert err < 0.5 * err_noise, (float(err), float(err_noise))
    # more levels give a closer mel (quantisation only, no Griffin-Lim involved)
    codes = codec.encode(held_out)
    errs = [float((codec.codes_to_log_mel(codes[:, :k]) - target).abs().mean()) for k in (1, 4)]
    assert errs[1] < errs[0]


def test_file_round_trip(fitted, tmp_path):
    codec, wavs = fitted
    path = codec.save(tmp_path / "codec.pt")
    again = load_codec(path)
    assert isinstance(again, MelRVQCodec) and again.config() == codec.config()
    assert torch.equal(again.encode(wavs[1]), codec.encode(wavs[1]))
    assert isinstance(load_codec(tmp_path), MelRVQCodec)  # a folder holding codec.pt


def test_bad_inputs(tmp_path):
    with pytest.raises(CodecError, match="not fitted"):
        MelRVQCodec().encode(torch.zeros(1000))
    with pytest.raises(CodecError, match="at least"):
        MelRVQCodec(codebook_size=256).fit([torch.zeros(3200)])
    with pytest.raises(CodecError, match="not found"):
        load_codec(tmp_path / "nope.pt")
    torch.save({"kind": "mystery"}, tmp_path / "odd.pt")
    with pytest.raises(CodecError, match="unknown codec kind"):
        load_codec(tmp_path / "odd.pt")


def test_encodec_offline_error_names_file_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(CodecError) as err:
        find_encodec_weights(tmp_path)
    assert codec_mod.ENCODEC_CHECKPOINT in str(err.value) and "d7cc33bc" in str(err.value)
    with pytest.raises(CodecError):
        load_codec(tmp_path)  # a folder without codec.pt is looked up as an EnCodec folder


def test_encodec_layout_untrained():
    codec = EncodecCodec(random_init=True)
    assert (codec.sample_rate, codec.n_q, codec.codebook_size, codec.frame_rate) == (24000, 8, 1024, 75)
    codes = codec.encode(torch.randn(2, 24000) * 0.1)
    assert codes.shape == (2, 8, 75) and codes.dtype == torch.long
    assert codec.decode(codes).shape == (2, 24000)
