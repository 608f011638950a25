"""SentencePiece tokenizers carried inside ASR model files.

The serialized ``.model`` protobuf is stored base64-encoded in the model's constructor
arguments, so ``load_model(path).transcribe(wavs)`` needs no other file. The index convention is
SpeechBrain's (and the official recipes'): 0 = unk = CTC blank = padding, 1 = bos, 2 = eos
(train with ``--unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1``).
"""

import base64
import os

REQUIRED_IDS = {"unk": 0, "bos": 1, "eos": 2}


class TokenizerError(ValueError):
    """A tokenizer that does not fit the model; the message says why and how to fix it."""


def read_tokenizer_bytes(source):
    """Bytes of a SentencePiece model from a path, bytes, or a base64 string."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(os.fspath(source)):
        with open(os.fspath(source), "rb") as f:
            return f.read()
    if isinstance(source, str):
        try:
            return base64.b64decode(source.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            pass
    raise TokenizerError(f"tokenizer {str(source)[:80]!r}: not a file, bytes or base64 SentencePiece model. "
                         f"Train one in the recipe's stage 2 (data/tokenizer/tokenizer.model).")


def encode_tokenizer(source):
    return base64.b64encode(read_tokenizer_bytes(source)).decode("ascii")


def load_processor(model_bytes):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model_bytes)
    except (RuntimeError, OSError) as err:
        raise TokenizerError(f"not a SentencePiece model ({err}).") from None
    return processor


def check_tokenizer(processor, vocab_size, needs_bos_eos, where="tokenizer"):
    """The tokenizer's size and special ids must match the model's output layer and indices."""
    size = processor.get_piece_size()
    if size != vocab_size:
        raise TokenizerError(
            f"{where}: {size} pieces but the model outputs {vocab_size} tokens. Set the model's "
            f"vocab_size to {size} in the config (or train the tokenizer with --vocab_size={vocab_size}).")
    found = {"unk": processor.unk_id(), "bos": processor.bos_id(), "eos": processor.eos_id()}
    wanted = dict(REQUIRED_IDS) if needs_bos_eos else {"unk": 0}
    bad = {k: found[k] for k in wanted if found[k] != wanted[k]}
    if bad:
        raise TokenizerError(
            f"{where}: special ids {bad} but the model needs {wanted} (blank/pad = unk = 0). Train the "
            f"SentencePiece model with --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1.")
