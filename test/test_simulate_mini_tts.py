"""simulate/mini_tts.py: the tiny mini corpus as a LibriTTS tree that prepare/libritts reads."""

import json
import os

import pytest

from mini_set_helpers import make_beside, tiny_mini
from recipe_helpers import snapshot
from speechslytherin.bin import simulate as simulate_cli
from speechslytherin.prepare.libritts import prepare_libritts
from speechslytherin.simulate.mini_tts import MiniTtsError, make_mini_tts


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return tiny_mini(tmp_path_factory, "mini_tts")


@pytest.fixture(scope="module")
def tts_set(mini, tmp_path_factory):
    return make_beside(make_mini_tts, mini, tmp_path_factory.mktemp("mini_tts_out") / "mini_tts")


def test_layout_and_texts(mini, tts_set):
    out, summary = tts_set
    base = out / "LibriTTS"
    assert sorted(os.listdir(base)) == ["dev-clean", "test-clean", "train-clean-100"]
    corpus = json.loads((mini / "utterances.json").read_text())
    n_split = {s: sum(1 for u in corpus.values() if u["split"] == s) for s in ("tr", "cv", "tt_tts")}
    assert summary["counts"]["train-clean-100"]["utterances"] == n_split["tr"]
    assert summary["counts"]["test-clean"]["utterances"] == n_split["tt_tts"]
    sources = json.loads((out / "utterances.json").read_text())
    for uid, info in sources.items():
        spk, chapter = uid.split("_")[:2]
        folder = base / info["split"] / spk / chapter
        assert (folder / f"{uid}.wav").is_file() and (folder / f"{uid}.original.txt").is_file()
        source = corpus[info["source"]]
        assert (folder / f"{uid}.original.txt").read_text() == source["raw_text"]
        assert not any(c.isdigit() for c in (folder / f"{uid}.normalized.txt").read_text())
        assert (folder / f"{uid}.wav").read_bytes() == (mini / source["path"]).read_bytes()
    test_speakers = {u.split("_")[0] for u, i in sources.items() if i["split"] == "test-clean"}
    train_speakers = {u.split("_")[0] for u, i in sources.items() if i["split"] == "train-clean-100"}
    assert test_speakers and not test_speakers & train_speakers  # unseen voices


def test_prepare_reads_it(tts_set, tmp_path):
    out, _ = tts_set
    written = prepare_libritts(out, tmp_path / "prep", train_sets="100", progress=False)
    tt = json.loads(open(written["tt"]).read())
    assert tt and all(e["sample_rate"] == 16000 for e in tt.values())
    assert all(sum(1 for x in tt.values() if x["speaker"] == e["speaker"]) >= 2 for e in tt.values())


def test_rerun_cli_and_determinism(mini, tts_set, tmp_path):
    out, summary = tts_set
    before = snapshot(out)
    assert make_mini_tts(mini, out, progress=False, log=lambda m: None)["parameters"] == summary["parameters"]
    assert snapshot(out) == before  # nothing redone
    other = tmp_path / "again"
    assert simulate_cli.main(["--kind", "mini-tts", "--root", str(mini), "--out", str(other), "--no-progress"]) == 0
    files = sorted(os.path.relpath(os.path.join(d, f), other) for d, _, fs in os.walk(other) for f in fs
                   if f != ".complete")
    assert files == sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs
                           if f != ".complete")
    assert all((other / f).read_bytes() == (out / f).read_bytes() for f in files if f != "README.txt")
    with pytest.raises(MiniTtsError, match="other options"):
        make_mini_tts(mini, out, min_test_utts=3, progress=False, log=lambda m: None)
    with pytest.raises(MiniTtsError, match="inside the mini corpus"):
        make_mini_tts(mini, mini / "x", progress=False)
    with pytest.raises(MiniTtsError, match="not a finished mini corpus"):
        (tmp_path / "empty").mkdir()
        make_mini_tts(tmp_path / "empty", tmp_path / "z", progress=False)
