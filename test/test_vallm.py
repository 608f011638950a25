"""VALL-M: mixers per stage, recurrent decoding == full pass, padding kept out of the causal
Mamba stream, bimamba NAR, hybrids, training, save/load."""

import pytest
import torch

import tts_model_checks as checks
from speechslytherin.models.tts.codec_lm import MambaMixer, SelfAttention
from speechslytherin.models.tts.vallm import VALLM

SETTINGS = [("mamba", "bimamba", "decoder_only"), ("mamba", "mamba", "decoder_only"),
            ("mamba", "attn", "decoder_only"), ("attn", "bimamba", "decoder_only"),
            ("mamba", "bimamba", "crossmamba")]


@pytest.fixture(params=SETTINGS, ids=[f"{a}-{n}-{l}" for a, n, l in SETTINGS])
def model(request):
    ar, nar, layout = request.param
    return checks.build(VALLM, ar_mixer=ar, nar_mixer=nar, ar_layout=layout, mamba_config={"d_state": 4})


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


@pytest.fixture(params=["decoder_only", "crossmamba"])
def default_model(request):
    return checks.build(VALLM, ar_layout=request.param, mamba_config={"d_state": 4})


def test_synthesize_shapes(default_model):
    checks.check_synthesize_shapes(default_model)


def test_loss_decreases():
    checks.check_loss_decreases(checks.build(VALLM, mamba_config={"d_state": 4}))


def test_save_load(default_model, tmp_path):
    checks.check_save_load(default_model, tmp_path)


def test_crossmamba_variant_reuses_the_conmamba_decoder():
    from speechslytherin.models.asr.mamba_decoder import MambaDecoder

    m = checks.build(VALLM, ar_layout="crossmamba", encoder_layers=2, mamba_config={"d_state": 4})
    assert isinstance(m.ar_decoder.audio_decoder, MambaDecoder)
    assert len(m.ar_decoder.text_encoder.layers) == 2
    assert m.ar_decoder.text_encoder.layers[0].mixer.mamba.bimamba_type == "v2"
    with pytest.raises(ValueError, match="crossmamba"):
        VALLM(preset="tiny", ar_mixer="attn", ar_layout="crossmamba")


@pytest.mark.gpu
@pytest.mark.parametrize("cls_name", ["VALLE", "VALLM"])
def test_cuda_matches_cpu(cls_name):
    """Training pass and recurrent / KV-cache decoding on CUDA agree with the CPU."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from speechslytherin.models.tts.valle import VALLE

    cls = VALLE if cls_name == "VALLE" else VALLM
    cpu = checks.build(cls)
    gpu = checks.build(cls).cuda()
    ph, pl, codes, cl = checks.toy_batch()
    a = cpu._ar_hidden(ph, pl, codes[:, 0], cl)
    b = gpu._ar_hidden(ph.cuda(), pl.cuda(), codes[:, 0].cuda(), cl.cuda())
    assert torch.allclose(a, b.cpu(), atol=1e-3)
    text, prompt = ph[:1, :pl[0]], codes[:1, 0, :4]
    tokens_cpu = cpu.ar_generate(text, prompt, top_k=1, max_len=10, min_len=10)
    tokens_gpu = gpu.ar_generate(text.cuda(), prompt.cuda(), top_k=1, max_len=10, min_len=10)
    assert torch.equal(tokens_cpu, tokens_gpu.cpu())
    gpu.train()
    out = gpu(ph.cuda(), pl.cuda(), codes.cuda(), cl.cuda(), stage="both")
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_ar_input_noise_only_in_training():
    checks.check_ar_input_noise(VALLM)
