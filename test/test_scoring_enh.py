"""Enhancement scoring: the composite measures (LLR, WSS, segSNR, CSIG/CBAK/COVL) and the scoring run
(noisy-input row, per-utterance CSV, summary, RESULTS.md, failures counted, never fatal).

The composite code was also checked against the per-file noisy-input values that CMGAN publishes
for the VoiceBank-DEMAND test set (python_noisy_metrics.log): PESQ, CSIG, CBAK, COVL and SSNR agree
to 4 decimals on 25 test files (see docs/enhancement.md); those corpus files are not shipped here.
"""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from speechslytherin.bin import score as score_cli
from speechslytherin.metrics import composite as cm
from speechslytherin.scoring import conditions
from speechslytherin.scoring.enhancement import score_enhancement

SR = 16000


def speechlike(seconds=2.0, seed=0, floor=1e-4):
    """Voiced, formant-filtered pulses with a syllable envelope, over a faint noise floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t) + 10 * seed
    src = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / SR)) * 0.5
    out = np.zeros(n)
    for fc, bw in ((500, 80), (1500, 120), (2500, 160)):
        r, th = np.exp(-np.pi * bw / SR), 2 * np.pi * (fc + 50 * seed) / SR
        out += lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], src)
    x = out * np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    return 0.3 * x / np.abs(x).max() + floor * rng.standard_normal(n)


def test_levinson_matches_a_toeplitz_solve():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((5, 480)) * np.hanning(480)
    r, a = cm._lpc(frames, 16)
    for f in range(5):
        coeffs = solve_toeplitz(r[f, :16], r[f, 1:17])
        np.testing.assert_allclose(a[f], np.concatenate([[1.0], -coeffs]), rtol=1e-6, atol=1e-9)
        brute = [frames[f, : 480 - k] @ frames[f, k:] for k in range(17)]
        np.testing.assert_allclose(r[f], brute, rtol=1e-10)


def _peaks_by_definition(energy, slope):
    """Klatt's nearest peak, written as the reference code's loops (1-based MATLAB indexing)."""
    n_crit = len(energy)
    out = []
    for i in range(1, n_crit):  # MATLAB i = 1..num_crit-1
        n = i
        if slope[i - 1] > 0:
            while n < n_crit and slope[n - 1] > 0:
                n += 1
            out.append(energy[n - 2])  # clean_energy(n-1)
        else:
            while n > 0 and slope[n - 1] <= 0:
                n -= 1
            out.append(energy[n])      # clean_energy(n+1)
    return np.array(out)


def test_nearest_peak_search_follows_the_reference_loops():
    rng = np.random.default_rng(1)
    energy = rng.standard_normal((200, 25)).cumsum(axis=1) * 3
    energy[0] = np.arange(25.0)        # rising everywhere
    energy[1] = -np.arange(25.0)       # falling everywhere
    slope = energy[:, 1:] - energy[:, :-1]
    got = cm._nearest_peaks(energy, slope)
    for f in range(len(energy)):
        np.testing.assert_array_equal(got[f], _peaks_by_definition(energy[f], slope[f]))


def test_identical_signals_and_gain_invariance():
    clean = speechlike()
    same = cm.composite(clean, clean, SR)
    assert same["llr"] == pytest.approx(0.0, abs=1e-9) and same["wss"] == pytest.approx(0.0, abs=1e-9)
    assert same["segsnr"] == pytest.approx(35.0, abs=0.5)  # every frame at the clipping ceiling
    assert same["pesq"] > 4.5
    assert (same["csig"], same["cbak"], same["covl"]) == (5.0, 5.0, 5.0)  # clipped to the 1-5 scale
    noisy = clean + 0.02 * np.random.default_rng(2).standard_normal(len(clean))
    # LLR and WSS compare spectral shapes: a gain on the processed signal changes neither
    for fn in (cm.llr_frames, cm.wss_frames):
        np.testing.assert_allclose(fn(clean, 3.0 * noisy, SR), fn(clean, noisy, SR), rtol=1e-6, atol=1e-8)


def test_measures_fall_as_noise_rises():
    clean = speechlike(seed=1)
    rng = np.random.default_rng(3)
    rows = [cm.composite(clean + s * rng.standard_normal(len(clean)), clean, SR) for s in (0.002, 0.01, 0.05)]
    for key in ("pesq", "csig", "cbak", "covl", "segsnr"):
        assert rows[0][key] > rows[1][key] > rows[2][key] or rows[0][key] == rows[1][key] == 5.0, key
    for key in ("llr", "wss"):
        assert rows[0][key] < rows[1][key] < rows[2][key], key


def test_segsnr_of_stationary_noise_is_the_snr():
    rng = np.random.default_rng(4)
    clean = rng.standard_normal(SR * 2)
    processed = clean + 10 ** (-12 / 20) * rng.standard_normal(len(clean))
    assert np.mean(cm.segsnr_frames(clean, processed, SR)) == pytest.approx(12.0, abs=0.3)
    assert np.allclose(cm.segsnr_frames(clean, -clean, SR), -20 * np.log10(2))  # error = 2 x clean
    assert np.all(cm.segsnr_frames(clean, -3 * clean, SR) == -10.0)  # -12 dB, at the floor of the range


def test_regression_formulas():
    csig, cbak, covl = cm.composite_from(3.0, 0.5, 30.0, 10.0)
    assert csig == pytest.approx(3.093 - 1.029 * 0.5 + 0.603 * 3.0 - 0.009 * 30.0)
    assert cbak == pytest.approx(1.634 + 0.478 * 3.0 - 0.007 * 30.0 + 0.063 * 10.0)
    assert covl == pytest.approx(1.594 + 0.805 * 3.0 - 0.512 * 0.5 - 0.007 * 30.0)
    assert cm.composite_from(1.0, 3.0, 150.0, -10.0) == (1.0, 1.0, 1.0)


def test_short_and_silent_inputs_are_reported_not_raised():
    clean = speechlike()
    assert "shorter than one 30 ms analysis frame" in cm.composite(clean[:200], clean[:200], SR)["error"]
    assert "pesq failed" in cm.composite(clean[:3000], clean[:3000], SR)["error"]
    assert cm.composite(clean, np.zeros_like(clean), SR) == {"error": "silent reference"}
    assert cm.composite(np.zeros_like(clean), clean, SR) == {"error": "silent estimate"}
    assert cm.composite(clean * np.nan, clean, SR) == {"error": "non-finite samples"}


def write(path, wav):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, wav, SR, subtype="FLOAT")
    return str(path)


@pytest.fixture
def scored_set(tmp_path):
    """Four utterances: a good estimate, the noisy input itself, one too short for PESQ, one missing."""
    rng = np.random.default_rng(5)
    ref, est = {}, {}
    for k, uid in enumerate(("good", "same", "short", "missing")):
        seconds = 0.2 if uid == "short" else 1.5
        clean = speechlike(seconds, seed=k)
        noisy = clean + 0.03 * rng.standard_normal(len(clean))
        ref[uid] = {"mix": write(tmp_path / "noisy" / f"{uid}.wav", noisy),
                    "sources": [write(tmp_path / "clean" / f"{uid}.wav", clean)],
                    "duration": len(clean) / SR, "sample_rate": SR, "speaker": "p232",
                    "snr": 2.5 if k < 2 else 7.5, "noise_type": "chords" if uid == "short" else "brown"}
        if uid == "good":
            est[uid] = {"sources": [write(tmp_path / "est" / f"{uid}.wav", clean + 0.003 * rng.standard_normal(len(clean)))]}
        elif uid != "missing":
            est[uid] = {"sources": [write(tmp_path / "est" / f"{uid}.wav", noisy)]}
    with open(tmp_path / "tt.json", "w") as f:
        json.dump(ref, f)
    with open(tmp_path / "est" / "manifest.json", "w") as f:
        json.dump(est, f)
    return tmp_path


def test_scoring_run_rows_failures_and_results_md(scored_set):
    recipe = scored_set / "recipe"
    out = recipe / "exp" / "enh_x" / "score_tt"
    rc = score_cli.main(["--task", "enh", "--ref", str(scored_set / "tt.json"), "--est", str(scored_set / "est"),
                         "--out", str(out), "--nj", "1", "--no-progress"])
    assert rc == 0
    with open(out / "summary.json") as f:
        summary = json.load(f)
    rows = {r["id"]: r for r in csv.DictReader(open(out / "scores.csv"))}
    assert rows["missing"]["status"] == "error: no estimate for this id"
    assert "pesq/composite failed" in rows["short"]["status"] and rows["short"]["pesq"] == ""
    assert float(rows["short"]["si_snr"]) == pytest.approx(float(rows["short"]["mix_si_snr"]))  # still scored
    assert rows["same"]["status"] == "ok" and float(rows["same"]["pesq_i"]) == pytest.approx(0.0, abs=1e-6)
    assert float(rows["good"]["pesq"]) > float(rows["good"]["mix_pesq"])
    assert float(rows["good"]["si_snr_i"]) > 10
    assert summary["n_utts"] == 4 and summary["n_scored"] == 3
    assert summary["failures"] == {"error": 1, "pesq": 1, "stoi": 1}
    assert summary["counts"]["pesq"] == 2 and summary["counts"]["si_snr"] == 3
    assert summary["input_label"] == "noisy (input)" and ["csig", "CSIG"] in summary["columns"]
    assert summary["mixture"]["pesq"] == pytest.approx(np.mean([float(rows[u]["mix_pesq"]) for u in ("good", "same")]), abs=1e-4)
    md = (recipe / "RESULTS.md").read_text()
    assert "| system | utts | PESQ | CSIG | CBAK | COVL | STOI | SSNR | SI-SNR | PESQi | SI-SNRi |" in md
    assert "| noisy (input) | 3 |" in md and "| enh_x | 3/4 |" in md


def test_bad_inputs_are_clear(scored_set, tmp_path):
    with open(scored_set / "tt.json") as f:
        ref = json.load(f)
    for e in ref.values():
        e["sample_rate"] = 8000
    with open(tmp_path / "tt8k.json", "w") as f:
        json.dump(ref, f)
    with pytest.raises(ValueError, match="scored at 16000 Hz"):
        score_enhancement(tmp_path / "tt8k.json", scored_set / "est", tmp_path / "out", progress=False)
    cut = scored_set / "est" / "good.wav"
    sf.write(cut, sf.read(cut)[0][:8000], SR, subtype="FLOAT")
    summary = score_enhancement(scored_set / "tt.json", scored_set / "est", tmp_path / "out", nj=2, progress=False)
    bad = {u["id"]: u["status"] for u in summary["failed_utts"]}
    assert "the clean reference has 24000" in bad["good"]


def test_scores_by_condition(scored_set):
    out = scored_set / "score_tt"
    summary = score_enhancement(scored_set / "tt.json", scored_set / "est", out, nj=1, progress=False)
    rows = {r["id"]: r for r in csv.DictReader(open(out / "scores.csv"))}
    by_snr = summary["by_condition"]["snr"]
    assert list(by_snr) == ["2.5", "7.5"]  # the missing estimate is not scored, so 7.5 holds "short" only
    assert by_snr["2.5"]["n"] == 2 and by_snr["7.5"]["n"] == 1
    assert by_snr["2.5"]["means"]["pesq"] == pytest.approx(np.mean([float(rows[u]["pesq"]) for u in ("good", "same")]), abs=1e-4)
    assert by_snr["2.5"]["mixture"]["stoi"] == pytest.approx(np.mean([float(rows[u]["mix_stoi"]) for u in ("good", "same")]), abs=1e-4)
    assert by_snr["7.5"]["means"]["pesq"] is None  # too short for PESQ: no value, not a crash
    assert by_snr["7.5"]["means"]["si_snr"] == pytest.approx(float(rows["short"]["si_snr"]), abs=1e-4)
    assert {k: v["n"] for k, v in summary["by_condition"]["noise_type"].items()} == {"brown": 2, "chords": 1}
    md = (out / "by_condition.md").read_text()
    assert "## snr" in md and "## noise_type" in md
    pesq_cell = f"{by_snr['2.5']['mixture']['pesq']:.3f} → {by_snr['2.5']['means']['pesq']:.3f}"
    assert f"| 2.5 | 2 | {pesq_cell} |" in md
    assert "| 7.5 | 1 | – |" in md


def test_no_conditions_recorded():
    rows = [{"id": "a", "pesq": 2.0, "mix_pesq": 1.0, "status": "ok"}]
    assert conditions.breakdown(rows, {"a": {"speaker": "x"}}, ["pesq"]) == {}
    assert "records no condition" in conditions.markdown({}, [("pesq", "PESQ")], "x")
