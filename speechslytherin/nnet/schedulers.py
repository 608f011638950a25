"""Learning-rate schedules. Each says when it steps: per optimizer step or per epoch."""

import math

import torch


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    """Linear warmup, then cosine decay to `min_ratio` x the base lr, stepped per optimizer step.

    This is the Mamba-TasNet schedule: 20k warmup steps, then cosine over the remaining steps
    down to 1% of the peak.
    """

    step_per = "batch"

    def __init__(self, optimizer, warmup_steps=0, total_steps=1, min_ratio=0.01):
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)
        self.min_ratio = float(min_ratio)
        super().__init__(optimizer)

    def get_lr(self):
        factor = self._factor(self.last_epoch)
        return [base * factor for base in self.base_lrs]

    def _factor(self, step):
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class ReduceOnPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau on the validation loss, stepped once per epoch."""

    step_per = "epoch"

    def __init__(self, optimizer, factor=0.5, patience=10, min_lr=0.0, total_steps=None):
        super().__init__(optimizer, mode="min", factor=factor, patience=patience, min_lr=min_lr)


class Constant(torch.optim.lr_scheduler.LRScheduler):
    """No schedule."""

    step_per = "batch"

    def __init__(self, optimizer, total_steps=None):
        super().__init__(optimizer)

    def get_lr(self):
        return list(self.base_lrs)


class ExponentialPerEpoch(torch.optim.lr_scheduler.ExponentialLR):
    """lr x gamma after every epoch (SEMamba: gamma 0.99)."""

    step_per = "epoch"

    def __init__(self, optimizer, gamma=0.99, total_steps=None):
        super().__init__(optimizer, gamma=gamma)

    def step(self, metric=None):  # the trainer passes the valid loss to per-epoch schedules
        super().step()


class Noam(torch.optim.lr_scheduler.LRScheduler):
    """Linear warmup then inverse square-root decay, per optimizer step; the peak (at the end of
    warmup) is the optimizer's lr. This is the Transformer/Conformer ASR schedule (SpeechBrain's
    NoamScheduler with the peak given directly)."""

    step_per = "batch"

    def __init__(self, optimizer, warmup_steps=25000, total_steps=None):
        self.warmup_steps = max(1, int(warmup_steps))
        super().__init__(optimizer)

    def get_lr(self):
        step = self.last_epoch + 1
        factor = min(step / self.warmup_steps, (self.warmup_steps / step) ** 0.5)
        return [base * factor for base in self.base_lrs]
