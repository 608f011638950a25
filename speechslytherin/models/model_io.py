"""Self-describing model files: one torch file that rebuilds the network without its YAML.

Contents (a plain dict, loadable with ``torch.load(weights_only=True)``)::

    {"format": "speechslytherin-model", "format_version": 1,
     "class": "speechslytherin.models.sep.mamba_tasnet.MambaTasNet", "args": {...},
     "state_dict": {...}, "sample_rate": 8000, "task": "sep",
     "versions": {"torch": ..., "speechslytherin": ..., "python": ...}, "extra": {...}}

Only classes under ``speechslytherin.`` or a recipe's ``local.`` package are rebuilt, so opening
a model file never imports arbitrary code named inside it.
"""

import importlib
import json
import os
import platform
import re

import torch

FORMAT = "speechslytherin-model"
FORMAT_VERSION = 1
ALLOWED_PREFIXES = ("speechslytherin.", "local.")
_LAYER_INDEX = re.compile(r"\.(\d+)\.")


class ModelFileError(ValueError):
    """A model file that cannot be opened as it is; the message says why and what to do."""


def state_dict_diff(expected, got, expected_name="model", got_name="checkpoint", limit=10):
    """Human-readable differences between two {key: shape-or-tensor} maps ('' if they agree)."""
    def shapes(d):
        return {k: tuple(v.shape) if hasattr(v, "shape") else tuple(v) for k, v in d.items()}

    expected, got = shapes(expected), shapes(got)
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    mismatched = [k for k in expected if k in got and expected[k] != got[k]]
    lines = []

    def show(title, keys, fmt):
        if keys:
            lines.append(f"{title} ({len(keys)}):")
            entries = _group_layer_keys(keys) if fmt is str else [fmt(k) for k in keys]
            lines.extend(f"  {e}" for e in entries[:limit])
            if len(entries) > limit:
                lines.append(f"  ... and {len(entries) - limit} more")

    show(f"keys the {expected_name} needs but the {got_name} lacks", missing, str)
    show(f"keys in the {got_name} the {expected_name} does not have", unexpected, str)
    show("shape mismatches", mismatched,
         lambda k: f"{k}: {expected_name} {list(expected[k])} vs {got_name} {list(got[k])}")
    return "\n".join(lines)


def _group_layer_keys(keys):
    """Collapse per-layer keys: 'a.layers.<i>.w (i = 16..31)' instead of sixteen lines."""
    groups = {}
    for key in keys:
        match = _LAYER_INDEX.search(key)
        if match is None:
            groups.setdefault(key, [])
            continue
        pattern = key[: match.start()] + ".<i>." + key[match.end():]
        groups.setdefault(pattern, []).append(int(match.group(1)))
    entries = []
    for pattern, idx in groups.items():
        if len(idx) <= 1:
            entries.append(pattern.replace(".<i>.", f".{idx[0]}.") if idx else pattern)
        elif sorted(idx) == list(range(min(idx), max(idx) + 1)):
            entries.append(f"{pattern} (i = {min(idx)}..{max(idx)})")
        else:
            entries.append(f"{pattern} (i in {sorted(idx)})")
    return entries


def _versions():
    import speechslytherin

    return {
        "torch": str(torch.__version__),
        "speechslytherin": str(speechslytherin.__version__),
        "python": platform.python_version(),
    }


def model_payload(model, sample_rate, task, extra=None):
    """The dict `save_model` writes (exposed for writers that add their own fields)."""
    if not hasattr(model, "init_args"):
        raise TypeError(
            f"{type(model).__qualname__} does not record its constructor arguments; derive it "
            f"from speechslytherin.models.base.SelfDescribing so it can be saved as a model file."
        )
    class_path = f"{type(model).__module__}.{type(model).__qualname__}"
    if not class_path.startswith(ALLOWED_PREFIXES):
        raise TypeError(
            f"{class_path}: model files may only name classes under {ALLOWED_PREFIXES}; "
            f"move the class into the toolkit or the recipe's local/ package."
        )
    try:  # plain data only, so the file opens with torch.load(weights_only=True)
        extra = json.loads(json.dumps(extra))
    except (TypeError, ValueError):
        raise TypeError(f"save_model: extra={extra!r} must be JSON-serialisable.") from None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": class_path,
        "args": dict(model.init_args),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "sample_rate": int(sample_rate) if sample_rate is not None else None,
        "task": task,
        "versions": _versions(),
        "extra": extra,
    }


def save_model(model, path, sample_rate, task, extra=None):
    """Write `model` as a self-describing file at `path` (atomically); returns the path."""
    from speechslytherin.utils.atomic import torch_save_atomic

    torch_save_atomic(model_payload(model, sample_rate, task, extra), path)
    return path


def read_model_file(path, map_location="cpu"):
    """The checked payload dict of a model file, without building the model."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: model file not found.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ModelFileError(
            f"{path}: not a speechslytherin model file (torch.load failed: {err}). Model files are "
            f"written by `python -m speechslytherin.bin.export` or `bin.import_checkpoint`."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ""
        if isinstance(payload, dict):
            hint = f" It holds keys {sorted(map(str, payload))[:8]}."
        raise ModelFileError(
            f"{path}: not a speechslytherin model file (no format: {FORMAT!r}).{hint} If it is an "
            f"official or training checkpoint, convert it with `python -m "
            f"speechslytherin.bin.import_checkpoint` or `bin.export`."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format_version {version!r}, this toolkit reads up to "
            f"{FORMAT_VERSION}. Upgrade speechslytherin."
        )
    for key in ("class", "args", "state_dict"):
        if key not in payload:
            raise ModelFileError(f"{path}: model file lacks the {key!r} entry; re-export it.")
    return payload


def resolve_class(class_path, source="model file"):
    """Import a model class by dotted path, restricted to the toolkit and recipe-local code."""
    if not isinstance(class_path, str) or not class_path.startswith(ALLOWED_PREFIXES):
        raise ModelFileError(
            f"{source}: class {class_path!r} is not under {ALLOWED_PREFIXES}; refusing to import it."
        )
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        hint = (" Run from the recipe directory (which holds local/) or add it to PYTHONPATH."
                if class_path.startswith("local.") else " Is this toolkit version too old?")
        raise ModelFileError(f"{source}: cannot import {module_name} ({err}).{hint}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelFileError(
            f"{source}: {module_name} has no class {class_name!r} (renamed or removed?)."
        )
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelFileError(f"{source}: {class_path} is not a torch.nn.Module class.")
    return cls


def load_model(path, map_location="cpu"):
    """Rebuild the model saved at `path`: strict weights, eval mode, `.sample_rate`, `.task`."""
    payload = read_model_file(path, map_location=map_location)
    source = os.fspath(path)
    cls = resolve_class(payload["class"], source=source)
    try:
        model = cls(**payload["args"])
    except TypeError as err:
        raise ModelFileError(
            f"{source}: cannot build {payload['class']} from the stored args ({err}); the class "
            f"signature changed since the file was written."
        ) from None
    diff = state_dict_diff(model.state_dict(), payload["state_dict"], "model", "file")
    if diff:
        raise ModelFileError(f"{source}: the weights do not fit {payload['class']}:\n{diff}")
    model.load_state_dict(payload["state_dict"], strict=True)
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu")
    model.eval()
    model.sample_rate = payload.get("sample_rate")
    model.task = payload.get("task")
    model.model_info = {k: payload.get(k) for k in ("class", "args", "versions", "extra", "format_version")}
    return model
