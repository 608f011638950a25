"""prepare/echo2mix.py on a fake tree in the Echo2Mix layout."""

import json
import os

import pytest

from fake_corpus import make_echo2mix_tree, tone, write_wav
from prepare_helpers import corpus_fixture, prepare_read_only
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.echo2mix import prepare_echo2mix


corpus = corpus_fixture(make_echo2mix_tree, "Echo2Mix")


def test_reverberant_targets_ids_and_read_only(corpus, tmp_path):
    root, info = corpus
    written = prepare_read_only(prepare_echo2mix, root, str(tmp_path / "data"))
    for name, split in (("tr", "train"), ("cv", "val"), ("tt", "test")):
        assert sorted(load_manifest(written[name])) == sorted(info["ids"][split])
    uid = info["ids"]["test"][0]
    entry = load_manifest(written["tt"])[uid]
    folder = os.path.join(root, "test", *uid.split("-"))
    assert entry["mix"] == os.path.join(folder, "mix.wav")
    assert entry["sources"] == [os.path.join(folder, "spk1_reverb.wav"), os.path.join(folder, "spk2_reverb.wav")]
    assert entry["speakers"] == uid.split("-")[-1].split("_") and entry["sample_rate"] == 16000
    assert entry["duration"] == 1.0 and "noise" not in entry


def test_archive_folder_noise_file_and_info(tmp_path):
    make_echo2mix_tree(str(tmp_path / "unpacked" / "Echo2Mix"), noise=True)
    folder = next(d for d, _, fs in os.walk(tmp_path / "unpacked" / "Echo2Mix" / "val") if "mix.wav" in fs)
    with open(os.path.join(folder, "info.json"), "w") as f:
        json.dump({"rt60": 0.41, "sir_db": 2.0, "snr_db": 14.5, "unrelated": 1}, f)
    written = prepare_echo2mix(str(tmp_path / "unpacked"), str(tmp_path / "data"))
    cv = load_manifest(written["cv"])
    entry = next(e for e in cv.values() if e["mix"] == os.path.join(folder, "mix.wav"))
    assert entry["noise"] == os.path.join(folder, "noise.wav")
    assert entry["rt60"] == 0.41 and entry["snr_db"] == 14.5 and "unrelated" not in entry


def test_missing_target_wrong_rate_and_missing_split(corpus, tmp_path):
    root, info = corpus
    folder = os.path.join(root, "train", *info["ids"]["train"][0].split("-"))
    os.unlink(os.path.join(folder, "spk2_reverb.wav"))
    write_wav(os.path.join(root, "val", "x", "mix.wav"), tone(800, 8000, 1), 8000)
    write_wav(os.path.join(root, "val", "x", "spk1_reverb.wav"), tone(800, 8000, 2), 8000)
    write_wav(os.path.join(root, "val", "x", "spk2_reverb.wav"), tone(800, 8000, 3), 8000)
    with pytest.raises(PrepareError) as err:
        prepare_echo2mix(root, str(tmp_path / "data"))
    msg = str(err.value)
    assert "no matching spk2_reverb.wav" in msg and folder in msg
    assert "sample rate 8000 Hz, expected 16000 Hz" in msg
    os.rename(os.path.join(root, "test"), os.path.join(root, "tst"))
    with pytest.raises(PrepareError, match="missing split folder"):
        prepare_echo2mix(root, None, verify_only=True)
    with pytest.raises(PrepareError, match="Echo2Mix not found"):
        os.makedirs(tmp_path / "elsewhere" / "train_not")
        prepare_echo2mix(str(tmp_path / "elsewhere"), None, verify_only=True)
