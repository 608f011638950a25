"""Shared pieces of the recipe tests for libri2mix, wham and echo2mix: copy egs/, run a run.sh, snapshot a corpus."""

import os
import shutil
import stat
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHRINK = ("--model.N=16 --model.n_layers=1 --model.d_state=4 --trainer.epochs=1 --data.segment=0.5 "
          "--data.num_workers=0 --trainer.ckpt_interval_minutes=0")


def snapshot(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(root) for f in fs}


def set_readonly(root, readonly=True):
    for d, dirs, files in os.walk(root):
        for p in [d] + [os.path.join(d, n) for n in dirs + files]:
            mode = os.stat(p).st_mode
            os.chmod(p, (mode & ~0o222 if readonly else mode | stat.S_IWUSR))


def _outputs(folder, names):
    """What a recipe run leaves behind (experiments, manifests, corpora, results): not copied."""
    return {n for n in names if n == "RESULTS.md" or (
        os.path.isdir(os.path.join(folder, n)) and (n in ("exp", "data", "db") or n.startswith("data_")))}


def copy_egs(tmp_path):
    shutil.copytree(os.path.join(REPO, "egs"), tmp_path / "egs", ignore=_outputs)
    return tmp_path / "egs"


def run(recipe, *args, env=None, script="./run.sh", timeout=900):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO, **(env or {}))
    return subprocess.run([script, *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout)
