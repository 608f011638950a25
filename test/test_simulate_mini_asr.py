"""simulate/mini_asr.py: the tiny mini corpus written as a LibriSpeech tree that prepare/librispeech reads."""

import filecmp
import json
import os

import pytest
import soundfile as sf

from mini_set_helpers import make_beside, tiny_mini
from recipe_helpers import snapshot
from speechslytherin.bin import simulate as simulate_cli
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.librispeech import prepare_librispeech
from speechslytherin.simulate.mini_asr import MiniAsrError, make_mini_asr, transcript


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return tiny_mini(tmp_path_factory, "mini_asr")


@pytest.fixture(scope="module")
def asr_set(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("mini_asr_out") / "mini_asr"
    return make_beside(make_mini_asr, mini, out, extra_train_utts=2, real_test_utts=5)


def read_trans(folder):
    lines = {}
    for d, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".trans.txt"):
                for line in open(os.path.join(d, f)):
                    uid, text = line.rstrip("\n").split(" ", 1)
                    lines[uid] = text
    return lines


def test_transcripts_spell_digits_in_upper_case():
    assert transcript("press 3 for the 21 options") == "PRESS THREE FOR THE TWENTY ONE OPTIONS"
    assert transcript("it's the 1st time") is None


def test_librispeech_layout_and_split_mapping(mini, asr_set):
    out, summary = asr_set
    base = out / "LibriSpeech"
    assert sorted(os.listdir(base)) == ["dev-clean", "test-clean", "test-other", "train-clean-100"]
    utterances = json.loads((mini / "utterances.json").read_text())
    n_split = {s: sum(u["split"] == s for u in utterances.values()) for s in ("tr", "cv", "tt_tts")}
    counts = summary["counts"]
    n_train_voices = len(os.listdir(base / "train-clean-100"))
    assert counts["train-clean-100"]["utterances"] == n_split["tr"] + 2 * n_train_voices
    assert counts["dev-clean"]["utterances"] == n_split["cv"]
    assert counts["test-clean"]["utterances"] == n_split["tt_tts"]
    assert counts["test-other"]["utterances"] == 5
    speakers = {s: set(os.listdir(base / s)) for s in os.listdir(base)}
    assert {p[0] for p in speakers["train-clean-100"]} == {"t"} and {p[0] for p in speakers["test-other"]} == {"r"}
    assert {p[0] for p in speakers["dev-clean"]} == {"v"} and {p[0] for p in speakers["test-clean"]} == {"e"}
    trans = read_trans(base)
    flacs = {os.path.splitext(f)[0]: os.path.join(d, f) for d, _, files in os.walk(base) for f in files
             if f.endswith(".flac")}
    assert set(trans) == set(flacs)
    for uid, text in trans.items():
        assert text == text.upper() and not any(c.isdigit() for c in text) and text.strip()
        spk, chapter, utt = uid.split("-")
        assert flacs[uid].endswith(os.path.join(spk, chapter, uid + ".flac")) and chapter in "123"
    info = sf.info(next(iter(flacs.values())))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
    # test-other holds only English recorded prompts
    source = json.loads((out / "utterances.json").read_text())
    real = [v for v in source.values() if v["subset"] == "test-other"]
    assert real and all(v["engine"] == "asterisk" and v["voice"].startswith("en_") for v in real)
    assert "test-other" in (out / "README.txt").read_text()


def test_prepare_librispeech_reads_it(asr_set, tmp_path):
    out, summary = asr_set
    written = prepare_librispeech(out, tmp_path / "data", train_sets="100", progress=False)
    assert set(written) == {"tr", "cv", "dev_clean", "test_clean", "test_other"}
    tr = load_manifest(written["tr"])
    assert len(tr) == summary["counts"]["train-clean-100"]["utterances"]
    entry = next(iter(tr.values()))
    assert entry["duration"] > 1.0 and entry["text"].isupper()


def test_deterministic_rerun_noop_and_conflicts(mini, asr_set, tmp_path, capsys):
    out, _ = asr_set
    again = tmp_path / "again"
    rc = simulate_cli.main(["--kind", "mini-asr", "--root", str(mini), "--out", str(again), "--no-progress",
                            "--extra-train-utts", "2", "--real-test-utts", "5"])
    assert rc == 0
    cmp = filecmp.dircmp(out, again)
    files = [os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs if f != ".complete"]
    match, mismatch, errors = filecmp.cmpfiles(out, again, files, shallow=False)
    assert not mismatch and not errors and len(match) == len(files) and not cmp.left_only and not cmp.right_only
    stamp = snapshot(again)
    assert simulate_cli.main(["--kind", "mini-asr", "--root", str(mini), "--out", str(again), "--no-progress",
                              "--extra-train-utts", "2", "--real-test-utts", "5"]) == 0
    assert snapshot(again) == stamp
    assert simulate_cli.main(["--kind", "mini-asr", "--root", str(mini), "--out", str(again), "--no-progress",
                              "--real-test-utts", "0"]) == 1
    assert "other options" in capsys.readouterr().err
    with pytest.raises(MiniAsrError, match="inside the mini corpus"):
        make_mini_asr(mini, mini / "asr", progress=False)
    with pytest.raises(MiniAsrError, match="not a finished mini corpus"):
        make_mini_asr(tmp_path / "nothing", tmp_path / "x", progress=False)


def test_prompt_text_synthesis_never_uses_a_test_sentence(mini, tmp_path):
    out = tmp_path / "with_prompt_text"
    summary = make_mini_asr(mini, out, prompt_text_utts=2, real_test_utts=5, progress=False, log=lambda m: None)
    assert summary["parameters"]["prompt_text_utts"] == 2
    base = out / "LibriSpeech"
    trans = read_trans(base)
    prompt_text = {uid: t for uid, t in trans.items() if uid.split("-")[1] == "4"}
    n_voices = len(os.listdir(base / "train-clean-100"))
    assert len(prompt_text) == 2 * n_voices
    assert all(uid[0] == "t" for uid in prompt_text)  # training voices only
    test_other = set(read_trans(base / "test-other").values())
    assert len(test_other) == 5 and not test_other & set(prompt_text.values())
    assert not test_other & set(read_trans(base / "train-clean-100").values())
