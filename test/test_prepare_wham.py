"""prepare/wham.py on a fake tree in the wham_scripts layout."""

import os

import pytest

from fake_corpus import make_wham
from prepare_helpers import corpus_fixture, prepare_read_only
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.wham import prepare_wham


corpus = corpus_fixture(make_wham, "wham")


def test_mix_both_with_clean_targets_and_noise(corpus, tmp_path, capsys):
    root, info = corpus
    written = prepare_read_only(prepare_wham, root, str(tmp_path / "data"))
    assert "the standard corpus has 20000" in capsys.readouterr().err
    tt = load_manifest(written["tt"])
    assert list(tt) == sorted(info["ids"]["tt"])
    uid = sorted(info["ids"]["tt"])[0]
    entry = tt[uid]
    assert entry["mix"] == os.path.join(info["base"], "tt", "mix_both", uid + ".wav")
    assert entry["sources"] == [os.path.join(info["base"], "tt", s, uid + ".wav") for s in ("s1", "s2")]
    assert entry["noise"] == os.path.join(info["base"], "tt", "noise", uid + ".wav")
    assert entry["speakers"] == [uid.split("_")[0][:3], uid.split("_")[2][:3]]
    clean = load_manifest(prepare_wham(root, str(tmp_path / "clean"), mix_type="mix_clean")["tt"])[uid]
    assert "/mix_clean/" in clean["mix"] and "noise" not in clean


def test_missing_noise_file_and_missing_folder_are_named(corpus, tmp_path):
    root, info = corpus
    uid = info["ids"]["cv"][0]
    os.unlink(os.path.join(info["base"], "cv", "noise", uid + ".wav"))
    with pytest.raises(PrepareError) as err:
        prepare_wham(root, str(tmp_path / "data"))
    assert os.path.join(info["base"], "cv", "noise") in str(err.value) and uid in str(err.value)
    prepare_wham(root, str(tmp_path / "data"), mix_type="mix_clean")  # the clean task does not need noise
    os.rename(os.path.join(info["base"], "tr", "s1"), os.path.join(info["base"], "tr", "x"))
    with pytest.raises(PrepareError, match="missing folder.*s1"):
        prepare_wham(root, None, verify_only=True)


def test_wrong_root_gives_a_hint(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(PrepareError, match="pass that folder with --root"):
        prepare_wham(str(tmp_path), None, verify_only=True)
    with pytest.raises(PrepareError, match="Found wav8k/min"):
        prepare_wham(root, None, mode="max", verify_only=True)
