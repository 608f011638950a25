"""Command lines whose options depend on a named plug-in (`bin/prepare --corpus NAME`,
`bin/simulate --kind NAME`): the name is read first, then the plug-in adds its own option group,
so `--corpus NAME --help` lists that corpus's options.
"""

import argparse
import sys


def parse_plugin_args(argv, prog, description, option, names, get, add_common):
    """Parse argv; returns (parser, the plug-in's function, {dest: value} without `option`).

    option: '--corpus' or '--kind', required, one of `names`; get(name) -> (function, add_arguments);
    add_common(parser) adds the options every plug-in takes. The function is None only when argv
    names no plug-in, which argparse has already refused (it exits)."""
    argv = sys.argv[1:] if argv is None else argv
    dest = option.lstrip("-").replace("-", "_")
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument(option, choices=names)
    known, _ = first.parse_known_args(argv)
    chosen = getattr(known, dest)

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(option, required=True, choices=names)
    add_common(parser)
    function = None
    if chosen:
        function, add_arguments = get(chosen)
        add_arguments(parser.add_argument_group(f"{chosen} options"))
    args = vars(parser.parse_args(argv))
    args.pop(dest)
    return parser, function, args
