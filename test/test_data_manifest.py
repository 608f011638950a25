import json
import os

import pytest

from speechslytherin.data.manifest import ManifestError, load_manifest, save_manifest

SEP = {"mix": "{data_root}/mix/a.wav", "sources": ["{data_root}/s1/a.wav", "{data_root}/s2/a.wav"],
       "duration": 1.5, "sample_rate": 8000, "speakers": ["011", "01v"]}
POOL = {"audio": "/x/011/a.wav", "speaker": "011", "duration": 2.0, "sample_rate": 16000}


def write(tmp_path, data, name="m.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_roundtrip_and_replacements(tmp_path):
    path = str(tmp_path / "m.json")
    save_manifest(path, {"a": SEP, "p": POOL})  # placeholders may stay in a saved manifest
    loaded = load_manifest(path, replacements={"data_root": "/corpus"})
    assert loaded["a"]["mix"] == "/corpus/mix/a.wav"
    assert loaded["a"]["sources"] == ["/corpus/s1/a.wav", "/corpus/s2/a.wav"]
    assert loaded["p"] == POOL
    assert list(loaded) == ["a", "p"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_unresolved_placeholder_names_key_and_fix(tmp_path):
    path = write(tmp_path, {"a": SEP})
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    msg = str(err.value)
    assert path in msg and "'a'" in msg and "'mix'" in msg and "data_root" in msg and "replacements" in msg


@pytest.mark.parametrize("key,value,needle", [
    ("sources", [], "non-empty list"),
    ("duration", 0, "positive number"),
    ("duration", "1.0", "positive number"),
    ("sample_rate", 8000.5, "positive integer"),
    ("mix", "", "non-empty path"),
])
def test_bad_values(tmp_path, key, value, needle):
    entry = dict(SEP, mix="/m.wav", sources=["/1.wav", "/2.wav"])
    entry[key] = value
    path = write(tmp_path, {"u1": entry})
    with pytest.raises(ManifestError, match=needle) as err:
        load_manifest(path)
    assert "'u1'" in str(err.value) and f"'{key}'" in str(err.value) and path in str(err.value)


def test_missing_key_and_kind(tmp_path):
    entry = dict(POOL)
    del entry["speaker"]
    path = write(tmp_path, {"p1": entry})
    with pytest.raises(ManifestError, match="missing key 'speaker'"):
        load_manifest(path, kind="pool")
    path = write(tmp_path, {"p1": POOL}, "pool.json")
    with pytest.raises(ManifestError, match="missing key 'mix'"):
        load_manifest(path, kind="separation")


def test_missing_empty_and_invalid_files(tmp_path):
    with pytest.raises(ManifestError, match="not found.*preparation"):
        load_manifest(tmp_path / "nope.json")
    with pytest.raises(ManifestError, match="empty"):
        load_manifest(write(tmp_path, {}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="JSON object"):
        load_manifest(write(tmp_path, [1, 2], "list.json"))


def test_save_rejects_bad_entry_and_keeps_old_file(tmp_path):
    path = str(tmp_path / "m.json")
    save_manifest(path, {"p": POOL})
    with pytest.raises(ManifestError):
        save_manifest(path, {"p": dict(POOL, duration=-1)})
    assert load_manifest(path)["p"] == POOL
