"""The offline mini corpus (tiny scale): layout, mixing rule, speaker splits, determinism.

Needs the Debian speech packages of tools/system_packages.txt; skipped (with the install
line) where they are missing.
"""

import hashlib
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf

from speechslytherin.bin import make_mini
from speechslytherin.simulate import mini_corpus, twomix, voices

SPLITS = ("tr", "cv", "tt")
ID_RE = re.compile(r"^([a-z0-9]{8})_(-?\d+\.\d{5})_([a-z0-9]{8})_(-?\d+\.\d{5})$")


def _inventory_or_skip():
    try:
        return voices.require_inventory()
    except voices.MissingPackageError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    _inventory_or_skip()
    out = tmp_path_factory.mktemp("mini") / "tiny"
    mini_corpus.make_mini(str(out), scale="tiny", seed=0, jobs=2, log=lambda *a: None)
    return out


def _wavs(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".wav"))


def _tree_digest(root):
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name == ".complete":
                continue  # holds the build time
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def test_layout_counts_and_rates(tiny):
    expected = mini_corpus.SCALES["tiny"]["mixtures"]
    for split in SPLITS:
        base = tiny / "2speakers" / "wav8k" / "min" / split
        names = {sub: _wavs(base / sub) for sub in ("mix", "s1", "s2")}
        assert len(names["mix"]) == expected[split]
        assert names["mix"] == names["s1"] == names["s2"]
        for name in names["mix"][:4]:
            info = sf.info(str(base / "mix" / name))
            assert info.samplerate == 8000 and info.channels == 1 and info.subtype == "PCM_16"
    for path in (tiny / "wsj0" / "si_tr_s").rglob("*.wav"):
        assert sf.info(str(path)).samplerate == 8000
    for path in (tiny / "speech").rglob("*.wav"):
        assert sf.info(str(path)).samplerate == 16000
    assert (tiny / "README.txt").read_text().startswith("speechslytherin mini corpus")
    assert not any(p.name.startswith(".") and p.name != ".complete" for p in tiny.iterdir())


def test_mixture_ids_gains_and_exact_sum(tiny):
    utts = json.loads((tiny / "utterances.json").read_text())
    for split in SPLITS:
        base = tiny / "2speakers" / "wav8k" / "min" / split
        for name in _wavs(base / "mix"):
            match = ID_RE.match(name[:-4])
            assert match, name
            u1, g1, u2, g2 = match.group(1), float(match.group(2)), match.group(3), float(match.group(4))
            assert abs(g1) <= 2.5 and g1 == -g2
            assert u1[:3] != u2[:3], "two different speakers"
            assert utts[u1]["split"] == utts[u2]["split"] == split
            mix, _ = sf.read(str(base / "mix" / name), dtype="int16")
            s1, _ = sf.read(str(base / "s1" / name), dtype="int16")
            s2, _ = sf.read(str(base / "s2" / name), dtype="int16")
            assert len(mix) == len(s1) == len(s2)
            np.testing.assert_array_equal(mix.astype(np.int32), s1.astype(np.int32) + s2.astype(np.int32))
            # min mode: as long as the shorter source utterance at 8 kHz
            short = min(utts[u1]["duration"], utts[u2]["duration"])
            assert abs(len(mix) / 8000 - short) < 0.01
            # the level ratio of the sources is the one in the name (both were level-normalised)
            rms = lambda x: np.sqrt(np.mean(x.astype(np.float64) ** 2))  # noqa: E731
            assert rms(s1) > 0 and rms(s2) > 0


def test_speakers_disjoint_and_test_is_recorded(tiny):
    utts = json.loads((tiny / "utterances.json").read_text())
    speakers = json.loads((tiny / "speakers.json").read_text())
    persons = {split: {speakers[u["speaker"]]["person"] for u in utts.values() if u["split"] == split}
               for split in SPLITS}
    codes = {split: {u["speaker"] for u in utts.values() if u["split"] == split} for split in SPLITS}
    for a, b in (("tr", "cv"), ("tr", "tt"), ("cv", "tt")):
        assert not persons[a] & persons[b]
        assert not codes[a] & codes[b]
    for u in utts.values():
        assert u["uid"][:3] == u["speaker"]
        assert (u["engine"] == "asterisk") == (u["split"] == "tt")
        assert os.path.isfile(tiny / u["path"])
        assert mini_corpus.MIN_DURATION_S <= u["duration"] <= mini_corpus.MAX_DURATION_S
        if u["engine"] != "asterisk" or u["voice"] != "it_IT_f_Menardi":
            assert u["text"], u["uid"]
        assert ("pool_path" in u) == (u["split"] == "tr")
    pool = {p.parent.name for p in (tiny / "wsj0" / "si_tr_s").rglob("*.wav")}
    assert pool == codes["tr"]
    assert len(codes["tt"]) >= 2


def test_levels_are_normalised_and_mixtures_overlap(tiny):
    base = tiny / "2speakers" / "wav8k" / "min" / "tt"
    si_snrs = []
    for name in _wavs(base / "mix"):
        mix, _ = sf.read(str(base / "mix" / name))
        s1, _ = sf.read(str(base / "s1" / name))
        s2, _ = sf.read(str(base / "s2" / name))
        si_snrs.append(twomix.si_snr_db(mix, s1))
        peak = max(np.abs(x).max() for x in (mix, s1, s2))
        assert peak == pytest.approx(0.9, abs=1e-3)
    # two equally loud talkers at +-2.5 dB at most: input SI-SNR near 0 dB
    assert -8.0 < np.mean(si_snrs) < 8.0
    utts = json.loads((tiny / "utterances.json").read_text())
    assert all(abs(u["active_level_db"] + 25.0) < 0.5 for u in utts.values())


def test_same_seed_is_byte_identical_and_rerun_is_noop(tiny, tmp_path):
    other = tmp_path / "again"
    mini_corpus.make_mini(str(other), scale="tiny", seed=0, jobs=1, log=lambda *a: None)
    assert _tree_digest(tiny) == _tree_digest(other)
    marker = (other / ".complete").read_text()
    messages = []
    mini_corpus.make_mini(str(other), scale="tiny", seed=0, jobs=2, log=messages.append)
    assert "nothing to do" in messages[0]
    assert (other / ".complete").read_text() == marker


def test_different_parameters_are_refused(tiny, capsys):
    with pytest.raises(mini_corpus.CorpusExistsError, match="new --out"):
        mini_corpus.make_mini(str(tiny), scale="tiny", seed=1, jobs=1, log=lambda *a: None)
    assert make_mini.main(["--out", str(tiny), "--scale", "small", "--no-progress"]) == 1
    assert "different parameters" in capsys.readouterr().err


def test_unfinished_folder_is_refused(tmp_path):
    _inventory_or_skip()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "junk.wav").write_bytes(b"")
    with pytest.raises(mini_corpus.CorpusExistsError, match="no .complete marker"):
        mini_corpus.make_mini(str(tmp_path / "half"), scale="tiny", log=lambda *a: None)


def test_missing_package_names_the_apt_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(voices, "ASTERISK_SOUNDS", str(tmp_path / "no-sounds"))
    real_which = voices.shutil.which
    monkeypatch.setattr(voices.shutil, "which", lambda name: None if name == "flite" else real_which(name))
    with pytest.raises(voices.MissingPackageError) as err:
        voices.require_inventory()
    message = str(err.value)
    assert "apt-get install -y --no-install-recommends flite asterisk-core-sounds-en-wav" in message
    assert "asterisk-prompt-it-menardi-wav" in message
    assert "Found so far" in message
    assert make_mini.main(["--out", str(tmp_path / "x"), "--scale", "tiny"]) == 1
    assert "apt-get install" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_plan_mixtures_rules():
    rng = np.random.default_rng(0)
    plans = twomix.plan_mixtures({"aaa": ["aaa00000", "aaa00001"], "bbb": ["bbb00000"]}, 2, rng)
    assert len({(p[0], p[2]) for p in plans}) == 2
    with pytest.raises(ValueError, match="at least 2 speakers"):
        twomix.plan_mixtures({"aaa": ["aaa00000"]}, 1, rng)
    with pytest.raises(ValueError, match="distinct mixtures"):
        twomix.plan_mixtures({"aaa": ["aaa00000"], "bbb": ["bbb00000"]}, 3, rng)
    a = np.full(800, 0.1)
    mix, s1, s2 = twomix.make_mixture(a, 2.0, np.full(1200, -0.1), -2.0)
    assert len(mix) == 800
    ratio_db = 20 * np.log10(np.abs(s1.astype(float)).mean() / np.abs(s2.astype(float)).mean())
    assert ratio_db == pytest.approx(4.0, abs=0.01)
    assert twomix.mixture_id("aaa00000", 0.0, "bbb00000", -0.0) == "aaa00000_0.00000_bbb00000_0.00000"


def test_both_test_voices_mode(tmp_path):
    _inventory_or_skip()
    out = tmp_path / "both"
    summary = mini_corpus.make_mini(str(out), scale="tiny", seed=0, jobs=2, test_voices="both",
                                    log=lambda *a: None)
    assert summary["parameters"]["test_voices"] == "both"
    assert set(summary["counts"]["mixtures"]) == {"tr", "cv", "tt", "tt_tts"}
    utts = json.loads((out / "utterances.json").read_text())
    speakers = json.loads((out / "speakers.json").read_text())
    persons = {}
    for u in utts.values():
        persons.setdefault(u["split"], set()).add(speakers[u["speaker"]]["person"])
        assert (u["engine"] == "asterisk") == (u["split"] == "tt")  # tt: real people only
    splits = sorted(persons)
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not persons[a] & persons[b], (a, b)
    for split in ("tt", "tt_tts"):
        assert len(_wavs(out / "2speakers" / "wav8k" / "min" / split / "mix")) == 8
    with pytest.raises(ValueError, match="test_voices"):
        mini_corpus.make_mini(str(tmp_path / "bad"), scale="tiny", test_voices="robots")
