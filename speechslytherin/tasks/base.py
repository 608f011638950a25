"""The one training loop: a SpeechBrain Brain that every task subclasses.

Brain brings AMP, DDP, gradient clipping and intra-epoch checkpoints; this class adds what all
tasks share: the schedule stepped per batch or per epoch, a per-epoch log the curves are drawn
from, and keeping the n best checkpoints for averaging. A task only says how a batch becomes a
loss (`compute_forward`, `compute_objectives`) and which datasets it trains on.
"""

import json
import logging
import os
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)


class TaskBrain(sb.Brain):
    """Subclasses set `valid_metric_name` and fill `self.stage_stats` in compute_objectives."""

    valid_metric_name = "loss"

    def on_fit_start(self):
        super().on_fit_start()
        self.epoch_started = time.time()

    def on_stage_start(self, stage, epoch=None):
        self.stage_stats = {}
        self.stage_count = 0
        if stage == sb.Stage.TRAIN:
            self.epoch_started = time.time()
            dataset = getattr(self.hparams, "train_dataset", None)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)  # fresh dynamic mixtures / crops each epoch, reproducibly

    def accumulate(self, **values):
        """Running sums of per-batch statistics, averaged at the end of the stage."""
        for key, value in values.items():
            self.stage_stats[key] = self.stage_stats.get(key, 0.0) + float(value)
        self.stage_count += 1

    def stage_means(self):
        n = max(self.stage_count, 1)
        return {key: value / n for key, value in self.stage_stats.items()}

    def make_dataloader(self, dataset, stage, *args, **kwargs):
        loader = super().make_dataloader(dataset, stage, *args, **kwargs)
        if stage == sb.Stage.TRAIN:
            try:
                self.train_batches = len(loader)
            except TypeError:  # an iterable dataset has no length
                self.train_batches = None
        return loader

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if should_step and scheduler is not None and getattr(scheduler, "step_per", "batch") == "batch":
            scheduler.step()
        self.log_progress()

    def log_progress(self):
        """A recipe's log is a file, not a terminal, so there is no bar: say every
        `trainer.log_interval_seconds` how far the epoch is, how fast it goes and when it ends."""
        interval = float(self.hparams.trainer.get("log_interval_seconds") or 0)
        if not self.noprogressbar or interval <= 0 or not if_main_process():
            return
        now = time.time()
        if now - getattr(self, "last_progress_log", self.epoch_started) < interval:
            return
        self.last_progress_log = now
        done, total = self.step, getattr(self, "train_batches", None)
        per_batch = (now - self.epoch_started) / max(done, 1)
        where = f"{done}/{total}" if total else str(done)
        eta = f", epoch ends in {(total - done) * per_batch / 60:.1f} min" if total else ""
        logger.info("epoch %s batch %s: train loss %.4f, %.2f s/batch%s", self.hparams.epoch_counter.current,
                    where, float(self.avg_train_loss), per_batch, eta)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stats = {"loss": float(stage_loss), **self.stage_means()}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            self.train_seconds = time.time() - self.epoch_started
            return
        if stage == sb.Stage.VALID:
            scheduler = getattr(self.hparams, "lr_scheduler", None)
            if scheduler is not None and getattr(scheduler, "step_per", "batch") == "epoch":
                scheduler.step(stats["loss"])
            lr = self.optimizer.param_groups[0]["lr"]
            record = {
                "epoch": epoch,
                "lr": lr,
                "train": getattr(self, "train_stats", {}),
                "valid": stats,
                "optimizer_steps": self.optimizer_step,
                "train_seconds": round(getattr(self, "train_seconds", 0.0), 2),
            }
            if if_main_process():
                log_path = os.path.join(self.hparams.exp_dir, "train_log.jsonl")
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                logger.info("epoch %s: %s", epoch, json.dumps(record))
            counter = getattr(self.hparams, "epoch_counter", None)
            if hasattr(counter, "update_metric"):  # early stopping on the valid loss
                counter.update_metric(stats["loss"])
            self.checkpointer.save_and_keep_only(
                meta={"loss": stats["loss"], "epoch": epoch},
                min_keys=["loss"],
                num_to_keep=max(1, int(self.hparams.trainer["n_best_average"])),
                keep_recent=True,
            )
        if stage == sb.Stage.TEST:
            self.test_stats = stats

    def init_optimizers(self):
        super().init_optimizers()
        scheduler_factory = getattr(self.hparams, "scheduler_factory", None)
        if scheduler_factory is not None and getattr(self.hparams, "lr_scheduler", None) is None:
            self.hparams.lr_scheduler = scheduler_factory(self.optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable("lr_scheduler", self.hparams.lr_scheduler)


def model_of(brain):
    """The bare model (unwrapped from DDP)."""
    model = brain.modules["model"]
    return model.module if hasattr(model, "module") else model


def to_device(batch, device):
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
