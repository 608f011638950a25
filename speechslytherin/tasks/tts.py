"""Text-to-speech over codec tokens (VALL-E / VALL-M): phoneme ids + codec codes in, the AR
and/or NAR cross-entropy out.

Data (written by the recipe's stage 2 into the data dir):
- ``tr.json`` / ``cv.json``: {id: {"phonemes": "space separated symbols", "codes": "<id>.npy"
  (int16 [n_q, T]; relative paths are relative to the data dir), "duration", "speaker", "text"}};
- ``symbols.txt``: one symbol per line, line number = id, line 0 = ``<pad>`` (symbols missing
  from the table map to ``<unk>`` when the table has one, else they are an error).

Batches are formed by length (``data.max_batch_frames`` code frames per batch, the paper's
"6k acoustic tokens per GPU"), so each dataset item is a whole batch and ``data.batch_size``
stays 1; the batch order is reshuffled every epoch. ``trainer.train_stage`` picks what is
trained: ``ar``, ``nar`` or ``both`` (lifeiteng trains AR, then NAR from the AR model:
``trainer.init_from`` starts a run from an earlier run's model.pt).

``data.prompt_pairs`` (0 by default) is the share of training items that are another utterance
of the same speaker followed by the item, phonemes and codes joined as ``synthesize`` joins a
prompt and its target. LibriTTS utterances are long enough for the AR to learn to continue
past a 3 s prompt; the mini corpus's are about as long as the prompt itself, and a model trained
on them alone ends the output at once after the prompt.
"""

import os
import random

import numpy as np
import speechbrain as sb
import torch

from speechslytherin.tasks.base import TaskBrain, model_of, to_device

TRAIN_MANIFEST = "tr.json"
VALID_MANIFEST = "cv.json"
SYMBOLS = "symbols.txt"
PAD_SYMBOL = "<pad>"
UNK_SYMBOL = "<unk>"

DATA_DEFAULTS = {
    "max_batch_frames": 6000,  # code frames per batch (padding included)
    "max_frames": None,  # drop training utterances with more code frames (None: keep all)
    "min_frames": 2,  # drop utterances with fewer code frames (the AR needs a prompt frame)
    "prompt_pairs": 0.0,  # share of training items preceded by another utterance of their speaker
}
TRAINER_DEFAULTS = {
    "train_stage": "both",  # ar | nar | both
    "init_from": None,  # model.pt of an earlier run (e.g. the AR run before NAR) to start from
    "stage_epochs": None,  # {ar: N, nar: M}: epochs of a run by its train_stage (None: trainer.epochs)
}
STAGES = ("ar", "nar", "both")


class TTSDataError(ValueError):
    """TTS data that cannot be used; the message names the file and the fix."""


def read_symbols(path):
    """symbols.txt -> {symbol: id}; id 0 must be <pad>."""
    if not os.path.exists(path):
        raise TTSDataError(f"{path}: symbol table not found. Run the recipe's stage 2 (phonemize + codes).")
    with open(path, encoding="utf-8") as f:
        symbols = [line.rstrip("\n") for line in f]
    if not symbols or symbols[0] != PAD_SYMBOL:
        raise TTSDataError(f"{path}: line 1 must be '{PAD_SYMBOL}' (id 0 is padding); re-run stage 2.")
    return {s: i for i, s in enumerate(symbols)}


def phoneme_ids(phonemes, table, where):
    ids = []
    for symbol in phonemes.split():
        if symbol not in table and UNK_SYMBOL in table:  # a symbol training never saw
            symbol = UNK_SYMBOL
        if symbol not in table:
            raise TTSDataError(f"{where}: phoneme '{symbol}' is not in the symbol table; the manifest and "
                               f"symbols.txt come from different stage-2 runs; re-run stage 2.")
        ids.append(table[symbol])
    if not ids:
        raise TTSDataError(f"{where}: empty 'phonemes'.")
    return ids


def load_codes(path, where):
    try:
        codes = np.load(path)
    except (OSError, ValueError) as err:
        raise TTSDataError(f"{where}: cannot read codes file {path}: {err}. Re-run stage 2.") from None
    if codes.ndim != 2:
        raise TTSDataError(f"{where}: codes {path} must be [n_q, T], got shape {codes.shape}.")
    return torch.from_numpy(codes.astype(np.int64))


class TTSBatches(torch.utils.data.Dataset):
    """Utterances grouped by length into batches of at most max_batch_frames padded frames."""

    def __init__(self, manifest_path, symbols_path, max_batch_frames, min_frames=2, max_frames=None,
                 shuffle=False, seed=0, prompt_pairs=0.0):
        from speechslytherin.data.manifest import load_manifest

        table = read_symbols(symbols_path)
        base = os.path.dirname(os.path.abspath(manifest_path))
        self.items = []
        for uid, entry in load_manifest(manifest_path).items():
            where = f"{manifest_path}: id '{uid}'"
            for key in ("phonemes", "codes"):
                if key not in entry:
                    raise TTSDataError(f"{where}: missing key '{key}'; re-run stage 2.")
            path = entry["codes"] if os.path.isabs(entry["codes"]) else os.path.join(base, entry["codes"])
            frames = entry.get("frames")
            if frames is None:
                frames = int(np.load(path, mmap_mode="r").shape[-1]) if os.path.exists(path) else 0
            if frames < min_frames or (max_frames and frames > max_frames):
                continue
            self.items.append({"id": uid, "phonemes": phoneme_ids(entry["phonemes"], table, where),
                               "codes": path, "frames": int(frames), "where": where,
                               "speaker": entry.get("speaker")})
        if not self.items:
            raise TTSDataError(f"{manifest_path}: no usable utterances (all missing or outside "
                               f"{min_frames}..{max_frames} frames).")
        if not 0.0 <= float(prompt_pairs) <= 1.0:
            raise TTSDataError(f"data.prompt_pairs must be a share between 0 and 1, got {prompt_pairs}.")
        if prompt_pairs and any(item["speaker"] is None for item in self.items):
            raise TTSDataError(f"{manifest_path}: data.prompt_pairs needs a 'speaker' in every entry; "
                               f"re-run stage 2 or set data.prompt_pairs: 0.")
        self.max_batch_frames, self.shuffle, self.seed = int(max_batch_frames), shuffle, seed
        self.prompt_pairs = float(prompt_pairs)
        self.set_epoch(0)

    def _draw_prompts(self, rng):
        """{item: prompt item} for a prompt_pairs share of the items (speakers with one utterance
        have no prompt)."""
        if not self.prompt_pairs:
            return {}
        by_speaker = {}
        for i, item in enumerate(self.items):
            by_speaker.setdefault(item["speaker"], []).append(i)
        prompts = {}
        for i, item in enumerate(self.items):
            others = by_speaker[item["speaker"]]
            if len(others) > 1 and rng.random() < self.prompt_pairs:
                j = rng.choice(others[:-1])
                prompts[i] = others[-1] if j == i else j  # any other utterance, uniformly
        return prompts

    def _group(self):
        def frames(i):
            return self.items[i]["frames"] + (self.items[self.prompts[i]]["frames"] if i in self.prompts else 0)

        order = sorted(range(len(self.items)), key=frames)
        batches, current, longest = [], [], 0
        for i in order:
            n = frames(i)
            if current and max(longest, n) * (len(current) + 1) > self.max_batch_frames:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, n)
        if current:
            batches.append(current)
        return batches

    def set_epoch(self, epoch):
        rng = random.Random(self.seed + int(epoch or 0))
        self.prompts = self._draw_prompts(rng)  # new pairs each epoch, so the batches change too
        self.batches = self._group()
        self.order = list(range(len(self.batches)))
        if self.shuffle:
            rng.shuffle(self.order)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        out = []
        for i in self.batches[self.order[index]]:
            item = self.items[i]
            phonemes, codes = torch.tensor(item["phonemes"]), load_codes(item["codes"], item["where"])
            if i in self.prompts:
                prompt = self.items[self.prompts[i]]
                phonemes = torch.cat([torch.tensor(prompt["phonemes"]), phonemes])
                codes = torch.cat([load_codes(prompt["codes"], prompt["where"]), codes], dim=1)
            out.append({"id": item["id"], "phonemes": phonemes, "codes": codes})
        return out


def collate_tts(groups):
    """A list of TTSBatches items (lists of utterances) -> one padded batch."""
    items = [u for group in groups for u in (group if isinstance(group, list) else [group])]
    n_q = items[0]["codes"].shape[0]
    tp = max(len(u["phonemes"]) for u in items)
    tc = max(u["codes"].shape[1] for u in items)
    phonemes = torch.zeros(len(items), tp, dtype=torch.long)
    codes = torch.zeros(len(items), n_q, tc, dtype=torch.long)
    for b, u in enumerate(items):
        phonemes[b, :len(u["phonemes"])] = u["phonemes"]
        codes[b, :, :u["codes"].shape[1]] = u["codes"]
    return {"ids": [u["id"] for u in items], "phonemes": phonemes,
            "phoneme_lens": torch.tensor([len(u["phonemes"]) for u in items]),
            "codes": codes, "code_lens": torch.tensor([u["codes"].shape[1] for u in items])}


class TTSBrain(TaskBrain):
    def on_fit_start(self):
        init_from = self.hparams.trainer.get("init_from")
        if init_from:
            from speechslytherin.models.model_io import read_model_file

            state = read_model_file(init_from)["state_dict"]
            model_of(self).load_state_dict(state)
        # each step leaves parameters unused (the other stage, the NAR heads of the other levels)
        self.find_unused_parameters = True
        super().on_fit_start()

    def _stage(self):
        stage = self.hparams.trainer.get("train_stage", "both")
        if stage not in STAGES:
            raise ValueError(f"trainer.train_stage must be one of {STAGES}, got {stage!r}")
        return stage

    def compute_forward(self, batch, stage):
        batch = to_device(batch, self.device)
        args = (batch["phonemes"], batch["phoneme_lens"], batch["codes"], batch["code_lens"])
        if stage == sb.Stage.TRAIN:
            return self.modules["model"](*args, stage=self._stage())
        # a fixed NAR stage and prompt length per validation batch: comparable valid losses
        state = random.getstate()
        random.seed(",".join(batch["ids"]))
        try:
            out = self.modules["model"](*args, stage=self._stage())
        finally:
            random.setstate(state)
        if self._stage() != "nar" and len(batch["ids"]) > 1:
            out["ar_text_gap"] = self._text_gap(batch, out["ar_loss"] if "ar_loss" in out else out["loss"])
        return out

    def _text_gap(self, batch, ar_loss):
        """How much the AR reads the text: its loss with each item given another item's
        phonemes, minus its loss with the right ones. Near 0, the AR is an audio-only language
        model (it continues the prompt but cannot say the sentence), whatever its loss and
        accuracy say."""
        wrong = (batch["phonemes"].roll(1, 0), batch["phoneme_lens"].roll(1, 0), batch["codes"], batch["code_lens"])
        return (model_of(self).ar_loss(*wrong)["loss"] - ar_loss).detach()

    def compute_objectives(self, predictions, batch, stage):
        self.accumulate(**{k: float(v) for k, v in predictions.items() if k != "loss"})
        return predictions["loss"]


def configure(cfg):
    """``trainer.stage_epochs`` gives the AR and NAR runs of ``train_stages "ar nar"`` their own
    epoch counts from one config (the AR needs far more steps to learn the alignment than the
    NAR needs to fill in the finer levels). The chosen count is added to the run's overrides,
    so the exp dir's overrides.yaml and config.resolved.yaml say what was trained."""
    trainer = cfg.trainer
    stage_epochs = trainer.get("stage_epochs")
    if not stage_epochs:
        return
    if not isinstance(stage_epochs, dict) or not set(stage_epochs) <= set(STAGES):
        raise ValueError(f"trainer.stage_epochs must map train stages ({', '.join(STAGES)}) to epochs, "
                         f"e.g. {{ar: 12, nar: 4}}; got {stage_epochs!r}")
    epochs = stage_epochs.get(trainer.get("train_stage", "both"))
    if epochs is not None and int(epochs) != int(trainer["epochs"]):
        trainer["epochs"] = int(epochs)
        overrides = dict(cfg.overrides or {})
        overrides["trainer"] = {**overrides.get("trainer", {}), "epochs": int(epochs)}
        cfg.overrides = overrides


def build_datasets(cfg, data_dir):
    data = cfg.data
    if int(data["batch_size"]) != 1 or int(data["valid_batch_size"]) != 1:
        raise TTSDataError("tts batches are formed by length: set data.batch_size and data.valid_batch_size "
                           "to 1 and size batches with data.max_batch_frames.")
    symbols = os.path.join(data_dir, SYMBOLS)
    kw = dict(max_batch_frames=data["max_batch_frames"], min_frames=data["min_frames"], seed=cfg.trainer["seed"])
    train = TTSBatches(os.path.join(data_dir, TRAIN_MANIFEST), symbols, max_frames=data["max_frames"],
                       shuffle=True, prompt_pairs=data["prompt_pairs"], **kw)
    valid = TTSBatches(os.path.join(data_dir, VALID_MANIFEST), symbols, **kw)
    if data["max_valid_items"]:
        valid = torch.utils.data.Subset(valid, range(min(len(valid), int(data["max_valid_items"]))))
    return train, valid


def collate_fn():
    return collate_tts


def plot_examples(model, valid_set, out_dir, sample_rate, n_examples, device="cpu"):
    """No plots: synthesized audio needs the codec, which bin/synthesize loads."""
    return []


Brain = TTSBrain
