"""Conversion of the official Mamba-TasNet release (xi-j/Mamba-TasNet) into toolkit models.

The release is a SpeechBrain checkpoint folder ``save/CKPT+<date>/`` holding
``encoder.ckpt``, ``masknet.ckpt`` and ``decoder.ckpt`` (each a plain torch.save of a state
dict) beside the recipe's ``hyperparams.yaml``. Keys need no renaming: the toolkit model's
``encoder.``/``masknet.``/``decoder.`` submodules have the official layouts.
"""

import os

from speechslytherin.models.official_config import load_plain_yaml
from speechslytherin.models.official_io import (OfficialFormatError, find_config_near, is_tensor_dict, preset_model,
                                                torch_load, yaml_tag)
from speechslytherin.models.sep.mamba_tasnet import PRESETS, MambaTasNet

PARTS = ("encoder", "masknet", "decoder")
OFFICIAL_MASKNET = "modules.mamba_masknet.MaskNet"
DEFAULT_SAMPLE_RATE = 8000  # every official Mamba-TasNet config is WSJ0-2mix 8 kHz
TASK = "sep"
MODEL_CLASS = MambaTasNet


def find_checkpoint_dir(path, ckpt_name=None):
    """The folder holding the three .ckpt files: `path` itself, or its (or its save/) CKPT+* child.

    With several CKPT+* folders the newest (SpeechBrain names sort by date) is used unless
    `ckpt_name` picks one.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise OfficialFormatError(f"{path}: not a directory; give the CKPT+* folder or its save/ parent.")
    if ckpt_name:
        for parent in (path, os.path.join(path, "save")):
            if os.path.isdir(os.path.join(parent, ckpt_name)):
                return os.path.join(parent, ckpt_name)
        raise OfficialFormatError(f"{path}: no checkpoint folder named {ckpt_name!r} in it or in save/.")
    if any(os.path.isfile(os.path.join(path, f"{p}.ckpt")) for p in PARTS):
        return path
    for parent in (path, os.path.join(path, "save")):
        if os.path.isdir(parent):
            found = sorted(d for d in os.listdir(parent)
                           if d.startswith("CKPT+") and os.path.isdir(os.path.join(parent, d)))
            if found:
                return os.path.join(parent, found[-1])
    raise OfficialFormatError(
        f"{path}: holds neither {', '.join(p + '.ckpt' for p in PARTS)} nor a CKPT+* folder "
        f"(found: {sorted(os.listdir(path))[:10]})."
    )


def read_official_state_dict(path, ckpt_name=None):
    """Model-level state dict (``encoder.*``, ``masknet.*``, ``decoder.*``) of an official checkpoint."""
    ckpt_dir = find_checkpoint_dir(path, ckpt_name)
    state = {}
    for part in PARTS:
        file = os.path.join(ckpt_dir, f"{part}.ckpt")
        if not os.path.isfile(file):
            raise OfficialFormatError(f"{ckpt_dir}: {part}.ckpt is missing; the release has {PARTS}.")
        part_state = torch_load(file, "a torch state dict")
        if not is_tensor_dict(part_state):
            raise OfficialFormatError(f"{file}: expected a plain state dict of tensors.")
        state.update({f"{part}.{k}": v for k, v in part_state.items()})
    return state, ckpt_dir


def masknet_section(hp, path, expected, model, hint):
    """The MaskNet mapping of a SpeechBrain separation recipe's hparams; refuses a file without one
    or whose MaskNet is another class than `expected` (`hint` says which importer reads that)."""
    masknet = hp.get("MaskNet")
    if not isinstance(masknet, dict):
        raise OfficialFormatError(f"{path}: no MaskNet section; is this an official {model} hparams file?")
    tag = yaml_tag(masknet)
    if tag and tag != expected:
        raise OfficialFormatError(f"{path}: MaskNet is {tag}, not {expected} ({model}); {hint}")
    return masknet


def conv_codec(hp):
    """(encoder channels, kernel size, stride) of the recipe's Encoder/Decoder sections, with the
    SpeechBrain recipe defaults (N_encoder_out, kernel_size 16, stride kernel_size // 2)."""
    encoder, decoder = hp.get("Encoder") or {}, hp.get("Decoder") or {}
    kernel_size = encoder.get("kernel_size", hp.get("kernel_size", 16))
    return encoder.get("out_channels", hp.get("N_encoder_out")), kernel_size, decoder.get("stride", kernel_size // 2)


def args_from_official_hparams(path):
    """MambaTasNet arguments and sample rate from an official hparams/hyperparams.yaml."""
    hp = load_plain_yaml(path)
    masknet = masknet_section(hp, path, OFFICIAL_MASKNET, "Mamba-TasNet",
                              "DPMamba and other mask networks need their own importer.")
    n_enc, kernel_size, stride = conv_codec(hp)
    n_feat = masknet.get("enc_dim", n_enc)
    bot = masknet.get("bot_dim", n_feat)
    if masknet.get("d_model", bot) != bot:
        raise OfficialFormatError(f"{path}: MaskNet d_model {masknet.get('d_model')} != bot_dim {bot}.")
    mask_act = masknet.get("mask_nonlinear", "relu")
    if mask_act != "relu":
        raise OfficialFormatError(f"{path}: mask_nonlinear={mask_act!r}; only the official 'relu' is supported.")
    args = {
        "n_src": masknet.get("n_spk", hp.get("num_spks", 2)),
        "N": n_feat,
        "kernel_size": kernel_size,
        "stride": stride,
        "n_layers": masknet.get("n_mamba", 16),
        "d_state": masknet.get("d_state", 16),
        "d_conv": masknet.get("d_conv", 4),
        "expand": masknet.get("expand", 2),
        "bidirectional": masknet.get("bidirectional", True),
        "rms_norm": masknet.get("rms_norm", True),
        "mask_act": "relu",
        "bottleneck": None if bot == n_feat else bot,
        # fused_add_norm is a kernel fusion with the same math; the toolkit picks its own kernels.
        "residual_in_fp32": masknet.get("residual_in_fp32", False),
    }
    return args, int(hp.get("sample_rate") or DEFAULT_SAMPLE_RATE)


def find_release_config(ckpt_path):
    """The release's own hyperparams.yaml: in the given folder or up to two folders above it
    (``<exp>/hyperparams.yaml`` beside ``<exp>/save/CKPT+*``); None if there is none."""
    return find_config_near(ckpt_path, ("hyperparams.yaml",), 3)


def build_from_official_config(path):
    args, sample_rate = args_from_official_hparams(path)
    return MambaTasNet(**args), sample_rate


def build_from_preset(name):
    return preset_model(MambaTasNet, name, "Mamba-TasNet", sorted(PRESETS)), DEFAULT_SAMPLE_RATE


def is_official_config(plain):
    """True for an official hparams file (as opposed to a toolkit config with a `model:` key)."""
    return "MaskNet" in plain or "N_encoder_out" in plain
