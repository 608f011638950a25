"""Separation / enhancement dataset over a manifest of (mixture, sources) entries.

Items are {"id", "mix": Tensor[T], "sources": Tensor[T, n_src]}, the layout SpeechBrain's
separation recipes use (time before sources), so PIT losses take them as they are.
"""

import os

import numpy as np
import torch

from speechslytherin.data.audio import AudioError, read_audio
from speechslytherin.data.manifest import ManifestError, as_manifest


def item_rng(seed, epoch, index):
    """A generator that depends only on (seed, epoch, index): same draws in any worker or rank."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])


class SeparationDataset(torch.utils.data.Dataset):
    """Reads mixture and source wavs, checks them, optionally crops a segment.

    manifest: path or dict id -> {"mix", "sources", "duration", "sample_rate", ...}.
    segment: crop length in seconds (None = whole utterance). Shorter utterances are kept
        whole unless drop_short=True (SPMamba drops them for training).
    random_crop: random window (training) or the first `segment` seconds (validation).
    Crops are deterministic per (seed, epoch, index); call set_epoch() each epoch.
    """

    def __init__(self, manifest, sample_rate, n_src=2, segment=None, random_crop=True, seed=0,
                 replacements=None, drop_short=False):
        is_path = isinstance(manifest, (str, os.PathLike))
        self.manifest_name = os.fspath(manifest) if is_path else "<in-memory manifest>"
        entries = as_manifest(manifest, replacements=replacements, kind="separation")
        self.sample_rate = int(sample_rate)
        self.n_src = int(n_src)
        self.segment = segment
        self.segment_samples = None if segment is None else int(round(segment * self.sample_rate))
        if self.segment_samples is not None and self.segment_samples <= 0:
            raise ValueError(f"segment must be positive seconds or None, got {segment!r}.")
        self.random_crop = random_crop
        self.seed = seed
        self.epoch = 0
        for uid, entry in entries.items():
            if len(entry["sources"]) != self.n_src:
                raise ManifestError(
                    f"{self.manifest_name}: id '{uid}' has {len(entry['sources'])} sources, the model "
                    f"expects n_src={self.n_src}. Use the matching manifest or set n_src."
                )
            if entry["sample_rate"] != self.sample_rate:
                raise ManifestError(
                    f"{self.manifest_name}: id '{uid}' is at {entry['sample_rate']} Hz, the config says "
                    f"sample_rate: {self.sample_rate}. Prepare the data at {self.sample_rate} Hz or change "
                    "the config."
                )
        if drop_short and self.segment is not None:
            entries = {k: e for k, e in entries.items() if e["duration"] >= self.segment}
            if not entries:
                raise ManifestError(
                    f"{self.manifest_name}: no utterance is at least {self.segment} s long; lower segment."
                )
        self.entries = entries
        self.ids = list(entries)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.ids)

    @property
    def durations(self):
        return [self.entries[uid]["duration"] for uid in self.ids]

    def _read(self, path):
        wav, _ = read_audio(path, expected_sr=self.sample_rate)
        return wav

    def __getitem__(self, index):
        uid = self.ids[index]
        entry = self.entries[uid]
        mix = self._read(entry["mix"])
        sources = [self._read(p) for p in entry["sources"]]
        for path, src in zip(entry["sources"], sources):
            if len(src) != len(mix):
                raise AudioError(
                    f"{self.manifest_name}: id '{uid}': source {path} has {len(src)} samples but the "
                    f"mixture {entry['mix']} has {len(mix)}. Re-create the mixture or fix the manifest."
                )
        sources = np.stack(sources, axis=-1)
        if self.segment_samples is not None and len(mix) > self.segment_samples:
            start = 0
            if self.random_crop:
                rng = item_rng(self.seed, self.epoch, index)
                start = int(rng.integers(0, len(mix) - self.segment_samples + 1))
            stop = start + self.segment_samples
            mix, sources = mix[start:stop], sources[start:stop]
        return {
            "id": uid,
            "mix": torch.from_numpy(np.ascontiguousarray(mix)),
            "sources": torch.from_numpy(np.ascontiguousarray(sources)),
        }


def collate_separation(batch):
    """Pad to the longest item; lengths are relative (SpeechBrain convention: 1.0 = longest)."""
    if not batch:
        raise ValueError("collate_separation got an empty batch.")
    lengths = [item["mix"].shape[0] for item in batch]
    longest = max(lengths)
    n_src = batch[0]["sources"].shape[-1]
    mix = torch.zeros(len(batch), longest, dtype=batch[0]["mix"].dtype)
    sources = torch.zeros(len(batch), longest, n_src, dtype=batch[0]["sources"].dtype)
    for i, item in enumerate(batch):
        if item["sources"].shape[-1] != n_src:
            raise ValueError(
                f"item '{item['id']}' has {item['sources'].shape[-1]} sources, the batch has {n_src}."
            )
        n = lengths[i]
        mix[i, :n] = item["mix"]
        sources[i, :n] = item["sources"]
    rel = torch.tensor(lengths, dtype=torch.float32) / float(longest)
    return {"id": [item["id"] for item in batch], "mix": mix, "sources": sources, "lengths": rel}
