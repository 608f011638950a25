"""Conversion of the official DPMamba release (xi-j/Mamba-TasNet, dpmamba_{XS,S,M,L}) into toolkit models.

The release has the Mamba-TasNet format: a SpeechBrain folder ``save/CKPT+<date>/`` with
``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt`` beside the recipe's ``hyperparams.yaml``,
whose ``MaskNet`` is SpeechBrain's ``Dual_Path_Model`` with ``MambaBlocksSequential`` intra/inter
models. Keys need no renaming (DPMamba's submodules have the official layouts), so the
checkpoint reading is Mamba-TasNet's; only the hparams differ.
Importer interface: see bin/import_checkpoint.py.
"""

from speechslytherin.models.official_config import load_plain_yaml
from speechslytherin.models.official_io import OfficialFormatError, preset_model, yaml_tag
from speechslytherin.models.sep.dpmamba import PRESETS, DPMamba
from speechslytherin.models.sep.mamba_tasnet_official import (  # noqa: F401 - part of the interface
    conv_codec,
    find_checkpoint_dir,
    find_release_config,
    is_official_config,
    masknet_section,
    read_official_state_dict,
)

DEFAULT_SAMPLE_RATE = 8000  # every official DPMamba config is WSJ0-2mix 8 kHz
TASK = "sep"
MODEL_CLASS = DPMamba
OFFICIAL_MASKNET = "speechbrain.lobes.models.dual_path.Dual_Path_Model"
OFFICIAL_SEQUENCE_MODEL = "modules.mamba_blocks.MambaBlocksSequential"


def args_from_official_hparams(path):
    """DPMamba arguments and sample rate from an official dpmamba hparams/hyperparams.yaml."""
    hp = load_plain_yaml(path)
    masknet = masknet_section(hp, path, OFFICIAL_MASKNET, "DPMamba", "Mamba-TasNet releases use --from mamba-tasnet.")
    intra, inter = masknet.get("intra_model"), masknet.get("inter_model")
    for name, node in (("intra_model", intra), ("inter_model", inter)):
        if not isinstance(node, dict) or (yaml_tag(node) and yaml_tag(node) != OFFICIAL_SEQUENCE_MODEL):
            raise OfficialFormatError(f"{path}: MaskNet.{name} is not a {OFFICIAL_SEQUENCE_MODEL} section.")
    if {k: intra.get(k) for k in intra} != {k: inter.get(k) for k in inter}:
        raise OfficialFormatError(f"{path}: intra and inter Mamba models differ; DPMamba builds them alike.")
    if masknet.get("linear_layer_after_inter_intra", True):
        raise OfficialFormatError(f"{path}: linear_layer_after_inter_intra must be False for DPMamba.")
    if masknet.get("norm", "ln") != "ln" or masknet.get("use_global_pos_enc", False):
        raise OfficialFormatError(f"{path}: only norm 'ln' without global positional encoding is supported.")
    n_feat, kernel_size, stride = conv_codec(hp)
    if masknet.get("in_channels", n_feat) != n_feat or masknet.get("out_channels", n_feat) != n_feat \
            or intra.get("d_model", n_feat) != n_feat:
        raise OfficialFormatError(f"{path}: DPMamba needs in_channels = out_channels = d_model = N_encoder_out.")
    args = {
        "n_src": masknet.get("num_spks", hp.get("num_spks", 2)),
        "N": n_feat,
        "kernel_size": kernel_size,
        "stride": stride,
        "n_layers": masknet.get("num_layers", 1),
        "n_mamba": intra.get("n_mamba", 1),
        "chunk_size": masknet.get("K", 200),
        "skip_around_intra": bool(masknet.get("skip_around_intra", True)),
        "bidirectional": intra.get("bidirectional", False),
        "d_state": intra.get("d_state", 16),
        "d_conv": intra.get("d_conv", 4),
        "expand": intra.get("expand", 2),
        "rms_norm": intra.get("rms_norm", False),
        "norm_epsilon": intra.get("norm_epsilon", 1e-5),
        # fused_add_norm is a kernel fusion with the same math; the toolkit picks its own kernels.
        "residual_in_fp32": intra.get("residual_in_fp32", False),
    }
    return args, int(hp.get("sample_rate") or DEFAULT_SAMPLE_RATE)


def build_from_official_config(path):
    args, sample_rate = args_from_official_hparams(path)
    return DPMamba(**args), sample_rate


def build_from_preset(name):
    official = [p for p in PRESETS if p != "tiny"]
    return preset_model(DPMamba, name, "DPMamba", official), DEFAULT_SAMPLE_RATE
