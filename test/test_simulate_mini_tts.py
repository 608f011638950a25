"""simulate/mini_tts.py: the tiny mini corpus as a LibriTTS tree that prepare/libritts reads."""

import json
import os

import pytest

from mini_set_helpers import make_beside, tiny_mini
from recipe_helpers import snapshot
from speechslytherin.bin import simulate as simulate_cli
from speechslytherin.prepare.libritts import prepare_libritts
from speechslytherin.simulate.mini_tts import MiniTtsError, make_mini_tts
from speechslytherin.simulate.text import normalise_transcript


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


def test_extra_training_sentences(mini, tts_set, tmp_path):
    plain, plain_summary = tts_set
    out = tmp_path / "extra"
    summary = make_mini_tts(mini, out, extra_train_utts=3, progress=False, log=lambda m: None)
    assert summary["parameters"]["extra_train_utts"] == 3
    assert "extra_train_utts" not in plain_summary["parameters"]  # sets made before the option stay valid
    speakers = json.loads((mini / "speakers.json").read_text())
    n_voices = sum(1 for s in speakers.values() if s["split"] == "tr" and s["engine"] != "asterisk")
    counts, plain_counts = summary["counts"], plain_summary["counts"]
    assert counts["train-clean-100"]["utterances"] == plain_counts["train-clean-100"]["utterances"] + 3 * n_voices
    assert counts["test-clean"] == plain_counts["test-clean"] and counts["dev-clean"] == plain_counts["dev-clean"]
    sources = json.loads((out / "utterances.json").read_text())
    extra = {uid: info for uid, info in sources.items() if uid.split("_")[1] == "2"}
    assert len(extra) == 3 * n_voices
    assert all(info["split"] == "train-clean-100" and info["source"] is None for info in extra.values())
    corpus = json.loads((mini / "utterances.json").read_text())
    held_out = {u["text"] for u in corpus.values() if u["split"] in ("cv", "tt_tts")}
    base = out / "LibriTTS" / "train-clean-100"
    for uid in extra:
        spk = uid.split("_")[0]
        text = (base / spk / "2" / f"{uid}.original.txt").read_text()
        assert text and normalise_transcript(text) not in held_out
    # the corpus's own utterances are written exactly as without the option
    for uid, info in sources.items():
        if uid not in extra:
            rel = os.path.join("LibriTTS", info["split"], uid.split("_")[0], "1", uid + ".wav")
            assert (out / rel).read_bytes() == (plain / rel).read_bytes()
    again = make_mini_tts(mini, tmp_path / "again", extra_train_utts=3, progress=False, log=lambda m: None)
    assert again["counts"] == counts
    assert all((tmp_path / "again" / os.path.relpath(p, out)).read_bytes() == p.read_bytes()
               for p in out.rglob("*.wav"))  # deterministic from the seed
    with pytest.raises(MiniTtsError, match=">= 0"):
        make_mini_tts(mini, tmp_path / "neg", extra_train_utts=-1, progress=False)
