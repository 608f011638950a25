"""ConMamba / Conformer ASR networks: official state-dict keys, shapes and parameter counts of
every published configuration; layer order; causal = no future leakage; the Mamba decoder."""

import json
import os

import pytest
import torch

from speechslytherin.models.asr.asr_model import ASRModel
from speechslytherin.models.asr.conmamba import ConMambaEncoder, ConMambaEncoderLayer
from speechslytherin.models.asr.mamba_decoder import MambaDecoder

REFERENCE = "/work/shared/reference/official_keys"
SMALL = dict(d_model=144, nhead=4, num_encoder_layers=12, num_decoder_layers=4, d_ffn=1024, n_fft=400)
LARGE = dict(d_model=512, nhead=8, num_encoder_layers=12, num_decoder_layers=6, d_ffn=2048, n_fft=512, win_length=32)
CTC = dict(vocab_size=31, d_model=256, nhead=4, num_encoder_layers=18, num_decoder_layers=0, d_ffn=1024,
           decoder=None, n_fft=512, win_length=25)
# (official key list, constructor arguments, official parameter count from param_counts.json)
CONFIGS = {
    "S2S_conmamba_small": (SMALL, 14_075_520),
    "S2S_conmambamamba_small": ({**SMALL, "decoder": "mamba"}, 14_570_880),
    "S2S_conformer_small": ({**SMALL, "encoder": "conformer"}, 13_327_296),
    "S2S_conmamba_large": (LARGE, 115_187_888),
    "S2S_conmambamamba_large": ({**LARGE, "decoder": "mamba"}, 122_917_040),
    "S2S_conformer_large": ({**LARGE, "encoder": "conformer"}, 109_136_048),
    "CTC_conmamba_large": (CTC, 31_555_519),
    "CTC_conformer_large": ({**CTC, "encoder": "conformer"}, 28_786_111),
}

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def official_keys(name):
    path = os.path.join(REFERENCE, f"keys_{name}.json")
    if not os.path.isfile(path):
        pytest.skip(f"{path} not available")
    with open(path) as f:
        entries = json.load(f)
    # SpeechBrain 1.0 wrote the Conformer decoder's cross-attention as "mutihead_attn"; SpeechBrain
    # >= 1.0.1 renames it when loading a checkpoint (speechbrain.utils.checkpoints), as load_official does.
    return {k.replace(".mutihead_attn.", ".multihead_attn."): tuple(s) for k, s in entries}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_official_keys_shapes_and_counts(name):
    kwargs, count = CONFIGS[name]
    torch.manual_seed(0)
    model = ASRModel(**kwargs)
    ours = {k: tuple(v.shape) for k, v in model.model.state_dict().items()}
    assert ours == official_keys(name)
    assert sum(p.numel() for p in model.model.parameters()) == count
    # nothing trainable outside the official ModuleList (the normaliser and Fbank hold buffers only)
    assert sum(p.numel() for p in model.parameters()) == count
    official_count = json.load(open(os.path.join(REFERENCE, "param_counts.json")))
    entry = next(v for k, v in official_count.items() if k.startswith("ConMamba_and_Conformer"))
    assert entry[name.replace("_", "/", 1)]["total(model ModuleList)"] == count


def test_official_checkpoint_layout_loads_including_speechbrain_1_0_names():
    torch.manual_seed(0)
    small = dict(SMALL, num_encoder_layers=1, num_decoder_layers=1, vocab_size=50, encoder="conformer")
    source, target = ASRModel(**small), ASRModel(**small)
    state = {k.replace(".multihead_attn.", ".mutihead_attn."): v for k, v in source.model.state_dict().items()}
    assert any(".mutihead_attn." in k for k in state)
    target.load_official(state, {"count": 7, "glob_mean": torch.full((80,), 0.5), "glob_std": torch.full((80,), 2.0)})
    for key, value in source.model.state_dict().items():
        assert torch.equal(target.model.state_dict()[key], value)
    assert torch.allclose(target.normalize.glob_mean, torch.tensor(0.5)) and float(target.normalize.count) == 7


def test_bimamba_v2_when_bidirectional_and_forward_mamba_when_causal():
    bi = ConMambaEncoderLayer(32, 64, kernel_size=7, mamba_config={"d_state": 4})
    causal = ConMambaEncoderLayer(32, 64, kernel_size=7, causal=True, mamba_config={"d_state": 4})
    assert bi.mamba.bimamba_type == "v2" and "A_b_log" in dict(bi.mamba.named_parameters())
    assert causal.mamba.bimamba_type == "none" and not any(k.endswith("_b") or "_b_" in k or k.endswith("_b.weight")
                                                          for k, _ in causal.mamba.named_parameters())
    assert isinstance(bi.ffn_module1[1].ffn[1], torch.nn.GELU)  # GELU everywhere in ConMamba


def test_layer_order_is_the_official_one():
    torch.manual_seed(0)
    layer = ConMambaEncoderLayer(16, 32, kernel_size=5, dropout=0.0, mamba_config={"d_state": 4}).eval()
    x = torch.randn(2, 11, 16)
    with torch.no_grad():
        y = x + 0.5 * layer.ffn_module1(x)
        y = y + layer.mamba(layer.norm1(y))
        y = y + layer.convolution_module(y)
        y = layer.norm2(y + 0.5 * layer.ffn_module2(y))
        assert torch.allclose(layer(x), y, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_causal_encoder_never_looks_ahead(causal):
    torch.manual_seed(0)
    enc = ConMambaEncoder(2, 16, 32, kernel_size=5, causal=causal, mamba_config={"d_state": 4}).eval()
    x = torch.randn(1, 30, 16)
    x2 = x.clone()
    x2[:, 20:] += torch.randn(1, 10, 16)
    with torch.no_grad():
        y, _ = enc(x)
        y2, _ = enc(x2)
    past_changed = (y[:, :20] - y2[:, :20]).abs().max().item()
    if causal:
        assert past_changed < 1e-5
    else:
        assert past_changed > 1e-3  # the bidirectional encoder does see the future


def test_causal_model_keeps_no_future_path_through_encoder():
    torch.manual_seed(0)
    model = ASRModel(vocab_size=20, d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, d_ffn=32,
                     kernel_size=5, cnn_channels=[4, 4], causal=True, mamba_config={"d_state": 4}).eval()
    assert model.transformer.encoder.causal
    feats = torch.randn(1, 120, 80)
    feats2 = feats.clone()
    feats2[:, 80:] += torch.randn(1, 40, 80)
    with torch.no_grad():
        a = model.forward_features(feats)[2]
        b = model.forward_features(feats2)[2]
    # the CNN front end (two 3x3 convs, stride 2) looks ahead by a few frames only
    assert (a[:, :18] - b[:, :18]).abs().max() < 1e-5
    assert (a[:, 22:] - b[:, 22:]).abs().max() > 1e-4


def test_mamba_decoder_is_causal_in_the_target_and_reads_the_memory():
    torch.manual_seed(0)
    dec = MambaDecoder(2, 16, 32, normalize_before=True, mamba_config={"d_state": 4}).eval()
    memory, tgt = torch.randn(1, 25, 16), torch.randn(1, 8, 16)
    tgt2 = tgt.clone()
    tgt2[:, 5:] += torch.randn(1, 3, 16)  # not a constant shift: the LayerNorms would remove it
    with torch.no_grad():
        out, _, _ = dec(tgt, memory)
        out2, _, _ = dec(tgt2, memory)
        out3, _, _ = dec(tgt, memory + torch.randn(1, 25, 16))
    assert out.shape == (1, 8, 16)
    assert (out[:, :5] - out2[:, :5]).abs().max() < 1e-5
    assert (out[:, 5:] - out2[:, 5:]).abs().max() > 1e-4
    assert (out - out3).abs().max() > 1e-4


def test_output_shapes():
    torch.manual_seed(0)
    model = ASRModel(vocab_size=30, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, d_ffn=32,
                     kernel_size=5, cnn_channels=[4, 4], decoder="mamba", mamba_config={"d_state": 4})
    wavs = torch.randn(2, 16000)
    tokens_bos = torch.randint(3, 30, (2, 7))
    p_ctc, p_seq, enc = model(wavs, torch.tensor([1.0, 0.6]), tokens_bos)
    frames = model.features(wavs).shape[1]
    assert enc.shape == (2, (frames + 3) // 4, 16)
    assert p_ctc.shape == (2, enc.shape[1], 30) and p_seq.shape == (2, 7, 30)
    assert torch.allclose(p_ctc.exp().sum(-1), torch.ones(2, enc.shape[1]), atol=1e-4)


@pytest.mark.parametrize("normalize_before", [True, False])
def test_mamba_decoder_step_by_step_equals_the_full_pass(normalize_before):
    """Incremental decoding (memory read once, then one target position at a time with the
    recurrent states) gives what the whole-target pass gives at every position."""
    torch.manual_seed(0)
    dec = MambaDecoder(2, 16, 32, normalize_before=normalize_before, mamba_config={"d_state": 4}).eval()
    memory, tgt = torch.randn(2, 25, 16), torch.randn(2, 6, 16)
    with torch.no_grad():
        full, _, _ = dec(tgt, memory)
        states, steps = dec.start(memory), []
        for t in range(tgt.shape[1]):
            out, states = dec.step(tgt[:, t:t + 1], states)
            steps.append(out)
        chunk, _ = dec.step(tgt[:, :4], dec.start(memory))  # several positions at once, too
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert torch.allclose(chunk, full[:, :4], atol=1e-5)
    assert len(states) == 2 and all(len(layer_state) == 2 for layer_state in states)
