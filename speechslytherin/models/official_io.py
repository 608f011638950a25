"""What the importers of official releases (models/*/*_official.py) share: their error, reading a
torch file, finding the checkpoint and the release's own config, and building a preset.

The interface an importer module exposes is described in bin/import_checkpoint.py.
"""

import os

import torch


class OfficialFormatError(ValueError):
    """An official file that does not look like the release an importer reads; says what was expected."""


def torch_load(file, what="a torch checkpoint"):
    """torch.load of tensors only (no arbitrary unpickling); an unreadable file raises OfficialFormatError."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure: not a checkpoint we can read
        raise OfficialFormatError(f"{file}: cannot be read as {what} ({err}).") from None


def is_tensor_dict(obj):
    """True for a dict whose values are all tensors (a state dict)."""
    return isinstance(obj, dict) and all(torch.is_tensor(v) for v in obj.values())


def given_checkpoint(path, ckpt_name=None, not_found="no such file or folder."):
    """The checkpoint file the user named: `path` itself when it is a file, `ckpt_name` inside the
    folder `path` when given; None when `path` is a folder and the importer picks the file."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise OfficialFormatError(f"{path}: {not_found}")
    if ckpt_name:
        candidate = os.path.join(path, ckpt_name)
        if not os.path.isfile(candidate):
            raise OfficialFormatError(f"{path}: no checkpoint named {ckpt_name!r} in it.")
        return candidate
    return None


def find_config_near(ckpt_path, names, levels, accept=None):
    """The first of `names` (paths relative to a folder) in the checkpoint's folder (`ckpt_path`
    itself when a folder, else its parent) or in the levels - 1 folders above; `accept(candidate)`
    may turn a file down. None if there is none."""
    folder = os.path.abspath(os.fspath(ckpt_path))
    if not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    for _ in range(levels):
        for name in names:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and (accept is None or accept(candidate)):
                return candidate
        folder = os.path.dirname(folder)
    return None


def preset_model(model_class, name, label, choices, known=None):
    """model_class.from_preset(name); a name not in `known` (default: `choices`) raises, listing `choices`."""
    if name not in (choices if known is None else known):
        raise OfficialFormatError(f"unknown {label} preset {name!r}; choose one of {list(choices)}.")
    return model_class.from_preset(name)


def yaml_tag(node):
    """The class a ``!new:`` / ``!name:`` tag of an official YAML names ('' when untagged)."""
    return (getattr(node, "tag", None) or "").split(":", 1)[-1]
