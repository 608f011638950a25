"""VALL-E: prefix-LM mask, no future leakage, KV-cache decoding == full recompute, padding,
shapes, training, save/load, presets."""

import pytest
import torch

import tts_model_checks as checks
from speechslytherin.models.tts.codec_lm import prefix_lm_mask, resolve_preset
from speechslytherin.models.tts.valle import VALLE


@pytest.fixture
def model():
    return checks.build(VALLE)


def test_prefix_lm_mask_rows():
    allowed = prefix_lm_mask(torch.tensor([2, 1]), torch.tensor([3, 2]))[0].int()
    expected = torch.tensor([
        [1, 1, 0, 0, 0],  # text sees text only
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],  # audio sees all text and earlier audio
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1]])
    assert torch.equal(allowed, expected)
    second = prefix_lm_mask(torch.tensor([2, 1]), torch.tensor([3, 2]))[1].int()
    assert second[:3, 3:].sum() == 0 and second[3, 3] == 1 and second[3, :3].sum() == 0  # pads


def test_text_rows_do_not_see_audio(model):
    ph, pl, codes, cl = checks.toy_batch()
    x = model.ar_text_position(model.ar_text_embedding(ph[:1]))
    from speechslytherin.models.tts.codec_lm import pack

    outs = []
    for shift in (0, 1):
        y = model.ar_audio_position(model.ar_audio_embedding((codes[:1, 0] + shift) % checks.CODEBOOK))
        packed = pack(x, pl[:1], y, cl[:1])
        outs.append(model.ar_decoder(packed, prefix_lm_mask(pl[:1], cl[:1]))[:, :7])
    assert torch.allclose(outs[0], outs[1], atol=1e-6)


def test_no_future_leakage(model):
    checks.check_no_future_leakage(model)


def test_padding_does_not_change_outputs(model):
    checks.check_padding_invariance(model)


def test_kv_cache_decoding_equals_full_recompute(model):
    checks.check_incremental_equals_full(model)


def test_synthesize_shapes(model):
    checks.check_synthesize_shapes(model)


def test_loss_decreases(model):
    checks.check_loss_decreases(model)


def test_save_load(model, tmp_path):
    checks.check_save_load(model, tmp_path)


def test_presets_and_errors():
    assert resolve_preset("paper", None, None, None) == (1024, 16, 12)
    assert resolve_preset("nano", None, None, None) == (128, 4, 4)
    assert resolve_preset("nano", 64, None, 2) == (64, 4, 2)
    with pytest.raises(ValueError, match="known presets"):
        VALLE(preset="huge")
    model = checks.build(VALLE)
    ph, pl, codes, cl = checks.toy_batch()
    with pytest.raises(ValueError, match="codebook_size"):
        model(ph, pl, codes + checks.CODEBOOK, cl)
    with pytest.raises(ValueError, match="stage"):
        model(ph, pl, codes, cl, stage="x")


def test_nano_size_and_embedding_tying():
    model = VALLE(preset="nano", n_codebooks=8, codebook_size=256, num_text_tokens=256)
    assert model.d_model == 128 and len(model.ar_decoder.layers) == 4
    assert model.nar_predict_layers[0].weight is model.nar_audio_embeddings[2].weight
    assert model.nar_predict_layers[-1].weight is not model.nar_audio_embeddings[-1].weight


def test_ar_input_noise_only_in_training():
    checks.check_ar_input_noise(VALLE)
