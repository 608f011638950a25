"""Text front end of the TTS models: phonemes with phonemizer's espeak-ng backend, and the symbol table.

One espeak-ng build is pinned because two builds can phonemize the same text differently and so
change the token inventory silently: the pip-shipped ``espeakng-loader`` library (1.52) when it is
installed, else the system espeak-ng. ``Phonemizer.backend_info`` names the build used; stage 2
stores it beside the symbol table and refuses to mix builds.

Phonemizer settings follow the lifeiteng VALL-E front end: punctuation kept, no stress marks,
language switches kept as flags, word-count mismatches ignored. Output symbols: the phones of
each word, ``_`` between words, punctuation marks as their own symbols.
"""

import os

PAD = "<pad>"
UNK = "<unk>"
WORD_BOUNDARY = "_"
PUNCTUATION = set(';:,.!?¡¿—…"«»“”()')


class TextFrontEndError(RuntimeError):
    """The phonemizer or a symbol file cannot be used; the message says what to install or redo."""


def _use_pip_espeak():
    """Point phonemizer at espeakng-loader's library and data; returns the library path or None."""
    try:
        import espeakng_loader
    except ImportError:
        return None
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    return espeakng_loader.get_library_path()


class Phonemizer:
    """Text -> list of phoneme symbols (espeak-ng through phonemizer)."""

    def __init__(self, language="en-us", prefer_pip_espeak=True):
        try:
            from phonemizer.backend import EspeakBackend
            from phonemizer.separator import Separator
        except ImportError as err:
            raise TextFrontEndError(f"phonemizer cannot be imported ({err}); pip install phonemizer") from None
        library = _use_pip_espeak() if prefer_pip_espeak else None
        try:
            self.backend = EspeakBackend(language, preserve_punctuation=True, with_stress=False,
                                         language_switch="keep-flags", words_mismatch="ignore")
        except RuntimeError as err:
            raise TextFrontEndError(f"espeak-ng backend unavailable ({err}). Install espeak-ng (apt-get install "
                                    "espeak-ng) or the pip package espeakng-loader.") from None
        self.language = language
        self.separator = Separator(word=" ", syllable="", phone="|")
        version = ".".join(str(v) for v in self.backend.version())
        self.backend_info = {"backend": "espeak-ng", "version": version, "language": language,
                             "library": "espeakng-loader" if library else "system"}

    def phonemize(self, text):
        """One sentence -> [symbol, ...]."""
        return self.phonemize_batch([text])[0]

    def phonemize_batch(self, texts):
        """Many sentences at once (one espeak call: much faster) -> [[symbol, ...], ...]."""
        texts = [" ".join(str(t).split()) for t in texts]
        out = self.backend.phonemize(texts, separator=self.separator, strip=True, njobs=1)
        return [split_phonemes(line) for line in out]


def split_phonemes(line):
    """'h|ə|l|oʊ w|ɜː|l|d,' -> ['h', 'ə', 'l', 'oʊ', '_', 'w', 'ɜː', 'l', 'd', ',']."""
    symbols = []
    for word in line.split():
        if symbols and symbols[-1] != WORD_BOUNDARY:
            symbols.append(WORD_BOUNDARY)
        for phone in word.split("|"):
            core = phone.lstrip("".join(PUNCTUATION))
            symbols += list(phone[:len(phone) - len(core)])  # opening marks
            tail = core.rstrip("".join(PUNCTUATION))
            if tail:
                symbols.append(tail)
            symbols += list(core[len(tail):])  # closing marks
    while symbols and symbols[-1] == WORD_BOUNDARY:
        symbols.pop()
    return symbols


class SymbolTable:
    """Phoneme symbol <-> id; id 0 = <pad>, id 1 = <unk>; stored as symbols.txt (line number = id)."""

    def __init__(self, symbols):
        symbols = list(symbols)
        if symbols[:2] != [PAD, UNK]:
            raise TextFrontEndError(f"a symbol table starts with {PAD}, {UNK}; got {symbols[:2]}")
        if len(set(symbols)) != len(symbols):
            raise TextFrontEndError("a symbol table holds each symbol once")
        bad = [s for s in symbols if not s or any(c.isspace() for c in s)]
        if bad:
            raise TextFrontEndError(f"symbols cannot be empty or hold whitespace: {bad[:5]}")
        self.symbols = symbols
        self.ids = {s: i for i, s in enumerate(symbols)}

    @classmethod
    def build(cls, sequences):
        """From phoneme sequences: <pad>, <unk>, then every symbol seen, sorted."""
        seen = {s for seq in sequences for s in seq} - {PAD, UNK}
        return cls([PAD, UNK] + sorted(seen))

    def __len__(self):
        return len(self.symbols)

    def __contains__(self, symbol):
        return symbol in self.ids

    def encode(self, sequence):
        """Symbols -> ids; unknown symbols become <unk>."""
        unk = self.ids[UNK]
        return [self.ids.get(s, unk) for s in sequence]

    def decode(self, ids):
        return [self.symbols[i] for i in ids]

    def known(self, sequence):
        """The sequence with unknown symbols replaced by <unk> (what the model can read)."""
        return [s if s in self.ids else UNK for s in sequence]

    def save(self, path):
        from speechslytherin.utils.atomic import write_text_atomic

        write_text_atomic(path, "\n".join(self.symbols) + "\n")
        return path

    @classmethod
    def load(cls, path):
        if not os.path.isfile(path):
            raise TextFrontEndError(f"{path}: symbol table not found; run the recipe's stage 2.")
        with open(path, encoding="utf-8") as f:
            symbols = [line.rstrip("\n") for line in f if line.rstrip("\n")]
        try:
            return cls(symbols)
        except TextFrontEndError as err:
            raise TextFrontEndError(f"{path}: {err}; re-run stage 2.") from None
