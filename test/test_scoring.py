import csv
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from fake_corpus import make_sep_manifest, write_wav
from speechslytherin.bin import score as score_cli
from speechslytherin.data.manifest import ManifestError, save_manifest
from speechslytherin.metrics import pit_si_snr, sdr, si_snr
from speechslytherin.scoring import score_separation, update_results_md


def make_case(tmp_path, n=3, seconds=(0.5, 0.6), sr=8000):
    """ref manifest + inference-style estimate folder (swapped sources + noise, relative paths)."""
    manifest = make_sep_manifest(str(tmp_path / "corpus"), n=n, seconds=seconds, sr=sr)
    ref = str(tmp_path / "data" / "tt.json")
    save_manifest(ref, manifest)
    est_dir = tmp_path / "recipe" / "exp" / "sep_x" / "separate_tt"
    rng = np.random.default_rng(0)
    est_manifest = {}
    for i, (uid, entry) in enumerate(manifest.items()):
        srcs = [sf.read(p, dtype="float32")[0] for p in entry["sources"]]
        paths = []
        for j, src in enumerate(srcs[::-1]):  # model output order differs from the references
            noisy = src + (0.02 + 0.05 * i) * rng.standard_normal(len(src)).astype(np.float32)
            write_wav(str(est_dir / uid / f"s{j + 1}.wav"), noisy, sr, subtype="FLOAT")
            paths.append(f"{uid}/s{j + 1}.wav")
        est_manifest[uid] = {"sources": paths, "mix": entry["mix"]}
    (est_dir / "manifest.json").write_text(json.dumps(est_manifest))
    return manifest, ref, est_dir


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_scores_match_direct_metrics(tmp_path):
    manifest, ref, est_dir = make_case(tmp_path)
    out = est_dir.parent / "score_tt"
    summary = score_separation(ref, est_dir, out, nj=1, progress=False)
    rows = read_csv(out / "scores.csv")
    assert [r["id"] for r in rows] == list(manifest)
    assert list(rows[0]) == ["id", "si_snr", "si_snr_i", "sdr", "sdr_i", "mix_si_snr", "mix_sdr", "perm", "status"]
    si_vals, sdr_vals, sdr_mix = [], [], []
    for row in rows:
        entry = manifest[row["id"]]
        refs = np.stack([sf.read(p)[0] for p in entry["sources"]])
        mix = sf.read(entry["mix"])[0]
        ests = np.stack([sf.read(str(est_dir / row["id"] / f"s{j}.wav"))[0] for j in (1, 2)])
        values, perm = pit_si_snr(ests, refs)
        assert row["perm"] == "10" and perm == (1, 0)
        mix_si = si_snr(np.stack([mix, mix]), refs).mean()
        assert float(row["si_snr"]) == pytest.approx(values.mean(), abs=1e-3)
        assert float(row["si_snr_i"]) == pytest.approx(values.mean() - mix_si, abs=1e-3)
        assert row["status"] == "ok"
        si_vals.append(values.mean())
        sdr_vals.append(sdr(ests, refs)[0].mean())
        sdr_mix.append(sdr(np.stack([mix, mix]), refs)[0].mean())
    assert summary["means"]["si_snr"] == pytest.approx(np.mean(si_vals), abs=1e-6)
    assert summary["means"]["sdr_i"] == pytest.approx(np.mean(sdr_vals) - np.mean(sdr_mix), abs=1e-6)
    assert summary["mixture"]["sdr"] == pytest.approx(np.mean(sdr_mix), abs=1e-6)
    assert summary["n_scored"] == summary["n_utts"] == 3
    assert summary["exp_name"] == "sep_x" and summary["test_set"] == "tt"
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["means"] == summary["means"]


def test_parallel_equals_serial_and_mir_eval_backend(tmp_path):
    _, ref, est_dir = make_case(tmp_path, n=2)
    a = score_separation(ref, est_dir, tmp_path / "a", nj=1, progress=False)
    b = score_separation(ref, est_dir, tmp_path / "b", nj=2, progress=False)
    assert a["means"] == b["means"]
    assert (tmp_path / "a" / "scores.csv").read_text() == (tmp_path / "b" / "scores.csv").read_text()
    m = score_separation(ref, est_dir, tmp_path / "m", nj=1, sdr_backend="mir_eval", progress=False)
    assert m["sdr_backend"] == "mir_eval"
    assert m["means"]["sdr"] == pytest.approx(a["means"]["sdr"], abs=0.05)


def test_failures_are_reported_not_fatal(tmp_path):
    manifest, ref, est_dir = make_case(tmp_path, n=4, seconds=(0.7, 0.8))
    ids = list(manifest)
    # 1: a silent estimate -> PESQ/STOI fail for that utterance only
    n = sf.info(str(est_dir / ids[1] / "s1.wav")).frames
    write_wav(str(est_dir / ids[1] / "s1.wav"), np.zeros(n, np.float32), 8000)
    # 2: missing estimate file -> error row; 3: no estimate listed at all
    os.remove(est_dir / ids[2] / "s2.wav")
    est_manifest = json.loads((est_dir / "manifest.json").read_text())
    del est_manifest[ids[3]]
    (est_dir / "manifest.json").write_text(json.dumps(est_manifest))
    summary = score_separation(ref, est_dir, tmp_path / "out", use_pesq=True, use_stoi=True, nj=2, progress=False)
    rows = {r["id"]: r for r in read_csv(tmp_path / "out" / "scores.csv")}
    assert rows[ids[0]]["status"] == "ok" and 1.0 < float(rows[ids[0]]["pesq"]) <= 4.6
    assert 0 < float(rows[ids[0]]["stoi"]) <= 1 and rows[ids[0]]["mix_pesq"]
    assert "pesq failed: silent estimate" in rows[ids[1]]["status"]
    assert "stoi failed: silent estimate" in rows[ids[1]]["status"]
    assert rows[ids[1]]["pesq"] == "" and rows[ids[1]]["si_snr"] != ""
    assert rows[ids[2]]["status"].startswith("error:") and "s2.wav" in rows[ids[2]]["status"]
    assert rows[ids[3]]["status"] == "error: no estimate for this id"
    # bss_eval has no finite SDR for an all-zero estimate (mir_eval refuses it): counted as a failure
    assert "sdr failed" in rows[ids[1]]["status"]
    assert summary["failures"] == {"error": 2, "sdr": 1, "pesq": 1, "stoi": 1}
    assert summary["n_scored"] == 2 and summary["counts"]["pesq"] == 1 and summary["counts"]["si_snr"] == 2
    assert {f["id"] for f in summary["failed_utts"]} == {ids[1], ids[2], ids[3]}


def test_estimate_length_and_count_checks(tmp_path):
    manifest, ref, est_dir = make_case(tmp_path, n=2)
    uid = list(manifest)
    wav = sf.read(str(est_dir / uid[0] / "s1.wav"), dtype="float32")[0]
    write_wav(str(est_dir / uid[0] / "s1.wav"), wav[:-3], 8000, subtype="FLOAT")  # a few samples short: padded
    write_wav(str(est_dir / uid[1] / "s1.wav"), wav[: len(wav) // 2], 8000, subtype="FLOAT")  # far off: error
    score_separation(ref, est_dir, tmp_path / "o", nj=1, progress=False)
    rows = {r["id"]: r for r in read_csv(tmp_path / "o" / "scores.csv")}
    assert rows[uid[0]]["status"].startswith("length") and rows[uid[0]]["si_snr"]
    assert rows[uid[1]]["status"].startswith("error:") and "re-run inference" in rows[uid[1]]["status"]


def test_bad_estimate_manifests(tmp_path):
    _, ref, est_dir = make_case(tmp_path, n=2)
    with pytest.raises(ManifestError, match="Run the inference stage"):
        score_separation(ref, tmp_path / "nothing", tmp_path / "o", progress=False)
    (est_dir / "manifest.json").write_text(json.dumps({"other_id": {"sources": ["a.wav", "b.wav"]}}))
    with pytest.raises(ManifestError, match="not in .*tt.json"):
        score_separation(ref, est_dir, tmp_path / "o", progress=False)
    (est_dir / "manifest.json").write_text(json.dumps({"x": {"mix": "a.wav"}}))
    with pytest.raises(ManifestError, match="'sources' list"):
        score_separation(ref, est_dir, tmp_path / "o", progress=False)


def test_cli_and_results_md(tmp_path, capsys):
    _, ref, est_dir = make_case(tmp_path, n=2)
    recipe = tmp_path / "recipe"
    out = recipe / "exp" / "sep_x" / "score_tt"
    assert score_cli.main(["--ref", ref, "--est", str(est_dir), "--out", str(out), "--nj", "1", "--no-progress"]) == 0
    # a second experiment on the same test set
    out2 = recipe / "exp" / "sep_y" / "score_tt"
    assert score_cli.main(["--ref", ref, "--est", str(est_dir / "manifest.json"), "--out", str(out2), "--nj", "1",
                           "--no-progress", "--exp-name", "model_y", "--stoi"]) == 0
    text = (recipe / "RESULTS.md").read_text()
    assert "## Environment" in text and "- torch: " in text and "- python: " in text and "- git: " in text
    assert "- cpu: " in text and "### tt" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| system | utts | SI-SNRi | SDRi | SI-SNR | SDR | STOI | STOIi |")
    assert lines[1].startswith("| mixture (input) |")
    assert lines[2].startswith("| model_y |") and lines[3].startswith("| sep_x |")
    summary = json.loads((out / "summary.json").read_text())
    assert f"{summary['means']['si_snr_i']:.2f}" in lines[3]
    assert f"{summary['mixture']['si_snr']:.2f}" in lines[1]
    assert update_results_md(tmp_path / "empty") is None
    # the recipes pass the RESULTS.md file itself (run from the recipe folder)
    (recipe / "RESULTS.md").unlink()
    cwd = os.getcwd()
    try:
        os.chdir(recipe)
        assert score_cli.main(["--ref", ref, "--est", str(est_dir), "--out", "exp/sep_x/score_tt", "--nj", "1",
                               "--no-progress", "--results-md", "RESULTS.md"]) == 0
    finally:
        os.chdir(cwd)
    assert "| sep_x |" in (recipe / "RESULTS.md").read_text()
    assert score_cli.main(["--ref", str(tmp_path / "no.json"), "--est", str(est_dir), "--out", str(out)]) == 2
    assert "manifest not found" in capsys.readouterr().err


def test_results_md_keeps_rows_whose_exp_dir_is_gone(tmp_path):
    _, ref, est_dir = make_case(tmp_path, n=2)
    recipe = tmp_path / "recipe"
    for name in ("sep_a", "sep_b"):
        assert score_cli.main(["--ref", ref, "--est", str(est_dir), "--out", str(recipe / "exp" / name / "score_tt"),
                               "--nj", "1", "--no-progress"]) == 0
    sidecar = json.loads((recipe / "RESULTS.json").read_text())
    assert [(r["test_set"], r["exp_name"]) for r in sidecar["rows"]] == [("tt", "sep_a"), ("tt", "sep_b")]
    assert "samples" not in sidecar["rows"][0] and sidecar["rows"][0]["means"]["si_snr_i"] is not None
    a_line = next(line for line in (recipe / "RESULTS.md").read_text().splitlines() if line.startswith("| sep_a |"))
    shutil.rmtree(recipe / "exp" / "sep_a")
    update_results_md(recipe)
    text = (recipe / "RESULTS.md").read_text()
    kept = next(line for line in text.splitlines() if line.startswith("| sep_a †"))
    assert kept.split("|")[2:] == a_line.split("|")[2:]  # same cells, marked
    assert "| sep_b |" in text and "exp dir no longer here" in text
    # a re-scored exp replaces its kept row (unmarked again)
    assert score_cli.main(["--ref", ref, "--est", str(est_dir), "--out", str(recipe / "exp" / "sep_a" / "score_tt"),
                           "--nj", "1", "--no-progress"]) == 0
    text = (recipe / "RESULTS.md").read_text()
    assert "| sep_a |" in text and "†" not in text
    # deleting the entry from RESULTS.json drops a gone exp's row
    shutil.rmtree(recipe / "exp" / "sep_a")
    sidecar = json.loads((recipe / "RESULTS.json").read_text())
    sidecar["rows"] = [r for r in sidecar["rows"] if r["exp_name"] != "sep_a"]
    (recipe / "RESULTS.json").write_text(json.dumps(sidecar))
    update_results_md(recipe)
    assert "sep_a" not in (recipe / "RESULTS.md").read_text()
    (recipe / "RESULTS.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="fix or delete it"):
        update_results_md(recipe)
