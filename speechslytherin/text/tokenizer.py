"""SentencePiece tokenizer for ASR: trained on the training transcripts, as the ConMamba recipe.

The published LibriSpeech models use a 5000-piece unigram model. Ids are fixed so the model
configs can rely on them: 0 = <unk> (also the CTC blank and the padding id, as in the
official recipe), 1 = <s> (bos), 2 = </s> (eos); no separate pad piece.

Training is deterministic (one thread, all sentences, no sampling): the same transcripts give
a byte-identical model. The model is written atomically with a tokenizer.json beside it that
records what it was trained on, so a re-run with the same input does nothing.
"""

import hashlib
import io
import json
import os
import re

from speechslytherin.utils.atomic import atomic_path, write_json_atomic, write_text_atomic

SPECIAL_IDS = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}
MODEL_TYPES = ("unigram", "bpe", "char", "word")


class TokenizerError(ValueError):
    """The tokenizer cannot be trained or loaded as asked; the message says what to change."""


def _plain_config(config_path):
    import yaml

    class TagIgnoringLoader(yaml.SafeLoader):
        pass

    TagIgnoringLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    if not os.path.isfile(config_path):
        raise TokenizerError(f"{config_path}: config not found.")
    with open(config_path, encoding="utf-8") as f:
        plain = yaml.load(f, Loader=TagIgnoringLoader) or {}
    return plain if isinstance(plain, dict) else {}


def read_vocab_size(config_path):
    """The top-level `vocab_size:` of a config (hyperpyyaml tags are ignored)."""
    value = _plain_config(config_path).get("vocab_size")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TokenizerError(
            f"{config_path}: needs a top-level `vocab_size: N` (a positive integer, e.g. 5000 for LibriSpeech), "
            f"got {value!r}; or pass --vocab-size."
        )
    return value


def read_token_type(config_path, default="unigram"):
    """The optional top-level `token_type:` of a config (unigram as published; char for the CTC model)."""
    value = _plain_config(config_path).get("token_type", default)
    if value not in MODEL_TYPES:
        raise TokenizerError(f"{config_path}: token_type {value!r}; choose one of {', '.join(MODEL_TYPES)}.")
    return value


def manifest_texts(paths):
    """Transcripts of one or more manifests (id -> {"text", ...}), in file order."""
    from speechslytherin.data.manifest import read_json_object

    texts = []
    for path in paths:
        data = read_json_object(path, missing="manifest not found. Run data preparation (stage 1) first.",
                                redo="Re-run data preparation.")
        for uid, entry in data.items():
            text = entry.get("text") if isinstance(entry, dict) else None
            if not isinstance(text, str):
                raise TokenizerError(f"{path}: id '{uid}' has no \"text\"; the tokenizer needs ASR manifests.")
            text = " ".join(text.split())
            if text:
                texts.append(text)
    if not texts:
        raise TokenizerError(f"{', '.join(map(str, paths))}: no transcripts to train a tokenizer on.")
    return texts


def _fingerprint(texts, vocab_size, model_type, character_coverage):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    h.update(f"{vocab_size}|{model_type}|{character_coverage}|{sorted(SPECIAL_IDS.items())}".encode())
    return h.hexdigest()


def _too_large(err, vocab_size, texts, source):
    found = re.search(r"<=\s*(\d+)", str(err))
    limit = f"at most {found.group(1)}" if found else "fewer pieces"
    words = len({w for t in texts for w in t.split()})
    return TokenizerError(
        f"vocab_size {vocab_size} is too large for the training text ({source}: {len(texts)} sentences, "
        f"{words} distinct words): SentencePiece can make {limit} pieces from it. Set vocab_size to that or less "
        "in the config (the published 5000 needs LibriSpeech-sized text), or train on more text."
    )


def train_tokenizer(texts, out_dir, vocab_size, model_type="unigram", character_coverage=1.0, source="text",
                    log=print):
    """Train SentencePiece on `texts` -> out_dir/tokenizer.model (+ .vocab, tokenizer.json); returns the path.

    Skips training when out_dir already holds a model trained on the same texts and settings.
    """
    import sentencepiece as spm

    if model_type not in MODEL_TYPES:
        raise TokenizerError(f"model_type {model_type!r}: choose one of {', '.join(MODEL_TYPES)}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 4:
        raise TokenizerError(f"vocab_size must be an integer >= 4 (3 special pieces + text), got {vocab_size!r}")
    model_path = os.path.join(out_dir, "tokenizer.model")
    meta_path = os.path.join(out_dir, "tokenizer.json")
    fingerprint = _fingerprint(texts, vocab_size, model_type, character_coverage)
    if os.path.isfile(model_path) and os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            try:
                if json.load(f).get("fingerprint") == fingerprint:
                    log(f"{model_path}: already trained on the same text and settings; kept")
                    return model_path
            except json.JSONDecodeError:
                pass
        log(f"{model_path}: replaced by a tokenizer for other text or settings ({model_type}, {vocab_size}); models "
            "trained with the old one need it back (retrain it with their config)")
    buf = io.BytesIO()
    try:
        # an iterator and an in-memory writer: no temporary path ends up in the model's trainer spec,
        # so the same text gives the same bytes wherever it is trained
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=buf, vocab_size=vocab_size, model_type=model_type,
            character_coverage=character_coverage, input_sentence_size=0, shuffle_input_sentence=False,
            num_threads=1, max_sentence_length=1 << 16, minloglevel=2, hard_vocab_limit=True, **SPECIAL_IDS,
        )
    except RuntimeError as err:
        if "Vocabulary size" in str(err) or "vocab_size" in str(err):
            raise _too_large(err, vocab_size, texts, source) from None
        raise TokenizerError(f"SentencePiece training on {source} failed: {err}") from None
    model = buf.getvalue()
    sp = spm.SentencePieceProcessor(model_proto=model)
    vocab = "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size()))
    write_text_atomic(os.path.join(out_dir, "tokenizer.vocab"), vocab)
    with atomic_path(model_path) as tmp:  # the model last: its presence means done
        with open(tmp, "wb") as f:
            f.write(model)
    write_json_atomic(meta_path, {
        "vocab_size": vocab_size, "model_type": model_type, "character_coverage": character_coverage,
        "special_ids": SPECIAL_IDS, "source": source, "sentences": len(texts), "fingerprint": fingerprint,
    })
    log(f"{model_path}: {model_type} SentencePiece, {vocab_size} pieces, trained on {len(texts)} sentences "
        f"of {source}")
    return model_path


def load_tokenizer(path):
    """A SentencePieceProcessor from tokenizer.model (or its folder), with a clear error if absent."""
    import sentencepiece as spm

    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.model")
    if not os.path.isfile(path):
        raise TokenizerError(f"{path}: tokenizer not found. Run the tokenizer stage (recipe stage 2: "
                             "python -m speechslytherin.bin.tokenizer CONF --data-dir data) first.")
    return spm.SentencePieceProcessor(model_file=path)
