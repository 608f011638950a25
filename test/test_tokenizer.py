"""ASR tokenizer (text/tokenizer.py, bin/tokenizer.py): vocab from the config, ids, determinism, errors."""

import json
import os

import pytest

from speechslytherin.bin import tokenizer as tok_cli
from speechslytherin.text.tokenizer import (TokenizerError, load_tokenizer, read_vocab_size, train_tokenizer)

WORDS = ("ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE OH PLEASE CALL THE CODE IS MY NUMBER DIAL "
         "GARDEN STATION TEACHER YESTERDAY TOMORROW CAREFULLY BRIDGE VILLAGE MOUNTAIN IT'S").split()


def manifest(path, n=60):
    entries = {}
    for i in range(n):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(4 + i % 5)]
        entries[f"u{i:03d}"] = {"audio": f"/x/{i}.flac", "text": " ".join(words), "speaker": "s", "duration": 1.0}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))
    return path


def config(path, vocab):
    path.write_text(f"task: asr\nsample_rate: 16000\nvocab_size: {vocab}\nmodel: !new:torch.nn.Identity\n"
                    "ref: !ref <vocab_size>\n")
    return path


def test_cli_reads_vocab_size_from_the_config_and_ids_are_fixed(tmp_path):
    manifest(tmp_path / "data" / "tr.json")
    conf = config(tmp_path / "conf.yaml", 40)
    assert read_vocab_size(conf) == 40
    assert tok_cli.main([str(conf), "--data-dir", str(tmp_path / "data")]) == 0
    sp = load_tokenizer(str(tmp_path / "data" / "tokenizer"))
    assert sp.get_piece_size() == 40
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    text = "PLEASE CALL ZERO NINE IT'S"
    assert sp.decode(sp.encode(text)) == text
    meta = json.loads((tmp_path / "data" / "tokenizer" / "tokenizer.json").read_text())
    assert meta["vocab_size"] == 40 and meta["model_type"] == "unigram" and meta["sentences"] == 60
    assert not [n for n in os.listdir(tmp_path / "data" / "tokenizer") if n.startswith(".")]  # no leftovers


def test_deterministic_and_rerun_keeps_the_model(tmp_path):
    texts = [e["text"] for e in json.loads(manifest(tmp_path / "tr.json").read_text()).values()]
    a = train_tokenizer(texts, str(tmp_path / "a"), 40, log=lambda m: None)
    b = train_tokenizer(texts, str(tmp_path / "b"), 40, log=lambda m: None)
    assert open(a, "rb").read() == open(b, "rb").read()
    mtime = os.stat(a).st_mtime_ns
    logs = []
    train_tokenizer(texts, str(tmp_path / "a"), 40, log=logs.append)
    assert os.stat(a).st_mtime_ns == mtime and "kept" in logs[0]
    train_tokenizer(texts, str(tmp_path / "a"), 36, log=lambda m: None)  # other settings: retrained
    assert load_tokenizer(a).get_piece_size() == 36


def test_vocab_too_large_for_tiny_text_says_what_to_do(tmp_path, capsys):
    manifest(tmp_path / "data" / "tr.json", n=5)
    conf = config(tmp_path / "conf.yaml", 5000)
    assert tok_cli.main([str(conf), "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "vocab_size 5000 is too large" in err and "at most" in err and "5 sentences" in err
    assert not (tmp_path / "data" / "tokenizer" / "tokenizer.model").exists()


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: asr\nmodel: !new:torch.nn.Identity\n")
    with pytest.raises(TokenizerError, match="top-level `vocab_size"):
        read_vocab_size(bad)
    with pytest.raises(TokenizerError, match="tokenizer not found"):
        load_tokenizer(str(tmp_path))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "tr.json").write_text(json.dumps({"a": {"mix": "x"}}))
    assert tok_cli.main(["--vocab-size", "10", "--data-dir", str(tmp_path / "d")]) == 2
    assert tok_cli.main(["--vocab-size", "10", "--data-dir", str(tmp_path / "none")]) == 2


def test_char_type_from_the_config(tmp_path):
    path = manifest(tmp_path / "data" / "tr.json")
    texts = [e["text"] for e in json.loads(path.read_text()).values()]
    n_chars = len(set("".join(texts).replace(" ", "")))
    conf = tmp_path / "ctc.yaml"
    conf.write_text(f"task: asr\nvocab_size: {n_chars + 4}\ntoken_type: char\nmodel: !new:torch.nn.Identity\n")
    assert tok_cli.main([str(conf), "--data-dir", str(tmp_path / "data")]) == 0
    sp = load_tokenizer(str(tmp_path / "data" / "tokenizer"))
    assert sp.get_piece_size() == n_chars + 4  # 3 specials + characters + word boundary
    assert sp.encode("CALL", out_type=str) == ["▁", "C", "A", "L", "L"]
    conf.write_text("task: asr\nvocab_size: 40\ntoken_type: words\nmodel: !new:torch.nn.Identity\n")
    assert tok_cli.main([str(conf), "--data-dir", str(tmp_path / "data")]) == 2
