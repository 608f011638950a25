"""Tasks: each module exposes `Brain`, `build_datasets(cfg, data_dir)`, `collate_fn()` and
`plot_examples(...)`; `bin/train.py` drives any of them by the config's `task` key.

Optional, per task module:
- `DATA_DEFAULTS` / `TRAINER_DEFAULTS`: extra keys (with defaults) its config's `data:` /
  `trainer:` sections may set, checked like the shared ones;
- `extra_modules(cfg) -> {name: nn.Module}`: trained beside the model (e.g. a GAN
  discriminator), moved to the device and checkpointed, but not exported in model.pt;
- `configure(cfg)`: settles task-specific trainer keys before training starts (e.g. TTS
  `trainer.stage_epochs` picks the epochs of the AR or NAR run); the exp dir keeps the result.
"""

import importlib

TASK_MODULES = {
    "sep": "speechslytherin.tasks.sep",
    "enh": "speechslytherin.tasks.enh",
    "asr": "speechslytherin.tasks.asr",
    "tts": "speechslytherin.tasks.tts",
}


def get_task(name):
    if name not in TASK_MODULES:
        raise ValueError(f"unknown task '{name}'; available: {', '.join(TASK_MODULES)}")
    try:
        return importlib.import_module(TASK_MODULES[name])
    except ModuleNotFoundError as err:
        if err.name != TASK_MODULES[name]:
            raise
        raise ValueError(f"task '{name}' is not available in this version of the toolkit") from None
