"""The ASR task end to end: a tiny ASR set from the mini corpus (tiny scale) with its own
SentencePiece model, bin/train on egs/mini/asr1/conf/tiny.yaml, the exported model transcribing
on its own, bin/transcribe (print, hypotheses.json, resume), batching and the configs."""

import glob
import json
import os
import subprocess
import sys

import pytest
import torch

import speechslytherin
from speechslytherin.bin import check_config
from speechslytherin.tasks.asr_data import ASRDataset, build_spec_augment, collate_asr, edit_distance

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "egs", "mini", "asr1", "conf", "tiny.yaml")
ASR_CONFIGS = sorted(glob.glob(os.path.join(REPO, "egs", "librispeech", "asr1", "conf", "*.yaml"))
                     + glob.glob(os.path.join(REPO, "egs", "mini", "asr1", "conf", "*.yaml")))
OFFICIAL_COUNTS = {"conmamba_S": 14_075_520, "conmamba_L": 115_187_888, "conmamba_mamba_dec_S": 14_570_880,
                   "conmamba_mamba_dec_L": 122_917_040, "conmamba_ctc": 31_555_519, "conformer_S": 13_327_296,
                   "conformer_L": 109_136_048, "conformer_ctc": 28_786_111}

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def vocab_size_of(config):
    """What the recipe's tokenizer stage reads (`grep vocab_size conf/x.yaml`)."""
    with open(config) as f:
        line = next(line for line in f if line.startswith("vocab_size:"))
    return int(line.split(":")[1])


@pytest.fixture(scope="module")
def asr_data(tmp_path_factory):
    """tr/cv/tt manifests of the tiny mini corpus (upper-case texts) + tokenizer/tokenizer.model."""
    import sentencepiece as spm

    from speechslytherin.simulate import mini_corpus, voices

    try:
        voices.require_inventory()
    except voices.MissingPackageError as err:
        pytest.skip(str(err))
    root = tmp_path_factory.mktemp("asr")
    corpus = root / "mini"
    mini_corpus.make_mini(str(corpus), scale="tiny", seed=0, jobs=2, log=lambda *a: None)
    with open(corpus / "utterances.json") as f:
        utterances = json.load(f)
    data = root / "data"
    (data / "tokenizer").mkdir(parents=True)
    for split in ("tr", "cv", "tt"):
        manifest = {uid: {"audio": str(corpus / e["path"]), "text": e["text"].upper(), "speaker": e["speaker"],
                          "duration": e["duration"]}
                    for uid, e in utterances.items() if e["split"] == split and e.get("text")}
        (data / f"{split}.json").write_text(json.dumps(manifest))
    texts = [e["text"].upper() for e in utterances.values() if e["split"] == "tr"]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=str(data / "tokenizer" / "tokenizer"),
                                   vocab_size=vocab_size_of(TINY), model_type="unigram", unk_id=0, bos_id=1,
                                   eos_id=2, pad_id=-1, character_coverage=1.0, minloglevel=2)
    return data


def run(cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def trained(asr_data, tmp_path_factory):
    exp = tmp_path_factory.mktemp("exp") / "asr_tiny"
    run([sys.executable, "-m", "speechslytherin.bin.train", TINY, "--data-dir", str(asr_data), "--exp-dir",
         str(exp), "--no-progress"])
    return exp


def test_train_logs_wer_and_exports_a_self_contained_model(trained, asr_data, tmp_path):
    with open(trained / "train_log.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("loss", "loss_ctc", "loss_att", "acc", "wer", "cer"):
        assert key in records[-1]["valid"], key
    summary = json.loads((trained / "train_summary.json").read_text())
    assert len(summary["averaged_checkpoints"]) == 2
    assert any(p.startswith("plots/asr_") for p in summary["plots"])
    # the model file alone transcribes: copy it where no tokenizer or config lies around
    alone = tmp_path / "model.pt"
    alone.write_bytes((trained / "model.pt").read_bytes())
    model = speechslytherin.load_model(str(alone))
    assert model.task == "asr" and model.sample_rate == 16000
    entry = next(iter(json.loads((asr_data / "tt.json").read_text()).values()))
    from speechslytherin.data.audio import read_audio

    wav, _ = read_audio(entry["audio"])
    texts = model.transcribe(torch.from_numpy(wav))
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_bin_transcribe_prints_writes_and_resumes(trained, asr_data, tmp_path):
    model = str(trained / "model.pt")
    manifest = dict(list(json.loads((asr_data / "tt.json").read_text()).items())[:4])
    (tmp_path / "four.json").write_text(json.dumps(manifest))
    one = next(iter(manifest.values()))["audio"]
    out = run([sys.executable, "-m", "speechslytherin.bin.transcribe", "--model", model, one, "--no-progress",
               "--beam-size", "1"])
    uid = os.path.splitext(os.path.basename(one))[0]
    assert out.stdout.startswith(uid + " ") and len(out.stdout.strip().splitlines()) == 1
    out_dir = tmp_path / "dec"
    cmd = [sys.executable, "-m", "speechslytherin.bin.transcribe", "--model", model, str(tmp_path / "four.json"),
           "--out", str(out_dir), "--no-progress", "--beam-size", "2", "--ctc-weight", "0.3", "--batch-size", "3"]
    run(cmd)
    hyps = json.loads((out_dir / "hypotheses.json").read_text())
    assert list(hyps) == list(manifest)  # every id, in the manifest's order
    first = next(iter(hyps))
    hyps[first] = "KEPT FROM BEFORE"
    (out_dir / "hypotheses.json").write_text(json.dumps(hyps))
    run(cmd)  # resumes: ids already transcribed are not redone
    assert json.loads((out_dir / "hypotheses.json").read_text())[first] == "KEPT FROM BEFORE"


def test_bin_transcribe_names_bad_input(trained, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"u1": {"text": "NO AUDIO"}}))
    out = subprocess.run([sys.executable, "-m", "speechslytherin.bin.transcribe", "--model", str(trained / "model.pt"),
                          str(bad)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode != 0 and "no 'audio' path" in out.stderr


def test_dataset_batches_and_dynamic_sampler(asr_data):
    from speechbrain.dataio.sampler import DynamicBatchSampler

    from speechslytherin.models.asr.tokenizer import load_processor

    processor = load_processor((asr_data / "tokenizer" / "tokenizer.model").read_bytes())
    ds = ASRDataset(str(asr_data / "tr.json"), processor, 16000, sorting="ascending")
    assert ds.durations == sorted(ds.durations)
    batch = collate_asr([ds[0], ds[1]])
    n0 = len(ds[0]["tokens"])
    assert batch["tokens_bos"][0, 0] == 1 and batch["tokens_eos"][0, n0] == 2
    assert torch.equal(batch["tokens_bos"][0, 1 : n0 + 1], batch["tokens"][0, :n0])
    assert batch["wav_lens"].max() == 1.0 and batch["wavs"].shape[0] == 2
    sampler = DynamicBatchSampler(ds, max_batch_length=6.0, num_buckets=4, lengths_list=ds.durations, shuffle=True)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(ds)))
    assert all(sum(ds.durations[i] for i in b) <= 6.0 or len(b) == 1 for b in batches)
    with pytest.raises(Exception, match="max_duration"):
        ASRDataset(str(asr_data / "tr.json"), processor, 16000, max_duration=0.01)


def test_spec_augment_keeps_shape_and_changes_features():
    augment = build_spec_augment(True)
    feats = torch.randn(3, 200, 80)
    out, _ = augment(feats.clone(), torch.ones(3))
    assert out.shape == feats.shape and not torch.equal(out, feats)
    assert build_spec_augment(None) is None
    with pytest.raises(ValueError, match="unknown keys"):
        build_spec_augment({"time_drop": [1, 2]})


def test_edit_distance():
    assert edit_distance("A B C".split(), "A X C D".split()) == 2
    assert edit_distance([], ["A"]) == 1


@pytest.mark.parametrize("config", ASR_CONFIGS, ids=lambda p: os.path.basename(p))
def test_asr_configs_instantiate_with_the_official_counts(config, capsys):
    assert check_config.main([config, "--no-forward"]) == 0
    params = int(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("params:")).split()[1])
    name = os.path.splitext(os.path.basename(config))[0]
    if name in OFFICIAL_COUNTS:
        assert params == OFFICIAL_COUNTS[name]
    assert vocab_size_of(config) > 0


# -- every published configuration has a tiny twin that trains on mini ------------------------
LIBRISPEECH_CONF = os.path.join(REPO, "egs", "librispeech", "asr1", "conf")
MINI_CONF = os.path.join(REPO, "egs", "mini", "asr1", "conf")
TINY_TWINS = {  # published LibriSpeech config -> its tiny twin in egs/mini/asr1/conf
    "conmamba_S": "tiny", "conmamba_L": "tiny",
    "conmamba_mamba_dec_S": "tiny_mamba_dec", "conmamba_mamba_dec_L": "tiny_mamba_dec",
    "conmamba_ctc": "tiny_ctc",
    "conformer_S": "tiny_conformer", "conformer_L": "tiny_conformer",
    "conformer_ctc": "tiny_conformer_ctc",
}
TINY_VARIANTS = sorted(set(TINY_TWINS.values()))
# tiny.yaml predates the twins and leaves the published defaults out; the others spell out every
# key the published configs set (bf16 is for GPUs: the twins train in fp32 on CPU).
KEYS_NOT_SPELLED_OUT = {"tiny": None, "*": {"trainer": {"precision"}}}


def plain_config(path):
    """A config as plain data: hyperpyyaml tags dropped, their mappings and scalars kept."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def untagged(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", untagged)
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


def model_settings(section):
    """The ASRModel arguments a config section gives, with the constructor's defaults filled."""
    import inspect

    from speechslytherin.models.asr.asr_model import ASRModel
    from speechslytherin.models.asr.conmamba import mamba_settings

    defaults = {k: p.default for k, p in inspect.signature(ASRModel.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    settings = {**defaults, **section}
    if settings["encoder"] == "conmamba":
        settings["mamba_config"] = mamba_settings(settings["mamba_config"])
    return settings


@pytest.mark.parametrize("published", sorted(TINY_TWINS))
def test_each_published_config_has_a_tiny_twin_of_the_same_structure(published):
    twin = TINY_TWINS[published]
    big = plain_config(os.path.join(LIBRISPEECH_CONF, published + ".yaml"))
    small = plain_config(os.path.join(MINI_CONF, twin + ".yaml"))
    assert small["task"] == big["task"] == "asr" and small["sample_rate"] == big["sample_rate"]
    assert small["vocab_size"] == vocab_size_of(TINY)  # the test's one tokenizer serves every twin
    b, s = model_settings(big["model"]), model_settings(small["model"])
    for key in ("encoder", "decoder", "causal", "activation", "n_mels", "ctc_weight"):
        assert s[key] == b[key], key
    assert (s["num_decoder_layers"] == 0) == (b["num_decoder_layers"] == 0) == (b["decoder"] is None)
    if b["encoder"] == "conmamba":
        assert {k: v for k, v in s["mamba_config"].items() if k != "d_state"} == \
               {k: v for k, v in b["mamba_config"].items() if k != "d_state"}
    else:
        assert s["mamba_config"] is None
    for key in ("d_model", "num_encoder_layers", "num_decoder_layers", "d_ffn", "kernel_size"):
        assert s[key] <= b[key], key  # the same network, smaller
    assert s["d_model"] < b["d_model"]
    unspelled = KEYS_NOT_SPELLED_OUT.get(twin, KEYS_NOT_SPELLED_OUT["*"])
    if unspelled is not None:
        assert set(big["model"]) <= set(small["model"]), set(big["model"]) - set(small["model"])
        for section in ("data", "trainer"):
            missing = set(big[section]) - set(small[section]) - unspelled.get(section, set())
            assert not missing, f"{twin}.yaml {section}: {missing}"


def module_classes():
    from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    from speechbrain.lobes.models.transformer.Transformer import TransformerDecoder

    from speechslytherin.models.asr.conmamba import ConMambaEncoder
    from speechslytherin.models.asr.mamba_decoder import MambaDecoder

    return {"conmamba": ConMambaEncoder, "conformer": ConformerEncoder}, \
           {"transformer": TransformerDecoder, "mamba": MambaDecoder}


@pytest.mark.parametrize("variant", TINY_VARIANTS)
def test_each_tiny_variant_trains_exports_and_transcribes(variant, asr_data, tmp_path, request):
    """bin/train on the tiny mini ASR set for a few steps; tiny.yaml reuses the `trained` run."""
    import math

    config = os.path.join(MINI_CONF, variant + ".yaml")
    if variant == "tiny":
        exp = request.getfixturevalue("trained")
    else:
        exp = tmp_path / variant
        run([sys.executable, "-m", "speechslytherin.bin.train", config, "--data-dir", str(asr_data),
             "--exp-dir", str(exp), "--no-progress", "--trainer.epochs=1", "--trainer.max_steps=3",
             "--data.max_valid_items=4", "--trainer.valid_search_items=2", "--trainer.n_plot_examples=0"])
    with open(exp / "train_log.jsonl") as f:
        last = [json.loads(line) for line in f][-1]
    assert math.isfinite(last["train"]["loss"]) and math.isfinite(last["valid"]["loss"])
    assert last["optimizer_steps"] > 0
    assert 0 <= last["valid"]["wer"] and "cer" in last["valid"]  # a decoding of validation items was scored
    settings = model_settings(plain_config(config)["model"])
    assert ("loss_att" in last["valid"]) == (settings["decoder"] is not None)

    model = speechslytherin.load_model(str(exp / "model.pt"))
    assert model.model_info["args"]["encoder"] == settings["encoder"]
    assert model.model_info["args"]["decoder"] == settings["decoder"]
    encoders, decoders = module_classes()
    assert isinstance(model.transformer.encoder, encoders[settings["encoder"]])
    if settings["decoder"] is None:
        assert model.seq_lin is None and not hasattr(model.transformer, "decoder")
    else:
        assert isinstance(model.transformer.decoder, decoders[settings["decoder"]])
        assert len(model.transformer.decoder.layers) == settings["num_decoder_layers"]
    assert len(model.transformer.encoder.layers) == settings["num_encoder_layers"]

    from speechslytherin.data.audio import read_audio

    entries = list(json.loads((asr_data / "tt.json").read_text()).values())[:2]
    texts = model.transcribe([read_audio(e["audio"])[0] for e in entries], beam_size=2)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
