import os

import numpy as np
import pytest
import soundfile as sf
import torch

from fake_corpus import make_sep_manifest, tone, write_wav
from speechslytherin.data.audio import AudioError
from speechslytherin.data.manifest import ManifestError, save_manifest
from speechslytherin.data.sep_dataset import SeparationDataset, collate_separation


def test_items_match_files(tmp_path):
    manifest = make_sep_manifest(str(tmp_path), n=3)
    path = str(tmp_path / "tt.json")
    save_manifest(path, manifest)
    ds = SeparationDataset(path, 8000)
    assert len(ds) == 3
    item = ds[1]
    entry = manifest["utt1"]
    mix, _ = sf.read(entry["mix"], dtype="float32")
    s2, _ = sf.read(entry["sources"][1], dtype="float32")
    assert item["id"] == "utt1"
    assert item["mix"].shape == (len(mix),) and item["sources"].shape == (len(mix), 2)
    assert torch.equal(item["mix"], torch.from_numpy(mix))
    assert torch.equal(item["sources"][:, 1], torch.from_numpy(s2))


def test_placeholders(tmp_path):
    manifest = make_sep_manifest(str(tmp_path), n=1)
    root = str(tmp_path)
    templ = {k: dict(v, mix=v["mix"].replace(root, "{data_root}"),
                     sources=[p.replace(root, "{data_root}") for p in v["sources"]]) for k, v in manifest.items()}
    ds = SeparationDataset(templ, 8000, replacements={"data_root": root})
    assert ds[0]["mix"].shape[0] > 0


def test_segment_crop_deterministic_and_epoch_dependent(tmp_path):
    manifest = make_sep_manifest(str(tmp_path), n=2, seconds=(0.6, 0.7))
    ds = SeparationDataset(manifest, 8000, segment=0.25, seed=3)
    a = ds[0]
    assert a["mix"].shape == (2000,) and a["sources"].shape == (2000, 2)
    assert torch.equal(a["mix"], SeparationDataset(manifest, 8000, segment=0.25, seed=3)[0]["mix"])
    crops = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        crops.add(ds[0]["mix"][:5].numpy().tobytes())
    assert len(crops) > 1
    # the crop is the same window in mixture and sources
    full = SeparationDataset(manifest, 8000)[0]
    ds.set_epoch(0)
    crop = ds[0]
    idx = [i for i in range(len(full["mix"]) - 2000 + 1) if torch.equal(full["mix"][i:i + 2000], crop["mix"])]
    assert len(idx) == 1
    assert torch.equal(full["sources"][idx[0]:idx[0] + 2000], crop["sources"])
    # validation crop: the first `segment` seconds
    val = SeparationDataset(manifest, 8000, segment=0.25, random_crop=False)[0]
    assert torch.equal(val["mix"], full["mix"][:2000])


def test_drop_short(tmp_path):
    manifest = make_sep_manifest(str(tmp_path), n=3, seconds=(0.3, 0.9), seed=1)
    durs = sorted(e["duration"] for e in manifest.values())
    ds = SeparationDataset(manifest, 8000, segment=durs[1], drop_short=True)
    assert len(ds) == 2
    ds = SeparationDataset(manifest, 8000, segment=durs[1])
    assert len(ds) == 3


def test_collate_pads_and_relative_lengths(tmp_path):
    manifest = make_sep_manifest(str(tmp_path), n=3, seconds=(0.3, 0.9), seed=2)
    ds = SeparationDataset(manifest, 8000)
    items = [ds[i] for i in range(3)]
    batch = collate_separation(items)
    longest = max(len(i["mix"]) for i in items)
    assert batch["mix"].shape == (3, longest) and batch["sources"].shape == (3, longest, 2)
    assert batch["id"] == ["utt0", "utt1", "utt2"]
    for b, item in enumerate(items):
        n = len(item["mix"])
        assert batch["lengths"][b].item() == pytest.approx(n / longest)
        assert torch.equal(batch["mix"][b, :n], item["mix"])
        assert torch.all(batch["mix"][b, n:] == 0) and torch.all(batch["sources"][b, n:] == 0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_separation, num_workers=0)
    assert len(list(loader)) == 2


def _one(tmp_path, mix=None, s1=None, s2=None, sr=8000, n=4000):
    base = tone(n, 8000, 0)
    mix = base if mix is None else mix
    paths = [write_wav(str(tmp_path / name), wav if wav is not None else base, sr)
             for name, wav in (("mix.wav", mix), ("s1.wav", s1), ("s2.wav", s2))]
    return {"u": {"mix": paths[0], "sources": paths[1:], "duration": n / 8000, "sample_rate": 8000}}


def test_length_mismatch_names_files(tmp_path):
    manifest = _one(tmp_path, s2=tone(3000, 8000, 1))
    with pytest.raises(AudioError) as err:
        SeparationDataset(manifest, 8000)[0]
    msg = str(err.value)
    assert "s2.wav" in msg and "mix.wav" in msg and "3000" in msg and "4000" in msg and "Re-create" in msg


def test_wrong_sample_rate(tmp_path):
    manifest = _one(tmp_path)
    write_wav(str(tmp_path / "s1.wav"), tone(4000, 16000, 0), 16000)
    with pytest.raises(AudioError, match=r"s1\.wav.*16000 Hz, expected 8000 Hz.*Resample"):
        SeparationDataset(manifest, 8000)[0]
    with pytest.raises(ManifestError, match="sample_rate: 16000"):
        SeparationDataset(manifest, 16000)


def test_stereo_nan_empty_corrupt(tmp_path):
    manifest = _one(tmp_path)
    stereo = np.stack([tone(4000, 8000, 0)] * 2, axis=1)
    sf.write(str(tmp_path / "s1.wav"), stereo, 8000)
    with pytest.raises(AudioError, match=r"s1\.wav: 2 channels, expected mono"):
        SeparationDataset(manifest, 8000)[0]
    nan = tone(4000, 8000, 0)
    nan[10] = np.nan
    sf.write(str(tmp_path / "s1.wav"), nan, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"s1\.wav: contains NaN"):
        SeparationDataset(manifest, 8000)[0]
    sf.write(str(tmp_path / "s1.wav"), np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match=r"s1\.wav: the file holds no samples"):
        SeparationDataset(manifest, 8000)[0]
    (tmp_path / "s1.wav").write_bytes(b"RIFF....garbage")
    with pytest.raises(AudioError, match=r"s1\.wav: cannot be decoded"):
        SeparationDataset(manifest, 8000)[0]
    os.remove(tmp_path / "s1.wav")
    with pytest.raises(AudioError, match=r"s1\.wav: file not found"):
        SeparationDataset(manifest, 8000)[0]


def test_wrong_number_of_sources(tmp_path):
    manifest = _one(tmp_path)
    with pytest.raises(ManifestError, match="n_src=3"):
        SeparationDataset(manifest, 8000, n_src=3)
