"""Training curves and spectrograms, drawn into the exp dir (no display needed)."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from speechslytherin.utils.atomic import atomic_path  # noqa: E402


def read_train_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_training_curves(log_path, out_path):
    """Train/valid loss and learning rate per epoch from train_log.jsonl."""
    records = read_train_log(log_path)
    if not records:
        raise ValueError(f"{log_path}: no epochs logged yet")
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(epochs, [r["train"].get("loss") for r in records], "o-", label="train loss")
    axes[0].plot(epochs, [r["valid"].get("loss") for r in records], "o-", label="valid loss")
    if "si_snri" in records[0]["valid"]:
        axes[0].plot(epochs, [-r["valid"]["si_snri"] for r in records], "--", label="-valid SI-SNRi (dB)")
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    axes[1].plot(epochs, [r["lr"] for r in records], "o-")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("learning rate (end of epoch)")
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, out_path)


def _spectrogram(ax, wav, sample_rate, title):
    wav = np.asarray(wav, dtype=np.float32)
    n_fft = 256 if sample_rate <= 8000 else 512
    ax.specgram(wav + 1e-9, NFFT=n_fft, Fs=sample_rate, noverlap=n_fft * 3 // 4, cmap="magma")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("Hz")


def plot_separation_example(mix, sources, estimates, sample_rate, out_path, title=""):
    """Mixture, then each reference beside its estimate ([time, n_src] tensors or arrays)."""
    sources, estimates = np.asarray(sources), np.asarray(estimates)
    n_src = sources.shape[-1]
    fig, axes = plt.subplots(n_src + 1, 2, figsize=(10, 2.2 * (n_src + 1)), squeeze=False)
    _spectrogram(axes[0][0], mix, sample_rate, f"mixture {title}")
    axes[0][1].axis("off")
    for k in range(n_src):
        _spectrogram(axes[k + 1][0], sources[:, k], sample_rate, f"reference {k + 1}")
        _spectrogram(axes[k + 1][1], estimates[: len(sources), k], sample_rate, f"estimate {k + 1}")
    fig.tight_layout()
    _save(fig, out_path)


def _save(fig, out_path):
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
