"""egs/mini/enh1 end to end (stages 0-5) on the tiny scale with conf/tiny.yaml, in a copy of egs/:
tiny mini corpus -> mini-enh set (48 kHz, VoiceBank layout) -> voicebank preparation and resampling
-> tiny SEMamba -> enhance -> PESQ/CSIG/CBAK/COVL/STOI/SI-SNR -> RESULTS.md."""

import json
import os
import shutil

import pytest
import soundfile as sf

from recipe_helpers import REPO, copy_egs, run, set_readonly, snapshot

pytestmark = pytest.mark.skipif(
    not (os.path.isfile(os.path.join(REPO, "speechslytherin", "tasks", "enh.py"))
         and os.path.isfile(os.path.join(REPO, "egs", "mini", "enh1", "conf", "tiny.yaml"))),
    reason="the enh task / egs/mini/enh1/conf/tiny.yaml are not in this checkout")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return copy_egs(tmp_path_factory.mktemp("recipe_mini_enh")) / "mini" / "enh1"


def run_recipe(recipe, *args):
    db = recipe.parent / "db"
    return run(recipe, "--mini-scale", "tiny", "--config", "conf/tiny.yaml", "--mini-corpus", str(db / "mini"),
               "--corpus-root", str(db / "mini_enh"), "--nj", "1", *args)


def test_stages_0_to_5_with_pcs_then_rerun_skips(recipe):
    out = run_recipe(recipe, "--pcs", "true")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    db, data, exp = recipe.parent / "db", recipe / "data", recipe / "exp" / "enh_tiny"
    assert (db / "mini_enh" / ".complete").is_file()
    with open(data / "tt.json") as f:
        tt = json.load(f)
    with open(data / "cv.json") as f:
        cv = json.load(f)
    first = next(iter(tt.values()))
    assert first["sample_rate"] == 16000 and first["mix"].startswith(str(data / "wav16k"))
    assert sf.info(first["mix"]).samplerate == 16000
    assert {e["speaker"] for e in cv.values()} == {"p226", "p287"}
    assert (exp / "model.pt").is_file()
    with open(exp / "enhanced_tt" / "manifest.json") as f:
        assert sorted(json.load(f)) == sorted(tt)
    with open(exp / "score_tt" / "summary.json") as f:
        summary = json.load(f)
    assert summary["n_scored"] == len(tt) and summary["mixture"]["pesq"] is not None
    results = (recipe / "RESULTS.md").read_text()
    assert "| noisy (input) |" in results and "| enh_tiny |" in results and "CSIG" in results
    assert (exp / "score_tt_pcs" / "summary.json").is_file() and "| enh_tiny+PCS |" in results
    with open(data / "tt_tts.json") as f:  # the second test set (unseen TTS voices), scored beside tt
        tt_tts = json.load(f)
    with open(exp / "score_tt_tts" / "summary.json") as f:
        assert json.load(f)["n_scored"] == len(tt_tts) > 0
    assert "### tt_tts" in results and "### tt\n" in results
    for n in (0, 1, 2):
        assert (data / f".stage{n}.done").is_file()
    for n in (3, 4, 5):
        assert (exp / f".stage{n}.done").is_file()
    again = run_recipe(recipe)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 6


def test_unknown_option_fails(recipe):
    bad = run_recipe(recipe, "--stop-stag", "3")
    assert bad.returncode != 0 and "unknown option --stop-stag" in bad.stderr


VOICEBANK_FOLDERS = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav", "noisy_testset_wav",
                     "logfiles", "trainset_28spk_txt", "testset_txt")


def test_voicebank_recipe_on_a_fake_tree_in_the_real_layout(recipe, tmp_path):
    """egs/voicebank/enh1/run.sh, stages 0-5, on the tiny mini-enh set cut to VoiceBank-DEMAND's own
    folders (48 kHz, as the zips unpack), read-only: nothing is written into the corpus."""
    built = recipe.parent / "db" / "mini_enh"
    if not (built / ".complete").is_file():
        assert run_recipe(recipe, "--stop-stage", "0").returncode == 0
    fake = tmp_path / "VoiceBank-DEMAND"
    for name in VOICEBANK_FOLDERS:
        shutil.copytree(built / name, fake / name)
    (fake / "logfiles" / "log_testset_tts.txt").unlink()
    set_readonly(fake)
    before = snapshot(fake)
    vb = recipe.parent.parent / "voicebank" / "enh1"
    try:
        out = run(vb, "--corpus-root", str(fake), "--config", "../../mini/enh1/conf/tiny.yaml", "--nj", "1")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert snapshot(fake) == before
        assert sorted(p.name for p in (vb / "data").glob("*.json")) == ["cv.json", "tr.json", "tt.json"]
        results = (vb / "RESULTS.md").read_text()
        assert "### tt\n" in results and "| enh_tiny |" in results and "tt_tts" not in results
    finally:
        set_readonly(fake, False)
