"""Tasks: each module exposes `Brain`, `build_datasets(cfg, data_dir)`, `collate_fn()` and
`plot_examples(...)`; `bin/train.py` drives any of them by the config's `task` key."""

import importlib

TASK_MODULES = {"sep": "speechslytherin.tasks.sep"}


def get_task(name):
    if name not in TASK_MODULES:
        raise ValueError(f"task '{name}' is not available yet; available: {', '.join(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[name])
