"""Corpus preparation: verify a corpus on disk and write its manifests (never writing into it).

CORPORA maps a corpus name to (prepare function, add_arguments function). A new corpus plugs in
by adding a module with both and one line here; `python -m speechslytherin.bin.prepare --corpus
<name>` then offers its options.
"""

import importlib

# name -> (module, prepare function, argument function)
_REGISTRY = {
    "wsj0-2mix": ("speechslytherin.prepare.wsj0_2mix", "prepare_wsj0_2mix", "add_wsj0_2mix_arguments"),
    "mini": ("speechslytherin.prepare.wsj0_2mix", "prepare_mini", "add_wsj0_2mix_arguments"),
}


def corpora():
    return sorted(_REGISTRY)


def register(name, module, prepare_fn, add_arguments_fn):
    """Add a corpus (module path and function names, imported only when used)."""
    _REGISTRY[name] = (module, prepare_fn, add_arguments_fn)


def get(name):
    """(prepare function, add_arguments function) for a corpus name."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown corpus '{name}'; known: {', '.join(corpora())}")
    module, prepare_fn, add_fn = _REGISTRY[name]
    mod = importlib.import_module(module)
    return getattr(mod, prepare_fn), getattr(mod, add_fn)
