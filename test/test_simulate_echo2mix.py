"""simulate/echo2mix.py: an Echo2Mix-like set from the tiny mini corpus, a speech manifest and a noise folder."""

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from fake_corpus import make_pool_manifest, tone, write_wav
from speechslytherin.bin import simulate as simulate_cli
from speechslytherin.data.manifest import load_manifest
from speechslytherin.prepare.echo2mix import prepare_echo2mix
from speechslytherin.simulate.echo2mix import make_echo2mix
from speechslytherin.simulate.levels import active_level_db
from speechslytherin.simulate.shoebox import draw_room, measured_rt60, room_impulse_responses

FAST = dict(n_mixtures=(3, 2, 2), duration=1.0, rt60_range=(0.15, 0.3), progress=False)


def snapshot(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(root) for f in fs}


def set_readonly(root, readonly=True):
    for d, dirs, files in os.walk(root):
        for p in [d] + [os.path.join(d, n) for n in dirs + files]:
            mode = os.stat(p).st_mode
            os.chmod(p, (mode & ~0o222) if readonly else (mode | stat.S_IWUSR))


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    from speechslytherin.simulate.mini_corpus import make_mini

    root = tmp_path_factory.mktemp("mini") / "mini"
    make_mini(str(root), scale="tiny", log=lambda *a: None)
    set_readonly(str(root))
    yield str(root)
    set_readonly(str(root), False)


@pytest.fixture(scope="module")
def simulated(mini, tmp_path_factory):
    before = snapshot(mini)
    out = str(tmp_path_factory.mktemp("sim") / "echo")
    summary = make_echo2mix(mini, out, seed=3, **FAST)
    assert snapshot(mini) == before  # the source is only read
    return out, summary


def files_of(out):
    return {os.path.relpath(os.path.join(d, f), out): open(os.path.join(d, f), "rb").read()
            for d, _, fs in os.walk(out) for f in fs if not f.startswith(".")}


def test_layout_levels_and_prepare(simulated, tmp_path):
    out, summary = simulated
    assert summary["made"] == 7 and summary["counts"] == {"train": 3, "val": 2, "test": 2}
    written = prepare_echo2mix(out, str(tmp_path / "data"))
    tt = load_manifest(written["tt"])
    assert len(tt) == 2 and len(load_manifest(written["tr"])) == 3
    for uid, entry in tt.items():
        assert uid.startswith("room0000") and entry["duration"] == 1.0 and entry["sample_rate"] == 16000
        mix, a, b, noise = (sf.read(p)[0] for p in [entry["mix"], *entry["sources"], entry["noise"]])
        assert np.max(np.abs(mix - a - b - noise)) < 2e-4  # 16-bit rounding only
        assert np.max(np.abs(mix)) <= 0.9 + 1e-4
        sir = active_level_db(a, 16000) - active_level_db(b, 16000)
        snr = 10 * np.log10(np.mean((a + b) ** 2) / np.mean(noise**2))
        assert abs(sir - entry["sir_db"]) < 0.1 and -6 <= entry["sir_db"] <= 6
        assert abs(snr - entry["snr_db"]) < 0.1 and 10 <= entry["snr_db"] <= 20
        assert 0.05 < entry["rt60"] < 0.6  # measured on the simulated responses
        info = json.load(open(os.path.join(os.path.dirname(entry["mix"]), "info.json")))
        assert info["speakers"][0] != info["speakers"][1] and info["noise_kind"] in ("coloured", "babble")


def test_same_seed_same_files_resume_and_rerun(simulated, mini, tmp_path):
    out, _ = simulated
    again = str(tmp_path / "again")
    make_echo2mix(mini, again, seed=3, **FAST)
    assert files_of(again) == files_of(out)  # deterministic per seed
    parallel = str(tmp_path / "parallel")
    make_echo2mix(mini, parallel, seed=3, jobs=2, **FAST)
    assert files_of(parallel) == files_of(out)  # and independent of the number of workers
    victim = next(d for d, _, fs in os.walk(os.path.join(again, "val")) if "info.json" in fs)
    os.unlink(os.path.join(victim, "info.json"))  # an interrupted mixture
    os.unlink(os.path.join(again, ".complete"))
    summary = make_echo2mix(mini, again, seed=3, **FAST)
    assert summary["made"] == 1 and summary["resumed"] == 6
    assert files_of(again) == files_of(out)
    assert make_echo2mix(mini, again, seed=3, **FAST)["made"] == 1  # complete: nothing redone, summary kept
    with pytest.raises(ValueError, match="seed differ"):
        make_echo2mix(mini, again, seed=4, **FAST)
    different = str(tmp_path / "other")
    make_echo2mix(mini, different, seed=4, **FAST)
    assert files_of(different) != files_of(out)


def test_speech_manifest_noise_folder_and_cli(tmp_path):
    manifests = {}
    for k, split in enumerate(("train", "val", "test")):
        m = make_pool_manifest(str(tmp_path / "speech" / split), speakers=(f"{split}a", f"{split}b"),
                               counts=(2, 2), sr=16000, seconds=(0.6, 0.9), seed=k)
        manifests[split] = str(tmp_path / f"{split}.json")
        json.dump(m, open(manifests[split], "w"))
    noise_dir = tmp_path / "noises"
    write_wav(str(noise_dir / "hum.wav"), tone(3000, 8000, 5), 8000)  # other rate: resampled
    out = tmp_path / "sim"
    args = ["--kind", "echo2mix", "--root", str(tmp_path / "speech"), "--out", str(out), "--no-progress", "--n-mixtures", "2",
            "1", "1", "--duration", "0.5", "--rt60-range", "0.15", "0.25", "--noise-dir", str(noise_dir)]
    args += [a for split, p in manifests.items() for a in ("--speech-manifest", f"{split}={p}")]
    assert simulate_cli.main(args) == 0
    info = [json.load(open(os.path.join(d, "info.json"))) for d, _, fs in os.walk(out) if "info.json" in fs]
    assert len(info) == 4 and all(i["noise_kind"] == "file" for i in info)
    assert {s for i in info if i["split"] == "test" for s in i["speakers"]} == {"testa", "testb"}
    bad = simulate_cli.main(["--kind", "echo2mix", "--root", str(tmp_path / "nothing"), "--out", str(tmp_path / "x"),
                             "--no-progress"])
    assert bad == 1


def test_errors_name_the_problem(mini, tmp_path):
    with pytest.raises(ValueError, match="inside the source"):
        make_echo2mix(mini, os.path.join(mini, "sim"), **FAST)
    with pytest.raises(ValueError, match="no speech found"):
        os.makedirs(tmp_path / "empty")
        make_echo2mix(str(tmp_path / "empty"), str(tmp_path / "out"), **FAST)
    os.makedirs(tmp_path / "busy")
    open(tmp_path / "busy" / "x.txt", "w").close()
    with pytest.raises(ValueError, match="not an echo2mix simulation folder"):
        make_echo2mix(mini, str(tmp_path / "busy"), **FAST)


def test_measured_rt60_follows_the_room():
    rng = np.random.default_rng(0)
    short = draw_room(rng, (0.2, 0.2), n_sources=1)
    long = draw_room(rng, (0.7, 0.7), n_sources=1)
    t_short = measured_rt60(room_impulse_responses(short, 16000)[0], 16000)
    t_long = measured_rt60(room_impulse_responses(long, 16000)[0], 16000)
    assert 0.1 < t_short < 0.35 and 0.45 < t_long < 1.3


def test_librispeech_tree_is_a_speech_source(tmp_path):
    from speechslytherin.simulate.speech_sources import SpeechSourceError, load_speech

    root = tmp_path / "corpora"
    base = root / "LibriSpeech"
    for k, subset in enumerate(("train-clean-100", "dev-clean", "test-clean")):
        for s, spk in enumerate((f"{100 + 10 * k}", f"{101 + 10 * k}")):
            for u in range(2):
                path = base / subset / spk / "7" / f"{spk}-7-{u:04d}.flac"
                os.makedirs(path.parent, exist_ok=True)
                sf.write(str(path), tone(9000, 16000, 100 * k + 10 * s + u), 16000, format="FLAC")
    speech = load_speech(str(root))
    assert sorted(speech["test"]) == ["120", "121"] and len(speech["train"]["100"]) == 2
    summary = make_echo2mix(str(root), str(tmp_path / "sim"), n_mixtures=(1, 1, 1), duration=0.5,
                            rt60_range=(0.15, 0.2), progress=False)
    assert summary["made"] == 3
    for path in (base / "test-clean" / "121" / "7").iterdir():
        path.unlink()
    with pytest.raises(SpeechSourceError, match="test: 1 speaker"):
        load_speech(str(root))
