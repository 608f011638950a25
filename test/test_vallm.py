"""VALL-M: mixers per stage, recurrent decoding == full pass, padding kept out of the causal
Mamba stream, bimamba NAR, hybrids, training, save/load."""

import pytest
import torch

import tts_model_checks as checks
from speechslytherin.models.tts.codec_lm import MambaMixer, SelfAttention
from speechslytherin.models.tts.vallm import VALLM

SETTINGS = [("mamba", "bimamba"), ("mamba", "mamba"), ("mamba", "attn"), ("attn", "bimamba")]


@pytest.fixture(params=SETTINGS, ids=[f"{a}-{n}" for a, n in SETTINGS])
def model(request):
    ar, nar = request.param
    return checks.build(VALLM, ar_mixer=ar, nar_mixer=nar, mamba_config={"d_state": 4})


def test_default_is_pure_mamba():
    m = VALLM(preset="tiny", n_codebooks=3, codebook_size=8, num_text_tokens=8)
    assert m.ar_mixer == "mamba" and m.nar_mixer == "bimamba"
    assert all(isinstance(l.mixer, MambaMixer) for l in m.ar_decoder.layers + m.nar_decoder.layers)
    assert m.nar_decoder.layers[0].mixer.mamba.bimamba_type == "v2"
    assert not any(isinstance(mod, SelfAttention) for mod in m.modules())


def test_hybrid_mixers():
    m = VALLM(preset="tiny", ar_mixer="attn", nar_mixer="bimamba", n_codebooks=3, codebook_size=8, num_text_tokens=8)
    assert isinstance(m.ar_decoder.layers[0].mixer, SelfAttention)
    assert isinstance(m.nar_decoder.layers[0].mixer, MambaMixer)
    with pytest.raises(ValueError, match="ar_mixer"):
        VALLM(preset="tiny", ar_mixer="bimamba")


def test_no_future_leakage(model):
    checks.check_no_future_leakage(model)


def test_padding_does_not_change_outputs(model):
    checks.check_padding_invariance(model)


def test_recurrent_decoding_equals_full_pass(model):
    checks.check_incremental_equals_full(model)


def test_recurrent_state_is_constant_size():
    m = checks.build(VALLM, mamba_config={"d_state": 4})
    caches = m.ar_decoder.empty_cache(1)
    sizes = [sum(t.numel() for t in c) for c in caches]
    x = torch.randn(1, 9, m.d_model)
    _, caches = m.ar_decoder.step(x, caches)
    for _ in range(5):
        _, caches = m.ar_decoder.step(torch.randn(1, 1, m.d_model), caches)
    assert [sum(t.numel() for t in c) for c in caches] == sizes


def test_synthesize_shapes(model):
    checks.check_synthesize_shapes(model)


def test_loss_decreases():
    checks.check_loss_decreases(checks.build(VALLM, mamba_config={"d_state": 4}))


def test_save_load(model, tmp_path):
    checks.check_save_load(model, tmp_path)
