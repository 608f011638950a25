"""ASR data for training: manifest -> (waveform, text, token ids) items, padded batches,
duration-based dynamic batches and SpecAugment, as the official SpeechBrain recipes do.

Manifest entries: ``{"audio": wav/flac path, "text": "...", "speaker": "...", "duration": s}``.
"""

import os

import torch

from speechslytherin.data.audio import read_audio
from speechslytherin.data.manifest import ManifestError, as_manifest

SORTINGS = ("random", "ascending", "descending")
# The official S2S SpecAugment (hparams/S2S/*.yaml): 4 time drops of 15-25 frames, 4 frequency
# drops of 10-20 bins (both replaced by the mean), bicubic time warp with window 5.
SPEC_AUGMENT_DEFAULTS = {
    "time_drop_length": [15, 25],
    "time_drop_count": [4, 4],
    "freq_drop_length": [10, 20],
    "freq_drop_count": [4, 4],
    "drop_replace": "mean",
    "time_warp_window": 5,  # null: no time warp (the official CTC recipe)
    "time_warp_mode": "bicubic",
}


class ASRDataset(torch.utils.data.Dataset):
    """Items {"id", "wav": Tensor[T], "text", "tokens": LongTensor}; ``durations`` per item.

    sorting: "random" (manifest order; the loader shuffles), "ascending" or "descending" by
    duration. max_duration drops longer utterances (seconds); max_items keeps the first N.
    """

    def __init__(self, manifest, tokenizer, sample_rate, sorting="random", max_duration=None, max_items=None,
                 replacements=None):
        self.name = os.fspath(manifest) if isinstance(manifest, (str, os.PathLike)) else "<in-memory manifest>"
        entries = as_manifest(manifest, replacements=replacements)
        for uid, entry in entries.items():
            missing = [k for k in ("audio", "text", "duration") if k not in entry]
            if missing:
                raise ManifestError(f"{self.name}: id '{uid}' lacks {missing}; ASR entries need audio, text, "
                                    f"duration (re-run the recipe's data preparation).")
        if sorting not in SORTINGS:
            raise ValueError(f"data.sorting must be one of {SORTINGS}, got {sorting!r}")
        items = list(entries.items())
        if max_duration is not None:
            items = [(k, e) for k, e in items if float(e["duration"]) <= float(max_duration)]
            if not items:
                raise ManifestError(f"{self.name}: no utterance is shorter than data.max_duration={max_duration} s.")
        if sorting != "random":
            items.sort(key=lambda kv: float(kv[1]["duration"]), reverse=sorting == "descending")
        if max_items:
            items = items[: int(max_items)]
        self.ids = [k for k, _ in items]
        self.entries = [e for _, e in items]
        self.durations = [float(e["duration"]) for e in self.entries]
        self.tokenizer = tokenizer
        self.sample_rate = int(sample_rate)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        entry = self.entries[index]
        wav, _ = read_audio(entry["audio"], expected_sr=self.sample_rate)
        tokens = self.tokenizer.encode_as_ids(entry["text"])
        return {"id": self.ids[index], "wav": torch.from_numpy(wav), "text": entry["text"],
                "tokens": torch.tensor(tokens, dtype=torch.long)}


def _pad(seqs, value=0):
    longest = max(int(s.shape[0]) for s in seqs)
    out = torch.full((len(seqs), longest), value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    rel = torch.tensor([s.shape[0] / max(longest, 1) for s in seqs], dtype=torch.float32)
    return out, rel


def collate_asr(items, bos_index=1, eos_index=2, pad_index=0):
    """Padded batch: wavs [B, T] + relative wav_lens; tokens (pad 0), tokens_bos = [bos]+tokens,
    tokens_eos = tokens+[eos], each with relative lengths (SpeechBrain's convention)."""
    wavs, wav_lens = _pad([it["wav"] for it in items], 0.0)
    tokens, tokens_lens = _pad([it["tokens"] for it in items], pad_index)
    bos = [torch.cat([torch.tensor([bos_index]), it["tokens"]]) for it in items]
    eos = [torch.cat([it["tokens"], torch.tensor([eos_index])]) for it in items]
    tokens_bos, _ = _pad(bos, pad_index)
    tokens_eos, tokens_eos_lens = _pad(eos, pad_index)
    return {"ids": [it["id"] for it in items], "texts": [it["text"] for it in items], "wavs": wavs,
            "wav_lens": wav_lens, "tokens": tokens, "tokens_lens": tokens_lens, "tokens_bos": tokens_bos,
            "tokens_eos": tokens_eos, "tokens_eos_lens": tokens_eos_lens}


def build_spec_augment(spec):
    """SpeechBrain Augmenter (time drop, frequency drop, time warp) from ``data.spec_augment``:
    null/false = off, true = the official S2S setting, a dict overrides SPEC_AUGMENT_DEFAULTS."""
    if not spec:
        return None
    from speechbrain.augment.augmenter import Augmenter
    from speechbrain.augment.freq_domain import SpectrogramDrop, Warping

    cfg = dict(SPEC_AUGMENT_DEFAULTS)
    if isinstance(spec, dict):
        unknown = set(spec) - set(cfg)
        if unknown:
            raise ValueError(f"data.spec_augment: unknown keys {sorted(unknown)}; known: {sorted(cfg)}")
        cfg.update(spec)
    augmentations = [
        SpectrogramDrop(drop_length_low=cfg["time_drop_length"][0], drop_length_high=cfg["time_drop_length"][1],
                        drop_count_low=cfg["time_drop_count"][0], drop_count_high=cfg["time_drop_count"][1],
                        replace=cfg["drop_replace"], dim=1),
        SpectrogramDrop(drop_length_low=cfg["freq_drop_length"][0], drop_length_high=cfg["freq_drop_length"][1],
                        drop_count_low=cfg["freq_drop_count"][0], drop_count_high=cfg["freq_drop_count"][1],
                        replace=cfg["drop_replace"], dim=2),
    ]
    if cfg["time_warp_window"]:
        augmentations.append(Warping(warp_window=cfg["time_warp_window"], warp_mode=cfg["time_warp_mode"], dim=1))
    n = len(augmentations)
    return Augmenter(parallel_augment=False, concat_original=False, repeat_augment=1, shuffle_augmentations=False,
                     min_augmentations=n, max_augmentations=n, augment_prob=1.0, augmentations=augmentations)


def edit_distance(ref, hyp):
    """Levenshtein distance between two token lists."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]
