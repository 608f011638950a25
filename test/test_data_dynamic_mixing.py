import collections

import numpy as np
import pytest
import soundfile as sf
import torch

from fake_corpus import make_pool_manifest
from speechslytherin.data.dynamic_mixing import DynamicMixingDataset, scale_to_level_db
from speechslytherin.data.manifest import ManifestError
from speechslytherin.data.sep_dataset import collate_separation


def test_item_layout_peak_and_sum(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    ds = DynamicMixingDataset(pool, 8000, epoch_size=7, seed=1)
    assert len(ds) == 7
    for i in range(7):
        item = ds[i]
        mix, src = item["mix"], item["sources"]
        assert src.shape == (mix.shape[0], 2) and mix.dtype == torch.float32
        torch.testing.assert_close(mix, src.sum(-1), atol=1e-6, rtol=0)
        peak = max(mix.abs().max().item(), src.abs().max().item())
        assert peak == pytest.approx(0.9, abs=1e-5)


def test_full_utterance_window_is_min_length(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    ds = DynamicMixingDataset(pool, 8000, epoch_size=10, seed=2)
    for i in range(10):
        item = ds[i]
        utts = [u for u in pool if u in item["id"].split("_")]
        lengths = [sf.info(pool[u]["audio"]).frames for u in utts]
        assert item["mix"].shape[0] == min(lengths)
    ds = DynamicMixingDataset(pool, 8000, epoch_size=3, segment=0.1)
    assert ds[0]["mix"].shape[0] == 800


def test_distinct_speakers_weighted_by_counts(tmp_path):
    pool = make_pool_manifest(str(tmp_path), speakers=("a", "b", "c"), counts=(6, 1, 3))
    ds = DynamicMixingDataset(pool, 8000, epoch_size=100, seed=0)
    spk_count = collections.Counter()
    rng = np.random.default_rng(0)
    for _ in range(3000):
        utts, gains = ds.draw(rng)
        spks = [pool[u]["speaker"] for u in utts]
        assert len(set(spks)) == 2
        spk_count.update(spks)
    # weighted sampling without replacement: the most frequent speaker is drawn most often
    assert spk_count["a"] > spk_count["c"] > spk_count["b"]


def test_gain_distribution(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    ds = DynamicMixingDataset(pool, 8000)
    rng = np.random.default_rng(5)
    g = np.array([ds.draw(rng)[1] for _ in range(20000)])
    assert g.min() >= -45 and g.max() <= 0
    assert g[:, 0].mean() == pytest.approx(-27.43, abs=0.1)
    assert g[:, 0].std() == pytest.approx(2.57, abs=0.1)
    assert (g[:, 1] - g[:, 0]).mean() == pytest.approx(-2.51, abs=0.1)
    assert (g[:, 1] - g[:, 0]).std() == pytest.approx(2.66, abs=0.1)


def test_relative_level_of_sources_follows_gains(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    ds = DynamicMixingDataset(pool, 8000, epoch_size=5, seed=4)
    from speechslytherin.data.sep_dataset import item_rng
    for i in range(5):
        _, gains = ds.draw(item_rng(4, 0, i))
        src = ds[i]["sources"].numpy()
        lvl = 20 * np.log10(np.abs(src).mean(0))
        assert lvl[1] - lvl[0] == pytest.approx(gains[1] - gains[0], abs=1e-3)


def test_scale_to_level_db():
    x = np.sin(np.arange(8000) / 5.0).astype(np.float32)
    y = scale_to_level_db(x, -20.0)
    assert 20 * np.log10(np.abs(y).mean()) == pytest.approx(-20.0, abs=1e-4)


def test_deterministic_across_instances_workers_and_epochs(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    a = DynamicMixingDataset(pool, 8000, epoch_size=6, seed=9)
    b = DynamicMixingDataset(pool, 8000, epoch_size=6, seed=9)
    assert torch.equal(a[3]["mix"], b[3]["mix"])
    serial = [a[i]["mix"] for i in range(6)]
    loader = torch.utils.data.DataLoader(b, batch_size=1, num_workers=2, collate_fn=collate_separation)
    parallel = [batch["mix"][0] for batch in loader]
    for s, p in zip(serial, parallel):
        assert torch.equal(s, p)
    a.set_epoch(1)
    assert a[3]["id"] != b[3]["id"] or not torch.equal(a[3]["mix"], b[3]["mix"])
    c = DynamicMixingDataset(pool, 8000, epoch_size=6, seed=10)
    assert any(not torch.equal(c[i]["mix"], serial[i]) for i in range(6))


def test_resamples_pool_at_other_rate(tmp_path):
    pool = make_pool_manifest(str(tmp_path), sr=16000)
    ds = DynamicMixingDataset(pool, 8000, epoch_size=4, seed=0)
    item = ds[0]
    utts = [u for u in pool if u in item["id"].split("_")]
    assert item["mix"].shape[0] == min(-(-sf.info(pool[u]["audio"]).frames // 2) for u in utts)


def test_too_few_speakers(tmp_path):
    pool = make_pool_manifest(str(tmp_path), speakers=("a",), counts=(3,))
    with pytest.raises(ManifestError, match="at least n_src=2 distinct speakers"):
        DynamicMixingDataset(pool, 8000)


def test_wrong_rate_in_manifest_is_caught(tmp_path):
    pool = make_pool_manifest(str(tmp_path))
    for e in pool.values():
        e["sample_rate"] = 16000
    ds = DynamicMixingDataset(pool, 8000, epoch_size=2)
    with pytest.raises(ValueError, match="8000 Hz, expected 16000 Hz"):
        ds[0]
