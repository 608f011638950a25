"""ASRModel: loss, joint CTC/attention beam search (+ LM fusion), CTC-only decoding, the
tokenizer carried in the model file, and transcribe() after save/load with nothing else on disk."""

import io
import os

import pytest
import torch

from speechslytherin.models.asr.asr_model import ASRModel, batch_waveforms, ctc_greedy
from speechslytherin.models.asr.tokenizer import TokenizerError
from speechslytherin.models.model_io import load_model, save_model
from speechslytherin.tasks.asr_data import collate_asr

TEXTS = ["ONE TWO THREE", "FOUR FIVE SIX SEVEN", "EIGHT NINE ZERO", "HELLO WORLD THIS IS A TEST",
         "OPEN THE RED DOOR", "CALL ME AT NINE"]

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def train_sentencepiece(vocab_size, model_type="unigram", texts=TEXTS):
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts * 10), model_writer=buf, vocab_size=vocab_size,
                                   model_type=model_type, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   character_coverage=1.0, minloglevel=2)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tokenizer_bytes():
    return train_sentencepiece(30)


def tiny_model(vocab, **kw):
    args = dict(vocab_size=vocab, d_model=32, nhead=2, num_encoder_layers=2, num_decoder_layers=1, d_ffn=64,
                kernel_size=5, cnn_channels=[8, 8], mamba_config={"d_state": 4}, dropout=0.0,
                decoding={"beam_size": 3})
    args.update(kw)
    return ASRModel(**args)


def toy_batch(processor, texts, seconds=(1.0, 1.2), seed=0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for i, (text, sec) in enumerate(zip(texts, seconds)):
        wav = torch.randn(int(sec * 16000), generator=g) * 0.1
        items.append({"id": f"u{i}", "wav": wav, "text": text,
                      "tokens": torch.tensor(processor.encode_as_ids(text), dtype=torch.long)})
    return collate_asr(items)


def loss_of(model, batch, epoch=1):
    p_ctc, p_seq, _ = model(batch["wavs"], batch["wav_lens"], batch["tokens_bos"], epoch=epoch)
    return model.compute_loss(p_ctc, p_seq, batch["wav_lens"], batch["tokens"], batch["tokens_lens"],
                              batch["tokens_eos"], batch["tokens_eos_lens"])


@pytest.mark.parametrize("decoder", ["transformer", "mamba"])
def test_loss_is_the_weighted_sum_and_reaches_every_parameter(tokenizer_bytes, decoder):
    torch.manual_seed(0)
    model = tiny_model(30, decoder=decoder, ctc_weight=0.3, label_smoothing=0.1)
    model.set_tokenizer(tokenizer_bytes)
    batch = toy_batch(model.tokenizer, TEXTS[:2])
    model.train()
    loss, parts = loss_of(model, batch)
    assert torch.isfinite(loss)
    assert torch.allclose(loss, 0.3 * parts["ctc"] + 0.7 * parts["att"], atol=1e-5)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_global_normalisation_updates_only_while_training_early_epochs(tokenizer_bytes):
    model = tiny_model(30, norm_update_until_epoch=2)
    batch = toy_batch(load_proc(tokenizer_bytes), TEXTS[:2])
    model.train()
    model.features(batch["wavs"], batch["wav_lens"], epoch=1)
    mean = model.normalize.glob_mean.clone()
    assert float(model.normalize.count) > 0 and mean.abs().sum() > 0
    model.features(batch["wavs"] * 3, batch["wav_lens"], epoch=2)  # epoch 2: frozen
    assert torch.equal(model.normalize.glob_mean, mean)
    model.eval()
    model.features(batch["wavs"] * 3, batch["wav_lens"], epoch=1)  # eval: frozen
    assert torch.equal(model.normalize.glob_mean, mean)


def load_proc(blob):
    from speechslytherin.models.asr.tokenizer import load_processor

    return load_processor(blob)


@pytest.mark.parametrize("decoder", ["transformer", "mamba"])
def test_a_tiny_model_memorises_two_utterances_and_beam_search_reads_them_back(tokenizer_bytes, decoder):
    torch.manual_seed(0)
    model = tiny_model(30, decoder=decoder)
    model.set_tokenizer(tokenizer_bytes)
    batch = toy_batch(model.tokenizer, TEXTS[:2])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        loss, _ = loss_of(model, batch, epoch=10)
        opt.zero_grad()
        loss.backward()
        opt.step()
    wavs = [batch["wavs"][0, :16000], batch["wavs"][1]]
    assert model.transcribe(wavs) == TEXTS[:2]
    assert model.transcribe(wavs, beam_size=1, ctc_weight=0.0) == TEXTS[:2]
    assert model.training  # transcribe restores the mode it found


def test_transcribe_after_save_and_load_needs_nothing_else(tmp_path, tokenizer_bytes):
    torch.manual_seed(0)
    model = tiny_model(30)
    tok_file = tmp_path / "tokenizer.model"
    tok_file.write_bytes(tokenizer_bytes)
    model.set_tokenizer(str(tok_file))
    model.eval()
    wav = torch.randn(12000) * 0.1
    before = model.transcribe(wav)
    assert isinstance(before, list) and len(before) == 1 and isinstance(before[0], str)
    path = save_model(model, tmp_path / "asr.pt", sample_rate=16000, task="asr")
    os.remove(tok_file)
    loaded = load_model(path)
    assert loaded.transcribe(wav) == before
    assert loaded.transcribe([wav.numpy(), wav[:8000].numpy()])[0] == before[0]


def test_tokenizer_must_fit_the_model(tokenizer_bytes):
    model = tiny_model(31)
    with pytest.raises(TokenizerError, match="vocab_size"):
        model.set_tokenizer(tokenizer_bytes)
    with pytest.raises(TokenizerError, match="no tokenizer"):
        model.transcribe(torch.randn(8000))
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS * 10), model_writer=buf, vocab_size=30,
                                   model_type="unigram", bos_id=-1, eos_id=-1, minloglevel=2)  # no <s> </s>
    with pytest.raises(TokenizerError, match="--unk_id=0 --bos_id=1 --eos_id=2"):
        tiny_model(30).set_tokenizer(buf.getvalue())


def test_beam_search_on_the_shorter_items_of_a_padded_batch(tokenizer_bytes):
    """Validation decodes only the first items of a batch; their padding is longer than they are."""
    torch.manual_seed(0)
    model = tiny_model(30, decoding={"beam_size": 2, "ctc_weight": 0.4, "max_decode_ratio": 0.2}).eval()
    model.set_tokenizer(tokenizer_bytes)
    batch = toy_batch(model.tokenizer, TEXTS[:3], seconds=(0.9, 0.95, 1.3))
    with torch.no_grad():
        _, _, enc_out = model(batch["wavs"], batch["wav_lens"], batch["tokens_bos"])
        first_two = model.decode_ids(enc_out[:2], batch["wav_lens"][:2])
        alone = model.decode_ids(enc_out[:1, :int(round(float(batch["wav_lens"][0]) * enc_out.shape[1]))],
                                 torch.ones(1))
    assert len(first_two) == 2 and first_two[0] == alone[0]


def test_ctc_only_model_decodes_greedily():
    char_tok = train_sentencepiece(30, model_type="char")
    n_chars = load_proc(char_tok).get_piece_size()  # char models have as many pieces as characters
    torch.manual_seed(0)
    model = tiny_model(n_chars, decoder=None, num_decoder_layers=0)
    model.set_tokenizer(char_tok)
    assert model.seq_lin is None and len(model.model) == 3
    batch = toy_batch(model.tokenizer, TEXTS[:2])
    p_ctc, p_seq, _ = model(batch["wavs"], batch["wav_lens"], batch["tokens_bos"])
    assert p_seq is None
    loss, parts = model.compute_loss(p_ctc, None, batch["wav_lens"], batch["tokens"], batch["tokens_lens"])
    assert torch.isfinite(loss) and set(parts) == {"ctc"}
    texts = model.transcribe(batch["wavs"], batch["wav_lens"])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_ctc_greedy_merges_repeats_and_drops_blanks_within_each_length():
    logp = torch.full((2, 6, 4), -10.0)
    for t, k in enumerate([1, 1, 0, 1, 2, 3]):
        logp[0, t, k] = 0.0
        logp[1, t, k] = 0.0
    assert ctc_greedy(logp, torch.tensor([1.0, 0.5])) == [[1, 1, 2, 3], [1]]


def test_lm_shallow_fusion_runs_in_the_beam_search(tokenizer_bytes):
    torch.manual_seed(0)
    model = tiny_model(30, lm={"d_model": 16, "nhead": 2, "num_layers": 1, "d_ffn": 32})
    model.set_tokenizer(tokenizer_bytes)
    model.load_lm({k: v.clone() for k, v in model.lm.state_dict().items()})
    out = model.transcribe(torch.randn(9000) * 0.1, lm_weight=0.5, beam_size=2)
    assert isinstance(out[0], str)
    with pytest.raises(ValueError, match="no LM"):
        tiny_model(30).make_searcher(lm_weight=0.5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="empty"):
        batch_waveforms([torch.zeros(0)])
    with pytest.raises(ValueError, match="decoder"):
        ASRModel(decoder=None, num_decoder_layers=4)
    with pytest.raises(ValueError, match="decoding"):
        tiny_model(30).decoding_options(beamsize=3)


@pytest.mark.parametrize("ctc_weight", [0.0, 0.4])
@pytest.mark.parametrize("eos_shift", [0.0, -4.0])
def test_cached_mamba_beam_search_gives_the_uncached_hypotheses(ctc_weight, eos_shift):
    """S2SMambaBeamSearcher (states cached, one token per step, states reordered with the beams)
    against SpeechBrain's searcher that re-runs the decoder over the whole prefix every step.
    eos_shift < 0 makes the random model's hypotheses run to the length limit (every step
    prunes and reorders beams); 0 lets them end early at different lengths."""
    from speechbrain.decoders import S2STransformerBeamSearcher
    from speechbrain.decoders.scorer import CTCScorer, ScorerBuilder

    from speechslytherin.models.asr.mamba_beam_search import S2SMambaBeamSearcher

    torch.manual_seed(0)
    model = tiny_model(30, decoder="mamba", num_decoder_layers=2, dropout=0.0).eval()
    with torch.no_grad():
        model.seq_lin.w.bias[model.eos_index] += eos_shift
    enc = torch.randn(3, 30, 32)
    wav_lens = torch.tensor([1.0, 0.8, 0.5])

    def search(cls):
        scorer = None
        if ctc_weight:
            scorer = ScorerBuilder(full_scorers=[CTCScorer(ctc_fc=model.ctc_lin, blank_index=0, eos_index=2)],
                                   weights={"ctc": ctc_weight})
        searcher = cls(modules=[model.transformer, model.seq_lin], bos_index=1, eos_index=2, min_decode_ratio=0.0,
                       max_decode_ratio=1.0, beam_size=4, scorer=scorer)
        with torch.no_grad():
            return searcher(enc, wav_lens)

    hyps, _, scores, log_probs = search(S2STransformerBeamSearcher)
    cached_hyps, _, cached_scores, cached_log_probs = search(S2SMambaBeamSearcher)
    assert isinstance(model.make_searcher(), S2SMambaBeamSearcher)  # what decode_ids / transcribe use
    assert cached_hyps == hyps
    assert torch.allclose(cached_scores, scores, atol=1e-4)
    assert torch.allclose(cached_log_probs, log_probs, atol=1e-4)
    assert max(len(h) for h in hyps) > 5  # not a trivial search
    with pytest.raises(ValueError, match="not a MambaDecoder"):
        S2SMambaBeamSearcher(modules=[tiny_model(30).transformer, model.seq_lin], bos_index=1, eos_index=2,
                             min_decode_ratio=0.0, max_decode_ratio=1.0, beam_size=2)
