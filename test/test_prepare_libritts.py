"""prepare/libritts.py on a fake LibriTTS tree (24 kHz, <split>/<spk>/<chapter>/<id>.wav + texts)."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from recipe_helpers import snapshot
from speechslytherin.bin.prepare import main as prepare_main
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.libritts import prepare_libritts

SR = 24000
# split -> [(speaker, chapter, seconds)]
TREE = {
    "train-clean-100": [("19", "198", 1.0), ("19", "198", 2.0), ("19", "198", 0.3), ("26", "495", 1.5)],
    "dev-clean": [("84", "121", 1.0), ("84", "121", 0.8)],
    "test-clean": [("61", "70968", 1.2), ("61", "70968", 3.0), ("121", "123", 14.5)],
}


def write_tree(root, tree=TREE):
    base = root / "LibriTTS"
    for split, items in tree.items():
        for k, (spk, chapter, seconds) in enumerate(items):
            folder = base / split / spk / chapter
            folder.mkdir(parents=True, exist_ok=True)
            uid = f"{spk}_{chapter}_{k:06d}_{k:06d}"
            sf.write(folder / f"{uid}.wav", np.zeros(int(seconds * SR), dtype=np.int16), SR, subtype="PCM_16")
            (folder / f"{uid}.normalized.txt").write_text(f"Sentence number {k}, of {split}.")
            (folder / f"{uid}.original.txt").write_text(f"Sentence No. {k} of {split}.")
    return base


@pytest.fixture()
def corpus(tmp_path):
    write_tree(tmp_path / "corpus")
    return tmp_path / "corpus"


def test_manifests(corpus, tmp_path):
    before = snapshot(corpus)
    out = tmp_path / "data"
    written = prepare_libritts(corpus, out, train_sets="100", progress=False)
    assert snapshot(corpus) == before  # never written into
    assert set(written) == {"tr", "cv", "tt"}
    tr = json.loads((out / "tr.json").read_text())
    assert sorted(tr) == ["19_198_000000_000000", "19_198_000001_000001", "26_495_000003_000003"]  # 0.3 s left out
    entry = tr["19_198_000001_000001"]
    assert entry["text"] == "Sentence number 1, of train-clean-100."
    assert entry["original_text"] == "Sentence No. 1 of train-clean-100."
    assert entry["speaker"] == "19" and entry["duration"] == 2.0 and entry["sample_rate"] == SR
    assert os.path.isfile(entry["audio"])
    tt = json.loads((out / "tt.json").read_text())
    assert len(tt) == 2  # 14.5 s is over the 14 s limit
    # a second run reads the header cache and writes the same manifests
    prepare_libritts(corpus, out, train_sets="100", progress=False)
    assert json.loads((out / "tr.json").read_text()) == tr


def test_cli_and_duration_options(corpus, tmp_path):
    out = tmp_path / "d2"
    assert prepare_main(["--corpus", "libritts", "--root", str(corpus), "--out", str(out), "--train-sets", "100",
                         "--max-duration", "20", "--min-duration", "0.1", "--no-progress"]) == 0
    assert len(json.loads((out / "tr.json").read_text())) == 4
    assert len(json.loads((out / "tt.json").read_text())) == 3


def test_verify_only_writes_nothing(corpus, tmp_path):
    assert prepare_libritts(corpus / "LibriTTS", None, train_sets="100", verify_only=True) == {}
    assert not (tmp_path / "data").exists()


def test_missing_parts_are_named(corpus, tmp_path):
    with pytest.raises(PrepareError, match="train-clean-360.*--train-sets 100 works"):
        prepare_libritts(corpus, tmp_path / "x", train_sets="460")
    os.remove(corpus / "LibriTTS" / "dev-clean" / "84" / "121" / "84_121_000001_000001.normalized.txt")
    with pytest.raises(PrepareError, match="84_121_000001_000001.normalized.txt missing"):
        prepare_libritts(corpus, tmp_path / "x", train_sets="100")
    with pytest.raises(PrepareError, match="inside the corpus root"):
        prepare_libritts(corpus, corpus / "data", train_sets="100")
    with pytest.raises(PrepareError, match="no LibriTTS split"):
        prepare_libritts(corpus / "LibriTTS" / "dev-clean", tmp_path / "y")


def test_mixed_rates_refused(tmp_path):
    base = write_tree(tmp_path / "c", {"train-clean-100": [("1", "2", 1.0)], "dev-clean": [("3", "4", 1.0)],
                                       "test-clean": [("5", "6", 1.0)]})
    sf.write(base / "dev-clean" / "3" / "4" / "3_4_000000_000000.wav", np.zeros(16000, dtype=np.int16), 16000)
    with pytest.raises(PrepareError, match="several sample rates"):
        prepare_libritts(tmp_path / "c", tmp_path / "out", train_sets="100", progress=False)
