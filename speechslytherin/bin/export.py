"""Write a self-describing model file from a training config and a checkpoint.

    python -m speechslytherin.bin.export --config exp/sep_x/config.yaml --ckpt exp/sep_x/save --out model.pt

``--ckpt`` is a SpeechBrain checkpoint folder (``CKPT+*/model.ckpt``), its ``save/`` parent
(the newest CKPT+* is used unless ``--ckpt-name`` picks one), a ``model.ckpt`` state-dict file,
or an existing model file. The config builds the network (``model:``) and gives
``sample_rate`` and ``task``; the weights must fit it exactly. (``bin/train`` already exports
``exp/<name>/model.pt`` from the averaged best checkpoints; this is for any other checkpoint.)
"""

import argparse
import os
import sys

MODEL_PARAMFILE = "model.ckpt"  # the trainer's recoverable is named "model"


class ExportError(ValueError):
    """The checkpoint or config cannot be exported; the message says why."""


def find_model_ckpt(path, ckpt_name=None):
    """Path of the model state-dict file inside a checkpoint folder (or `path` if it is a file)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise ExportError(f"{path}: checkpoint not found.")
    if ckpt_name:
        candidates = [os.path.join(p, ckpt_name) for p in (path, os.path.join(path, "save"))]
        found = [c for c in candidates if os.path.isfile(os.path.join(c, MODEL_PARAMFILE))]
        if not found:
            raise ExportError(f"{path}: no {ckpt_name}/{MODEL_PARAMFILE} in it or in save/.")
        return os.path.join(found[0], MODEL_PARAMFILE)
    if os.path.isfile(os.path.join(path, MODEL_PARAMFILE)):
        return os.path.join(path, MODEL_PARAMFILE)
    for parent in (path, os.path.join(path, "save")):
        if os.path.isdir(parent):
            ckpts = sorted(d for d in os.listdir(parent)
                           if d.startswith("CKPT+") and os.path.isfile(os.path.join(parent, d, MODEL_PARAMFILE)))
            if ckpts:
                return os.path.join(parent, ckpts[-1], MODEL_PARAMFILE)
    raise ExportError(f"{path}: holds no {MODEL_PARAMFILE} and no CKPT+*/{MODEL_PARAMFILE}.")


def read_state_dict(file):
    import torch

    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ExportError(f"{file}: cannot be read as a torch checkpoint ({err}).") from None
    if isinstance(obj, dict) and obj.get("format") == "speechslytherin-model":
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ExportError(f"{file}: expected a state dict of tensors.")
    return obj


def export(config, ckpt, out, ckpt_name=None, overrides=None):
    """Build the model from `config`, load the checkpoint strictly, write `out`; returns the model."""
    from speechslytherin.config import load_config
    from speechslytherin.models.model_io import save_model, state_dict_diff

    cfg = load_config(config, overrides=overrides)
    model = cfg["model"]
    file = find_model_ckpt(ckpt, ckpt_name)
    state = read_state_dict(file)
    diff = state_dict_diff(model.state_dict(), state, "model built from the config", "checkpoint")
    if diff:
        raise ExportError(f"{file}: the checkpoint does not fit {config}:\n{diff}")
    model.load_state_dict(state, strict=True)
    model.eval()
    save_model(model, out, sample_rate=cfg["sample_rate"], task=cfg["task"],
               extra={"config": getattr(cfg, "text", None), "checkpoint": os.path.abspath(file)})
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m speechslytherin.bin.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the experiment's config YAML")
    parser.add_argument("--ckpt", required=True, help="CKPT+* folder, save/ folder, or model.ckpt file")
    parser.add_argument("--ckpt-name", default=None, help="pick this CKPT+* folder instead of the newest")
    parser.add_argument("--out", required=True, help="model file to write (.pt)")
    parser.add_argument("overrides", nargs="*", help="config overrides: --model.n_layers=8 or model.n_layers=8")
    args, unknown = parser.parse_known_args(argv)
    bad = [u for u in unknown if "=" not in u]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    args.overrides = list(args.overrides) + unknown
    try:
        model = export(args.config, args.ckpt, args.out, ckpt_name=args.ckpt_name,
                       overrides=args.overrides or None)
    except ValueError as err:  # ExportError, ConfigError, ModelFileError
        sys.exit(f"export: error: {err}")
    print(f"wrote {args.out}: {type(model).__qualname__}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
