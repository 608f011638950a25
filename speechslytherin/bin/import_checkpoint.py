r"""Convert an official checkpoint release into a self-describing toolkit model file.

    python -m speechslytherin.bin.import_checkpoint --from mamba-tasnet \
        --config hparams/WSJ0Mix/mambatasnet_S.yaml CKPT_DIR exp/mambatasnet_S.pt

``--config`` is either the official hparams YAML of the release or a toolkit config whose
top-level ``model:`` builds the matching class; ``--preset`` (e.g. S) builds an official
variant without any YAML; with neither, the release's own ``hyperparams.yaml`` (in CKPT_DIR or
up to two folders above it) is used. Keys and shapes are checked before anything is written.

Adding a format: put a module with the attributes below in the package and name it in
IMPORTERS. ``MODEL_CLASS``, ``TASK``, ``DEFAULT_SAMPLE_RATE``; ``read_official_state_dict(path,
ckpt_name) -> (state_dict, resolved_path)``; ``build_from_official_config(yaml) -> (model,
sample_rate)``; ``build_from_preset(name) -> (model, sample_rate)``; ``is_official_config(dict)``;
``OfficialFormatError`` (raised with a readable message); optionally
``find_release_config(ckpt) -> path or None``.
"""

import argparse
import importlib
import os
import sys

IMPORTERS = {
    "mamba-tasnet": "speechslytherin.models.sep.mamba_tasnet_official",
    "dpmamba": "speechslytherin.models.sep.dpmamba_official",
    "spmamba": "speechslytherin.models.sep.spmamba_official",
    "sepmamba": "speechslytherin.models.sep.sepmamba_official",
    "semamba": "speechslytherin.models.enh.semamba_official",
}


class CheckpointImportError(ValueError):
    """The checkpoint or config does not fit; the message names the file and the difference."""


def get_importer(name):
    if name not in IMPORTERS:
        raise CheckpointImportError(f"--from {name!r}: unknown format; known: {', '.join(sorted(IMPORTERS))}.")
    try:
        return importlib.import_module(IMPORTERS[name])
    except ModuleNotFoundError as err:
        if err.name != IMPORTERS[name]:
            raise
        raise CheckpointImportError(f"--from {name}: not available in this version of the toolkit.") from None


def load_toolkit_config(path):
    """The instantiated toolkit config (lead's loader when present, else plain hyperpyyaml)."""
    try:
        from speechslytherin.config import load_config
    except ImportError:
        from hyperpyyaml import load_hyperpyyaml

        with open(path, encoding="utf-8") as f:
            return load_hyperpyyaml(f)
    return load_config(path)


def build_model(importer, config=None, preset=None):
    """(model, sample_rate) from an official hparams file, a toolkit config or a preset."""
    from speechslytherin.models.official_config import load_plain_yaml

    if config is not None and preset is not None:
        raise CheckpointImportError("give --config FILE.yaml or --preset NAME, not both.")
    if preset is not None:
        return importer.build_from_preset(preset)
    if not os.path.isfile(config):
        raise CheckpointImportError(f"{config}: config file not found.")
    plain = load_plain_yaml(config)
    if importer.is_official_config(plain):
        return importer.build_from_official_config(config)
    if "model" not in plain:
        raise CheckpointImportError(
            f"{config}: neither an official hparams file nor a toolkit config (no top-level `model:`)."
        )
    cfg = load_toolkit_config(config)
    model = cfg["model"]
    if not isinstance(model, importer.MODEL_CLASS):
        raise CheckpointImportError(
            f"{config}: `model:` builds {type(model).__qualname__}, but this format needs "
            f"{importer.MODEL_CLASS.__qualname__}."
        )
    return model, cfg.get("sample_rate", importer.DEFAULT_SAMPLE_RATE)


def import_checkpoint(source, ckpt, out, config=None, preset=None, ckpt_name=None, sample_rate=None):
    """Build, check, load and save; returns the loaded model (eval mode)."""
    from speechslytherin.models.model_io import save_model, state_dict_diff

    importer = get_importer(source)
    if config is None and preset is None:
        finder = getattr(importer, "find_release_config", None)
        config = finder(ckpt) if finder else None
        if config is None:
            raise CheckpointImportError(
                f"{ckpt}: no hyperparams.yaml found beside the checkpoint; give --config FILE.yaml "
                f"(the release's hparams or a toolkit config) or --preset NAME."
            )
    try:
        model, config_sr = build_model(importer, config=config, preset=preset)
        state, resolved = importer.read_official_state_dict(ckpt, ckpt_name)
    except importer.OfficialFormatError as err:
        raise CheckpointImportError(str(err)) from None
    diff = state_dict_diff(model.state_dict(), state, "model built from the config", "checkpoint")
    if diff:
        raise CheckpointImportError(
            f"{resolved}: the checkpoint does not fit the configuration "
            f"({config or 'preset ' + str(preset)}):\n{diff}\n"
            f"Use the config that trained this checkpoint (e.g. its hyperparams.yaml)."
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    sample_rate = sample_rate or config_sr
    extra = {
        "imported_from": source,
        "checkpoint": os.path.abspath(resolved),
        "config": os.path.abspath(config) if config else None,
        "preset": preset,
    }
    save_model(model, out, sample_rate=sample_rate, task=importer.TASK, extra=extra)
    model.sample_rate, model.task = sample_rate, importer.TASK
    return model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m speechslytherin.bin.import_checkpoint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(IMPORTERS),
                        help="format of the official release")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config", help="official hparams YAML or toolkit config YAML "
                       "(default: the release's hyperparams.yaml beside the checkpoint)")
    group.add_argument("--preset", help="official variant name (e.g. XS, S, M, L) instead of a YAML")
    parser.add_argument("--ckpt-name", default=None,
                        help="pick this CKPT+* folder instead of the newest")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="override the sample rate recorded in the model file")
    parser.add_argument("ckpt", help="checkpoint folder (CKPT+*, its save/ parent, or the exp folder)")
    parser.add_argument("out", help="model file to write (.pt)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        model = import_checkpoint(args.source, args.ckpt, args.out, config=args.config,
                                  preset=args.preset, ckpt_name=args.ckpt_name,
                                  sample_rate=args.sample_rate)
    except (CheckpointImportError, ValueError) as err:
        sys.exit(f"import_checkpoint: error: {err}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {type(model).__qualname__}, {n_params:,} parameters, "
          f"{model.sample_rate} Hz, task {model.task}")


if __name__ == "__main__":
    main()
