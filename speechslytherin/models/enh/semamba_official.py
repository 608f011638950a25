"""Conversion of the official SEMamba release (RoyChao19477/SEMamba) into toolkit models.

The release files (``ckpts/SEMamba_advanced.pth``, ``ckpts/vd.pth``, and the ``g_XXXXXXXX.pth``
files its training writes) are ``torch.save({'generator': state_dict})``. The keys need no
renaming: ``models.enh.semamba.SEMamba`` has the official layout. The model settings come from
the official config yaml (``ckpts/config.yaml`` or the recipe's ``SEMamba_advanced.yaml``;
model_cfg / stft_cfg sections), a toolkit config, or a preset (``advanced``).
"""

import os
import re

from speechslytherin.models.enh.semamba import PRESETS, SEMamba
from speechslytherin.models.official_config import load_plain_yaml
from speechslytherin.models.official_io import (OfficialFormatError, find_config_near, given_checkpoint,
                                                is_tensor_dict, preset_model, torch_load)

DEFAULT_SAMPLE_RATE = 16000
TASK = "enh"
MODEL_CLASS = SEMamba
GENERATOR_FILE = re.compile(r"^g_(\d+)\.pth$")


def find_checkpoint_file(path, ckpt_name=None):
    """The .pth to read: `path` itself, or in a folder `ckpt_name` or the newest g_XXXXXXXX.pth."""
    given = given_checkpoint(path, ckpt_name, "no such file or folder; give the official .pth file "
                                              "(e.g. ckpts/SEMamba_advanced.pth) or an exp folder with g_*.pth files.")
    if given:
        return given
    path = os.fspath(path)
    found = sorted((int(m.group(1)), name) for name in os.listdir(path) if (m := GENERATOR_FILE.match(name)))
    if not found:
        raise OfficialFormatError(f"{path}: no g_XXXXXXXX.pth generator checkpoint in this folder "
                                  f"(found: {sorted(os.listdir(path))[:10]}).")
    return os.path.join(path, found[-1][1])


def read_official_state_dict(path, ckpt_name=None):
    """The generator state dict of an official checkpoint and the file it came from."""
    file = find_checkpoint_file(path, ckpt_name)
    payload = torch_load(file)
    if not isinstance(payload, dict):
        raise OfficialFormatError(f"{file}: expected a dict, got {type(payload).__name__}.")
    if "generator" in payload:
        state = payload["generator"]
    elif "discriminator" in payload:
        raise OfficialFormatError(f"{file}: a do_XXXXXXXX.pth (discriminator + optimizers) file; import the "
                                  f"matching g_XXXXXXXX.pth generator file instead.")
    elif payload and is_tensor_dict(payload):
        state = payload  # a bare state dict
    else:
        raise OfficialFormatError(f"{file}: no 'generator' entry (keys: {sorted(map(str, payload))[:8]}); "
                                  f"official SEMamba checkpoints are {{'generator': state_dict}}.")
    if not is_tensor_dict(state):
        raise OfficialFormatError(f"{file}: 'generator' is not a state dict of tensors.")
    if state and all(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state), file


def args_from_official_config(path):
    """SEMamba arguments and sample rate from an official config yaml (model_cfg, stft_cfg)."""
    cfg = load_plain_yaml(path)
    model, stft = cfg.get("model_cfg"), cfg.get("stft_cfg") or {}
    if not isinstance(model, dict):
        raise OfficialFormatError(f"{path}: no model_cfg section; is this an official SEMamba config?")
    if stft.get("n_fft", 400) != stft.get("win_size", 400):
        raise OfficialFormatError(f"{path}: win_size {stft.get('win_size')} != n_fft {stft.get('n_fft')}; the "
                                  f"official STFT uses equal sizes.")
    names = ("hid_feature", "num_tfmamba", "d_state", "d_conv", "expand", "norm_epsilon", "beta",
             "compress_factor", "input_channel", "output_channel")
    args = {name: model[name] for name in names if model.get(name) is not None}
    for name in ("n_fft", "hop_size", "win_size"):
        if stft.get(name) is not None:
            args[name] = stft[name]
    return args, int(stft.get("sampling_rate") or DEFAULT_SAMPLE_RATE)


def find_release_config(ckpt_path):
    """``config.yaml`` beside the checkpoint (ckpts/config.yaml; the exp folder's copy), or one folder up."""
    return find_config_near(ckpt_path, ("config.yaml",), 2,
                            accept=lambda candidate: is_official_config(load_plain_yaml(candidate)))


def build_from_official_config(path):
    args, sample_rate = args_from_official_config(path)
    return SEMamba(**args), sample_rate


def build_from_preset(name):
    return preset_model(SEMamba, name, "SEMamba", sorted(PRESETS)), DEFAULT_SAMPLE_RATE


def is_official_config(plain):
    """True for an official SEMamba config (as opposed to a toolkit config with a `model:` key)."""
    return "model_cfg" in plain
