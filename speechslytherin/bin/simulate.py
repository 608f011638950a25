"""Simulate a corpus the toolkit makes itself (recipe stage 0 or 2), e.g.

    python -m speechslytherin.bin.simulate --kind mini-enh --root ../db/mini --out ../db/mini_enh

`--root` is the source (read only: the mini corpus, or a speech manifest's corpus); `--out` is a
new folder, written in the layout of the real corpus. Each kind adds its own options;
`--kind NAME --help` lists them. Re-running with the same options does nothing.
"""

import sys

from speechslytherin import simulate
from speechslytherin.utils.plugins import parse_plugin_args


def _common_options(parser):
    parser.add_argument("--root", required=True, help="source corpus folder (read only)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="everything random follows this seed")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def main(argv=None):
    _, make_fn, args = parse_plugin_args(argv, "python -m speechslytherin.bin.simulate", __doc__.split("\n")[0],
                                         "--kind", simulate.kinds(), simulate.get, _common_options)
    try:
        make_fn(args.pop("root"), args.pop("out"), **args)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"simulate: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
