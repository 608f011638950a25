"""WER/CER scoring (scoring/asr.py, bin/wer.py): normalisation, counts, missing hypotheses, RESULTS.md."""

import csv
import json

import pytest

from speechslytherin.bin import wer as wer_cli
from speechslytherin.scoring.asr import HypothesisError, normalise_text, score_asr, score_utterance


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def ref_manifest(path, texts):
    return write_json(path, {uid: {"audio": f"/x/{uid}.flac", "text": t, "speaker": "1", "duration": 1.0}
                             for uid, t in texts.items()})


def test_normalisation_is_librispeech_style():
    assert normalise_text("Hello, world!  It's  ‘time’.") == "HELLO WORLD IT'S TIME"
    assert normalise_text("HE SAID 'TIS TWO-THIRDS") == "HE SAID TIS TWO THIRDS"
    assert normalise_text("A_B  c") == "A B C"
    assert normalise_text("") == ""


def test_utterance_counts():
    out = score_utterance("THE CAT SAT ON THE MAT", "the cat sat on a mat today")
    assert (out["sub"], out["del"], out["ins"], out["errors"], out["ref_words"]) == (1, 0, 1, 2, 6)
    assert out["wer"] == pytest.approx(100 * 2 / 6, abs=0.01)
    deleted = score_utterance("A B C", "")
    assert (deleted["del"], deleted["errors"], deleted["char_errors"]) == (3, 3, len("A B C"))
    assert score_utterance("", "X Y")["ins"] == 2


def test_set_level_wer_missing_and_extra_hypotheses(tmp_path):
    ref = ref_manifest(tmp_path / "data" / "test_clean.json",
                       {"u1": "THE CAT SAT", "u2": "ON THE MAT", "u3": "HELLO THERE FRIEND"})
    hyp = write_json(tmp_path / "dec" / "hypotheses.json", {"u1": "the cat sat", "u2": "on a mat", "zz": "x"})
    logs = []
    summary = score_asr(str(ref), str(tmp_path / "dec"), str(tmp_path / "exp" / "e1" / "score_test_clean"),
                        log=logs.append)
    # u1: 0 errors; u2: 1 sub; u3 missing: 3 deletions -> 4 / 9 words
    assert summary["means"]["wer"] == pytest.approx(100 * 4 / 9, abs=0.01)
    assert summary["counts"] == {"words": 9, "substitutions": 1, "deletions": 3, "insertions": 0,
                                 "word_errors": 4, "chars": summary["counts"]["chars"],
                                 "char_errors": summary["counts"]["char_errors"], "sentences_with_errors": 2}
    assert summary["n_utts"] == 3 and summary["n_scored"] == 2
    assert summary["failures"] == {"missing_hypothesis": 1} and summary["missing_ids"] == ["u3"]
    assert summary["extra_hypotheses"] == 1
    assert summary["exp_name"] == "e1" and summary["test_set"] == "test_clean"
    assert "mixture" not in summary and summary["columns"][0] == ["wer", "WER %"]
    assert any("no hypothesis" in m for m in logs) and any("not in" in m for m in logs)
    with open(tmp_path / "exp" / "e1" / "score_test_clean" / "wer.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert rows["u2"]["errors"] == "1" and rows["u2"]["hyp"] == "ON A MAT"
    assert rows["u3"]["missing"] == "True" and rows["u3"]["del"] == "3"


def test_cli_writes_results_md_and_rejects_bad_input(tmp_path, capsys):
    recipe = tmp_path / "recipe"
    ref = ref_manifest(recipe / "data" / "test_other.json", {"a": "ONE TWO THREE FOUR", "b": "FIVE SIX"})
    write_json(recipe / "exp" / "asr_tiny" / "decode_test_other" / "hypotheses.json",
               {"a": "one two tree four", "b": "five six"})
    rc = wer_cli.main(["--ref", str(ref), "--hyp", str(recipe / "exp" / "asr_tiny" / "decode_test_other"),
                       "--out", str(recipe / "exp" / "asr_tiny" / "score_test_other")])
    assert rc == 0
    assert "WER 16.67%" in capsys.readouterr().out
    results = (recipe / "RESULTS.md").read_text()
    assert "### test_other" in results and "| asr_tiny | 2 | 16.67 |" in results and "WER %" in results
    assert "mixture" not in results.split("## Results")[1].split("###")[1]
    bad = write_json(tmp_path / "bad.json", {"a": 3})
    assert wer_cli.main(["--ref", str(ref), "--hyp", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert wer_cli.main(["--ref", str(tmp_path / "none.json"), "--hyp", str(bad), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(HypothesisError, match="hypotheses not found"):
        score_asr(str(ref), str(tmp_path / "nowhere"), str(tmp_path / "o"))
