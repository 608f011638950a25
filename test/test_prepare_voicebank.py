"""prepare/voicebank.py on a fake tree in the real DataShare layout (48 kHz, logs, transcripts)."""

import json
import os
import shutil
import zlib

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample as scipy_resample

from fake_corpus import tone, write_wav
from recipe_helpers import set_readonly, snapshot
from speechslytherin.bin import prepare as prepare_cli
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.voicebank import prepare_voicebank, speaker_of

TRAIN_SPK = ("p226", "p227", "p287", "p300")
TEST_SPK = ("p232", "p257")


def make_voicebank(root, sr=48000, per_spk=2, logs=True, texts=True, suffix=""):
    """clean/noisy train and test folders (+ logfiles/, *_txt/) as the zips unpack."""
    rng = np.random.default_rng(0)
    for split, spks, clean, noisy, log_name, txt in (
            ("train", TRAIN_SPK, "clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt",
             "trainset_28spk_txt"),
            ("test", TEST_SPK, "clean_testset_wav", "noisy_testset_wav", "log_testset.txt", "testset_txt")):
        lines = []
        for s, spk in enumerate(spks):
            for k in range(1, per_spk + 1):
                uid = f"{spk}_{k:03d}"
                n = int(sr * (0.3 + 0.05 * k + 0.02 * s))
                x = tone(n, sr, seed=zlib.crc32(uid.encode()) % 1000)
                write_wav(os.path.join(root, clean + suffix, uid + ".wav"), x, sr)
                write_wav(os.path.join(root, noisy + suffix, uid + ".wav"), x + 0.05 * rng.standard_normal(n), sr)
                lines.append(f"{uid} cafe {5 * k if split == 'train' else 2.5 * k}\n")
                if texts:
                    os.makedirs(os.path.join(root, txt), exist_ok=True)
                    with open(os.path.join(root, txt, uid + ".txt"), "w") as f:
                        f.write(f"Sentence {k} of {spk}.\n")
        if logs:
            os.makedirs(os.path.join(root, "logfiles"), exist_ok=True)
            with open(os.path.join(root, "logfiles", log_name), "w") as f:
                f.writelines(lines)
    return str(root)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = make_voicebank(tmp_path_factory.mktemp("vb") / "VoiceBank-DEMAND")
    set_readonly(root)
    yield root
    set_readonly(root, False)


def below(x, cutoff, sr=16000):
    """x with everything at or above `cutoff` Hz removed (FFT mask)."""
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / sr) >= cutoff] = 0
    return np.fft.irfft(spec, len(x))


def load(path):
    with open(path) as f:
        return json.load(f)


def test_manifests_valid_speakers_and_read_only_corpus(corpus, tmp_path, capsys):
    before = snapshot(corpus)
    written = prepare_voicebank(corpus, tmp_path / "data", progress=False)
    assert snapshot(corpus) == before
    tr, cv, tt = (load(written[k]) for k in ("tr", "cv", "tt"))
    assert {e["speaker"] for e in cv.values()} == {"p226", "p287"}
    assert {e["speaker"] for e in tr.values()} == {"p227", "p300"}
    assert {e["speaker"] for e in tt.values()} == set(TEST_SPK) and len(tt) == 4
    e = tr["p227_002"]
    assert e["mix"] == os.path.join(corpus, "noisy_trainset_28spk_wav", "p227_002.wav")
    assert e["sources"] == [os.path.join(corpus, "clean_trainset_28spk_wav", "p227_002.wav")]
    assert e["sample_rate"] == 48000 and e["noise_type"] == "cafe" and e["snr"] == 10.0
    assert e["text"] == "Sentence 2 of p227."
    assert e["duration"] == pytest.approx(sf.info(e["mix"]).frames / 48000)
    err = capsys.readouterr().err
    assert "the standard corpus has 11572" in err and "stage 2" in err


def test_resampling_is_resumable_and_never_in_place(corpus, tmp_path, capsys):
    wav16 = tmp_path / "data" / "wav16k"
    written = prepare_voicebank(corpus, tmp_path / "data", resample_to=wav16, progress=False)
    tt = load(written["tt"])
    e = tt["p232_001"]
    assert e["mix"].startswith(str(wav16)) and e["sources"][0].startswith(str(wav16))
    info = sf.info(e["mix"])
    assert info.samplerate == 16000 and e["sample_rate"] == 16000
    assert e["duration"] == pytest.approx(info.frames / 16000)
    # the 16 kHz copy is the band-limited 48 kHz signal: below 7 kHz (clear of both methods' transition
    # bands) it matches FFT resampling, another method; nothing above 8 kHz folds down (anti-aliased)
    x48, _ = sf.read(os.path.join(corpus, "noisy_testset_wav", "p232_001.wav"))
    x16, _ = sf.read(e["mix"])
    assert len(x16) == -(-len(x48) // 3)
    ref = scipy_resample(x48, len(x16))
    assert np.corrcoef(below(x16, 7000)[300:-300], below(ref, 7000)[300:-300])[0, 1] > 0.99
    # a re-run keeps what is there, a damaged file is made again
    mtimes = snapshot(wav16)
    os.truncate(e["sources"][0], 100)
    capsys.readouterr()
    prepare_voicebank(corpus, tmp_path / "data", resample_to=wav16, progress=False)
    err = capsys.readouterr().err
    assert "resampled 1 file(s), 23 already there" in err
    assert sf.info(e["sources"][0]).frames == info.frames
    assert {k: v for k, v in snapshot(wav16).items() if "clean_testset_wav/p232_001" not in k} == \
        {k: v for k, v in mtimes.items() if "clean_testset_wav/p232_001" not in k}
    with pytest.raises(PrepareError, match="inside the corpus root"):
        prepare_voicebank(corpus, tmp_path / "data", resample_to=os.path.join(corpus, "wav16k"))


def test_valid_test_option_and_other_speakers(corpus, tmp_path, capsys):
    written = prepare_voicebank(corpus, tmp_path / "a", valid="test", progress=False)
    assert load(written["cv"]) == load(written["tt"])
    assert len(load(written["tr"])) == 8
    assert "official SEMamba setup" in capsys.readouterr().err
    written = prepare_voicebank(corpus, tmp_path / "b", valid_speakers="p300", progress=False)
    assert {e["speaker"] for e in load(written["cv"]).values()} == {"p300"}
    with pytest.raises(PrepareError, match="p999 not in the train set"):
        prepare_voicebank(corpus, tmp_path / "c", valid_speakers=["p999"])
    with pytest.raises(PrepareError, match="choose 'speakers'"):
        prepare_voicebank(corpus, tmp_path / "d", valid="nope")


def test_16k_copies_need_no_resampling(tmp_path):
    root = make_voicebank(tmp_path / "vb16", sr=16000, logs=False, texts=False, suffix="_16k")
    os.rename(os.path.join(root, "clean_trainset_28spk_wav_16k"), os.path.join(root, "clean_trainset_wav_16k"))
    written = prepare_voicebank(root, tmp_path / "data", resample_to=tmp_path / "data" / "wav16k", progress=False)
    e = load(written["tr"])["p227_001"]
    assert e["mix"].startswith(root) and e["sample_rate"] == 16000
    assert "noise_type" not in e and "text" not in e
    assert not os.path.exists(tmp_path / "data" / "wav16k")


def test_missing_pieces_are_named(corpus, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(corpus, broken)
    set_readonly(broken, False)
    shutil.rmtree(broken / "noisy_testset_wav")
    os.remove(broken / "clean_trainset_28spk_wav" / "p227_001.wav")
    with open(broken / "noisy_trainset_28spk_wav" / "p300_002.wav", "wb") as f:
        f.write(b"not audio")
    x = tone(4800, 48000, 1)
    write_wav(str(broken / "clean_trainset_28spk_wav" / "p226_001.wav"), x, 48000)  # length differs now
    with pytest.raises(PrepareError) as err:
        prepare_voicebank(broken, tmp_path / "data")
    msg = str(err.value)
    assert "noisy_testset_wav: folder missing (unpack noisy_testset_wav.zip" in msg
    assert "p227_001.wav: no clean file" in msg
    assert "p300_002.wav: cannot be read as audio" in msg
    assert "p226_001.wav" in msg and "does not belong together" in msg
    with pytest.raises(PrepareError, match="VoiceBank-DEMAND root not found"):
        prepare_voicebank(tmp_path / "nowhere", tmp_path / "data")


def test_bad_log_and_rate(tmp_path):
    root = make_voicebank(tmp_path / "vb", per_spk=1)
    with open(os.path.join(root, "logfiles", "log_testset.txt"), "a") as f:
        f.write("p232_009 only-two\n")
    write_wav(os.path.join(root, "clean_testset_wav", "p257_001.wav"), tone(2205, 22050, 3), 22050)
    write_wav(os.path.join(root, "noisy_testset_wav", "p257_001.wav"), tone(2205, 22050, 3), 22050)
    with pytest.raises(PrepareError) as err:
        prepare_voicebank(root, tmp_path / "data")
    assert "log_testset.txt:3: expected '<id> <noise type> <snr>'" in str(err.value)
    assert "22050 Hz; VoiceBank-DEMAND is 48000 Hz" in str(err.value)


def test_cli_verify_only_and_options(corpus, tmp_path, capsys):
    assert prepare_cli.main(["--corpus", "voicebank", "--root", corpus, "--verify-only"]) == 0
    assert "verified (tr 4, cv 4, tt 4; 48000 Hz); nothing written" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "data")
    rc = prepare_cli.main(["--corpus", "voicebank", "--root", corpus, "--out", str(tmp_path / "data"),
                           "--valid-speakers", "p226,p227", "--no-progress"])
    assert rc == 0
    assert {e["speaker"] for e in load(tmp_path / "data" / "cv.json").values()} == {"p226", "p227"}
    assert prepare_cli.main(["--corpus", "voicebank", "--root", corpus, "--out", str(tmp_path / "x"),
                             "--valid-speakers", "p1"]) == 2
    assert speaker_of("p232_001") == "p232"
