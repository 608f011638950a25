"""Shared pieces of the tests of the sets derived from the mini corpus (simulate/mini_asr.py,
simulate/mini_tts.py): the tiny corpus, and a build that must not write into it."""

from recipe_helpers import snapshot
from speechslytherin.bin.make_mini import main as make_mini_main


def tiny_mini(tmp_path_factory, name):
    """The tiny mini corpus (seconds) in a new temporary folder named after `name`."""
    root = tmp_path_factory.mktemp(name) / "mini"
    assert make_mini_main(["--out", str(root), "--scale", "tiny", "--no-progress"]) == 0
    return root


def make_beside(make, mini, out, **kwargs):
    """(out, summary) of make(mini, out, **kwargs) without progress or log; asserts the corpus is
    never written into."""
    before = snapshot(mini)
    summary = make(mini, out, progress=False, log=lambda m: None, **kwargs)
    assert snapshot(mini) == before
    return out, summary
