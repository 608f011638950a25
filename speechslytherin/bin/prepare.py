"""Verify a corpus and write its manifests (stage 1 of every recipe).

    python -m speechslytherin.bin.prepare --corpus wsj0-2mix --root /data/wsj0-mix --out data/ \
        [--sample-rate 8000] [--mode min] [--pool /data/wsj0/si_tr_s] [--verify-only | --pool-only]

Each corpus adds its own options; `--corpus NAME --help` lists them.
"""

import sys

from speechslytherin import prepare
from speechslytherin.utils.plugins import parse_plugin_args


def _common_options(parser):
    parser.add_argument("--root", required=True, help="corpus root folder (read only)")
    parser.add_argument("--out", default=None, help="folder for the manifests, e.g. data/")
    parser.add_argument("--verify-only", dest="verify_only", action="store_true",
                        help="check the corpus and write nothing (recipe stage 0)")
    parser.add_argument("--pool-only", dest="pool_only", action="store_true",
                        help="write only the dynamic-mixing pool manifest (recipe stage 2)")


def main(argv=None):
    parser, prepare_fn, args = parse_plugin_args(argv, "python -m speechslytherin.bin.prepare",
                                                 __doc__.split("\n")[0], "--corpus", prepare.corpora(), prepare.get,
                                                 _common_options)
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
