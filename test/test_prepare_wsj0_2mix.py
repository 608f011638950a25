import os

import numpy as np
import pytest
import soundfile as sf

from fake_corpus import make_wsj0_2mix, tone, write_wav
from prepare_helpers import corpus_fixture, prepare_read_only
from speechslytherin.bin import prepare as prepare_cli
from speechslytherin.data.dynamic_mixing import DynamicMixingDataset
from speechslytherin.data.manifest import load_manifest
from speechslytherin.data.sep_dataset import SeparationDataset
from speechslytherin.prepare import corpora
from speechslytherin.prepare.common import PrepareError
from speechslytherin.prepare.wsj0_2mix import prepare_mini, prepare_wsj0_2mix, speakers_of


corpus = corpus_fixture(make_wsj0_2mix, "wsj0-mix")


def test_prepare_writes_manifests_and_never_touches_root(corpus, tmp_path, capsys):
    root, info = corpus
    out = str(tmp_path / "data")
    written = prepare_read_only(prepare_wsj0_2mix, root, out, pool=info["pool"])
    assert sorted(written) == ["cv", "dm_pool", "tr", "tt"]
    err = capsys.readouterr().err
    assert "the standard corpus has 20000" in err and "the standard corpus has 3000" in err
    tt = load_manifest(written["tt"])
    assert list(tt) == sorted(info["ids"]["tt"])
    uid = info["ids"]["tt"][0]
    entry = tt[uid]
    assert entry["mix"] == os.path.join(info["base"], "tt", "mix", uid + ".wav")
    assert entry["sources"] == [os.path.join(info["base"], "tt", s, uid + ".wav") for s in ("s1", "s2")]
    assert entry["duration"] == sf.info(entry["mix"]).frames / 8000 and entry["sample_rate"] == 8000
    assert entry["speakers"] == [uid[:3], uid.split("_")[2][:3]]
    assert len(SeparationDataset(written["tr"], 8000)) == 4
    pool = load_manifest(written["dm_pool"], kind="pool")
    assert len(pool) == 14 and {e["speaker"] for e in pool.values()} == {"011", "01v", "20a", "40b"}
    item = DynamicMixingDataset(written["dm_pool"], 8000, epoch_size=2)[1]
    assert item["sources"].shape[1] == 2


def test_out_inside_root_is_refused(corpus):
    root, _ = corpus
    with pytest.raises(PrepareError, match="never writes into the corpus"):
        prepare_wsj0_2mix(root, os.path.join(root, "data"))


def test_speakers_of():
    assert speakers_of("011a010d_0.54422_20do010c_-0.54422") == ["011", "20d"]
    assert speakers_of("utt1") is None and speakers_of("a_b_c_d") is None


def test_root_may_be_the_2speakers_folder(corpus, tmp_path):
    root, _ = corpus
    written = prepare_wsj0_2mix(os.path.join(root, "2speakers"), str(tmp_path / "d"))
    assert len(load_manifest(written["cv"])) == 2 and "dm_pool" not in written


def test_missing_root_and_base(tmp_path, corpus):
    with pytest.raises(PrepareError, match="corpus root not found.*--root"):
        prepare_wsj0_2mix(str(tmp_path / "nope"), str(tmp_path / "d"))
    root, _ = corpus
    with pytest.raises(PrepareError, match=r"folder not found: .*wav16k/min\. Found wav8k/min.*--sample-rate"):
        prepare_wsj0_2mix(root, str(tmp_path / "d"), sample_rate=16000)
    with pytest.raises(PrepareError, match=r"folder not found: .*wav8k/max\."):
        prepare_wsj0_2mix(root, str(tmp_path / "d"), mode="max")


def test_missing_folder_and_files_are_listed(corpus, tmp_path):
    root, info = corpus
    base = info["base"]
    os.rename(os.path.join(base, "cv", "s2"), os.path.join(tmp_path, "moved_s2"))
    uid = info["ids"]["tr"][1]
    os.remove(os.path.join(base, "tr", "s1", uid + ".wav"))
    out = str(tmp_path / "d")
    with pytest.raises(PrepareError) as err:
        prepare_wsj0_2mix(root, out)
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert os.path.join(base, "cv") + ": missing folder(s) s2" in msg
    assert os.path.join(base, "tr", "s1", uid + ".wav") + " missing" in msg
    assert not os.path.exists(out)  # nothing written when verification fails


def test_bad_audio_is_named_with_fix(corpus, tmp_path):
    root, info = corpus
    base = info["base"]
    tr = info["ids"]["tr"]
    write_wav(os.path.join(base, "tr", "s1", tr[0] + ".wav"), tone(4000, 16000, 0), 16000)  # wrong rate
    sf.write(os.path.join(base, "tr", "s2", tr[1] + ".wav"), np.zeros((4000, 2), np.float32), 8000)  # stereo
    sf.write(os.path.join(base, "tr", "mix", tr[2] + ".wav"), np.zeros(0, np.float32), 8000)  # empty
    with open(os.path.join(base, "tr", "s2", tr[3] + ".wav"), "wb") as f:
        f.write(b"RIFF0000WAVEjunk")  # corrupt
    cv = info["ids"]["cv"][0]
    write_wav(os.path.join(base, "cv", "s1", cv + ".wav"), tone(100, 8000, 0), 8000)  # length mismatch
    with pytest.raises(PrepareError) as err:
        prepare_wsj0_2mix(root, str(tmp_path / "d"))
    msg = str(err.value)
    assert "5 problem(s)" in msg
    assert f"{tr[0]}.wav: sample rate 16000 Hz, expected 8000 Hz. Check --sample-rate" in msg
    assert f"{tr[1]}.wav: 2 channels, expected mono" in msg
    assert f"{tr[2]}.wav: the file holds no samples" in msg
    assert f"{tr[3]}.wav: cannot be read as audio" in msg and "Re-extract" in msg
    assert f"{cv}.wav: mixture and sources differ in length" in msg and "s1=100" in msg


def test_long_problem_lists_are_truncated(tmp_path):
    root = str(tmp_path / "c")
    info = make_wsj0_2mix(root, counts={"tr": 25, "cv": 1, "tt": 1}, pool=False, seconds=(0.1, 0.12))
    for uid in info["ids"]["tr"]:
        os.remove(os.path.join(info["base"], "tr", "s2", uid + ".wav"))
    with pytest.raises(PrepareError, match=r"25 problem\(s\)[\s\S]*\.\.\. and 5 more"):
        prepare_wsj0_2mix(root, str(tmp_path / "d"))


def test_pool_at_16k_and_sphere(tmp_path):
    root = str(tmp_path / "c")
    info = make_wsj0_2mix(root, pool_sr=16000, pool_ext=".wv1")
    written = prepare_wsj0_2mix(root, str(tmp_path / "d"), pool=info["pool"])
    pool = load_manifest(written["dm_pool"])
    assert {e["sample_rate"] for e in pool.values()} == {16000}
    assert all(e["audio"].endswith(".wv1") for e in pool.values())
    # shorten-compressed SPHERE (the official WSJ0 distribution) gets a conversion hint
    spk_dir = os.path.join(info["pool"], "011")
    bad = os.path.join(spk_dir, "011c0201.wv1")
    hdr = b"NIST_1A\n   1024\nsample_rate -i 16000\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n"
    with open(bad, "wb") as f:
        f.write(hdr.ljust(1024, b" ") + os.urandom(500))
    with pytest.raises(PrepareError) as err:
        prepare_wsj0_2mix(root, str(tmp_path / "d2"), pool=info["pool"])
    assert "011c0201.wv1: NIST SPHERE compressed with shorten" in str(err.value)
    assert "sph2pipe -f wav" in str(err.value)


def test_pool_needs_two_speakers(tmp_path):
    root = str(tmp_path / "c")
    info = make_wsj0_2mix(root, n_pool_spk=1)
    with pytest.raises(PrepareError, match="1 speaker folder.*at least 2"):
        prepare_wsj0_2mix(root, str(tmp_path / "d"), pool=info["pool"])
    with pytest.raises(PrepareError, match="pool folder not found.*--pool"):
        prepare_wsj0_2mix(root, str(tmp_path / "d"), pool=str(tmp_path / "nothing"))


def test_mini_alias_uses_default_pool_and_no_count_warnings(corpus, tmp_path, capsys):
    root, _ = corpus
    written = prepare_mini(root, str(tmp_path / "d"))
    assert "dm_pool" in written
    assert "standard corpus" not in capsys.readouterr().err


def test_cli_dispatch(corpus, tmp_path, capsys):
    root, info = corpus
    assert {"wsj0-2mix", "mini"} <= set(corpora())
    out = str(tmp_path / "d")
    assert prepare_cli.main(["--corpus", "mini", "--root", root, "--out", out]) == 0
    assert os.path.isfile(os.path.join(out, "dm_pool.json"))
    assert prepare_cli.main(["--corpus", "wsj0-2mix", "--root", root, "--out", out, "--pool", info["pool"],
                             "--sample-rate", "8000", "--mode", "min"]) == 0
    assert prepare_cli.main(["--corpus", "wsj0-2mix", "--root", str(tmp_path / "x"), "--out", out]) == 2
    assert "corpus root not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare_cli.main(["--corpus", "nope", "--root", root, "--out", out])


def test_verify_only_and_pool_only(corpus, tmp_path, capsys):
    root, info = corpus
    assert prepare_cli.main(["--corpus", "wsj0-2mix", "--root", root, "--verify-only", "--pool", info["pool"]]) == 0
    assert "verified (tr 4, cv 2, tt 2; pool 14 utterances); nothing written" in capsys.readouterr().err
    out = str(tmp_path / "d")
    assert prepare_cli.main(["--corpus", "mini", "--root", root, "--out", out, "--pool-only"]) == 0
    assert sorted(os.listdir(out)) == ["dm_pool.json"]
    assert prepare_wsj0_2mix(root, str(tmp_path / "e"), pool_only=True) == {}
    assert "no --pool given" in capsys.readouterr().err
    os.remove(os.path.join(info["base"], "tt", "s1", info["ids"]["tt"][0] + ".wav"))
    assert prepare_cli.main(["--corpus", "wsj0-2mix", "--root", root, "--verify-only"]) == 2
    with pytest.raises(SystemExit):
        prepare_cli.main(["--corpus", "wsj0-2mix", "--root", root])  # neither --out nor --verify-only
