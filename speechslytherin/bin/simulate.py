"""Simulate a corpus the toolkit makes itself (recipe stage 0 or 2), e.g.

    python -m speechslytherin.bin.simulate --kind mini-enh --root ../db/mini --out ../db/mini_enh

`--root` is the source (read only: the mini corpus, or a speech manifest's corpus); `--out` is a
new folder, written in the layout of the real corpus. Each kind adds its own options;
`--kind NAME --help` lists them. Re-running with the same options does nothing.
"""

import argparse
import sys

from speechslytherin import simulate


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--kind", choices=simulate.kinds())
    known, _ = first.parse_known_args(argv)

    parser = argparse.ArgumentParser(prog="python -m speechslytherin.bin.simulate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--kind", required=True, choices=simulate.kinds())
    parser.add_argument("--root", required=True, help="source corpus folder (read only)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="everything random follows this seed")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    make_fn = None
    if known.kind:
        make_fn, add_arguments = simulate.get(known.kind)
        add_arguments(parser.add_argument_group(f"{known.kind} options"))
    args = vars(parser.parse_args(argv))
    args.pop("kind")
    try:
        make_fn(args.pop("root"), args.pop("out"), **args)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"simulate: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
