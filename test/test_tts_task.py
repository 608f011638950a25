"""The tts task through the one trainer on a fake token set (made here), length batching,
data errors, bin/synthesize with a fake codec, and check_config on the TTS configs."""

import glob
import importlib
import json
import os
import sys
import types

import numpy as np
import pytest
import soundfile as sf
import torch

from speechslytherin.bin import check_config, synthesize, tune_synthesis
from speechslytherin.bin import train as train_cli
from speechslytherin.models.model_io import load_model
from speechslytherin.tasks import tts as tts_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(REPO, "egs", "mini", "tts1", "conf")
SYMBOLS = ["<pad>", "a", "b", "k", "s", "t", "ə", "ˈ"]


def write_set(root, name, n, rng, n_q=8, codebook=256):
    entries = {}
    os.makedirs(os.path.join(root, "codes"), exist_ok=True)
    for i in range(n):
        uid = f"{name}_{i}"
        frames = int(rng.integers(12, 40))
        codes = rng.integers(0, codebook, size=(n_q, frames)).astype(np.int16)
        np.save(os.path.join(root, "codes", f"{uid}.npy"), codes)
        audio = os.path.join(root, f"{uid}.wav")
        sf.write(audio, 0.1 * np.sin(np.arange(frames * 320) * 0.05 * (i + 1)), 16000)
        phon = " ".join(rng.choice(SYMBOLS[1:], size=int(rng.integers(3, 9))))
        entries[uid] = {"phonemes": phon, "codes": f"codes/{uid}.npy", "frames": frames, "duration": frames / 50,
                        "speaker": "s1", "text": "fake", "audio": audio}
    with open(os.path.join(root, f"{name}.json"), "w") as f:
        json.dump(entries, f)
    return entries


@pytest.fixture(scope="module")
def token_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tts_data"))
    rng = np.random.default_rng(0)
    with open(os.path.join(root, "symbols.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(SYMBOLS) + "\n")
    write_set(root, "tr", 8, rng)
    write_set(root, "cv", 3, rng)
    tt = {}
    for i in range(2):
        np.save(os.path.join(root, "codes", f"prompt_{i}.npy"), rng.integers(0, 256, size=(8, 10)).astype(np.int16))
        tt[f"tt_{i}"] = {"phonemes": "k a t", "prompt_codes": f"codes/prompt_{i}.npy", "prompt_phonemes": "s ə",
                         "speaker": "s1", "text": "cat"}
    with open(os.path.join(root, "tt.json"), "w") as f:
        json.dump(tt, f)
    return root


def log_of(exp):
    with open(os.path.join(exp, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("name", ["valle_tiny", "vallm_tiny"])
def test_tiny_model_trains_through_bin_train(token_data, tmp_path, name, monkeypatch):
    exp = str(tmp_path / "exp")
    train_cli.main([os.path.join(CONF, f"{name}.yaml"), "--data-dir", token_data, "--exp-dir", exp,
                    "--no-progress", "--device", "cpu"])
    log = log_of(exp)
    assert [r["epoch"] for r in log] == [1, 2]
    for key in ("loss", "acc", "ar_loss", "nar_loss"):
        assert key in log[-1]["valid"] and key in log[-1]["train"], key
    # validation measures how much the AR reads the text (loss with another item's phonemes - loss)
    assert "ar_text_gap" in log[-1]["valid"] and "ar_text_gap" not in log[-1]["train"]
    model = load_model(os.path.join(exp, "model.pt"))
    assert model.task == "tts" and type(model).__name__ == name.split("_")[0].upper()

    # NAR stage started from the AR-trained model (lifeiteng: AR first, then NAR)
    exp2 = str(tmp_path / "exp_nar")
    train_cli.main([os.path.join(CONF, f"{name}.yaml"), "--data-dir", token_data, "--exp-dir", exp2, "--no-progress",
                    "--device", "cpu", "--trainer.train_stage=nar", f"--trainer.init_from={exp}/model.pt",
                    "--trainer.stage_epochs={ar: 2, nar: 1}"])
    assert "ar_loss" not in log_of(exp2)[-1]["valid"] and "nar_stage" in log_of(exp2)[-1]["valid"]
    assert "ar_text_gap" not in log_of(exp2)[-1]["valid"]
    # trainer.stage_epochs chose the NAR run's epochs, and the exp dir records the choice
    assert [r["epoch"] for r in log_of(exp2)] == [1]
    with open(os.path.join(exp2, "overrides.yaml")) as f:
        assert "epochs: 1" in f.read()

    # synthesis with a fake codec (the real one is the data side's speechslytherin.tts.codec)
    fake = types.ModuleType(synthesize.CODEC_MODULE)
    fake.__dict__.update({k: v for k, v in vars(importlib.import_module(synthesize.CODEC_MODULE)).items()
                          if not k.startswith("__")})  # scoring uses its mel filterbank

    class FakeCodec:
        sample_rate = 16000

        def decode(self, codes):
            return torch.sin(codes.float().sum(1).repeat_interleave(320, dim=-1) * 0.01)

    fake.load_codec = lambda path: FakeCodec()
    monkeypatch.setitem(sys.modules, synthesize.CODEC_MODULE, fake)
    out_dir = str(tmp_path / "synth")
    assert synthesize.main(["--model", os.path.join(exp, "model.pt"), "--codec", "unused",
                            "--text-manifest", os.path.join(token_data, "tt.json"), "--out", out_dir,
                            "--top-k", "5", "--max-len", "20", "--min-len", "3"]) == 0
    with open(os.path.join(out_dir, "synth.json")) as f:
        result = json.load(f)
    assert sorted(result) == ["tt_0", "tt_1"]
    for uid, rec in result.items():
        assert 3 <= rec["frames"] <= 20 and rec["speaker"] == "s1"
        assert os.path.exists(os.path.join(out_dir, f"{uid}.wav"))
        assert rec["duration"] == pytest.approx(rec["frames"] * 320 / 16000, abs=1e-3)

    # lengths held to the prompt speaker's rate: prompt 10 frames / 2 phonemes, sentence 3 phonemes
    # -> 15 frames expected; at least 1.0 x and at most 1.2 x of it
    out_dir = str(tmp_path / "synth_ratio")
    assert synthesize.main(["--model", os.path.join(exp, "model.pt"), "--codec", "unused",
                            "--text-manifest", os.path.join(token_data, "tt.json"), "--out", out_dir,
                            "--min-len-ratio", "1.0", "--max-len-ratio", "1.2"]) == 0
    with open(os.path.join(out_dir, "synth.json")) as f:
        assert all(15 <= rec["frames"] <= 18 for rec in json.load(f).values())

    # decoding chosen on held-out utterances: cv's 3 items -> 1 prompt (closest to 3 s) + 2 targets,
    # each setting of the grid synthesized and scored
    tune_dir = str(tmp_path / "tune")
    assert tune_synthesis.main(["--model", os.path.join(exp, "model.pt"), "--codec", "unused",
                                "--manifest", os.path.join(token_data, "cv.json"), "--out", tune_dir, "--asr", "none",
                                "--top-k", "3", "-100", "--min-len-ratio", "0", "1.0", "--max-len-ratio", "2"]) == 0
    with open(os.path.join(tune_dir, "dev.json")) as f:
        dev = json.load(f)
    assert len(dev) == 2 and all(e["prompt_id"] not in dev for e in dev.values())
    with open(os.path.join(tune_dir, "summary.md")) as f:
        rows = [line for line in f if line.startswith("| topk")]
    assert len(rows) == 4
    assert os.path.exists(os.path.join(tune_dir, "topk3_temp1_min1", "score", "summary.json"))


def test_length_batches_respect_max_frames(token_data):
    ds = tts_task.TTSBatches(os.path.join(token_data, "tr.json"), os.path.join(token_data, "symbols.txt"),
                             max_batch_frames=90, shuffle=True, seed=1)
    seen = []
    for i in range(len(ds)):
        batch = tts_task.collate_tts([ds[i]])
        assert batch["codes"].shape[0] * batch["codes"].shape[2] <= 90 or batch["codes"].shape[0] == 1
        assert batch["codes"].shape[1] == 8 and batch["phonemes"].dtype == torch.long
        seen += batch["ids"]
        for b, n in enumerate(batch["code_lens"].tolist()):
            assert int(batch["codes"][b, :, n:].abs().sum()) == 0
    assert sorted(seen) == sorted(f"tr_{i}" for i in range(8))
    order = list(ds.order)
    ds.set_epoch(5)
    assert sorted(ds.order) == sorted(order)


def test_prompt_pairs_join_another_utterance_of_the_speaker_as_synthesis_does(token_data, tmp_path):
    symbols = os.path.join(token_data, "symbols.txt")
    with open(os.path.join(token_data, "tr.json")) as f:
        manifest = json.load(f)
    manifest["tr_7"]["speaker"] = "alone"  # a speaker with one utterance gets no prompt
    path = tmp_path / "tr.json"
    path.write_text(json.dumps({uid: {**e, "codes": os.path.join(token_data, e["codes"])} for uid, e in manifest.items()}))
    single = tts_task.TTSBatches(str(path), symbols, max_batch_frames=10_000, prompt_pairs=0.0)
    paired = tts_task.TTSBatches(str(path), symbols, max_batch_frames=160, prompt_pairs=1.0, shuffle=True, seed=3)
    alone = {u["id"]: u for g in (single[i] for i in range(len(single))) for u in g}
    seen = {}
    for index in range(len(paired)):
        group = paired[index]
        assert max(u["codes"].shape[1] for u in group) * len(group) <= 160 or len(group) == 1
        for u in group:
            seen[u["id"]] = u
    assert sorted(seen) == sorted(alone)
    assert torch.equal(seen["tr_7"]["codes"], alone["tr_7"]["codes"])
    index_of = {item["id"]: k for k, item in enumerate(paired.items)}
    for uid, u in seen.items():
        if uid == "tr_7":
            continue
        prompt = alone[paired.items[paired.prompts[index_of[uid]]]["id"]]
        assert prompt["id"] not in (uid, "tr_7")
        assert torch.equal(u["phonemes"], torch.cat([prompt["phonemes"], alone[uid]["phonemes"]]))
        assert torch.equal(u["codes"], torch.cat([prompt["codes"], alone[uid]["codes"]], dim=1))
    before = dict(paired.prompts)
    paired.set_epoch(1)
    assert paired.prompts != before and set(paired.prompts) == set(before)
    half = tts_task.TTSBatches(str(path), symbols, max_batch_frames=10_000, prompt_pairs=0.5, seed=0)
    assert 0 < len(half.prompts) < 7
    with pytest.raises(tts_task.TTSDataError, match="between 0 and 1"):
        tts_task.TTSBatches(str(path), symbols, 100, prompt_pairs=2)
    del manifest["tr_0"]["speaker"]
    path.write_text(json.dumps({uid: {**e, "codes": os.path.join(token_data, e["codes"])} for uid, e in manifest.items()}))
    with pytest.raises(tts_task.TTSDataError, match="'speaker' in every entry"):
        tts_task.TTSBatches(str(path), symbols, 100, prompt_pairs=0.5)


def test_data_errors_name_the_file(token_data, tmp_path):
    bad = tmp_path / "tr.json"
    bad.write_text(json.dumps({"u": {"phonemes": "a zz", "codes": os.path.join(token_data, "codes", "tr_0.npy")}}))
    with pytest.raises(tts_task.TTSDataError, match=r"tr.json: id 'u': phoneme 'zz'"):
        tts_task.TTSBatches(str(bad), os.path.join(token_data, "symbols.txt"), 100)
    nosym = tmp_path / "symbols.txt"
    nosym.write_text("a\n<pad>\n")
    with pytest.raises(tts_task.TTSDataError, match="<pad>"):
        tts_task.read_symbols(str(nosym))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "egs", "*", "tts1", "conf", "*.yaml"))))
def test_check_config_on_tts_configs(path, capsys):
    assert check_config.main([path]) == 0
    out = capsys.readouterr().out
    assert "params:" in out and "models.tts." in out
