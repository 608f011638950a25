"""Single-speaker speech to simulate mixtures from, split into train / val / test by speaker.

Three sources are understood (first match wins):
- speech manifests, one per split: {id: {"audio": path, "speaker": spk, ...}} (paths may hold
  `{data_root}`, filled with the root);
- the mini corpus: ROOT/utterances.json + ROOT/speech/ (tr -> train, cv -> val, tt -> test);
- LibriSpeech: ROOT[/LibriSpeech]/<subset>/<speaker>/<chapter>/*.flac (default subsets
  train-clean-100 -> train, dev-clean -> val, test-clean -> test).
The result is {split: {speaker: [path, ...]}} with sorted speakers and paths (deterministic draws).
"""

import json
import os

from speechslytherin.data.manifest import read_json_object, resolve_entry

SPLITS = ("train", "val", "test")
MINI_SPLITS = {"tr": "train", "cv": "val", "tt": "test"}
LIBRISPEECH_SUBSETS = {"train": "train-clean-100", "val": "dev-clean", "test": "test-clean"}
AUDIO_EXTS = (".wav", ".flac")


class SpeechSourceError(ValueError):
    """The speech source is missing or unusable; the message says what was expected."""


def _sorted(groups):
    return {split: {spk: sorted(paths) for spk, paths in sorted(spks.items())} for split, spks in groups.items()}


def from_manifests(manifests, root):
    groups = {}
    for split, path in manifests.items():
        data = read_json_object(path, missing="speech manifest not found.", redo="Fix or re-create it.")
        spks = {}
        for uid, entry in data.items():
            if not isinstance(entry, dict) or "audio" not in entry or "speaker" not in entry:
                raise SpeechSourceError(f"{path}: id '{uid}' needs 'audio' and 'speaker' keys (a speech manifest).")
            entry = resolve_entry(entry, {"data_root": root})
            spks.setdefault(str(entry["speaker"]), []).append(entry["audio"])
        groups[split] = spks
    return groups


def from_mini(root):
    with open(os.path.join(root, "utterances.json"), encoding="utf-8") as f:
        utterances = json.load(f)
    groups = {split: {} for split in SPLITS}
    for entry in utterances.values():
        split = MINI_SPLITS.get(entry.get("split"))
        if split is not None:
            groups[split].setdefault(entry["speaker"], []).append(os.path.join(root, entry["path"]))
    return groups


def librispeech_base(root):
    for base in (root, os.path.join(root, "LibriSpeech")):
        if any(os.path.isdir(os.path.join(base, s)) for s in LIBRISPEECH_SUBSETS.values()):
            return base
    return None


def from_librispeech(base, subsets):
    groups = {}
    for split, subset in subsets.items():
        folder = os.path.join(base, subset)
        if not os.path.isdir(folder):
            raise SpeechSourceError(f"LibriSpeech subset {folder} not found (needed for the {split} split); "
                                    f"choose subsets with --librispeech-subsets.")
        spks = {}
        for spk in sorted(os.listdir(folder)):
            for dirpath, _, files in os.walk(os.path.join(folder, spk)):
                spks.setdefault(spk, []).extend(os.path.join(dirpath, n) for n in files
                                                if os.path.splitext(n)[1].lower() in AUDIO_EXTS)
        groups[split] = {s: p for s, p in spks.items() if p}
    return groups


def load_speech(root, manifests=None, librispeech_subsets=None):
    """{split: {speaker: [paths]}} for train/val/test; raises SpeechSourceError naming what is missing."""
    root = os.fspath(root)
    if manifests:
        groups = from_manifests(manifests, root)
    elif os.path.isfile(os.path.join(root, "utterances.json")):
        groups = from_mini(root)
    elif librispeech_base(root):
        groups = from_librispeech(librispeech_base(root), librispeech_subsets or LIBRISPEECH_SUBSETS)
    else:
        raise SpeechSourceError(
            f"no speech found at {root}: expected a mini corpus (utterances.json + speech/), LibriSpeech "
            f"({', '.join(LIBRISPEECH_SUBSETS.values())}/<speaker>/<chapter>/*.flac) or --speech-manifest "
            "SPLIT=PATH for train, val and test.")
    missing = [s for s in SPLITS if s not in groups]
    if missing:
        raise SpeechSourceError(f"no speech for split(s) {', '.join(missing)}; give one source per split.")
    for split in SPLITS:
        if len(groups[split]) < 2:
            raise SpeechSourceError(f"{split}: {len(groups[split])} speaker(s) in the speech source {root}; "
                                    "two-speaker mixtures need at least 2.")
    return _sorted(groups)
