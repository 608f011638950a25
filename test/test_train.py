"""The generic trainer: end to end on a tiny config, determinism, resume after a kill, DDP on CPU."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import speechslytherin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "egs", "mini", "sep1", "conf", "tiny.yaml")


@pytest.fixture(scope="module")
def data_dir(mini_sep_subset):
    """6 training and 3 validation mixtures of the tiny mini corpus (batch 2: 3 steps an epoch)."""
    return mini_sep_subset(6, 3)


def train_cmd(data_dir, exp_dir, *extra):
    return [sys.executable, "-m", "speechslytherin.bin.train", TINY, "--data-dir", str(data_dir),
            "--exp-dir", str(exp_dir), "--no-progress", *extra]


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600, **kw)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def epochs_logged(exp_dir):
    with open(os.path.join(exp_dir, "train_log.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


def test_train_writes_model_log_plots_and_is_deterministic(data_dir, tmp_path):
    run(train_cmd(data_dir, tmp_path / "a"))
    run(train_cmd(data_dir, tmp_path / "b"))
    exp = tmp_path / "a"
    for name in ("config.yaml", "overrides.yaml", "config.resolved.yaml", "env.json", "model.pt",
                 "plots/training_curves.png", "train_summary.json"):
        assert (exp / name).exists(), name
    assert epochs_logged(exp) == [1, 2]
    summary = json.loads((exp / "train_summary.json").read_text())
    assert len(summary["averaged_checkpoints"]) == 2  # n_best_average: 2
    model = speechslytherin.load_model(str(exp / "model.pt"))
    assert model.sample_rate == 8000
    with torch.no_grad():
        assert model(torch.randn(1, 1200)).shape == (1, 1200, 2)
    state_a = torch.load(exp / "model.pt", weights_only=False)["state_dict"]
    state_b = torch.load(tmp_path / "b" / "model.pt", weights_only=False)["state_dict"]
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_a_log_without_a_bar_gets_periodic_progress_lines(data_dir, tmp_path):
    out = run(train_cmd(data_dir, tmp_path / "exp", "--trainer.log_interval_seconds=1e-6", "--trainer.epochs=1"))
    lines = [line for line in out.stderr.splitlines() if "epoch 1 batch" in line]
    assert lines and "batch 1/3: train loss" in lines[0] and "s/batch, epoch ends in" in lines[0]
    quiet = run(train_cmd(data_dir, tmp_path / "quiet", "--trainer.log_interval_seconds=0", "--trainer.epochs=1"))
    assert "epoch 1 batch" not in quiet.stderr


def test_rerun_resumes_and_refuses_a_changed_config(data_dir, tmp_path):
    exp = tmp_path / "exp"
    run(train_cmd(data_dir, exp))
    again = run(train_cmd(data_dir, exp))
    assert epochs_logged(exp) == [1, 2]  # nothing retrained
    assert "model written" in again.stdout
    changed = subprocess.run(train_cmd(data_dir, exp, "--trainer.epochs=3"), capture_output=True, text=True,
                             cwd=REPO, timeout=600)
    assert changed.returncode == 2 and "different config or overrides" in changed.stderr


def test_killed_run_resumes_from_last_checkpoint(data_dir, tmp_path):
    exp = tmp_path / "exp"
    cmd = train_cmd(data_dir, exp, "--trainer.epochs=6")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    save = exp / "save"
    while time.time() < deadline:
        if save.exists() and any(p.name.startswith("CKPT+") for p in save.iterdir()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = epochs_logged(exp)
    assert done_before and done_before[-1] < 6, "the run finished before it could be killed"
    run(cmd)
    epochs = epochs_logged(exp)
    assert epochs == list(range(1, 7)), epochs  # each epoch once, continuing after the kill
    assert not (save / ".staging").exists() or not any((save / ".staging").iterdir())


def test_two_cpu_processes_with_gloo(data_dir, tmp_path):
    exp = tmp_path / "ddp"
    out = run(train_cmd(data_dir, exp, "--nproc", "2"))
    assert "torch.distributed.run" in out.stdout
    assert epochs_logged(exp) == [1, 2]
    record = json.loads(open(exp / "train_log.jsonl").readline())
    assert record["optimizer_steps"] == 2  # 6 items / (batch 2 x 2 processes), rounded up
    assert (exp / "model.pt").exists()


def test_early_stopping_ends_training_when_valid_loss_stops_improving(data_dir, tmp_path):
    # lr 0: the valid loss never improves after epoch 1, so patience 1 stops after epoch 2 of 4
    run(train_cmd(data_dir, tmp_path / "es", "--trainer.epochs=4", "--trainer.early_stop_patience=1",
                  "--optimizer.lr=0.0"))
    assert epochs_logged(tmp_path / "es") == [1, 2]


def test_plot_verb_redraws_curves(data_dir, tmp_path):
    from speechslytherin.bin import plot

    exp = tmp_path / "exp"
    run(train_cmd(data_dir, exp, "--trainer.epochs=1"))
    (exp / "plots" / "training_curves.png").unlink()
    assert plot.main([str(exp)]) == 0
    assert (exp / "plots" / "training_curves.png").stat().st_size > 1000
    assert plot.main([str(tmp_path / "nothing")]) == 2


def test_validation_scores_ignore_batch_padding():
    from speechslytherin.losses.sep import PitSiSnrLoss
    from speechslytherin.tasks.sep import unpadded_si_snr

    torch.manual_seed(0)
    loss = PitSiSnrLoss()
    short_ref, long_ref = torch.randn(1, 300, 2), torch.randn(1, 500, 2)
    short_est, long_est = short_ref + 0.3 * torch.randn(1, 300, 2), long_ref + 0.5 * torch.randn(1, 500, 2)
    pad = torch.zeros(1, 200, 2)
    targets = torch.cat([torch.cat([short_ref, pad], 1), long_ref])
    estimates = torch.cat([torch.cat([short_est, pad + 0.1], 1), long_est])  # junk in the padding
    mix = targets.sum(-1)
    scores, inputs = unpadded_si_snr(loss, estimates, targets, mix, torch.tensor([0.6, 1.0]))
    assert torch.allclose(scores[0], -loss.per_example(short_est, short_ref)[0])
    assert torch.allclose(scores[1], -loss.per_example(long_est, long_ref)[0])
    assert torch.allclose(inputs[0], -loss.per_example(short_ref.sum(-1, keepdim=True).expand(-1, -1, 2), short_ref)[0])
