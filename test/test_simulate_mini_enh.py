"""simulate/mini_enh.py: a VoiceBank-layout noisy/clean set from the tiny mini corpus."""

import filecmp
import json
import os

import numpy as np
import pytest
import soundfile as sf

from fake_enh import make_mini_corpus
from speechslytherin.bin import simulate as simulate_cli
from speechslytherin.prepare.voicebank import prepare_voicebank
from speechslytherin.simulate import mini_enh
from speechslytherin.simulate.levels import active_level_db, resample


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return make_mini_corpus(tmp_path_factory.mktemp("mini") / "mini")


@pytest.fixture(scope="module")
def enh(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("enh") / "mini_enh"
    mini_enh.make_mini_enh(mini, out, scale="tiny", progress=False, log=lambda *a: None)
    return str(out)


def read_log(path):
    with open(path) as f:
        return {p[0]: (p[1], float(p[2])) for p in (line.split() for line in f)}


def test_layout_logs_and_speakers(mini, enh):
    for name in ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav", "noisy_testset_wav",
                 "trainset_28spk_txt", "testset_txt"):
        assert os.path.isdir(os.path.join(enh, name)), name
    train_log = read_log(os.path.join(enh, "logfiles", "log_trainset_28spk.txt"))
    test_log = read_log(os.path.join(enh, "logfiles", "log_testset.txt"))
    assert sorted(train_log) == sorted(f[:-4] for f in os.listdir(os.path.join(enh, "noisy_trainset_28spk_wav")))
    assert sorted(test_log) == sorted(f[:-4] for f in os.listdir(os.path.join(enh, "clean_testset_wav")))
    assert len(test_log) == mini_enh.SCALES["tiny"]["test"]
    assert len(train_log) == mini_enh.SCALES["tiny"]["train"] + 2 * mini_enh.SCALES["tiny"]["valid"]
    assert {n for n, _ in train_log.values()} <= set(mini_enh.TRAIN_NOISES)
    assert {s for _, s in train_log.values()} <= set(mini_enh.TRAIN_SNRS)
    assert {n for n, _ in test_log.values()} <= set(mini_enh.TEST_NOISES)
    assert {s for _, s in test_log.values()} <= set(mini_enh.TEST_SNRS)
    with open(os.path.join(enh, "speakers.json")) as f:
        speakers = json.load(f)
    with open(os.path.join(mini, "utterances.json")) as f:
        mini_utts = json.load(f)
    tt_speakers = {u["speaker"] for u in mini_utts.values() if u["split"] == "tt"}
    test_names = {uid.split("_")[0] for uid in test_log}
    assert {speakers[n]["mini_speaker"] for n in test_names} <= tt_speakers  # real recorded people only
    assert {"p226", "p287"} <= {uid.split("_")[0] for uid in train_log}
    assert speakers["p226"]["mini_split"] == "cv"
    text = open(os.path.join(enh, "testset_txt", sorted(test_log)[0] + ".txt")).read().strip()
    assert text and text in {u["text"] for u in mini_utts.values()}
    # the matched test set: unseen TTS voices, test noises and SNRs
    tts_log = read_log(os.path.join(enh, "logfiles", "log_testset_tts.txt"))
    assert sorted(tts_log) == sorted(f[:-4] for f in os.listdir(os.path.join(enh, "noisy_testset_tts_wav")))
    assert sorted(tts_log) == sorted(f[:-4] for f in os.listdir(os.path.join(enh, "clean_testset_tts_wav")))
    assert len(tts_log) == mini_enh.SCALES["tiny"]["test"]
    assert {n for n, _ in tts_log.values()} <= set(mini_enh.TEST_NOISES)
    assert {s for _, s in tts_log.values()} <= set(mini_enh.TEST_SNRS)
    tts_names = {uid.split("_")[0] for uid in tts_log}
    assert all(n.startswith("p5") for n in tts_names)
    assert {speakers[n]["mini_split"] for n in tts_names} == {"tt_tts"}
    assert not tts_names & {uid.split("_")[0] for uid in train_log}


def test_a_corpus_without_tts_test_voices_gives_no_tts_test_set(mini, enh, tmp_path):
    """A mini corpus made with --test-voices real: the real test set only, the other folders as before."""
    real_only = tmp_path / "mini_real"
    real_only.mkdir()
    with open(os.path.join(mini, "utterances.json")) as f:
        utts = {k: u for k, u in json.load(f).items() if u["split"] != "tt_tts"}
    with open(real_only / "utterances.json", "w") as f:
        json.dump(utts, f)
    os.symlink(os.path.join(mini, "speech"), real_only / "speech")
    out = tmp_path / "enh"
    summary = mini_enh.make_mini_enh(real_only, out, scale="tiny", progress=False, log=lambda *a: None)
    assert set(summary["counts"]) == {"train", "test"}
    assert not (out / "noisy_testset_tts_wav").exists()
    for sub in ("noisy_testset_wav", "clean_trainset_28spk_wav"):
        names = sorted(os.listdir(os.path.join(enh, sub)))
        assert sorted(os.listdir(out / sub)) == names
        _, mismatch, errors = filecmp.cmpfiles(os.path.join(enh, sub), out / sub, names, shallow=False)
        assert not mismatch and not errors  # test_tts draws from its own seeds


def test_audio_is_48k_pairs_at_the_logged_snr(enh):
    log = read_log(os.path.join(enh, "logfiles", "log_trainset_28spk.txt"))
    for uid, (kind, snr) in sorted(log.items())[:6]:
        clean, sr = sf.read(os.path.join(enh, "clean_trainset_28spk_wav", uid + ".wav"))
        noisy, sr2 = sf.read(os.path.join(enh, "noisy_trainset_28spk_wav", uid + ".wav"))
        assert sr == sr2 == 48000 and len(clean) == len(noisy)
        assert np.mean(clean == 0) < 0.01  # a recording floor, no digital silence
        c16, n16 = resample(clean, 48000, 16000), resample(noisy, 48000, 16000)
        noise_db = 10 * np.log10(np.mean((n16 - c16) ** 2))
        measured = active_level_db(c16, 16000) - noise_db
        assert measured == pytest.approx(snr, abs=1.0), (uid, kind)


def test_voicebank_preparation_reads_it_with_its_defaults(enh, tmp_path):
    written = prepare_voicebank(enh, tmp_path / "data", resample_to=tmp_path / "data" / "wav16k", progress=False)
    with open(written["cv"]) as f:
        cv = json.load(f)
    with open(written["tt"]) as f:
        tt = json.load(f)
    assert {e["speaker"] for e in cv.values()} == {"p226", "p287"}
    assert len(tt) == mini_enh.SCALES["tiny"]["test"]
    e = next(iter(tt.values()))
    assert e["sample_rate"] == 16000 and "text" in e and e["noise_type"] in mini_enh.TEST_NOISES
    with open(written["tt_tts"]) as f:
        tt_tts = json.load(f)
    assert len(tt_tts) == mini_enh.SCALES["tiny"]["test"]
    assert not {e["speaker"] for e in tt_tts.values()} & {e["speaker"] for e in tt.values()}
    e = next(iter(tt_tts.values()))
    assert e["sample_rate"] == 16000 and e["mix"].startswith(str(tmp_path / "data" / "wav16k"))


def test_deterministic_idempotent_and_guarded(mini, enh, tmp_path):
    again = tmp_path / "again"
    mini_enh.make_mini_enh(mini, again, scale="tiny", progress=False, log=lambda *a: None)
    cmp = filecmp.dircmp(enh, again)
    assert set(cmp.diff_files) <= {".complete"} and not cmp.left_only and not cmp.right_only  # timing only
    for sub in ("noisy_testset_wav", "clean_trainset_28spk_wav"):
        names = sorted(os.listdir(os.path.join(enh, sub)))
        _, mismatch, errors = filecmp.cmpfiles(os.path.join(enh, sub), os.path.join(again, sub), names, shallow=False)
        assert not mismatch and not errors
    before = os.stat(os.path.join(again, ".complete")).st_mtime_ns
    mini_enh.make_mini_enh(mini, again, scale="tiny", progress=False, log=lambda *a: None)  # no-op
    assert os.stat(os.path.join(again, ".complete")).st_mtime_ns == before
    with pytest.raises(mini_enh.MiniEnhError, match="other parameters"):
        mini_enh.make_mini_enh(mini, again, scale="tiny", seed=1, progress=False, log=lambda *a: None)
    with pytest.raises(mini_enh.MiniEnhError, match="inside the source corpus"):
        mini_enh.make_mini_enh(mini, os.path.join(mini, "enh"), scale="tiny", progress=False)
    with pytest.raises(mini_enh.MiniEnhError, match="utterances.json not found"):
        mini_enh.make_mini_enh(tmp_path / "again" / "speech", tmp_path / "x", scale="tiny", progress=False)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".again.tmp")]


def test_cli_16k_and_other_seed(mini, tmp_path):
    out = tmp_path / "enh16"
    rc = simulate_cli.main(["--kind", "mini-enh", "--root", mini, "--out", str(out), "--scale", "tiny",
                            "--sample-rate", "16000", "--seed", "3", "--no-progress"])
    assert rc == 0
    name = sorted(os.listdir(out / "noisy_testset_wav"))[0]
    assert sf.info(str(out / "noisy_testset_wav" / name)).samplerate == 16000
    written = prepare_voicebank(str(out), tmp_path / "data", resample_to=tmp_path / "data" / "wav16k", progress=False)
    assert not os.path.exists(tmp_path / "data" / "wav16k")  # already 16 kHz: nothing copied
    assert written["tt"]


def test_noise_generators():
    rng = np.random.default_rng(0)
    n = 16000 * 4
    f = np.fft.rfftfreq(n, 1 / 16000)
    for kind, slope in (("white", 0.0), ("pink", -3.0), ("brown", -6.0)):  # dB per octave
        x = mini_enh.make_noise(kind, n, rng, [])
        psd = np.abs(np.fft.rfft(x)) ** 2
        lo, hi = psd[(f > 200) & (f < 400)].mean(), psd[(f > 3200) & (f < 6400)].mean()
        octaves = np.log2(4800 / 300)
        assert 10 * np.log10(hi / lo) / octaves == pytest.approx(slope, abs=1.0), kind
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-6)
    for kind, f0 in (("hum50", 50.0), ("hum60", 60.0)):
        psd = np.abs(np.fft.rfft(mini_enh.make_noise(kind, n, rng, []))) ** 2
        peak = f[np.argmax(psd * (f < 100))]
        assert abs(peak - f0) < 1.0
    for kind in ("tones", "chords"):
        x = mini_enh.make_noise(kind, n, rng, [])
        assert np.all(np.isfinite(x)) and np.std(x) > 0.5
    voices = [np.sin(np.arange(8000) * 0.05 * (i + 1)) for i in range(5)]
    assert np.all(np.isfinite(mini_enh.make_noise("babble", n, rng, voices)))
    with pytest.raises(ValueError, match="unknown noise kind"):
        mini_enh.make_noise("rain", n, rng, [])
