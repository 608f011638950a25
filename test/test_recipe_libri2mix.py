"""egs/libri2mix/sep1 stages 0-5 on a fake read-only tree in LibriMix's layout, with the S config shrunk."""

import json

from fake_corpus import make_libri2mix
from recipe_helpers import SHRINK, copy_egs, run, set_readonly, snapshot


def test_libri2mix_recipe_on_a_fake_tree(tmp_path):
    corpus = tmp_path / "LibriMix"
    make_libri2mix(str(corpus))
    before = snapshot(corpus)
    set_readonly(str(corpus))
    recipe = copy_egs(tmp_path) / "libri2mix" / "sep1"
    try:
        out = run(recipe, "--train-args", SHRINK, env={"LIBRIMIX": str(corpus)})
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "libri2mix: no dynamic-mixing pool" in out.stderr  # stage 2 has nothing to do
        tt = json.loads((recipe / "data" / "tt.json").read_text())
        assert len(tt) == 2 and all("/mix_clean/" in e["mix"] for e in tt.values())
        assert (recipe / "exp" / "sep_mamba_tasnet_S" / "model.pt").is_file()
        assert "| sep_mamba_tasnet_S |" in (recipe / "RESULTS.md").read_text()
        # the noisy variant into its own manifest folder: only the data stages
        both = run(recipe, "--stop-stage", "2", "--data", "data_both", "--prepare-args",
                   "--sample-rate 8000 --mix-type mix_both", env={"LIBRIMIX": str(corpus)})
        assert both.returncode == 0, both.stderr[-3000:]
        tr = json.loads((recipe / "data_both" / "tr.json").read_text())
        assert all("/mix_both/" in e["mix"] and "/noise/" in e["noise"] for e in tr.values())
        assert snapshot(corpus) == before  # nothing written into the corpus
    finally:
        set_readonly(str(corpus), False)


def test_missing_corpus_and_missing_subset_are_reported(tmp_path):
    recipe = copy_egs(tmp_path) / "libri2mix" / "sep1"
    out = run(recipe, "--stop-stage", "0", env={"LIBRIMIX": str(tmp_path / "nowhere")})
    assert out.returncode != 0 and "nowhere" in out.stderr
    corpus = tmp_path / "LibriMix"
    make_libri2mix(str(corpus), counts={"train-100": 2, "dev": 1})
    out = run(recipe, "--stop-stage", "0", env={"LIBRIMIX": str(corpus)})
    assert out.returncode != 0 and "missing subset folder(s) test" in out.stderr
