"""Speech separation: mixture in, n_src waveforms out, trained with PIT SI-SNR.

The datasets come from manifests (or a dynamic-mixing pool); on-the-fly speed perturbation of
the targets follows the official Mamba-TasNet / SpeechBrain WSJ0Mix recipe (targets perturbed,
mixture re-summed).
"""

import os

import speechbrain as sb
import torch

from speechslytherin.losses.sep import PitSiSnrLoss
from speechslytherin.tasks.base import TaskBrain, to_device

VALID_METRIC = PitSiSnrLoss()
TRAIN_MANIFEST = "tr.json"
VALID_MANIFEST = "cv.json"
POOL_MANIFEST = "dm_pool.json"

# Separation-only keys of the YAML's data: section (beside config.DATA_DEFAULTS).
DATA_DEFAULTS = {
    "dm_rule": "speechbrain",  # dynamic-mixing gains/crops: speechbrain (Mamba-TasNet) | sepmamba
    "dm_activlev": None,  # sepmamba rule: pywsj0-mix activlev file (relative: to the data dir); None = P.56
}


class SeparationBrain(TaskBrain):
    def compute_forward(self, batch, stage):
        batch = to_device(batch, self.device)
        mix, targets = batch["mix"], batch["sources"]
        if stage == sb.Stage.TRAIN and self.hparams.data.get("speed_perturb"):
            from speechslytherin.data.augment import speed_perturb_sources

            targets = speed_perturb_sources(targets, self.hparams.sample_rate, self.hparams.data["speed_perturb"])
            mix = targets.sum(-1)
        estimates = self.modules["model"](mix)
        length = min(estimates.shape[1], targets.shape[1])
        return estimates[:, :length], targets[:, :length], mix[:, :length]

    def compute_objectives(self, predictions, batch, stage):
        estimates, targets, mix = predictions
        if stage == sb.Stage.TRAIN:
            return self.hparams.loss(estimates, targets)
        with torch.no_grad():
            # Validation always scores PIT SI-SNR (whatever the training loss, e.g. SPMamba's SNR):
            # checkpoints, schedules and the logged si_snr mean the same thing for every model.
            si_snr, si_snr_in = unpadded_si_snr(VALID_METRIC, estimates, targets, mix, batch.get("lengths"))
        self.accumulate(si_snr=si_snr.mean(), si_snri=(si_snr - si_snr_in).mean())
        return -si_snr.mean()


def unpadded_si_snr(loss, estimates, targets, mix, lengths=None):
    """PIT SI-SNR of each item and of its mixture, on the item's own length: zero padding of a
    batch must not change a validation score."""
    total = targets.shape[1]
    if lengths is None:
        lengths = torch.ones(targets.shape[0])
    scores, inputs = [], []
    for i, rel in enumerate(lengths.tolist()):
        n = max(1, min(total, int(round(rel * total))))
        est, ref = estimates[i : i + 1, :n], targets[i : i + 1, :n]
        scores.append(-loss.per_example(est, ref))
        inputs.append(-loss.per_example(mix[i : i + 1, :n].unsqueeze(-1).expand_as(ref), ref))
    return torch.cat(scores), torch.cat(inputs)


def build_datasets(cfg, data_dir):
    """(train_set, valid_set) as the config's `data` section asks."""
    from speechslytherin.data.dynamic_mixing import DynamicMixingDataset
    from speechslytherin.data.sep_dataset import SeparationDataset

    data = cfg.data
    sr = cfg["sample_rate"]
    n_src = cfg.get("n_src", 2)
    seed = cfg.trainer["seed"]
    if data["train"] == "dynamic_mixing":
        train = DynamicMixingDataset(
            os.path.join(data_dir, POOL_MANIFEST),
            sample_rate=sr,
            n_src=n_src,
            epoch_size=data["dm_epoch_size"],
            segment=data["segment"],
            seed=seed,
            rule=data.get("dm_rule", "speechbrain"),
            activlev=_activlev_path(data.get("dm_activlev"), data_dir),
        )
    elif data["train"] == "manifest":
        train = SeparationDataset(
            os.path.join(data_dir, TRAIN_MANIFEST), sample_rate=sr, n_src=n_src, segment=data["segment"], seed=seed
        )
    else:
        raise ValueError(f"data.train must be 'manifest' or 'dynamic_mixing', got '{data['train']}'")
    valid = SeparationDataset(
        os.path.join(data_dir, VALID_MANIFEST),
        sample_rate=sr,
        n_src=n_src,
        segment=data["valid_segment"],
        random_crop=False,
        seed=seed,
    )
    if data["max_valid_items"]:
        valid = torch.utils.data.Subset(valid, range(min(len(valid), int(data["max_valid_items"]))))
    return train, valid


def _activlev_path(path, data_dir):
    if path is None:
        return None
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.join(data_dir, path)


def collate_fn():
    from speechslytherin.data.sep_dataset import collate_separation

    return collate_separation


def plot_examples(model, valid_set, out_dir, sample_rate, n_examples, device="cpu"):
    """Spectrograms of mixture, references and estimates for the first validation items."""
    from speechslytherin.training.plots import plot_separation_example

    model.eval()
    paths = []
    for index in range(min(n_examples, len(valid_set))):
        item = valid_set[index]
        with torch.no_grad():
            est = model(item["mix"].unsqueeze(0).to(device))[0].cpu()
        path = os.path.join(out_dir, f"separation_{item['id']}.png")
        plot_separation_example(item["mix"], item["sources"], est, sample_rate, path, title=item["id"])
        paths.append(path)
    return paths


Brain = SeparationBrain
