"""Checkpoints that survive a kill: written into a staging folder, then renamed into place.

SpeechBrain's Checkpointer writes its meta file first and the parameter files after, so a kill
during a save leaves a checkpoint that looks complete but is not. Here a checkpoint only
appears under its final name once every file is on disk.
"""

import os
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    Checkpoint,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

STAGING = ".staging"


class AtomicCheckpointer(Checkpointer):
    def __init__(self, checkpoints_dir, *args, **kwargs):
        super().__init__(checkpoints_dir, *args, **kwargs)
        staging = self.checkpoints_dir / STAGING
        if if_main_process() and staging.exists():
            shutil.rmtree(staging)  # leftovers of a save that was killed

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=20):
        final_dir = self.checkpoints_dir
        self.checkpoints_dir = final_dir / STAGING
        try:
            ckpt = super().save_checkpoint(meta=meta, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity)
        finally:
            self.checkpoints_dir = final_dir
        if ckpt is None:  # non-main process
            ddp_barrier()
            return None
        target = final_dir / ckpt.path.name
        suffix = 1
        while target.exists():  # names are timestamps: two saves in one second must not collide
            target = final_dir / f"{ckpt.path.name}+{suffix:02d}"
            suffix += 1
        os.replace(ckpt.path, target)
        ddp_barrier()
        paramfiles = {key: target / path.name for key, path in ckpt.paramfiles.items()}
        return Checkpoint(target, ckpt.meta, paramfiles)


@register_checkpoint_hooks
class RNGState:
    """Python, NumPy and torch random states, so a resumed run draws what an unbroken one would."""

    @mark_as_saver
    def save(self, path):
        state = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        state = torch.load(path, weights_only=False)
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if state["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

