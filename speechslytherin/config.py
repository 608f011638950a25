"""Experiment configs: hyperpyyaml files with fixed top-level sections and dotted overrides.

A config reads like the experiment (SpeechBrain style); the toolkit itself only reads the
`data` and `trainer` sections, whose keys are checked here so a typo is an error, not a
silently ignored setting.
"""

import difflib
import io
import os
import pydoc

import yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references

REQUIRED_SECTIONS = ("task", "sample_rate", "model")
KNOWN_TASKS = ("sep", "enh", "asr", "tts")

# Defaults of the keys the trainer reads; a config may set any of them and nothing else.
DATA_DEFAULTS = {
    "train": "manifest",  # manifest | dynamic_mixing
    "segment": None,  # seconds of training crops; None = whole utterances
    "valid_segment": None,  # seconds; None = whole utterances
    "batch_size": 1,
    "valid_batch_size": 1,
    "num_workers": 0,
    "dm_epoch_size": 20000,  # mixtures per epoch with dynamic mixing
    "speed_perturb": None,  # e.g. [95, 100, 105] (percent), applied to the training targets
    "max_valid_items": None,  # validate on the first N items only
}
TRAINER_DEFAULTS = {
    "epochs": 10,
    "grad_clip": 5.0,
    "precision": "fp32",  # fp32 | bf16 | fp16 (fp16 on CUDA only)
    "ckpt_interval_minutes": 10.0,  # intra-epoch checkpoints, for resuming after a kill
    "n_best_average": 1,  # average the n best checkpoints (by valid loss) into the final model
    "seed": 1234,
    "grad_accumulation": 1,
    "max_steps": None,  # stop after this many optimizer steps (smoke tests)
    "n_plot_examples": 2,  # spectrogram plots of separated validation items
    "threads": None,  # torch intra-op threads on CPU; None = torch's default
    "early_stop_patience": None,  # stop after this many epochs without a lower valid loss (SPMamba: 20)
    "log_interval_seconds": 60.0,  # without a progress bar (a log file): one progress line this often; 0 = none
}


def task_defaults(task):
    """(data defaults, trainer defaults) for a task: the shared keys plus the task module's own
    `DATA_DEFAULTS` / `TRAINER_DEFAULTS` (e.g. an ASR tokenizer path), so each task checks its keys."""
    data, trainer = dict(DATA_DEFAULTS), dict(TRAINER_DEFAULTS)
    try:
        from speechslytherin.tasks import get_task

        module = get_task(task)
    except (ValueError, ImportError):
        return data, trainer
    data.update(getattr(module, "DATA_DEFAULTS", {}))
    trainer.update(getattr(module, "TRAINER_DEFAULTS", {}))
    return data, trainer


class ConfigError(ValueError):
    """A config that cannot be used as written; the message names the key and the fix."""


def parse_overrides(items):
    """Turn ["model.n_layers=8", "trainer.epochs=2"] into a nested dict (values parsed as YAML)."""
    nested = {}
    for item in items or []:
        item = item[2:] if item.startswith("--") else item
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        dotted, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else None
        node = nested
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with another override of '{part}'")
        node[parts[-1]] = value
    return nested


def _plain_yaml(text):
    """Load YAML ignoring hyperpyyaml tags, to inspect the written structure."""

    class TagIgnoringLoader(yaml.SafeLoader):
        pass

    def construct_any(loader, tag_suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    TagIgnoringLoader.add_multi_constructor("!", construct_any)
    return yaml.load(text, Loader=TagIgnoringLoader) or {}


def _check_override_keys(plain, overrides, path, prefix=""):
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if not isinstance(plain, dict) or key not in plain:
            known = list(plain) if isinstance(plain, dict) else []
            hint = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
            hint = f" Did you mean '{prefix}{hint[0]}'?" if hint else ""
            raise ConfigError(
                f"{path}: override '{name}' names no key of the config.{hint} "
                f"Keys there: {', '.join(map(str, known)) or '(none)'}"
            )
        if isinstance(value, dict) and isinstance(plain[key], dict):
            _check_override_keys(plain[key], value, path, prefix=f"{name}.")


def _section(hparams, name, defaults, path):
    given = hparams.get(name) or {}
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: section '{name}' must be a mapping of keys, got {type(given).__name__}")
    unknown = [k for k in given if k not in defaults]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, list(defaults), n=1)
        hint = f" Did you mean '{name}.{hint[0]}'?" if hint else ""
        raise ConfigError(
            f"{path}: unknown key '{name}.{key}'.{hint} Known keys: {', '.join(defaults)}"
        )
    merged = dict(defaults)
    merged.update(given)
    return merged


def _merged(plain, overrides):
    out = dict(plain)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def seed_everything(seed):
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Config(dict):
    """The instantiated hparams plus the text as given, the overrides and the resolved text."""

    path = None
    text = ""
    overrides = None

    @property
    def data(self):
        return self["data"]

    @property
    def trainer(self):
        return self["trainer"]

    def resolved_text(self):
        return resolve_references(io.StringIO(self.text), self.overrides or None).getvalue()


def load_config(path, overrides=None):
    """Load and check a config; `overrides` is a nested dict or a list of 'a.b=value' strings."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    overrides = overrides or {}
    try:
        plain = _plain_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    for section in REQUIRED_SECTIONS:
        if section not in plain:
            raise ConfigError(f"{path}: missing top-level section '{section}'")
    if plain["task"] not in KNOWN_TASKS:
        raise ConfigError(f"{path}: task '{plain['task']}' is not one of {', '.join(KNOWN_TASKS)}")
    data_defaults, trainer_defaults = task_defaults(plain["task"])
    # An override may set any key the YAML has, and any data/trainer key the trainer knows.
    checkable = dict(plain)
    for name, defaults in (("data", data_defaults), ("trainer", trainer_defaults)):
        given = plain.get(name) if isinstance(plain.get(name), dict) else {}
        checkable[name] = {**defaults, **given}
    _check_override_keys(checkable, overrides, path)
    for name, defaults in (("data", data_defaults), ("trainer", trainer_defaults)):
        _section(plain, name, defaults, path)  # checked before instantiation: fail fast
    base_dir = os.path.dirname(os.path.abspath(path))
    # Models are built while the YAML is read: seed first so their initialisation is reproducible.
    seed = _section(_merged(plain, overrides), "trainer", trainer_defaults, path)["seed"]
    seed_everything(int(seed))
    try:
        hparams = load_hyperpyyaml(text, overrides or None)
    except (ImportError, AttributeError, pydoc.ErrorDuringImport) as err:
        raise ConfigError(f"{path}: a class or function named in the config cannot be found: {err}") from None
    except TypeError as err:
        raise ConfigError(f"{path}: a constructor rejected its arguments: {err}") from None
    cfg = Config(hparams)
    cfg["data"] = _section(hparams, "data", data_defaults, path)
    cfg["trainer"] = _section(hparams, "trainer", trainer_defaults, path)
    cfg.path, cfg.text, cfg.overrides = path, text, overrides
    cfg.base_dir = base_dir
    return cfg
