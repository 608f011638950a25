"""prepare/wham.py on a fake tree in the wham_scripts layout."""

import os
import stat

import pytest

from fake_corpus import make_wham
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.wham import prepare_wham


def snapshot(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(root) for f in fs}


def set_readonly(root, readonly=True):
    for d, dirs, files in os.walk(root):
        for p in [d] + [os.path.join(d, n) for n in dirs + files]:
            mode = os.stat(p).st_mode
            os.chmod(p, (mode & ~0o222) if readonly else (mode | stat.S_IWUSR))


@pytest.fixture
def corpus(tmp_path):
    root = str(tmp_path / "wham")
    info = make_wham(root)
    yield root, info
    set_readonly(root, False)


def test_mix_both_with_clean_targets_and_noise(corpus, tmp_path, capsys):
    root, info = corpus
    before = snapshot(root)
    set_readonly(root)
    written = prepare_wham(root, str(tmp_path / "data"))
    assert snapshot(root) == before
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
