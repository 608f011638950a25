"""prepare/libri2mix.py on fake trees in LibriMix's generated layout (read-only, as a shared corpus is)."""

import os

import pytest
import soundfile as sf

from fake_corpus import make_libri2mix
from prepare_helpers import corpus_fixture, prepare_read_only
from speechslytherin.bin import prepare as prepare_cli
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.libri2mix import prepare_libri2mix, speakers_of


corpus = corpus_fixture(make_libri2mix, "LibriMix", counts={"train-100": 3, "train-360": 2, "dev": 2, "test": 2})


def test_mix_clean_manifests_and_read_only_corpus(corpus, tmp_path, capsys):
    root, info = corpus
    written = prepare_read_only(prepare_libri2mix, root, str(tmp_path / "data"))
    assert sorted(written) == ["cv", "tr", "tt"]
    assert "the standard corpus has 13900" in capsys.readouterr().err
    tr = load_manifest(written["tr"])
    assert list(tr) == info["ids"]["train-100"]  # metadata order, train-100 only
    uid = info["ids"]["dev"][0]
    entry = load_manifest(written["cv"])[uid]
    assert entry["mix"] == os.path.join(info["base"], "dev", "mix_clean", uid + ".wav")
    assert entry["sources"] == [os.path.join(info["base"], "dev", s, uid + ".wav") for s in ("s1", "s2")]
    assert "noise" not in entry
    assert entry["duration"] == sf.info(entry["mix"]).frames / 8000
    assert entry["speakers"] == speakers_of(uid) and len(entry["speakers"]) == 2


def test_mix_both_adds_noise_and_train_460_joins_both_train_sets(corpus, tmp_path):
    root, info = corpus
    written = prepare_libri2mix(root, str(tmp_path / "data"), mix_type="mix_both", train_set="train-460")
    tr = load_manifest(written["tr"])
    assert list(tr) == info["ids"]["train-100"] + info["ids"]["train-360"]
    entry = next(iter(tr.values()))
    assert "/mix_both/" in entry["mix"]
    assert entry["noise"].endswith(os.path.join("noise", os.path.basename(entry["mix"])))


def test_missing_files_are_listed_against_the_metadata(corpus, tmp_path):
    root, info = corpus
    uid = info["ids"]["test"][1]
    os.unlink(os.path.join(info["base"], "test", "s2", uid + ".wav"))
    with pytest.raises(PrepareError) as err:
        prepare_libri2mix(root, str(tmp_path / "data"))
    msg = str(err.value)
    assert os.path.join(info["base"], "test", "s2") in msg and f"{uid}.wav" in msg and "1 of 2" in msg
    assert not os.path.exists(tmp_path / "data" / "tr.json")  # nothing half-written


def test_truncated_file_is_caught_by_the_metadata_length(corpus, tmp_path):
    root, info = corpus
    uid = info["ids"]["dev"][0]
    for folder in ("mix_clean", "s1", "s2"):
        path = os.path.join(info["base"], "dev", folder, uid + ".wav")
        wav, sr = sf.read(path)
        sf.write(path, wav[:-10], sr)
    with pytest.raises(PrepareError, match="the metadata says"):
        prepare_libri2mix(root, str(tmp_path / "data"))


def test_wrong_rate_missing_subset_and_output_inside_corpus(corpus, tmp_path):
    root, info = corpus
    with pytest.raises(PrepareError, match="Found wav8k/min"):
        prepare_libri2mix(root, str(tmp_path / "data"), sample_rate=16000)
    with pytest.raises(PrepareError, match="never writes into"):
        prepare_libri2mix(root, os.path.join(root, "data"))
    os.rename(os.path.join(info["base"], "test"), os.path.join(info["base"], "test_moved"))
    with pytest.raises(PrepareError, match="missing subset folder.*test"):
        prepare_libri2mix(root, str(tmp_path / "data"), verify_only=True)


def test_without_metadata_the_folders_are_listed(tmp_path, capsys):
    info = make_libri2mix(str(tmp_path / "c"), types=("mix_clean",), metadata=False)
    written = prepare_libri2mix(str(tmp_path / "c" / "Libri2Mix"), str(tmp_path / "data"))
    assert sorted(load_manifest(written["tt"])) == sorted(info["ids"]["test"])
    assert "metadata" in capsys.readouterr().err


def test_cli_verify_only_and_pool_only_write_nothing(corpus, tmp_path, capsys):
    root, _ = corpus
    assert prepare_cli.main(["--corpus", "libri2mix", "--root", root, "--verify-only"]) == 0
    assert prepare_cli.main(["--corpus", "libri2mix", "--root", root, "--out", str(tmp_path / "d"),
                             "--pool-only"]) == 0
    assert not os.path.exists(tmp_path / "d")
    assert prepare_cli.main(["--corpus", "libri2mix", "--root", str(tmp_path / "none"), "--verify-only"]) == 2
    assert "corpus root not found" in capsys.readouterr().err
