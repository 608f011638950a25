"""Speech recognition: waveform -> tokens, trained with joint CTC / attention (ConMamba, Conformer).

Data: ``<data_dir>/tr.json`` and ``cv.json`` (entries ``audio``, ``text``, ``speaker``,
``duration``) and the SentencePiece model ``<data_dir>/tokenizer/tokenizer.model`` (or
``data.tokenizer``). The Brain hands the tokenizer to the model before training, so the exported
``model.pt`` carries it and transcribes on its own. Training follows the official recipes:
speed perturbation (``data.speed_perturb``, e.g. [95, 100, 105]) on the batch waveforms,
SpecAugment on the normalised features (``data.spec_augment``), duration-based dynamic batches
(``data.max_batch_seconds``), and the model's ``ctc_weight`` / ``label_smoothing`` loss.
Validation reports the loss (the monitored value, as for every task), its CTC / attention
parts, the teacher-forced token accuracy, and WER / CER of a beam (or CTC greedy) decoding of
the validation items every ``trainer.valid_search_interval`` epochs.
"""

import os

import speechbrain as sb
import torch

from speechslytherin.tasks.asr_data import ASRDataset, build_spec_augment, collate_asr, edit_distance
from speechslytherin.tasks.base import TaskBrain, model_of, to_device

TRAIN_MANIFEST = "tr.json"
VALID_MANIFEST = "cv.json"
TOKENIZER = os.path.join("tokenizer", "tokenizer.model")

DATA_DEFAULTS = {
    "tokenizer": None,  # SentencePiece .model; default <data_dir>/tokenizer/tokenizer.model
    "max_batch_seconds": None,  # dynamic batching: seconds of audio per batch (official S 900, L 500, CTC 850)
    "num_buckets": 200,  # dynamic batching buckets (official 200)
    "max_batch_items": None,  # at most this many utterances per dynamic batch (official 128 S / 256 L)
    "sorting": "random",  # random | ascending | descending (training order without dynamic batching)
    "max_duration": None,  # drop longer training utterances (seconds)
    "spec_augment": None,  # null = off, true = official S2S setting, or a dict (tasks/asr_data.py)
}
TRAINER_DEFAULTS = {
    "valid_search_interval": 1,  # decode the validation set every N epochs for WER (0 = never)
    "valid_search_items": None,  # decode at most this many validation items (None = all)
    "valid_decoding": None,  # decoding options for validation, e.g. {beam_size: 10, ctc_weight: 0.4}
}


class ASRBrain(TaskBrain):
    def __init__(self, modules=None, opt_class=None, hparams=None, run_opts=None, checkpointer=None):
        dataset = (hparams or {}).get("train_dataset")
        model = (modules or {}).get("model")
        tokenizer = getattr(dataset, "tokenizer_bytes", None)
        if tokenizer is not None and hasattr(model, "set_tokenizer"):
            model.set_tokenizer(tokenizer)  # before recovery and export: model.pt carries it
        super().__init__(modules=modules, opt_class=opt_class, hparams=hparams, run_opts=run_opts,
                         checkpointer=checkpointer)
        data = self.hparams.data
        self.speed_perturb = None
        if data.get("speed_perturb"):
            from speechbrain.augment.time_domain import SpeedPerturb

            self.speed_perturb = SpeedPerturb(orig_freq=self.hparams.sample_rate, speeds=list(data["speed_perturb"]))
        self.fea_augment = build_spec_augment(data.get("spec_augment"))

    # -- data loading: duration-based dynamic batches -----------------------------------------
    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        data = self.hparams.data
        if stage == sb.Stage.TRAIN and data.get("max_batch_seconds"):
            from speechbrain.dataio.sampler import DynamicBatchSampler

            loader_kwargs.pop("batch_size", None)
            loader_kwargs.pop("shuffle", None)
            sampler = DynamicBatchSampler(
                dataset, max_batch_length=float(data["max_batch_seconds"]), num_buckets=int(data["num_buckets"]),
                lengths_list=list(dataset.durations), shuffle=data["sorting"] == "random",
                batch_ordering="random" if data["sorting"] == "random" else data["sorting"],
                max_batch_ex=data["max_batch_items"], seed=int(self.hparams.trainer["seed"]))
            loader_kwargs["batch_sampler"] = sampler
            loader = super().make_dataloader(dataset, stage, ckpt_prefix=None, **loader_kwargs)
            if not self.distributed_launch:
                self.train_sampler = sampler  # fit() calls set_epoch on it: new batches each epoch
            return loader
        if stage == sb.Stage.TRAIN and data.get("sorting", "random") != "random":
            loader_kwargs["shuffle"] = False  # the dataset is sorted by duration already
        return super().make_dataloader(dataset, stage, ckpt_prefix=ckpt_prefix, **loader_kwargs)

    # -- forward / loss ------------------------------------------------------------------------
    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        self.current_epoch = epoch
        self.counts = {"word_errors": 0, "words": 0, "char_errors": 0, "chars": 0, "correct": 0, "tokens": 0,
                       "decoded": 0}
        self.search_now = stage != sb.Stage.TRAIN and self._search_epoch(epoch)

    def _search_epoch(self, epoch):
        interval = int(self.hparams.trainer.get("valid_search_interval") or 0)
        return interval > 0 and (epoch is None or epoch % interval == 0)

    def compute_forward(self, batch, stage):
        batch = to_device(batch, self.device)
        wavs, wav_lens = batch["wavs"], batch["wav_lens"]
        if stage == sb.Stage.TRAIN and self.speed_perturb is not None:
            wavs = self.speed_perturb(wavs)  # one speed per batch: relative lengths unchanged
        augment = self.fea_augment if stage == sb.Stage.TRAIN else None
        return self.modules["model"](wavs, wav_lens, batch["tokens_bos"], epoch=getattr(self, "current_epoch", None),
                                     feature_augment=augment)

    def compute_objectives(self, predictions, batch, stage):
        batch = to_device(batch, self.device)
        p_ctc, p_seq, enc_out = predictions
        model = model_of(self)
        loss, parts = model.compute_loss(p_ctc, p_seq, batch["wav_lens"], batch["tokens"], batch["tokens_lens"],
                                         batch["tokens_eos"], batch["tokens_eos_lens"])
        if stage == sb.Stage.TRAIN:
            return loss
        self.accumulate(**{f"loss_{k}": v for k, v in parts.items()})
        if p_seq is not None:
            self._count_accuracy(p_seq, batch["tokens_eos"], batch["tokens_eos_lens"])
        if self.search_now:
            self._score_decoding(model, enc_out, batch)
        return loss

    def _count_accuracy(self, p_seq, targets, rel_lens):
        lengths = torch.round(rel_lens * targets.shape[1]).long()
        mask = torch.arange(targets.shape[1], device=targets.device)[None] < lengths[:, None]
        self.counts["correct"] += int(((p_seq.argmax(-1) == targets) & mask).sum())
        self.counts["tokens"] += int(mask.sum())

    def _score_decoding(self, model, enc_out, batch):
        limit = self.hparams.trainer.get("valid_search_items")
        keep = len(batch["ids"]) if limit is None else max(0, int(limit) - self.counts["decoded"])
        keep = min(keep, len(batch["ids"]))
        if keep == 0:
            return
        options = self.hparams.trainer.get("valid_decoding") or {}
        ids = model.decode_ids(enc_out[:keep].detach(), batch["wav_lens"][:keep], **options)
        for seq, ref in zip(ids, batch["texts"][:keep]):
            hyp = model.tokenizer.decode_ids([t for t in seq if t not in (model.bos_index, model.eos_index)])
            self.counts["word_errors"] += edit_distance(ref.split(), hyp.split())
            self.counts["words"] += len(ref.split())
            self.counts["char_errors"] += edit_distance(list(ref), list(hyp))
            self.counts["chars"] += len(ref)
        self.counts["decoded"] += keep

    def stage_means(self):
        stats = super().stage_means()
        c = getattr(self, "counts", {})
        if c.get("tokens"):
            stats["acc"] = c["correct"] / c["tokens"]
        if c.get("words"):
            stats["wer"] = 100.0 * c["word_errors"] / c["words"]
            stats["cer"] = 100.0 * c["char_errors"] / max(c["chars"], 1)
        return stats


def read_tokenizer(cfg, data_dir):
    """(bytes, SentencePieceProcessor) of the tokenizer the config / data dir names."""
    from speechslytherin.models.asr.tokenizer import load_processor

    path = cfg.data.get("tokenizer") or os.path.join(data_dir, TOKENIZER)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no SentencePiece tokenizer. Run the recipe's stage 2 (tokenizer), or "
                                f"set data.tokenizer to a .model file.")
    with open(path, "rb") as f:
        blob = f.read()
    return blob, load_processor(blob)


def build_datasets(cfg, data_dir):
    """(train_set, valid_set); both carry the tokenizer (``tokenizer_bytes``) for the Brain."""
    blob, processor = read_tokenizer(cfg, data_dir)
    data, sr = cfg.data, cfg["sample_rate"]
    model = cfg.get("model")
    if hasattr(model, "set_tokenizer"):
        model.set_tokenizer(blob)  # checks vocabulary size and special ids before any data is read
    train = ASRDataset(os.path.join(data_dir, TRAIN_MANIFEST), processor, sr, sorting=data["sorting"],
                       max_duration=data["max_duration"])
    valid = ASRDataset(os.path.join(data_dir, VALID_MANIFEST), processor, sr, sorting="ascending",
                       max_items=data["max_valid_items"])
    train.tokenizer_bytes = valid.tokenizer_bytes = blob
    return train, valid


def collate_fn():
    return collate_asr


def plot_examples(model, valid_set, out_dir, sample_rate, n_examples, device="cpu"):
    """Normalised filterbanks and CTC posteriors of the first validation items, titled with the
    reference and the model's transcript."""
    from speechslytherin.training.plots import plt
    from speechslytherin.utils.atomic import atomic_path

    model.eval()
    paths = []
    for index in range(min(n_examples, len(valid_set))):
        item = valid_set[index]
        wav = item["wav"].unsqueeze(0).to(device)
        with torch.no_grad():
            feats = model.features(wav)
            p_ctc, _, _ = model.forward_features(feats)
            hyp = model.transcribe(wav)[0]
        fig, axes = plt.subplots(2, 1, figsize=(10, 5))
        axes[0].imshow(feats[0].T.cpu().numpy(), origin="lower", aspect="auto")
        axes[0].set_title(f"{item['id']}  ref: {item['text'][:80]}", fontsize=8)
        axes[1].imshow(p_ctc[0].T.exp().cpu().numpy(), origin="lower", aspect="auto", cmap="magma")
        axes[1].set_title(f"CTC posteriors  hyp: {hyp[:80]}", fontsize=8)
        axes[1].set_xlabel("encoder frame")
        fig.tight_layout()
        path = os.path.join(out_dir, f"asr_{item['id']}.png")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


Brain = ASRBrain
