"""egs/wham/sep1 stages 0-5 on a fake read-only tree in the wham_scripts layout (mix_both)."""

import json

from fake_corpus import make_wham
from recipe_helpers import SHRINK, copy_egs, run, set_readonly, snapshot


def test_wham_recipe_on_a_fake_tree(tmp_path):
    corpus = tmp_path / "wham"
    make_wham(str(corpus))
    before = snapshot(corpus)
    set_readonly(str(corpus))
    recipe = copy_egs(tmp_path) / "wham" / "sep1"
    try:
        out = run(recipe, "--train-args", SHRINK, env={"WHAM": str(corpus)})
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        tt = json.loads((recipe / "data" / "tt.json").read_text())
        assert all("/mix_both/" in e["mix"] and "/noise/" in e["noise"] and "/s1/" in e["sources"][0]
                   for e in tt.values())
        exp = recipe / "exp" / "sep_mamba_tasnet_S"
        assert (exp / "model.pt").is_file() and (exp / "score_tt" / "summary.json").is_file()
        assert "| sep_mamba_tasnet_S |" in (recipe / "RESULTS.md").read_text()
        again = run(recipe, "--train-args", SHRINK, env={"WHAM": str(corpus)})
        assert again.returncode == 0 and again.stdout.count("skipped") == 6
        assert snapshot(corpus) == before
    finally:
        set_readonly(str(corpus), False)
