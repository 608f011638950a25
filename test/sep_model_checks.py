"""Checks shared by the separation model tests (test_spmamba, test_tfgridnet, test_sepmamba,
test_dpmamba, test_mamba_tasnet, test_sep_baselines): each runs them on its own model or config."""

import contextlib
import json
import math
import os
import subprocess
import sys

import pytest
import torch

import speechslytherin
from speechslytherin.losses.sep import PitSiSnrLoss

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_KEYS = "/work/shared/reference/official_keys"
if not os.path.isdir(REFERENCE_KEYS):  # the repo's own copy, when the shared folder is absent
    REFERENCE_KEYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "official_keys")


def official_layout(name):
    """{key: shape} of the official state dict listed in keys_<name>.json (skips when absent)."""
    path = os.path.join(REFERENCE_KEYS, f"keys_{name}.json")
    if not os.path.isfile(path):
        pytest.skip(f"official key list not available ({path})")
    with open(path) as f:
        return {key: tuple(shape) for key, shape in json.load(f)}


def check_official_layout(model, name, count):
    """The model has `count` parameters and exactly the keys and shapes of keys_<name>.json."""
    assert sum(p.numel() for p in model.parameters()) == count
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = official_layout(name)
    assert sorted(set(official) - set(ours)) == [] and sorted(set(ours) - set(official)) == []
    assert {k: s for k, s in ours.items() if official[k] != s} == {}


def check_training_steps(model, n_steps=5, lr=1e-2):
    """One backward pass gives every parameter a non-zero gradient, and a few Adam steps on one
    batch of random sources lower the PIT SI-SNR loss (the caller seeds torch before building)."""
    loss_fn = PitSiSnrLoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sources = torch.randn(2, 800, 2)
    mix = sources.sum(-1)
    first = loss_fn(model(mix), sources)
    first.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()] == []
    for _ in range(n_steps):
        opt.step()
        opt.zero_grad()
        loss = loss_fn(model(mix), sources)
        loss.backward()
    assert loss.item() < first.item()


@contextlib.contextmanager
def full_fp32_on_cuda():
    """Turn TF32 off for CUDA convolutions and matmuls, so GPU outputs can be compared with the CPU's."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def train_tiny(config, data_dir, exp_dir, *overrides):
    """Run bin/train with a tiny config on CPU; returns the train_log.jsonl records, after checking
    that the run succeeded and every epoch's training and validation loss is finite."""
    cmd = [sys.executable, "-m", "speechslytherin.bin.train", os.path.join(REPO, config), "--data-dir",
           str(data_dir), "--exp-dir", str(exp_dir), "--no-progress", "--device", "cpu", *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(exp_dir, "train_log.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert records, "no epoch logged"
    for record in records:
        assert math.isfinite(record["train"]["loss"]) and math.isfinite(record["valid"]["loss"]), record
    return records


def check_trained_separator(exp_dir, model_class, mixture, sample_rate=8000, n_src=2):
    """The exported model.pt loads as model_class and separates a real mixture into n_src finite,
    distinct signals of the mixture's length; returns the model."""
    model = speechslytherin.load_model(os.path.join(exp_dir, "model.pt"))
    assert isinstance(model, model_class) and model.sample_rate == sample_rate
    estimates = model.separate(mixture)
    assert estimates.shape == (n_src, mixture.shape[-1]) and torch.isfinite(estimates).all()
    assert estimates.abs().sum() > 0 and not torch.allclose(estimates[0], estimates[1])
    return model
