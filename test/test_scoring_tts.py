"""scoring/tts.py + tts/objective.py + tts/scorers.py: MCD-DTW, F0, grammar, failures counted, RESULTS.md."""

import csv
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from speechslytherin.bin.score_tts import main as score_main
from speechslytherin.scoring.tts import TTSScoringError, score_tts
from speechslytherin.tts.objective import dtw_path, mcd_f0, pitch
from speechslytherin.tts.scorers import vocabulary, word_pair_grammar

SR = 16000


def tone(f0, seconds=1.0, seed=0, formant=800.0):
    t = np.arange(int(seconds * SR)) / SR
    wav = sum(np.exp(-((k * f0 - formant) / 700) ** 2) * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 20))
    wav = wav / np.abs(wav).max() * 0.3
    return (wav + 1e-3 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def test_pitch_of_harmonic_tones():
    for f0 in (100.0, 150.0, 220.0):
        f = pitch(tone(f0))
        voiced = f[f > 0]
        assert len(voiced) > 0.8 * len(f) and abs(np.median(voiced) - f0) < 0.03 * f0
    assert (pitch(np.zeros(SR)) == 0).all()


def test_mcd_and_f0_order():
    ref = tone(150)
    same = mcd_f0(ref, ref)
    assert same["mcd"] == 0 and same["f0_rmse"] == 0
    longer = tone(150, 1.3, seed=3, formant=850)  # other length (DTW aligns) and a nearby envelope
    close, far = mcd_f0(longer, ref), mcd_f0(tone(150, formant=2500), ref)
    noise = mcd_f0(np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1, ref)
    assert 0 < close["mcd"] < min(far["mcd"], noise["mcd"])
    assert abs(mcd_f0(tone(180), ref)["f0_rmse"] - 30) < 5


def test_dtw_path_is_monotonic_and_finds_the_diagonal():
    cost = np.ones((5, 7))
    rows, cols = dtw_path(cost)
    assert rows[0] == cols[0] == 0 and rows[-1] == 4 and cols[-1] == 6
    assert (np.diff(rows) >= 0).all() and (np.diff(cols) >= 0).all()
    eye = 1 - np.eye(6)
    assert list(zip(*dtw_path(eye))) == [(i, i) for i in range(6)]


def test_word_pair_grammar():
    sentences = [["please", "open", "the", "door"], ["open", "the", "window"]]
    fsg = word_pair_grammar(sentences)
    lines = fsg.splitlines()
    assert lines[0] == "FSG_BEGIN tts" and lines[-1] == "FSG_END" and "NUM_STATES 7" in lines
    words = sorted({w for s in sentences for w in s})
    state = {w: k + 1 for k, w in enumerate(words)}
    arcs = [line.split() for line in lines if line.startswith("TRANSITION")]
    assert {a[4] for a in arcs if a[1] == "0"} == {"please", "open"}  # sentence starts
    assert {a[4] for a in arcs if a[1] == str(state["the"]) and len(a) == 5} == {"door", "window"}
    assert [a for a in arcs if a[1] == str(state["door"])] == [["TRANSITION", str(state["door"]), "6", "1.000000"]]
    assert vocabulary(["Don't stop!", "stop it"]) == ["don't", "it", "stop"]


@pytest.fixture()
def fake_run(tmp_path):
    """A stage-2 test manifest of tones and a synthesis folder: one good, one empty, one missing output."""
    rec = tmp_path / "rec"
    rec.mkdir()
    manifest = {}
    for k, f0 in enumerate((120, 160, 200)):
        sf.write(rec / f"u{k}.wav", tone(f0, seed=k), SR)
        sf.write(rec / f"p{k}.wav", tone(f0 * 1.05, seed=10 + k), SR)
        manifest[f"u{k}"] = {"text": "open the door", "audio": str(rec / f"u{k}.wav"), "speaker": f"s{k}",
                             "prompt_id": f"p{k}", "prompt_audio": str(rec / f"p{k}.wav")}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tt.json").write_text(json.dumps(manifest))
    syn = tmp_path / "syn"
    syn.mkdir()
    sf.write(syn / "u0.wav", tone(125, 1.2, seed=5), SR)
    sf.write(syn / "u1.wav", np.zeros(0, dtype=np.float32), SR)
    return tmp_path


def test_failures_are_counted_never_fatal(fake_run):
    out = fake_run / "exp" / "tts_x" / "score_tt"
    s = score_tts(fake_run / "data" / "tt.json", fake_run / "syn", out, asr="none", speaker=False, log=lambda m: None)
    assert s["n_utts"] == 3 and s["n_scored"] == 1 and s["failures"] == {"empty": 1, "missing": 1}
    assert s["exp_name"] == "tts_x" and s["test_set"] == "tt" and s["means"]["wer"] is None
    assert s["means"]["mcd"] > 0 and abs(s["means"]["f0_rmse"] - 5) < 3
    assert s["mixture"]["mcd"] is None and s["input_label"] == "recording"
    assert [k for k, _ in s["columns"]][:2] == ["wer", "sim"]
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert [r["status"] for r in rows] == ["ok", "empty", "missing"]
    assert s["samples"][0]["id"] == "u0"


def test_cli_writes_results_md(fake_run):
    out = fake_run / "exp" / "tts_x" / "score_tt"
    args = ["--ref", str(fake_run / "data" / "tt.json"), "--syn", str(fake_run / "syn"), "--out", str(out),
            "--asr", "none", "--no-speaker"]
    assert score_main(args) == 0
    results = (fake_run / "RESULTS.md").read_text()
    assert "### tt" in results and "| tts_x | 1/3 |" in results and "MCD dB" in results
    assert "| recording |" in results
    assert score_main(["--ref", str(fake_run / "nope.json"), "--syn", str(fake_run / "syn"), "--out", str(out)]) == 2
    with pytest.raises(TTSScoringError, match="no such folder"):
        score_tts(fake_run / "data" / "tt.json", fake_run / "none", out, asr="none", speaker=False)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_pocketsphinx_wer_on_espeak_speech(tmp_path):
    pytest.importorskip("pocketsphinx")
    from speechslytherin.tts.scorers import PocketsphinxASR

    sentences = ["please open the door", "close the window today", "open the window please"]
    wav = tmp_path / "x.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentences[2]], check=True)
    audio, sr = sf.read(wav, dtype="float32")
    import torch
    import torchaudio.functional as AF

    audio = AF.resample(torch.from_numpy(audio), sr, SR).numpy()
    hyp = PocketsphinxASR(sentences).transcribe([audio, np.zeros(SR // 2, dtype=np.float32)])
    assert set(hyp[0].split()) <= {"please", "open", "the", "door", "close", "window", "today"}
    assert hyp[0].split() and hyp[1] == "" or set(hyp[1].split()) <= set(" ".join(sentences).split())


@pytest.mark.slow
def test_resemblyzer_separates_voices(tmp_path):
    pytest.importorskip("resemblyzer")
    from speechslytherin.tts.scorers import ResemblyzerSpeaker

    def say(text, voice):
        path = tmp_path / f"{voice}_{len(text)}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        audio, sr = sf.read(path, dtype="float32")
        import torch
        import torchaudio.functional as AF

        return AF.resample(torch.from_numpy(audio), sr, SR).numpy()

    spk = ResemblyzerSpeaker()
    a1, a2 = spk.embed(say("please open the door now", "en-us+m3")), spk.embed(say("close the window", "en-us+m3"))
    b = spk.embed(say("close the window", "en-us+f4"))
    assert spk.similarity(a1, a2) > spk.similarity(a1, b)


def test_reference_rows_are_reused_when_given(fake_run):
    """tune_synthesis scores the recordings once: given reference rows are used as they are."""
    first = fake_run / "score_a"
    score_tts(fake_run / "data" / "tt.json", fake_run / "syn", first, asr="none", speaker=False, log=lambda m: None)
    reference = json.loads((first / "reference_scores.json").read_text())
    assert sorted(reference) == ["u0", "u1", "u2"]
    marked = {u: dict(r, sim=0.5) for u, r in reference.items()}  # a value a fresh scoring could not give here
    again = score_tts(fake_run / "data" / "tt.json", fake_run / "syn", fake_run / "score_b", asr="none",
                      speaker=False, reference_rows=marked, log=lambda m: None)
    assert again["mixture"]["sim"] == 0.5 and again["input_label"] == "recording"
    assert json.loads((fake_run / "score_b" / "reference_scores.json").read_text()) == marked
    with pytest.raises(TTSScoringError, match="lack 1 id"):
        score_tts(fake_run / "data" / "tt.json", fake_run / "syn", fake_run / "score_c", asr="none", speaker=False,
                  reference_rows={u: r for u, r in marked.items() if u != "u2"}, log=lambda m: None)
