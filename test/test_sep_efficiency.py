"""bench/sep_efficiency.py: the MAC counter (scan and LSTM counts), crossover logic, one worker run."""

import importlib.util
import os

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sep_efficiency", os.path.join(REPO, "bench", "sep_efficiency.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _cpu_settings():
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)


def test_scan_is_counted_analytically_and_not_twice(bench):
    from speechslytherin.models.sep.mamba_tasnet import MambaTasNet

    model = MambaTasNet(N=16, n_layers=2, d_state=4, scan_impl="torch").eval()
    x = torch.randn(1, 800)
    with bench.MacCounter(model) as counter, torch.no_grad():
        model(x)
    got = counter.result()
    frames = (800 - 16) // 8 + 1
    d_inner = 2 * 16
    # 2 layers x 2 directions (bimamba v2), each a [1, d_inner, frames] scan with n = 4
    assert got["scan_calls"] == 4 and got["scan_elements"] == 4 * d_inner * frames * 4
    assert got["macs_scan"] == got["scan_elements"] * bench.SCAN_MACS_PER_ELEMENT
    # the rest: in_proj, x_proj, dt_proj, out_proj, depthwise convs, encoder/decoder, 1x1 convs
    in_proj = frames * 16 * 2 * d_inner
    assert got["macs_counter"] > 2 * in_proj
    import speechslytherin.nnet.mamba.mixer as mixer
    assert mixer.selective_scan.__name__ == "selective_scan"  # restored after the count


def test_lstm_is_counted_once(bench):
    lstm = torch.nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True)
    with bench.MacCounter(lstm) as counter, torch.no_grad():
        lstm(torch.randn(3, 7, 6))
    expected = 3 * 7 * 2 * 4 * 5 * ((6 + 5) + (10 + 5))
    assert counter.result()["macs"] == expected


def test_attention_macs_match_the_analytic_count(bench):
    from speechbrain.lobes.models.dual_path import SBTransformerBlock

    block = SBTransformerBlock(1, 32, 4, d_ffn=64, dropout=0, use_positional_encoding=True, norm_before=True).eval()
    with bench.MacCounter(block) as counter, torch.no_grad():
        block(torch.randn(2, 50, 32))
    n = 2 * 50
    assert counter.result()["macs"] == n * (4 * 32 * 32 + 2 * 32 * 64) + 2 * 2 * 50 * 50 * 32


def rec(values):
    return {"rows": [{"seconds": d, "fwd_s": v} for d, v in values.items()]}


def test_beats_from(bench):
    base = rec({1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0})
    slower_then_faster = rec({1: 2.0, 2: 3.0, 4: 3.0, 8: 4.0})
    out = bench.beats_from(slower_then_faster, base, "fwd_s")
    assert out["status"] == "beats" and out["from_measured"] == 4
    assert 2 < out["crossing_estimate"] < 4
    assert bench.beats_from(rec({1: 0.5, 2: 1.0, 4: 2.0, 8: 4.0}), base, "fwd_s")["from_measured"] == 1
    assert bench.beats_from(rec({1: 0.5, 2: 3.0, 4: 5.0, 8: 9.0}), base, "fwd_s")["status"] != "beats"
    # a win that does not last is not a crossover
    assert bench.beats_from(rec({1: 2.0, 2: 1.0, 4: 5.0, 8: 7.0}), base, "fwd_s")["from_measured"] == 8


def test_worker_measures_a_tiny_model(bench, monkeypatch):
    monkeypatch.setitem(bench.MODELS, "tiny", {"label": "tiny", "family": "mamba", "preset": "tiny",
                                                "module": "speechslytherin.models.sep.dpmamba", "cls": "DPMamba"})
    fwd = bench.run_worker({"model": "tiny", "seconds": 0.5, "pass": "fwd", "device": "cpu", "repeats": 2})
    assert fwd["params"] == 8033 and len(fwd["times_s"]) == 2 and fwd["peak_bytes"] >= 0
    assert fwd["macs"]["scan_elements"] > 0 and fwd["macs"]["macs"] > fwd["macs"]["macs_scan"]
    both = bench.run_worker({"model": "tiny", "seconds": 0.5, "pass": "fwdbwd", "device": "cpu", "repeats": 1})
    assert both["macs"] is None and len(both["times_s"]) == 1


def test_unknown_model_and_bad_durations_are_errors(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "nope"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--durations", "1,x"])
    args = bench.parse_args(["--models", "sepformer,dpmamba", "--durations", "4,1,2"])
    assert args.durations == [1.0, 2.0, 4.0] and args.models == ["sepformer", "dpmamba"]


def test_passes_projected_over_the_limits_are_skipped(bench):
    rows = [{"seconds": 1, "fwd_s": 1.0, "fwd_mem": 2**30}, {"seconds": 2, "fwd_s": 2.5, "fwd_mem": 2 * 2**30}]
    assert bench.project(rows, "fwd_mem", 8) == 8 * 2**30  # linear growth stays linear
    assert bench.project(rows, "fwd_s", 4) == pytest.approx(6.25)  # 2.5**(log2) -> exponent ~1.32
    args = bench.parse_args(["--repeats", "1", "--max-run-s", "10", "--mem-limit-gb", "4"])
    assert bench.projected_excess(rows, "fwd", 4, args) and "max-run-s" in bench.projected_excess(rows, "fwd", 4, args)
    args = bench.parse_args(["--repeats", "1", "--max-run-s", "1000", "--mem-limit-gb", "4"])
    assert bench.projected_excess(rows, "fwd", 4, args) is None
    assert "memory" in bench.projected_excess(rows, "fwd", 8, args)
    assert bench.projected_excess([], "fwd", 8, args) is None
