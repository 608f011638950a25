"""Train the ASR tokenizer (recipe stage 2): SentencePiece on the training transcripts.

    python -m speechslytherin.bin.tokenizer conf/conmamba_S.yaml --data-dir data \
        [--manifest tr.json ...] [--vocab-size N] [--model-type unigram] [--out data/tokenizer]

The vocabulary size is the config's top-level `vocab_size:` (5000 unigram pieces for the
published LibriSpeech models) unless --vocab-size is given; the piece type its optional
`token_type:` (unigram, or char: the CTC model's 31 outputs = 3 specials + 26 letters,
apostrophe and word boundary) unless --model-type is given. Writes <out>/tokenizer.model
atomically; ids 0/1/2 = <unk> (CTC blank, padding) / <s> / </s>.
"""

import argparse
import os
import sys


def build_parser():
    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.tokenizer", description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?", default=None, help="ASR config with a top-level vocab_size")
    p.add_argument("--data-dir", default="data", help="folder of the manifests (default data)")
    p.add_argument("--manifest", nargs="+", default=["tr.json"],
                   help="training manifests in --data-dir whose text is used (default tr.json)")
    p.add_argument("--vocab-size", type=int, default=None, help="overrides the config's vocab_size")
    p.add_argument("--model-type", default=None,
                   help="unigram, bpe, char, word (default: the config's token_type, else unigram)")
    p.add_argument("--character-coverage", type=float, default=1.0)
    p.add_argument("--out", default=None, help="output folder (default <data-dir>/tokenizer)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from speechslytherin.data.manifest import ManifestError
    from speechslytherin.text.tokenizer import (TokenizerError, manifest_texts, read_token_type, read_vocab_size,
                                             train_tokenizer)

    if args.config is None and args.vocab_size is None:
        parser.error("give the config (its vocab_size is used) or --vocab-size")
    paths = [m if os.path.isabs(m) else os.path.join(args.data_dir, m) for m in args.manifest]
    try:
        vocab_size = args.vocab_size if args.vocab_size is not None else read_vocab_size(args.config)
        model_type = args.model_type or (read_token_type(args.config) if args.config else "unigram")
        texts = manifest_texts(paths)
        train_tokenizer(texts, args.out or os.path.join(args.data_dir, "tokenizer"), vocab_size,
                        model_type=model_type, character_coverage=args.character_coverage,
                        source=" + ".join(paths), log=lambda m: print(m, file=sys.stderr))
    except (TokenizerError, ManifestError) as err:
        print(f"tokenizer: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
