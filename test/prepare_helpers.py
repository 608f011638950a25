"""Shared pieces of the prepare/ tests on fake corpus trees: the corpus fixture and the check that a
preparation never writes into its corpus (it runs on a read-only copy, as on a shared corpus)."""

import pytest

from recipe_helpers import set_readonly, snapshot


def corpus_fixture(make, folder, **kwargs):
    """A pytest fixture giving (root, info) of make(<tmp_path>/<folder>, **kwargs); write access is
    given back afterwards, since tests make the corpus read-only."""

    @pytest.fixture
    def corpus(tmp_path):
        root = str(tmp_path / folder)
        info = make(root, **kwargs)
        yield root, info
        set_readonly(str(tmp_path), False)

    return corpus


def prepare_read_only(prepare_fn, root, *args, **kwargs):
    """prepare_fn(root, *args, **kwargs) with the corpus made read-only; asserts that no file in it
    changed and returns what prepare_fn returns. The corpus stays read-only."""
    before = snapshot(root)
    set_readonly(root)
    written = prepare_fn(root, *args, **kwargs)
    assert snapshot(root) == before
    return written
