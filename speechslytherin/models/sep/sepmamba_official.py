"""Conversion of official SepMamba checkpoints (itsmeeandrew/SepMamba) into toolkit models.

The official training (src/train.py) writes ``best_model.pth`` and ``last_model.pth`` into the
Hydra run folder, each ``{epoch, model_state_dict, optimizer_state_dict, lr_scheduler}``, and
Hydra keeps the run's config in ``<run>/.hydra/config.yaml`` (its ``model:`` section is
``src/conf/model/SepMamba.yaml`` or ``SepMambaCausal.yaml``). No trained checkpoint was released,
so this reads what the official code writes. Keys need no renaming: the toolkit model has the
official module tree. ``--config`` takes the run's config.yaml, a model YAML alone, or a toolkit
config; ``--preset`` takes S, M, causal-S or causal-M.
"""

import os

from speechslytherin.models.official_config import load_plain_yaml
from speechslytherin.models.official_io import (OfficialFormatError, find_config_near, given_checkpoint,
                                                is_tensor_dict, torch_load)
from speechslytherin.models.sep.sepmamba import PRESETS, SepMamba

DEFAULT_SAMPLE_RATE = 8000  # every official setup is WSJ0-2mix at 8 kHz (resample_rate: 8000)
TASK = "sep"
MODEL_CLASS = SepMamba
CHECKPOINT_NAMES = ("best_model.pth", "last_model.pth")
OFFICIAL_PRESETS = ("S", "M", "causal-S", "causal-M")
# Constructor defaults of the official classes, used where a config leaves a key out.
OFFICIAL_DEFAULTS = {
    "SepMamba": {"kernel_sizes": [12, 12, 12], "strides": [2, 2, 2], "num_blocks": 3, "act_fn": "relu"},
    "SepMambaCausal": {"kernel_sizes": [12, 12, 12], "strides": [2, 2, 2], "num_blocks": 6, "act_fn": "relu"},
}


def find_checkpoint_file(path, ckpt_name=None):
    """The .pth file: `path` itself, or `ckpt_name` / best_model.pth / last_model.pth inside it."""
    given = given_checkpoint(path, not_found="not found; give best_model.pth (or last_model.pth) or its run folder.")
    if given:
        return given
    path = os.fspath(path)
    names = (ckpt_name,) if ckpt_name else CHECKPOINT_NAMES
    for name in names:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    raise OfficialFormatError(f"{path}: holds none of {', '.join(names)} (found: {sorted(os.listdir(path))[:10]}).")


def read_official_state_dict(path, ckpt_name=None):
    """(model state dict, checkpoint file) of an official checkpoint (or of a bare state dict)."""
    file = find_checkpoint_file(path, ckpt_name)
    ckpt = torch_load(file)
    if not isinstance(ckpt, dict):
        raise OfficialFormatError(f"{file}: expected a dict with 'model_state_dict', got {type(ckpt).__name__}.")
    state = ckpt.get("model_state_dict", ckpt)
    if not state or not is_tensor_dict(state):
        raise OfficialFormatError(
            f"{file}: no 'model_state_dict' of tensors (keys: {sorted(ckpt)[:8]}); the official train.py "
            f"saves {{epoch, model_state_dict, optimizer_state_dict, lr_scheduler}}.")
    return dict(state), file


def _model_section(plain, path):
    """The official model mapping: a Hydra run config's `model:` or a model YAML itself."""
    section = plain.get("model") if isinstance(plain.get("model"), dict) and "_target_" in plain["model"] else plain
    target = str(section.get("_target_", ""))
    cls = target.rsplit(".", 1)[-1]
    if cls not in OFFICIAL_DEFAULTS:
        raise OfficialFormatError(f"{path}: model _target_ is {target or '(none)'!r}; expected "
                                  f"src.models.SepMamba.SepMamba or src.models.SepMambaCausal.SepMambaCausal.")
    return section, cls


def args_from_official_config(path):
    """SepMamba arguments and sample rate from an official Hydra config (run or model YAML)."""
    plain = load_plain_yaml(path)
    section, cls = _model_section(plain, path)
    args = dict(OFFICIAL_DEFAULTS[cls])
    for key in ("dim", "kernel_sizes", "strides", "num_blocks", "act_fn"):
        if key in section:
            args[key] = section[key]
    if "dim" not in args:
        raise OfficialFormatError(f"{path}: the model section has no `dim` (the official classes require it).")
    args["causal"] = cls == "SepMambaCausal"
    dataset = plain.get("dataset") if isinstance(plain.get("dataset"), dict) else {}
    return args, int(dataset.get("resample_rate") or DEFAULT_SAMPLE_RATE)


def find_release_config(ckpt_path):
    """Hydra's ``.hydra/config.yaml`` of the run: beside the checkpoint or up to two folders above."""
    return find_config_near(ckpt_path, (os.path.join(".hydra", "config.yaml"),), 3)


def build_from_official_config(path):
    args, sample_rate = args_from_official_config(path)
    return SepMamba(**args), sample_rate


def build_from_preset(name):
    canonical = name.replace("_", "-")
    canonical = {p.lower(): p for p in OFFICIAL_PRESETS}.get(canonical.lower(), canonical)
    if canonical not in PRESETS:
        raise OfficialFormatError(f"unknown SepMamba preset {name!r}; choose one of {list(OFFICIAL_PRESETS)}.")
    return SepMamba.from_preset(canonical), DEFAULT_SAMPLE_RATE


def is_official_config(plain):
    """True for an official Hydra config (run config or model YAML), not a toolkit config."""
    model = plain.get("model")
    return "_target_" in plain or (isinstance(model, dict) and "_target_" in model)
