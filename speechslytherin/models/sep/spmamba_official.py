"""Conversion of the official SPMamba release (JusperLee/SPMamba) into toolkit models.

What the official training writes (audio_train.py) into ``Experiments/checkpoint/<exp_name>/``:
- ``best_model.pth``: ``{"model_name", "state_dict", "model_args", "infos"}`` (BaseModel.serialize).
  The released LibriMix model says ``model_name: "TFGridNetMamba"`` (issue #14); both names are
  accepted.
- Lightning ``epoch=*.ckpt`` files: ``{"state_dict": {"audio_model.<key>": ...}, ...}``.
- ``conf.yml``: the run's config; its ``audionet.audionet_config`` builds the model.
Keys need no renaming beyond dropping ``audio_model.``: the toolkit SPMamba has the official
layout. A bare state dict (keys ``conv.0.weight`` ...) is accepted too.

    python -m speechslytherin.bin.import_checkpoint --from spmamba [--preset librimix | --config conf.yml] \
        Experiments/checkpoint/SPMamba-Libri2Mix/best_model.pth exp/spmamba_librimix.pt
"""

import os
import warnings

import torch

from speechslytherin.models.official_config import load_plain_yaml
from speechslytherin.models.official_io import OfficialFormatError, find_config_near, given_checkpoint, preset_model
from speechslytherin.models.sep.spmamba import PRESET_SAMPLE_RATES, PRESETS, SPMamba

TASK = "sep"
MODEL_CLASS = SPMamba
DEFAULT_SAMPLE_RATE = 8000  # wsj0, wham and librimix configs; echo2mix is 16 kHz
MODEL_NAMES = ("SPMamba", "TFGridNetMamba")
LIGHTNING_PREFIX = "audio_model."
CHECKPOINT_FILES = ("best_model.pth",)  # preferred in a folder, before any Lightning *.ckpt
CONFIG_FILES = ("conf.yml", "conf.yaml")
# official audionet_config keys -> toolkit SPMamba arguments (the rest must match or be unused)
ARG_NAMES = {"n_srcs": "n_src", "n_fft": "n_fft", "stride": "stride", "window": "window", "n_layers": "n_layers",
             "attn_n_head": "attn_n_head", "attn_approx_qk_dim": "attn_approx_qk_dim", "emb_dim": "emb_dim",
             "emb_ks": "emb_ks", "emb_hs": "emb_hs", "activation": "activation", "eps": "eps"}
UNUSED_ARGS = ("input_dim", "lstm_hidden_units", "use_builtin_complex", "sample_rate")


def find_checkpoint_file(path, ckpt_name=None):
    """The checkpoint file: `path` itself, or in folder `path` the file `ckpt_name`, else
    best_model.pth, else the newest Lightning *.ckpt."""
    given = given_checkpoint(path, ckpt_name)
    if given:
        return given
    path = os.fspath(path)
    for name in CHECKPOINT_FILES:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    ckpts = [os.path.join(path, f) for f in os.listdir(path) if f.endswith(".ckpt")]
    if ckpts:
        return max(ckpts, key=os.path.getmtime)
    raise OfficialFormatError(
        f"{path}: holds neither best_model.pth nor a Lightning *.ckpt (found: {sorted(os.listdir(path))[:10]})."
    )


def _torch_load(file):
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as safe_err:  # noqa: BLE001 - Lightning files may pickle non-tensor objects
        try:
            obj = torch.load(file, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001
            raise OfficialFormatError(f"{file}: cannot be read as a torch checkpoint ({err}).") from None
        warnings.warn(f"{file}: needed full unpickling ({type(safe_err).__name__}); import only checkpoints "
                      f"you trust.", stacklevel=3)
        return obj


def extract_state_dict(obj, file="checkpoint"):
    """The bare SPMamba state dict inside an official checkpoint object (see module docstring)."""
    if not isinstance(obj, dict):
        raise OfficialFormatError(f"{file}: expected a dict, got {type(obj).__name__}.")
    name = obj.get("model_name")
    if name is not None and name not in MODEL_NAMES:
        raise OfficialFormatError(f"{file}: model_name is {name!r}, not one of {MODEL_NAMES} (SPMamba).")
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state:
        raise OfficialFormatError(f"{file}: no state_dict in it (keys: {sorted(obj)[:10]}).")
    if any(k.startswith(LIGHTNING_PREFIX) for k in state):
        state = {k[len(LIGHTNING_PREFIX):]: v for k, v in state.items() if k.startswith(LIGHTNING_PREFIX)}
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise OfficialFormatError(f"{file}: state_dict entries that are not tensors: {bad[:5]}.")
    return dict(state)


def read_official_state_dict(path, ckpt_name=None):
    """(bare SPMamba state dict, the file it came from)."""
    file = find_checkpoint_file(path, ckpt_name)
    return extract_state_dict(_torch_load(file), file), file


def find_release_config(ckpt_path):
    """The run's conf.yml beside the checkpoint (or in the folder given, or one folder up)."""
    return find_config_near(ckpt_path, CONFIG_FILES, 2)


def is_official_config(plain):
    """True for an official look2hear conf (as opposed to a toolkit config with `model:`)."""
    return "audionet" in plain


def args_from_official_config(plain, path="config"):
    """(SPMamba arguments, sample rate) from a loaded official conf."""
    net = plain.get("audionet") or {}
    name = net.get("audionet_name")
    if name not in MODEL_NAMES:
        raise OfficialFormatError(f"{path}: audionet_name is {name!r}, not one of {MODEL_NAMES}.")
    conf = dict(net.get("audionet_config") or {})
    if int(conf.pop("n_imics", 1)) != 1:
        raise OfficialFormatError(f"{path}: n_imics > 1 (multi-microphone input) is not supported.")
    unknown = sorted(set(conf) - set(ARG_NAMES) - set(UNUSED_ARGS))
    if unknown:
        raise OfficialFormatError(f"{path}: unknown audionet_config keys {unknown}.")
    args = {ARG_NAMES[k]: v for k, v in conf.items() if k in ARG_NAMES}
    if "eps" in args:
        args["eps"] = float(args["eps"])
    data = ((plain.get("datamodule") or {}).get("data_config") or {})
    sample_rate = data.get("sample_rate") or conf.get("sample_rate")
    if sample_rate is None:  # every official config pairs n_fft 512 with 16 kHz and 256 with 8 kHz
        sample_rate = 16000 if int(args.get("n_fft", 256)) >= 512 else DEFAULT_SAMPLE_RATE
    return args, int(sample_rate)


def build_from_official_config(path):
    args, sample_rate = args_from_official_config(load_plain_yaml(path), path)
    return SPMamba(**args), sample_rate


def build_from_preset(name):
    return preset_model(SPMamba, name, "SPMamba", sorted(PRESETS)), PRESET_SAMPLE_RATES[name]
