"""tts/text.py: espeak-ng phonemes and the symbol table the TTS task reads."""

import pytest

from speechslytherin.tasks.tts import read_symbols
from speechslytherin.tts.text import PAD, UNK, Phonemizer, SymbolTable, TextFrontEndError, split_phonemes


@pytest.fixture(scope="module")
def phonemizer():
    return Phonemizer("en-us")


def test_phonemes_words_and_punctuation(phonemizer):
    out = phonemizer.phonemize("Hello world, this is a test.")
    assert out[-1] == "." and "," in out and out.count("_") == 5
    assert all(s and " " not in s and "|" not in s for s in out)
    assert out[:4] == ["h", "ə", "l", "oʊ"]
    batch = phonemizer.phonemize_batch(["Hello world, this is a test.", "Two."])
    assert batch[0] == out and batch[1][-1] == "."
    info = phonemizer.backend_info
    assert info["backend"] == "espeak-ng" and info["version"].count(".") == 2
    assert info["library"] in ("espeakng-loader", "system")


def test_split_phonemes():
    assert split_phonemes('"k|w|oʊ|t" ɐ,') == ['"', "k", "w", "oʊ", "t", '"', "_", "ɐ", ","]
    assert split_phonemes("") == []


def test_symbol_table_round_trip(tmp_path):
    table = SymbolTable.build([["h", "ə", "_", "d"], ["d", "."]])
    assert table.symbols[:2] == [PAD, UNK] and len(table) == 7
    assert table.encode(["d", "zz"]) == [table.ids["d"], 1]
    assert table.known(["d", "zz"]) == ["d", UNK]
    path = table.save(tmp_path / "symbols.txt")
    assert SymbolTable.load(path).symbols == table.symbols
    assert read_symbols(str(path)) == table.ids  # the task's reader agrees (id 0 = <pad>)


def test_symbol_table_errors(tmp_path):
    with pytest.raises(TextFrontEndError, match="not found"):
        SymbolTable.load(tmp_path / "none.txt")
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(TextFrontEndError, match="re-run stage 2"):
        SymbolTable.load(tmp_path / "bad.txt")
    with pytest.raises(TextFrontEndError):
        SymbolTable([PAD, UNK, "a b"])
