"""egs/wsj0-2mix/sep1 on a small fake tree in the real layout, with the official config shrunk by overrides."""

import os
import shutil
import stat
import subprocess
import sys

from fake_corpus import make_wsj0_2mix

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHRINK = ("--model.N=16 --model.n_layers=1 --model.d_state=4 --trainer.epochs=1 --data.dm_epoch_size=4 "
          "--data.segment=0.5 --data.num_workers=0 --trainer.ckpt_interval_minutes=0")


def snapshot(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


def test_wsj0_2mix_recipe_on_a_fake_tree(tmp_path):
    corpus = tmp_path / "wsj0-mix"
    fake = make_wsj0_2mix(str(corpus))
    before = snapshot(corpus)
    for d, _, files in os.walk(corpus):  # read-only, as a shared corpus would be
        os.chmod(d, stat.S_IRUSR | stat.S_IXUSR)
    shutil.copytree(os.path.join(REPO, "egs"), tmp_path / "egs",
                    ignore=shutil.ignore_patterns("exp", "data", "db", "RESULTS.md"))
    recipe = tmp_path / "egs" / "wsj0-2mix" / "sep1"
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO, WSJ0_2MIX=str(corpus), WSJ0_SI_TR_S=fake["pool"])
    out = subprocess.run(["./run.sh", "--config", "conf/mamba_tasnet_XS.yaml", "--train-args", SHRINK],
                         cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp = recipe / "exp" / "sep_mamba_tasnet_XS"
    assert (recipe / "data" / "dm_pool.json").is_file()
    assert (exp / "model.pt").is_file()
    assert "| sep_mamba_tasnet_XS |" in (recipe / "RESULTS.md").read_text()
    assert snapshot(corpus) == before  # nothing written into the corpus


def test_missing_corpus_is_reported_at_stage_0(tmp_path):
    shutil.copytree(os.path.join(REPO, "egs"), tmp_path / "egs",
                    ignore=shutil.ignore_patterns("exp", "data", "db", "RESULTS.md"))
    recipe = tmp_path / "egs" / "wsj0-2mix" / "sep1"
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO, WSJ0_2MIX=str(tmp_path / "nowhere"))
    out = subprocess.run(["./run.sh", "--stop-stage", "0"], cwd=recipe, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode != 0
    assert "nowhere" in out.stderr
