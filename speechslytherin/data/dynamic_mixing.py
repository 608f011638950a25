"""Dynamic mixing: a new 2-speaker (or n-speaker) mixture for every item, drawn from a pool
of single-speaker utterances (wsj0 si_tr_s for wsj0-2mix), as SepMamba and Mamba-TasNet train.

Two rule sets (``rule=``, the YAML's ``data.dm_rule``). The default, "speechbrain", follows
SpeechBrain's WSJ0Mix recipe, which Mamba-TasNet uses unchanged:
- speakers are drawn without replacement, with probability proportional to how many
  utterances each has; one utterance is drawn uniformly per speaker;
- every utterance is cut to a random window of the shortest length among them (and at most
  `segment` seconds when set), so training sees full utterances, not fixed crops;
- source 1 is scaled to an average absolute amplitude of clip(N(-27.43, 2.57), -45, 0) dB,
  every further source to clip(gain1 + N(-2.51, 2.66), -45, 0) dB;
- mixture = sum of sources; mixture and sources are scaled together so that the largest
  peak among them is 0.9.

"sepmamba" follows SepMamba's src/data/classes/Mixer.py + Preprocessor.py (2 sources):
- two utterances drawn independently and uniformly from the whole pool (the same speaker, even
  the same utterance, can come twice);
- each cut to a random `segment`-second window (start uniform in [0, len - segment - 1], as
  the official randint) or zero-padded on the right to it; exact zeros replaced by one small
  random value in U(-1e-9, 1e-9);
- each divided by sqrt(active level) (ITU-T P.56 power, data/activlev.py: the pool entry's
  "activlev", else the pywsj0-mix activlev file given as `activlev`, else computed), then
  scaled by U(-2.5, 0) dB (source 1) and U(0, 2.5) dB (source 2);
- each speed-perturbed by a factor drawn from (0.95, 1.0, 1.05) (resampling from factor x 8000
  to 8000, as torchaudio's SpeedPerturbation(8000, linspace(0.95, 1.05, 3))), then both cut to
  the shorter;
- mixture = sum; everything divided by max(1, largest peak) / 0.9.
With this rule the speed perturbation is part of the data, so leave ``data.speed_perturb`` null.

Unlike the recipes (global numpy state, reseeded from os.urandom per worker), every draw
here comes from a generator seeded by (seed, epoch, index), so results do not depend on the
number of DataLoader workers or DDP ranks, and a resumed run sees the same data.
"""

import collections

import numpy as np
import torch

from speechslytherin.data.activlev import active_level, read_activlev_file
from speechslytherin.data.audio import read_audio
from speechslytherin.data.manifest import ManifestError, as_manifest
from speechslytherin.data.sep_dataset import item_rng

_AMP_EPS = 1e-14  # as SpeechBrain's normalize()
DM_RULES = ("speechbrain", "sepmamba")
SEPMAMBA_SPEEDS = (0.95, 1.0, 1.05)
SEPMAMBA_SPEED_RATE = 8000  # SpeedPerturbation(8000, ...) in the official Mixer, whatever the data rate


def resample(wav, orig_sr, new_sr):
    """Band-limited resampling of a 1-D float32 numpy signal (torchaudio's sinc resampler)."""
    if orig_sr == new_sr:
        return wav
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(wav), int(orig_sr), int(new_sr))
    return out.numpy()


def scale_to_level_db(wav, level_db):
    """Scale so that the mean absolute amplitude is `level_db` dB (SpeechBrain rescale, 'avg')."""
    avg = float(np.mean(np.abs(wav))) + _AMP_EPS
    return wav * (10.0 ** (level_db / 20.0) / avg)


class DynamicMixingDataset(torch.utils.data.Dataset):
    """epoch_size freshly mixed items per epoch, same item layout as SeparationDataset.

    pool_manifest: path or dict id -> {"audio", "speaker", "duration", "sample_rate"}; pool
        files at another rate are resampled to `sample_rate` on the fly.
    segment: None = full utterances (window of the shortest length); else at most this many
        seconds ("sepmamba" rule: exactly this many, before speed perturbation; required).
    rule: "speechbrain" (default) or "sepmamba" (see the module docstring).
    activlev: "sepmamba" rule only: a pywsj0-mix activlev file (or dict id -> level) for pool
        entries without an "activlev" field; levels missing from both are computed (P.56).
    """

    def __init__(self, pool_manifest, sample_rate, n_src=2, epoch_size=20000, segment=None, seed=0,
                 gain_mean=-27.43, gain_std=2.57, gain2_offset_mean=-2.51, gain2_offset_std=2.66,
                 gain_clip=(-45.0, 0.0), peak=0.9, replacements=None, rule="speechbrain", activlev=None,
                 sepmamba_gain_range=(-2.5, 2.5), sepmamba_speeds=SEPMAMBA_SPEEDS):
        if rule not in DM_RULES:
            raise ValueError(f"dynamic mixing rule {rule!r} (data.dm_rule): choose one of {DM_RULES}.")
        if rule == "sepmamba" and int(n_src) != 2:
            raise ValueError(f"data.dm_rule 'sepmamba' mixes exactly 2 sources (its gains are defined for 2), "
                             f"got n_src={n_src}.")
        if rule == "sepmamba" and segment is None:
            raise ValueError("data.dm_rule 'sepmamba' crops every source to a fixed length: set data.segment "
                             "(the official recipe uses 4.0 seconds).")
        pool = as_manifest(pool_manifest, replacements=replacements, kind="pool")
        by_speaker = collections.OrderedDict()
        for uid in sorted(pool):
            by_speaker.setdefault(pool[uid]["speaker"], []).append(uid)
        if len(by_speaker) < n_src:
            name = pool_manifest if isinstance(pool_manifest, str) else "the pool manifest"
            raise ManifestError(
                f"{name}: {len(by_speaker)} speaker(s) in the pool, dynamic mixing needs at least "
                f"n_src={n_src} distinct speakers. Point --pool at a larger speaker folder."
            )
        self.pool = pool
        self.speakers = list(by_speaker)
        self.utts_by_speaker = by_speaker
        counts = np.array([len(by_speaker[s]) for s in self.speakers], dtype=np.float64)
        self.speaker_weights = counts / counts.sum()
        self.sample_rate = int(sample_rate)
        self.n_src = int(n_src)
        self.epoch_size = int(epoch_size)
        self.segment_samples = None if segment is None else int(round(segment * self.sample_rate))
        self.seed = seed
        self.epoch = 0
        self.gain_mean, self.gain_std = gain_mean, gain_std
        self.gain2_offset_mean, self.gain2_offset_std = gain2_offset_mean, gain2_offset_std
        self.gain_clip = tuple(gain_clip)
        self.peak = peak
        self.rule = rule
        self.pool_ids = sorted(pool)
        self.activlev = read_activlev_file(activlev) if isinstance(activlev, str) else dict(activlev or {})
        self.sepmamba_gain_range = tuple(sepmamba_gain_range)
        self.sepmamba_speeds = tuple(sepmamba_speeds)
        self._level_cache = {}

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.epoch_size

    def draw(self, rng):
        """Pick n_src (pool id, gain dB) pairs from rng: distinct speakers, weighted by counts."""
        spk_idx = rng.choice(len(self.speakers), size=self.n_src, replace=False, p=self.speaker_weights)
        utts = []
        for k in spk_idx:
            candidates = self.utts_by_speaker[self.speakers[k]]
            utts.append(candidates[int(rng.integers(len(candidates)))])
        lo, hi = self.gain_clip
        first = float(np.clip(rng.normal(self.gain_mean, self.gain_std), lo, hi))
        gains = [first] + [
            float(np.clip(first + rng.normal(self.gain2_offset_mean, self.gain2_offset_std), lo, hi))
            for _ in range(self.n_src - 1)
        ]
        return utts, gains

    def _load(self, uid):
        entry = self.pool[uid]
        wav, sr = read_audio(entry["audio"], expected_sr=entry["sample_rate"])
        return resample(wav, sr, self.sample_rate)

    def __getitem__(self, index):
        if not 0 <= index < self.epoch_size:
            raise IndexError(index)
        rng = item_rng(self.seed, self.epoch, index)
        if self.rule == "sepmamba":
            return self._item_sepmamba(rng, index)
        utts, gains = self.draw(rng)
        wavs = [self._load(uid) for uid in utts]
        length = min(len(w) for w in wavs)
        if self.segment_samples is not None:
            length = min(length, self.segment_samples)
        sources = []
        for wav, gain in zip(wavs, gains):
            start = int(rng.integers(0, len(wav) - length + 1))
            sources.append(scale_to_level_db(wav[start:start + length], gain))
        sources = np.stack(sources, axis=-1).astype(np.float32)
        mix = sources.sum(axis=-1)
        max_amp = max(float(np.abs(mix).max()), float(np.abs(sources).max()))
        if max_amp > 0:
            scale = self.peak / max_amp
            mix, sources = mix * scale, sources * scale
        return {
            "id": f"dm_e{self.epoch}_{index}_" + "_".join(utts),
            "mix": torch.from_numpy(np.ascontiguousarray(mix, dtype=np.float32)),
            "sources": torch.from_numpy(np.ascontiguousarray(sources, dtype=np.float32)),
        }

    # -- SepMamba's rule ----------------------------------------------------------------------
    def draw_sepmamba(self, rng):
        """Two (pool id, gain dB, speed factor) picks: utterances independent and uniform, gains
        U(lo, 0) dB and U(0, hi) dB, speeds uniform over the factors."""
        lo, hi = self.sepmamba_gain_range
        utts = [self.pool_ids[int(rng.integers(len(self.pool_ids)))] for _ in range(2)]
        gains = [float(rng.uniform(lo, 0.0)), float(rng.uniform(0.0, hi))]
        speeds = [self.sepmamba_speeds[int(rng.integers(len(self.sepmamba_speeds)))] for _ in range(2)]
        return utts, gains, speeds

    def level(self, uid, wav):
        """Active level of a pool utterance: manifest field, activlev file, else computed (cached)."""
        entry = self.pool[uid]
        if "activlev" in entry:
            return float(entry["activlev"])
        if uid in self.activlev:
            return float(self.activlev[uid])
        if uid not in self._level_cache:
            self._level_cache[uid] = active_level(wav, self.sample_rate)
        return self._level_cache[uid]

    def _item_sepmamba(self, rng, index):
        utts, gains, speeds = self.draw_sepmamba(rng)
        length = self.segment_samples
        sources = []
        for uid, gain, speed in zip(utts, gains, speeds):
            wav = self._load(uid).astype(np.float32)
            level = self.level(uid, wav)
            if len(wav) > length:
                start = int(rng.integers(0, len(wav) - length))  # official randint(0, len - L - 1)
                wav = wav[start:start + length]
            else:
                wav = np.concatenate([wav, np.zeros(length - len(wav), dtype=np.float32)])
            wav = np.where(wav == 0, np.float32(rng.uniform(-1e-9, 1e-9)), wav)  # Preprocessor.clear_nans
            wav = wav / np.sqrt(max(level, 1e-20)) * 10.0 ** (gain / 20.0)
            sources.append(change_speed_factor(wav.astype(np.float32), speed))
        n = min(len(s) for s in sources)
        sources = np.stack([s[:n] for s in sources], axis=-1).astype(np.float32)
        mix = sources.sum(axis=-1)
        scale = max(1.0, float(np.abs(mix).max()), float(np.abs(sources).max())) / self.peak
        mix, sources = mix / scale, sources / scale
        return {
            "id": f"dm_e{self.epoch}_{index}_" + "_".join(utts),
            "mix": torch.from_numpy(np.ascontiguousarray(mix, dtype=np.float32)),
            "sources": torch.from_numpy(np.ascontiguousarray(sources, dtype=np.float32)),
        }


def change_speed_factor(wav, factor, rate=SEPMAMBA_SPEED_RATE):
    """torchaudio's speed(): resample from round(factor x rate) to rate (factor 1.05 = 5 % faster,
    shorter); only the ratio matters, so `rate` is the official 8000 whatever the data rate."""
    if factor == 1.0:
        return wav
    return resample(wav, int(round(factor * rate)), int(rate))
