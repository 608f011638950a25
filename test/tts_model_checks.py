"""Checks shared by test_valle.py and test_vallm.py: each runs them on its own model class."""

import torch

from speechslytherin.models.model_io import load_model, save_model

N_Q, CODEBOOK, N_TEXT = 4, 16, 20


def toy_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    phonemes = torch.randint(1, N_TEXT, (3, 7), generator=g)
    phoneme_lens = torch.tensor([7, 5, 3])
    codes = torch.randint(0, CODEBOOK, (3, N_Q, 24), generator=g)
    code_lens = torch.tensor([24, 17, 9])
    for b in range(3):  # padding as the collate writes it
        phonemes[b, phoneme_lens[b]:] = 0
        codes[b, :, code_lens[b]:] = 0
    return phonemes, phoneme_lens, codes, code_lens


def build(cls, **kw):
    torch.manual_seed(0)
    args = dict(preset="tiny", n_codebooks=N_Q, codebook_size=CODEBOOK, num_text_tokens=N_TEXT, dropout=0.0)
    args.update(kw)
    return cls(**args).eval()


def check_no_future_leakage(model):
    """Changing audio token t changes no AR output before t (and changes some at or after t)."""
    ph, pl, codes, cl = toy_batch()
    y = codes[:1, 0]
    base = model._ar_hidden(ph[:1], pl[:1], y, cl[:1])
    t = 10
    y2 = y.clone()
    y2[0, t] = (y2[0, t] + 1) % CODEBOOK
    changed = model._ar_hidden(ph[:1], pl[:1], y2, cl[:1])
    assert torch.allclose(base[:, :t], changed[:, :t], atol=1e-6)
    assert not torch.allclose(base[:, t:], changed[:, t:], atol=1e-4)


def check_padding_invariance(model):
    """A sample's AR and NAR outputs are the same alone and in a padded batch."""
    ph, pl, codes, cl = toy_batch()
    batch = model._ar_hidden(ph, pl, codes[:, 0], cl)
    for b in (1, 2):
        alone = model._ar_hidden(ph[b:b + 1, :pl[b]], pl[b:b + 1], codes[b:b + 1, 0, :cl[b]], cl[b:b + 1])
        assert torch.allclose(batch[b, :cl[b]], alone[0], atol=1e-5), b
    x, y = model._nar_inputs(ph, codes, 3, 2)
    batch = model._nar_decode(x, pl, y, cl, 2)
    for b in (1, 2):
        xa, ya = model._nar_inputs(ph[b:b + 1, :pl[b]], codes[b:b + 1, :, :cl[b]], 3, 2)
        alone = model._nar_decode(xa, pl[b:b + 1], ya, cl[b:b + 1], 2)
        assert torch.allclose(batch[b, :cl[b]], alone[0], atol=1e-5), b


def check_incremental_equals_full(model):
    """Prefill + one-token steps (KV cache / recurrent state) == the full pass, and greedy
    incremental decoding == greedy decoding that re-runs the whole sequence per token."""
    ph, pl, codes, cl = toy_batch()
    text, y = ph[:1, :pl[0]], codes[:1, 0]
    full = model._ar_hidden(text, pl[:1], y, cl[:1])
    dec = model.ar_decoder
    x = model.ar_text_position(model.ar_text_embedding(text))
    e = model.ar_audio_position(model.ar_audio_embedding(y))
    h, caches = model._ar_prefill(x, e[:, :5])
    steps = [h[:, -5:]]
    for t in range(5, y.shape[1]):
        h, caches = dec.step(e[:, t:t + 1], caches)
        steps.append(h)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)

    n = 12
    got = model.ar_generate(text, y[:, :4], top_k=1, max_len=n, min_len=n)
    seq = y[:, :4]
    for _ in range(n):  # lifeiteng-style: the whole sequence again for every token
        hid = model._ar_hidden(text, pl[:1], seq, torch.tensor([seq.shape[1]]))
        logits = model.ar_predict_layer(hid[:, -1])
        logits[:, model.eos] = float("-inf")
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(got, seq[:, 4:])


def check_synthesize_shapes(model):
    ph, pl, codes, cl = toy_batch()
    torch.manual_seed(1)
    out = model.synthesize(ph[:1, 3:6], ph[:1, :3], codes[:1, :, :6], top_k=5, temperature=1.0, max_len=15)
    assert out.dim() == 3 and out.shape[:2] == (1, N_Q) and out.shape[2] <= 15
    if out.shape[2]:
        assert 0 <= int(out.min()) and int(out.max()) < CODEBOOK
    forced = model.synthesize(ph[:1, 3:6], ph[:1, :3], codes[:1, :, :6], top_k=5, max_len=8, min_len=8)
    assert forced.shape == (1, N_Q, 8)


def check_loss_decreases(model):
    model.train()
    ph, pl, codes, cl = toy_batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = last = None
    for _ in range(25):
        ar = model(ph, pl, codes, cl, stage="ar")
        nar = model.nar_loss(ph, pl, codes, cl, stage=1)
        loss = ar["loss"] + nar["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
        last = float(loss.detach())
    assert last < 0.7 * first, (first, last)
    out = model(ph, pl, codes, cl, stage="both")
    assert set(out) >= {"loss", "acc", "ar_loss", "nar_loss"} and 0 <= float(out["acc"]) <= 1


def check_save_load(model, tmp_path):
    path = str(tmp_path / "m.pt")
    save_model(model, path, sample_rate=16000, task="tts")
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.init_args == model.init_args
    ph, pl, codes, cl = toy_batch()
    a = model._ar_hidden(ph, pl, codes[:, 0], cl)
    b = loaded._ar_hidden(ph, pl, codes[:, 0], cl)
    assert torch.allclose(a, b)
    assert loaded.ar_predict_layer.weight is loaded.ar_audio_embedding.weight  # tying survives loading


def check_ar_input_noise(cls):
    """ar_input_noise corrupts teacher-forced input frames in training only: eval losses equal
    the clean model's, training losses differ, and a share outside [0, 1) is refused."""
    batch = toy_batch()
    clean, noisy = build(cls), build(cls, ar_input_noise=0.5)
    noisy.load_state_dict(clean.state_dict())
    with torch.no_grad():
        assert torch.equal(clean(*batch, stage="ar")["loss"], noisy(*batch, stage="ar")["loss"])
        clean.train(), noisy.train()
        torch.manual_seed(1)
        assert not torch.equal(clean(*batch, stage="ar")["loss"], noisy(*batch, stage="ar")["loss"])
    try:
        build(cls, ar_input_noise=1.0)
    except ValueError as err:
        assert "ar_input_noise" in str(err)
    else:
        raise AssertionError("ar_input_noise=1.0 was accepted")
