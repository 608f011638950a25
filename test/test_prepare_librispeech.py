"""prepare/librispeech.py on a fake tree in the real layout (flac + trans.txt), kept read-only."""

import os
import shutil

import pytest
import soundfile as sf

from fake_corpus import tone
from fake_librispeech import make_librispeech, make_read_only, make_writable
from speechslytherin.bin import prepare as prepare_cli
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare import librispeech
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.librispeech import prepare_librispeech


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[p] = os.stat(p).st_mtime_ns
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ls") / "corpora"
    made = make_librispeech(str(root))
    make_read_only(str(root))
    yield root, made
    make_writable(str(root))


def test_manifests_have_real_durations_text_and_speaker(corpus, tmp_path):
    root, made = corpus
    before = snapshot(root)
    written = prepare_librispeech(root, tmp_path / "data", train_sets="100", progress=False)
    assert set(written) == {"tr", "cv", "dev_clean", "dev_other", "test_clean", "test_other"}
    tr = load_manifest(written["tr"])
    assert set(tr) == set(made["train-clean-100"])
    for uid, (path, text) in made["train-clean-100"].items():
        entry = tr[uid]
        assert entry["audio"] == path and entry["text"] == text
        assert entry["speaker"] == uid.split("-")[0]
        assert entry["duration"] == pytest.approx(sf.info(path).frames / 16000)
    assert set(load_manifest(written["cv"])) == set(made["dev-clean"])  # default valid = dev-clean only
    assert set(load_manifest(written["test_other"])) == set(made["test-other"])
    assert snapshot(root) == before  # nothing written into the corpus


def test_train_960_missing_subsets_named_with_a_hint(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(PrepareError) as err:
        prepare_librispeech(root, tmp_path / "data", train_sets="960", progress=False)
    msg = str(err.value)
    assert "train-clean-360" in msg and "train-other-500" in msg and "--train-sets 100" in msg


def test_valid_sets_combined_and_root_may_be_the_librispeech_folder(corpus, tmp_path):
    root, made = corpus
    written = prepare_librispeech(root / "LibriSpeech", tmp_path / "d", train_sets="100",
                                  valid_sets=("dev-clean", "dev-other"), test_sets=("test-clean",), progress=False)
    assert set(written) == {"tr", "cv", "test_clean"}
    assert set(load_manifest(written["cv"])) == set(made["dev-clean"]) | set(made["dev-other"])


def test_missing_test_subset_is_skipped_with_a_warning(tmp_path, capsys):
    made = make_librispeech(str(tmp_path / "c"), subsets=("train-clean-100", "dev-clean", "test-clean"),
                            speakers=1, utts=2)
    written = prepare_librispeech(tmp_path / "c", tmp_path / "data", train_sets="100", progress=False)
    assert set(written) == {"tr", "cv", "dev_clean", "test_clean"}
    err = capsys.readouterr().err
    assert "test-other not found" in err and "dev-other not found" in err
    assert len(load_manifest(written["tr"])) == len(made["train-clean-100"])


def test_mismatched_files_and_transcripts_are_all_reported(tmp_path):
    made = make_librispeech(str(tmp_path / "c"), subsets=("train-clean-100", "dev-clean"), speakers=2, utts=3)
    uids = sorted(made["train-clean-100"])
    os.unlink(made["train-clean-100"][uids[0]][0])                   # listed, no audio
    extra = os.path.join(os.path.dirname(made["train-clean-100"][uids[1]][0]), uids[1][:-4] + "0099.flac")
    sf.write(extra, tone(8000, 16000, 1), 16000, format="FLAC")      # audio, no transcript line
    dev = sorted(made["dev-clean"])[0]
    os.unlink(os.path.join(os.path.dirname(made["dev-clean"][dev][0]), "-".join(dev.split("-")[:2]) + ".trans.txt"))
    with pytest.raises(PrepareError) as err:
        prepare_librispeech(tmp_path / "c", tmp_path / "data", train_sets="100", test_sets=(), progress=False)
    msg = str(err.value)
    assert f"{uids[0]}.flac missing" in msg
    assert "0099.flac: no transcript line" in msg
    assert "transcript file" in msg and "missing" in msg
    assert not os.path.exists(tmp_path / "data" / "tr.json")


def test_wrong_sample_rate_names_the_file(tmp_path):
    made = make_librispeech(str(tmp_path / "c"), subsets=("train-clean-100", "dev-clean"), speakers=1, utts=2)
    path = sorted(made["dev-clean"].values())[0][0]
    sf.write(path, tone(8000, 8000, 3), 8000, format="FLAC")
    with pytest.raises(PrepareError, match="sample rate 8000 Hz, expected 16000"):
        prepare_librispeech(tmp_path / "c", tmp_path / "data", train_sets="100", test_sets=(), progress=False)
    with pytest.raises(PrepareError, match="sample rate 8000 Hz"):  # verify-only checks a header per chapter
        prepare_librispeech(tmp_path / "c", None, train_sets="100", test_sets=(), verify_only=True)


def test_verify_only_writes_nothing_and_out_inside_corpus_refused(corpus, tmp_path, capsys):
    root, _ = corpus
    (tmp_path / "empty" / "other").mkdir(parents=True)
    assert prepare_librispeech(root, None, train_sets="100", verify_only=True) == {}
    assert "verified" in capsys.readouterr().err
    with pytest.raises(PrepareError, match="inside the corpus root"):
        prepare_librispeech(root, root / "data", train_sets="100")
    with pytest.raises(PrepareError, match="no LibriSpeech subset folder"):
        prepare_librispeech(tmp_path / "empty", None, train_sets="100", verify_only=True)


def test_durations_are_cached_and_a_rerun_reads_no_header(tmp_path, monkeypatch):
    make_librispeech(str(tmp_path / "c"), subsets=("train-clean-100", "dev-clean"), speakers=1, utts=3)
    first = prepare_librispeech(tmp_path / "c", tmp_path / "data", train_sets="100", test_sets=(), progress=False)
    assert os.path.isfile(tmp_path / "data" / ".cache" / "durations_train-clean-100.json")
    ref = load_manifest(first["tr"])

    def no_header(*args, **kwargs):
        raise AssertionError("header read despite the cache")

    monkeypatch.setattr(librispeech, "header", no_header)
    again = prepare_librispeech(tmp_path / "c", tmp_path / "data", train_sets="100", test_sets=(), progress=False)
    assert load_manifest(again["tr"]) == ref


def test_cli(corpus, tmp_path, capsys):
    root, made = corpus
    rc = prepare_cli.main(["--corpus", "librispeech", "--root", str(root), "--out", str(tmp_path / "data"),
                           "--train-sets", "100", "--test-sets", "test-clean", "--no-progress"])
    assert rc == 0
    assert set(capsys.readouterr().out.split()) >= {"tr", "cv", "test_clean"}
    assert prepare_cli.main(["--corpus", "librispeech", "--root", str(root), "--out", str(tmp_path / "d2"),
                             "--train-sets", "460"]) == 2
