"""Manifests: one JSON file per set, SpeechBrain's native layout (utterance id -> entry).

Two entry kinds are checked here:
- separation / enhancement: {"mix", "sources": [...], "duration", "sample_rate", "speakers"?, "noise"?}
- single-speaker pool (dynamic mixing): {"audio", "speaker", "duration", "sample_rate"}
Other kinds (ASR/TTS: "audio", "text", ...) load with only the common checks.

Paths may hold `{name}` placeholders (e.g. `{data_root}/wav8k/...`) that `replacements`
fills in, so a manifest can move with its corpus.
"""

import json
import numbers
import os
import re

from speechslytherin.utils.atomic import write_json_atomic

PATH_KEYS = ("mix", "sources", "audio", "noise")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

SCHEMAS = {
    "separation": {"mix": "path", "sources": "paths", "duration": "seconds", "sample_rate": "rate"},
    "pool": {"audio": "path", "speaker": "str", "duration": "seconds", "sample_rate": "rate"},
}


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, the id and the key."""


def entry_kind(entry):
    """'separation' for mixture entries, 'pool' for single-speaker audio, else 'other'."""
    if "mix" in entry or "sources" in entry:
        return "separation"
    if "audio" in entry and "speaker" in entry and "text" not in entry:
        return "pool"
    return "other"


def _fill(value, replacements):
    if replacements is None or not isinstance(value, str):
        return value
    for name, repl in replacements.items():
        value = value.replace("{" + name + "}", os.fspath(repl))
    return value


def resolve_entry(entry, replacements=None):
    """Copy of `entry` with placeholders in its path fields replaced."""
    out = dict(entry)
    for key in PATH_KEYS:
        if key in out:
            if isinstance(out[key], list):
                out[key] = [_fill(v, replacements) for v in out[key]]
            else:
                out[key] = _fill(out[key], replacements)
    return out


def _check_value(where, key, kind, value):
    if kind == "path":
        if not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: key '{key}' must be a non-empty path string, got {value!r}.")
    elif kind == "paths":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ManifestError(f"{where}: key '{key}' must be a non-empty list of path strings, got {value!r}.")
    elif kind == "seconds":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ManifestError(
                f"{where}: key '{key}' must be a positive number of seconds, got {value!r}. "
                "Re-run data preparation."
            )
    elif kind == "rate":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ManifestError(f"{where}: key '{key}' must be a positive integer (Hz), got {value!r}.")
    elif kind == "str":
        if not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: key '{key}' must be a non-empty string, got {value!r}.")


def validate_entry(where, entry, kind=None, check_placeholders=True):
    """Raise ManifestError if `entry` lacks a required key or has a bad value.

    check_placeholders: also reject paths that still hold `{name}` (True once resolved).
    """
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: entry must be a JSON object, got {type(entry).__name__}.")
    kind = kind or entry_kind(entry)
    schema = SCHEMAS.get(kind, {})
    for key, value_kind in schema.items():
        if key not in entry:
            raise ManifestError(
                f"{where}: missing key '{key}' (a {kind} entry needs {sorted(schema)}). "
                "Re-run data preparation or fix the entry."
            )
        _check_value(where, key, value_kind, entry[key])
    if kind == "separation" and "speakers" in entry:
        if not isinstance(entry["speakers"], list):
            raise ManifestError(f"{where}: key 'speakers' must be a list, got {entry['speakers']!r}.")
    for key in PATH_KEYS if check_placeholders else ():
        values = entry.get(key)
        values = values if isinstance(values, list) else [values]
        for v in values:
            if isinstance(v, str):
                left = _PLACEHOLDER.findall(v)
                if left:
                    raise ManifestError(
                        f"{where}: key '{key}' holds the placeholder {{{left[0]}}} in {v!r}; "
                        f"pass replacements={{'{left[0]}': <path>}} (e.g. the corpus root)."
                    )
    return kind


def read_json_object(path, missing, redo, error=ManifestError, expected="id -> entry"):
    """A JSON file holding an object (`expected`, e.g. id -> entry); `missing` / `redo` finish the
    messages of the `error` raised when the file is absent / not JSON."""
    if not os.path.isfile(path):
        raise error(f"{path}: {missing}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err}). {redo}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object {expected}, got {type(data).__name__}.")
    return data


def load_manifest(path, replacements=None, kind=None):
    """Load and check a manifest; returns {id: entry} with placeholders resolved.

    kind: None (infer per entry), 'separation' or 'pool' to insist on one kind.
    """
    path = os.fspath(path)
    data = read_json_object(path, missing="manifest not found. Run the data preparation stage first.",
                            redo="Re-run data preparation.")
    if not data:
        raise ManifestError(f"{path}: the manifest is empty. Check the corpus root given to data preparation.")
    out = {}
    for uid, entry in data.items():
        where = f"{path}: id '{uid}'"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: entry must be a JSON object, got {type(entry).__name__}.")
        resolved = resolve_entry(entry, replacements)
        validate_entry(where, resolved, kind)
        out[uid] = resolved
    return out


def save_manifest(path, manifest):
    """Check every entry, then write the manifest atomically (ids kept in the given order).

    Entries may keep `{name}` placeholders in their paths.
    """
    path = os.fspath(path)
    for uid, entry in manifest.items():
        validate_entry(f"{path}: id '{uid}'", entry, check_placeholders=False)
    write_json_atomic(path, manifest)


def as_manifest(manifest, replacements=None, kind=None):
    """Accept a manifest path or an already loaded dict; return the {id: entry} dict."""
    if isinstance(manifest, (str, os.PathLike)):
        return load_manifest(manifest, replacements=replacements, kind=kind)
    if not isinstance(manifest, dict) or not manifest:
        raise ManifestError("manifest must be a path or a non-empty dict id -> entry.")
    out = {}
    for uid, entry in manifest.items():
        resolved = resolve_entry(entry, replacements)
        validate_entry(f"<in-memory manifest>: id '{uid}'", resolved, kind)
        out[uid] = resolved
    return out
