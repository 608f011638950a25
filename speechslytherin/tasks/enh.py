"""Speech enhancement: noisy waveform in, enhanced waveform out, trained as SEMamba is
(MetricGAN: generator losses of losses/enh.py + a PESQ-predicting discriminator).

Data: ``tr.json`` / ``cv.json`` in the separation manifest format with one source
(``{"mix": noisy wav, "sources": [clean wav], "duration": s, ...}``). As in the official
loader, both signals are scaled by the noisy utterance's unit-RMS factor (computed on the
whole utterance), then cropped to ``data.segment`` seconds at random (training) and
zero-padded when shorter. ``data.pcs_target: true`` trains toward the PCS400-processed clean
speech (the official ``use_PCS400``).

Training step (official train.py order): generator forward; discriminator step on
D(clean, clean) -> 1 and D(clean, est) -> normalised PESQ-WB of the estimate (term skipped when
a PESQ fails); generator step on the weighted losses with the metric term from the updated
discriminator. The discriminator comes from the config's ``discriminator:`` key (via
``extra_modules``, so bin/train moves and checkpoints it); it gets its own optimizer (same
optimizer class and settings) and schedule. Without ``discriminator:`` the metric terms are
left out.

Validation: the generator loss without its metric term (the monitored ``loss``), SI-SNR and
its improvement, and PESQ-WB on the first ``trainer.valid_pesq_items`` items.
"""

import os

import numpy as np
import speechbrain as sb
import torch

from speechslytherin.tasks.base import TaskBrain, model_of, to_device

TRAIN_MANIFEST = "tr.json"
VALID_MANIFEST = "cv.json"

DATA_DEFAULTS = {
    "pcs_target": False,  # train toward PCS400(clean) (official use_PCS400)
}
TRAINER_DEFAULTS = {
    "pesq_workers": 0,  # processes scoring the discriminator's PESQ targets (0 = in the trainer)
    "valid_pesq_items": 10,  # validation items scored with PESQ-WB each epoch (0 = none)
}


class EnhancementDataset(torch.utils.data.Dataset):
    """{"id", "noisy" [T], "clean" [T]} from a one-source separation manifest, RMS-normalised by
    the noisy utterance, cropped / zero-padded to ``segment`` seconds (None: whole utterances)."""

    def __init__(self, manifest, sample_rate, segment=None, random_crop=True, seed=0, pcs_target=False):
        from speechslytherin.data.sep_dataset import SeparationDataset

        self.base = SeparationDataset(manifest, sample_rate=sample_rate, n_src=1, segment=None, seed=seed)
        self.sample_rate = int(sample_rate)
        self.segment_samples = None if segment is None else int(round(float(segment) * self.sample_rate))
        self.random_crop, self.seed, self.epoch, self.pcs_target = random_crop, seed, 0, pcs_target
        if pcs_target and self.sample_rate != 16000:
            raise ValueError(f"data.pcs_target needs 16 kHz data (PCS400), the config says {sample_rate} Hz.")

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.base)

    @property
    def durations(self):
        return self.base.durations

    def __getitem__(self, index):
        from speechslytherin.data.sep_dataset import item_rng

        item = self.base[index]
        noisy, clean = item["mix"].float(), item["sources"][:, 0].float()
        if self.pcs_target:
            from speechslytherin.models.enh.pcs import apply_pcs

            clean = apply_pcs(clean.double(), self.sample_rate).float()
        factor = torch.sqrt(noisy.numel() / (noisy.pow(2).sum() + 1e-8))
        noisy, clean = noisy * factor, clean * factor
        n = self.segment_samples
        if n is not None:
            if len(noisy) > n:
                start = int(item_rng(self.seed, self.epoch, index).integers(0, len(noisy) - n + 1)) \
                    if self.random_crop else 0
                noisy, clean = noisy[start:start + n], clean[start:start + n]
            elif len(noisy) < n:
                noisy = torch.nn.functional.pad(noisy, (0, n - len(noisy)))
                clean = torch.nn.functional.pad(clean, (0, n - len(clean)))
        return {"id": item["id"], "noisy": noisy.contiguous(), "clean": clean.contiguous()}


def collate_enhancement(batch):
    """Pad to the longest item; lengths relative to it (1.0 = longest)."""
    if not batch:
        raise ValueError("collate_enhancement got an empty batch.")
    lengths = [item["noisy"].shape[0] for item in batch]
    longest = max(lengths)
    noisy = torch.zeros(len(batch), longest)
    clean = torch.zeros(len(batch), longest)
    for i, item in enumerate(batch):
        noisy[i, : lengths[i]] = item["noisy"]
        clean[i, : lengths[i]] = item["clean"]
    rel = torch.tensor(lengths, dtype=torch.float32) / float(longest)
    return {"id": [item["id"] for item in batch], "noisy": noisy, "clean": clean, "lengths": rel}


class EnhancementBrain(TaskBrain):
    """Generator + optional MetricGAN discriminator, two optimizers, official step order."""

    # -- set-up -------------------------------------------------------------------------------
    @property
    def enh_loss(self):
        loss = getattr(self.hparams, "loss", None)
        if not hasattr(loss, "generator_terms"):
            from speechslytherin.losses.enh import SEMambaLoss

            loss = SEMambaLoss()
            self.hparams.loss = loss
        return loss

    @property
    def discriminator(self):
        return self.modules["discriminator"] if "discriminator" in self.modules else None

    def on_fit_start(self):
        if not hasattr(model_of(self), "spectra"):
            raise TypeError(f"task enh: the model {type(model_of(self)).__qualname__} has no spectra(); use an "
                            f"enhancement model from speechslytherin.models.enh (e.g. SEMamba).")
        trainer = self.hparams.trainer
        from speechslytherin.losses.enh import BatchPesq

        self.batch_pesq = BatchPesq(self.hparams.sample_rate, workers=int(trainer.get("pesq_workers") or 0))
        super().on_fit_start()

    def init_optimizers(self):
        if self.opt_class is None:
            return
        self.optimizer = self.opt_class(model_of(self).parameters())
        self.optimizers_dict = {"generator": self.optimizer}
        self.d_optimizer, self.d_scheduler = None, None
        if self.discriminator is not None:
            self.d_optimizer = self.opt_class(self.discriminator.parameters())
            self.optimizers_dict["discriminator"] = self.d_optimizer
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)
            if self.d_optimizer is not None:
                self.checkpointer.add_recoverable("d_optimizer", self.d_optimizer)
        factory = getattr(self.hparams, "scheduler_factory", None)
        if factory is not None:
            if getattr(self.hparams, "lr_scheduler", None) is None:
                self.hparams.lr_scheduler = factory(self.optimizer)
            if self.d_optimizer is not None:
                self.d_scheduler = factory(self.d_optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable("lr_scheduler", self.hparams.lr_scheduler)
                if self.d_scheduler is not None:
                    self.checkpointer.add_recoverable("d_lr_scheduler", self.d_scheduler)

    # -- training -----------------------------------------------------------------------------
    def _step(self, optimizer, params):
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(list(params), self.max_grad_norm)
        self.scaler.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    def fit_batch(self, batch):
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        batch = to_device(batch, self.device)
        noisy, clean = batch["noisy"], batch["clean"]
        loss_fn, disc = self.enh_loss, self.discriminator
        accum = self.grad_accumulation_factor
        with self.training_ctx:
            est = self.modules["model"](noisy, spectra=True)
        clean_spec = loss_fn.clean_spectra(clean)
        stats = {}
        if disc is not None:
            target = self.batch_pesq(clean, est["wave"].detach())
            with self.training_ctx:
                metric_r, metric_g = self._disc_real_fake(disc, clean_spec[0], est["mag"].detach())
                loss_d = loss_fn.discriminator_loss(metric_r, metric_g, target)
            self.scaler.scale(loss_d / accum).backward()
            if should_step:
                self._step(self.d_optimizer, disc.parameters())
            stats["disc_loss"] = loss_d.detach()
            self.train_pesq.append(None if target is None else float(target.mean()) * 3.5 + 1.0)
        bare_disc = disc.module if hasattr(disc, "module") else disc
        with self.training_ctx:
            metric_g = self._frozen_metric(bare_disc, clean_spec[0], est["mag"]) if disc is not None else None
            terms = loss_fn.generator_terms(est, clean, clean_spec, metric_g)
        loss = terms["total"]
        self.check_loss_isfinite(loss)
        self.scaler.scale(loss / accum).backward()
        if should_step:
            self._step(self.optimizer, model_of(self).parameters())
            self.scaler.update()
            self.optimizer_step += 1
        self.accumulate(**{k: v.detach() for k, v in terms.items() if k != "total"}, **stats)
        self.on_fit_batch_end(batch, est, loss, should_step)
        return loss.detach().cpu()

    @staticmethod
    def _disc_real_fake(disc, clean_mag, est_mag):
        """D(clean, clean) and D(clean, est): two calls as the official step; one call on the
        stacked pair under DDP, which allows one forward per backward (InstanceNorm is per item,
        so the outputs are the same up to dropout and one spectral-norm power iteration)."""
        if not hasattr(disc, "module"):
            return disc(clean_mag, clean_mag), disc(clean_mag, est_mag)
        both = disc(torch.cat([clean_mag, clean_mag]), torch.cat([clean_mag, est_mag]))
        return both[: clean_mag.shape[0]], both[clean_mag.shape[0]:]

    @staticmethod
    def _frozen_metric(disc, clean_mag, est_mag):
        """D(clean, est) with D's weights frozen: the generator's metric loss must not leave
        gradients in the discriminator."""
        flags = [p.requires_grad for p in disc.parameters()]
        for p in disc.parameters():
            p.requires_grad_(False)
        try:
            return disc(clean_mag, est_mag)
        finally:
            for p, flag in zip(disc.parameters(), flags):
                p.requires_grad_(flag)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        super().on_fit_batch_end(batch, outputs, loss, should_step)
        if should_step and self.d_scheduler is not None and getattr(self.d_scheduler, "step_per", "batch") == "batch":
            self.d_scheduler.step()

    # -- validation ---------------------------------------------------------------------------
    def compute_forward(self, batch, stage):
        batch = to_device(batch, self.device)
        return self.modules["model"](batch["noisy"], spectra=True), batch["clean"], batch["noisy"]

    def compute_objectives(self, predictions, batch, stage):
        from speechslytherin.metrics.si_snr import si_snr

        est, clean, noisy = predictions
        terms = self.enh_loss.generator_terms(est, clean, self.enh_loss.clean_spectra(clean))
        lengths = batch.get("lengths")
        total = clean.shape[-1]
        rel = lengths.tolist() if lengths is not None else [1.0] * clean.shape[0]
        for i, r in enumerate(rel):
            n = max(1, min(total, int(round(r * total))))
            score = float(si_snr(est["wave"][i, :n], clean[i, :n]))
            score_in = float(si_snr(noisy[i, :n], clean[i, :n]))
            self.valid_items.append((score, score - score_in))
            if len(self.valid_pesq) < int(self.hparams.trainer.get("valid_pesq_items") or 0):
                self.valid_pesq.append(self.batch_pesq.scores(clean[i:i + 1, :n], est["wave"][i:i + 1, :n])[0])
        self.accumulate(**{k: v.detach() for k, v in terms.items() if k != "total"})
        return terms["total"]

    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        self.valid_items, self.valid_pesq, self.train_pesq = [], [], []

    def stage_means(self):
        means = super().stage_means()
        if self.valid_items:
            means["si_snr"] = float(np.mean([s for s, _ in self.valid_items]))
            means["si_snri"] = float(np.mean([d for _, d in self.valid_items]))
        scored = [p for p in getattr(self, "valid_pesq", []) if p is not None]
        if scored:
            means["pesq"] = float(np.mean(scored))
        if getattr(self, "valid_pesq", None) and len(scored) < len(self.valid_pesq):
            means["pesq_failed"] = len(self.valid_pesq) - len(scored)
        batches = getattr(self, "train_pesq", [])
        if batches:  # mean PESQ-WB of the batches the discriminator got targets for
            ok = [p for p in batches if p is not None]
            if ok:
                means["train_pesq"] = float(np.mean(ok))
            means["pesq_failed_batches"] = len(batches) - len(ok)
        return means

    def on_stage_end(self, stage, stage_loss, epoch=None):
        # the discriminator's schedule steps with the generator's, before the epoch's checkpoint
        if stage == sb.Stage.VALID and self.d_scheduler is not None \
                and getattr(self.d_scheduler, "step_per", "batch") == "epoch":
            self.d_scheduler.step()
        super().on_stage_end(stage, stage_loss, epoch)

    def on_fit_end(self):
        super().on_fit_end()
        pesq = getattr(self, "batch_pesq", None)
        if pesq is not None:
            pesq.close()


def extra_modules(cfg):
    """The MetricGAN discriminator, trained and checkpointed beside the model (if configured)."""
    disc = cfg.get("discriminator")
    return {"discriminator": disc} if disc is not None else {}


def build_datasets(cfg, data_dir):
    """(train_set, valid_set) from data_dir/tr.json and cv.json."""
    data, sr, seed = cfg.data, cfg["sample_rate"], cfg.trainer["seed"]
    if data["train"] != "manifest":
        raise ValueError(f"task enh: data.train must be 'manifest', got '{data['train']}'")
    paths = {name: os.path.join(data_dir, name) for name in (TRAIN_MANIFEST, VALID_MANIFEST)}
    for path in paths.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: manifest not found; run the recipe's data stages first "
                                    f"(enhancement manifests: tr.json and cv.json with mix/sources entries).")
    train = EnhancementDataset(paths[TRAIN_MANIFEST], sr, segment=data["segment"], random_crop=True, seed=seed,
                               pcs_target=bool(data["pcs_target"]))
    valid = EnhancementDataset(paths[VALID_MANIFEST], sr, segment=data["valid_segment"], random_crop=False,
                               seed=seed, pcs_target=bool(data["pcs_target"]))
    if data["max_valid_items"]:
        valid = torch.utils.data.Subset(valid, range(min(len(valid), int(data["max_valid_items"]))))
    return train, valid


def collate_fn():
    return collate_enhancement


def plot_examples(model, valid_set, out_dir, sample_rate, n_examples, device="cpu"):
    """Spectrograms of noisy, enhanced and clean for the first validation items."""
    import matplotlib.pyplot as plt

    from speechslytherin.training.plots import _save, _spectrogram

    model.eval()
    paths = []
    for index in range(min(n_examples, len(valid_set))):
        item = valid_set[index]
        with torch.no_grad():
            est = model(item["noisy"].unsqueeze(0).to(device))[0].cpu()
        fig, axes = plt.subplots(3, 1, figsize=(8, 6.6))
        for ax, wav, title in zip(axes, (item["noisy"], est, item["clean"]), ("noisy", "enhanced", "clean")):
            _spectrogram(ax, wav.numpy(), sample_rate, f"{title} {item['id']}")
        fig.tight_layout()
        path = os.path.join(out_dir, f"enhancement_{item['id']}.png")
        _save(fig, path)
        paths.append(path)
    return paths


Brain = EnhancementBrain
