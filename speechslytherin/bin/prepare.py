"""Verify a corpus and write its manifests (stage 1 of every recipe).

    python -m speechslytherin.bin.prepare --corpus wsj0-2mix --root /data/wsj0-mix --out data/ \
        [--sample-rate 8000] [--mode min] [--pool /data/wsj0/si_tr_s] [--verify-only | --pool-only]

Each corpus adds its own options; `--corpus NAME --help` lists them.
"""

import argparse
import sys

from speechslytherin import prepare


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--corpus", choices=prepare.corpora())
    known, _ = first.parse_known_args(argv)

    parser = argparse.ArgumentParser(prog="python -m speechslytherin.bin.prepare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, choices=prepare.corpora())
    parser.add_argument("--root", required=True, help="corpus root folder (read only)")
    parser.add_argument("--out", default=None, help="folder for the manifests, e.g. data/")
    parser.add_argument("--verify-only", dest="verify_only", action="store_true",
                        help="check the corpus and write nothing (recipe stage 0)")
    parser.add_argument("--pool-only", dest="pool_only", action="store_true",
                        help="write only the dynamic-mixing pool manifest (recipe stage 2)")
    prepare_fn = None
    if known.corpus:
        prepare_fn, add_arguments = prepare.get(known.corpus)
        add_arguments(parser.add_argument_group(f"{known.corpus} options"))
    args = vars(parser.parse_args(argv))
    args.pop("corpus")
    if args["out"] is None and not args["verify_only"]:
        parser.error("--out is required unless --verify-only is given")
    from speechslytherin.prepare.common import PrepareError

    try:
        written = prepare_fn(args.pop("root"), args.pop("out"), **args)
    except PrepareError as err:
        print(f"prepare: {err}", file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
