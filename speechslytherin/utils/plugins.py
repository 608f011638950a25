"""Plug-ins chosen by name: the corpora `bin/prepare --corpus NAME` prepares and the sets
`bin/simulate --kind NAME` makes. A registry maps a name to its module and function names and
imports the module only when the name is used; the command line reads the name first, then the
plug-in adds its own option group, so `--corpus NAME --help` lists that corpus's options.
"""

import argparse
import importlib
import sys


class LazyRegistry:
    """name -> (module path, function name, add_arguments function name); `what` names a plug-in in errors."""

    def __init__(self, what, entries):
        self.what = what
        self.entries = dict(entries)

    def names(self):
        return sorted(self.entries)

    def register(self, name, module, function, add_arguments):
        """Add a plug-in (module path and function names, imported only when used)."""
        self.entries[name] = (module, function, add_arguments)

    def get(self, name):
        """(function, add_arguments function) of a plug-in; KeyError listing the known names."""
        if name not in self.entries:
            raise KeyError(f"unknown {self.what} '{name}'; known: {', '.join(self.names())}")
        module, function, add_arguments = self.entries[name]
        mod = importlib.import_module(module)
        return getattr(mod, function), getattr(mod, add_arguments)


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
