"""SPMamba: official keys/shapes/counts, the official forward order, PIT negative SNR, checkpoint
import (best_model.pth, Lightning .ckpt, conf.yml, presets), configs and a tiny training run on
the mini corpus."""

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F
import yaml

import speechslytherin
from sep_model_checks import check_trained_separator, full_fp32_on_cuda, train_tiny
from speechslytherin.losses.snr import PitSnrLoss, pairwise_neg_snr
from speechslytherin.models import save_model
from speechslytherin.models.sep.spmamba import PRESETS, SPMamba

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(os.path.dirname(REPO), "shared", "reference", "official_keys")
OFFICIAL_COUNTS = {"wsj0": 6_094_498, "wham": 6_094_498, "librimix": 6_094_498, "echo2mix": 6_141_826}
SMALL = dict(n_fft=64, stride=32, n_layers=2, attn_n_head=2, attn_approx_qk_dim=64, emb_dim=4, emb_ks=2,
             d_state=4, expand=2)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return SPMamba(**{**SMALL, **kw})


def randomise(model, seed=1):
    """Perturb every parameter, so norms/gains are not at their identity init in comparisons."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


# -- official layout -------------------------------------------------------------------------

@pytest.mark.parametrize("preset,json_name", [("wsj0", "keys_spmamba-wsj0.json"),
                                              ("echo2mix", "keys_spmamba-echo2mix.json")])
def test_official_keys_shapes_and_counts(preset, json_name):
    model = SPMamba.from_preset(preset)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    path = os.path.join(KEYS, json_name)
    if os.path.exists(path):
        with open(path) as f:
            assert ours == json.load(f)  # same keys, same order, same shapes
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_COUNTS[preset]
    counts = os.path.join(KEYS, "param_counts.json")
    if os.path.exists(counts):
        with open(counts) as f:
            assert OFFICIAL_COUNTS[preset] == json.load(f)["SPMamba"][f"spmamba-{preset}"]["total"]


def test_presets_follow_official_configs():
    assert set(PRESETS) == set(OFFICIAL_COUNTS) | {"8k", "16k"}
    for name, n_fft in (("wsj0", 256), ("wham", 256), ("librimix", 256), ("echo2mix", 512), ("8k", 256),
                        ("16k", 512)):
        model = SPMamba.from_preset(name)
        assert (model.n_fft, model.stride) == (n_fft, n_fft // 4)
        mixer = model.blocks[0].intra_mamba.forward_blocks[0].mixer
        assert (mixer.d_model, mixer.d_inner, mixer.d_state, mixer.d_conv, mixer.dt_rank) == (128, 512, 16, 4, 8)
        assert not mixer.reverse and model.blocks[0].inter_mamba.backward_blocks[0].mixer.reverse
    with pytest.raises(KeyError, match="Unknown SPMamba preset"):
        SPMamba.from_preset("wsj")


# -- forward ---------------------------------------------------------------------------------

def official_bimamba(bimamba, x):
    """The official MambaBlock.forward: forward blocks; backward blocks on the flipped input,
    flipped back; concatenated. The toolkit's backward mixers scan right-to-left instead of
    flipping, so they are run here as plain left-to-right mixers on a flipped copy."""
    def run(blocks, h):
        residual = None
        for block in blocks:
            h, residual = block(h, residual)
        return h if residual is None else h + residual

    for block in bimamba.backward_blocks:
        block.mixer.reverse = False
    try:
        backward = torch.flip(run(bimamba.backward_blocks, torch.flip(x, [1])), [1])
    finally:
        for block in bimamba.backward_blocks:
            block.mixer.reverse = True
    return torch.cat([run(bimamba.forward_blocks, x), backward], -1)


def official_seq(module, x):
    """The official sequence model call: ESPnet's BLSTM returns (output, state); SPMamba's MambaBlock."""
    return module(x)[0] if isinstance(module, torch.nn.LSTM) else official_bimamba(module, x)


def official_block(block, x):
    """look2hear / ESPnet GridNetBlock.forward, step by step in the official order of reshapes."""
    intra_seq, inter_seq = getattr(block, f"intra_{block.seq_name}"), getattr(block, f"inter_{block.seq_name}")
    ks, hs = block.emb_ks, block.emb_hs
    B, C, old_T, old_Q = x.shape
    T = math.ceil((old_T - ks) / hs) * hs + ks
    Q = math.ceil((old_Q - ks) / hs) * hs + ks
    x = F.pad(x, (0, Q - old_Q, 0, T - old_T))
    inp = x
    y = block.intra_norm(inp).transpose(1, 2).contiguous().view(B * T, C, Q)
    y = F.unfold(y[..., None], (ks, 1), stride=(hs, 1)).transpose(1, 2)
    y = block.intra_linear(official_seq(intra_seq, y).transpose(1, 2))
    y = y.view([B, T, C, Q]).transpose(1, 2).contiguous() + inp
    inp = y
    y = block.inter_norm(inp).permute(0, 3, 1, 2).contiguous().view(B * Q, C, T)
    y = F.unfold(y[..., None], (ks, 1), stride=(hs, 1)).transpose(1, 2)
    y = block.inter_linear(official_seq(inter_seq, y).transpose(1, 2))
    y = y.view([B, Q, C, T]).permute(0, 2, 3, 1).contiguous() + inp
    y = y[..., :old_T, :old_Q]
    qs = torch.cat([getattr(block, f"attn_conv_Q_{h}")(y) for h in range(block.n_head)], 0)
    ks_ = torch.cat([getattr(block, f"attn_conv_K_{h}")(y) for h in range(block.n_head)], 0)
    vs = torch.cat([getattr(block, f"attn_conv_V_{h}")(y) for h in range(block.n_head)], 0)
    qs, ks_ = qs.transpose(1, 2).flatten(2), ks_.transpose(1, 2).flatten(2)
    vs = vs.transpose(1, 2)
    shape = vs.shape
    vs = vs.flatten(2)
    attn = F.softmax(qs @ ks_.transpose(1, 2) / qs.shape[-1] ** 0.5, dim=2)
    vs = (attn @ vs).reshape(shape).transpose(1, 2)
    out = vs.reshape([block.n_head, B, vs.shape[1], old_T, -1]).transpose(0, 1)
    out = out.contiguous().view([B, block.n_head * vs.shape[1], old_T, -1])
    return block.attn_concat_proj(out) + y


def official_forward(model, mix):
    """look2hear SPMamba.forward (= ESPnet TFGridNet.forward) on [B, N] (STFT as ESPnet's Stft:
    hann, centred, reflect); returns [B, n_src, N]."""
    x = mix.unsqueeze(2)
    n_samples = x.shape[1]
    std = torch.std(x, dim=(1, 2), keepdim=True)
    x = (x / std)[..., 0]
    window = torch.hann_window(model.n_fft)
    spec = torch.stft(x, model.n_fft, model.stride, model.n_fft, window, center=True, onesided=True,
                      return_complex=True).transpose(1, 2).unsqueeze(1)  # [B, M=1, T, F]
    batch = torch.cat((spec.real, spec.imag), dim=1)
    n_batch, _, n_frames, n_freqs = batch.shape
    batch = model.conv(batch)
    for block in model.blocks:
        batch = official_block(block, batch)
    batch = model.deconv(batch).view([n_batch, model.n_src, 2, n_frames, n_freqs])
    spec = torch.complex(batch[:, :, 0], batch[:, :, 1]).view(-1, n_frames, n_freqs).transpose(1, 2)
    wav = torch.istft(spec, model.n_fft, model.stride, model.n_fft, window, center=True, onesided=True,
                      length=n_samples)
    return wav.view(n_batch, model.n_src, -1) * std  # [B, n_src, N]


@pytest.mark.parametrize("emb_hs,n_samples", [(1, 1500), (2, 1389)])
def test_forward_equals_official_order_of_operations(emb_hs, n_samples):
    model = randomise(small_model(emb_hs=emb_hs)).eval()
    mix = torch.randn(2, n_samples)
    with torch.no_grad():
        ours = model(mix)
        ref = official_forward(model, mix)
    assert ours.shape == (2, n_samples, 2)
    torch.testing.assert_close(ours, ref.transpose(1, 2), rtol=1e-4, atol=1e-5)


def test_shapes_lengths_and_batch_independence():
    model = small_model().eval()
    with torch.no_grad():
        for n in (40, 257, 1001):
            assert model(torch.randn(1, n)).shape == (1, n, 2)
        single = torch.randn(800)
        assert model(single).shape == (800, 2)
        batch = torch.stack([single, 5 * torch.randn(800)])
        torch.testing.assert_close(model(batch)[0], model(single), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expects a mixture"):
        model(torch.randn(1, 1, 800))


def test_input_std_normalisation_makes_output_scale_with_input():
    model = randomise(small_model()).eval()
    mix = torch.randn(1, 1200)
    with torch.no_grad():
        torch.testing.assert_close(model(7.0 * mix), 7.0 * model(mix), rtol=1e-4, atol=1e-4)
        assert torch.isfinite(model(torch.zeros(1, 1200))).all()  # silent input: no NaN


def test_gradients_reach_all_parameters_and_a_step_lowers_the_loss():
    torch.manual_seed(0)
    model = small_model()
    mix, targets = torch.randn(2, 800), torch.randn(2, 800, 2)
    loss_fn = PitSnrLoss()
    loss = loss_fn(model(mix), targets)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "norm" not in n or "gamma" in n)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    opt.step()
    with torch.no_grad():
        assert loss_fn(model(mix), targets) < loss


def test_records_args_and_model_file_round_trip(tmp_path):
    model = randomise(small_model()).eval()
    assert model.init_args["n_fft"] == 64 and model.init_args["expand"] == 2
    path = tmp_path / "spmamba.pt"
    save_model(model, str(path), sample_rate=8000, task="sep")
    loaded = speechslytherin.load_model(str(path))
    mix = torch.randn(1, 900)
    with torch.no_grad():
        assert torch.equal(loaded(mix), model(mix))
    est = loaded.separate(mix[0].numpy())
    assert est.shape == (2, 900)


# -- loss ------------------------------------------------------------------------------------

def neg_snr(est, ref, eps=1e-8):
    est, ref = est - est.mean(), ref - ref.mean()
    return -10 * math.log10((ref ** 2).sum() / (((est - ref) ** 2).sum() + eps) + eps)


def test_pit_negative_snr_matches_the_definition():
    torch.manual_seed(0)
    targets = torch.randn(3, 500, 2)
    estimates = targets.flip(-1) + 0.3 * torch.randn(3, 500, 2)
    loss = PitSnrLoss()
    per = loss.per_example(estimates, targets)
    for b in range(3):
        perms = [(0, 1), (1, 0)]
        want = min(sum(neg_snr(estimates[b, :, p[j]], targets[b, :, j]) for j in range(2)) / 2 for p in perms)
        assert per[b].item() == pytest.approx(want, abs=1e-4)
    assert loss(estimates, targets).item() == pytest.approx(per.mean().item(), abs=1e-6)
    # permutation invariant, but (unlike SI-SNR) not scale invariant
    assert loss(estimates.flip(-1), targets).item() == pytest.approx(loss(estimates, targets).item(), abs=1e-5)
    assert loss(2 * estimates, targets) > loss(estimates, targets) + 1.0
    assert pairwise_neg_snr(estimates, targets).shape == (3, 2, 2)
    three = torch.randn(2, 300, 3)
    assert loss.per_example(three[..., [2, 0, 1]], three).max() < -50  # 3 sources: 6 permutations
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.randn(1, 10, 2), torch.randn(1, 11, 2))


# -- checkpoint import -----------------------------------------------------------------------

OFFICIAL_SMALL_CONF = {
    "audionet": {"audionet_name": "SPMamba", "audionet_config": {
        "input_dim": 64, "n_srcs": 2, "n_fft": 64, "stride": 32, "window": "hann", "n_imics": 1, "n_layers": 2,
        "lstm_hidden_units": 256, "attn_n_head": 2, "attn_approx_qk_dim": 64, "emb_dim": 4, "emb_ks": 2,
        "emb_hs": 1, "activation": "prelu", "eps": 1.0e-5, "use_builtin_complex": False}},
    "datamodule": {"data_name": "Libri2MixDataModule", "data_config": {"sample_rate": 8000, "segment": 3.0}},
}


def official_mamba_defaults_model(seed=3):
    """A randomly initialised model with the official Mamba settings (expand 4, d_state 16)."""
    torch.manual_seed(seed)
    conf = OFFICIAL_SMALL_CONF["audionet"]["audionet_config"]
    model = SPMamba(n_src=2, n_fft=64, stride=32, n_layers=2, attn_n_head=2, attn_approx_qk_dim=64,
                    emb_dim=conf["emb_dim"], emb_ks=conf["emb_ks"])
    return randomise(model, seed).eval()


def run_import(argv):
    from speechslytherin.bin import import_checkpoint
    import_checkpoint.main(argv)


def test_import_best_model_pth_with_release_conf(tmp_path):
    exp = tmp_path / "Experiments" / "checkpoint" / "SPMamba-Libri2Mix"
    exp.mkdir(parents=True)
    (exp / "conf.yml").write_text(yaml.safe_dump(OFFICIAL_SMALL_CONF))
    model = official_mamba_defaults_model()
    torch.save({"model_name": "TFGridNetMamba", "state_dict": model.state_dict(),
                "model_args": {"n_sample_rate": 2}, "infos": {"software_versions": {"torch_version": "2.0.0"}}},
               exp / "best_model.pth")
    out = tmp_path / "imported.pt"
    run_import(["--from", "spmamba", str(exp / "best_model.pth"), str(out)])  # conf.yml found beside it
    loaded = speechslytherin.load_model(str(out))
    assert isinstance(loaded, SPMamba) and loaded.sample_rate == 8000 and loaded.task == "sep"
    mix = torch.randn(2, 1500)
    with torch.no_grad():
        assert torch.equal(loaded(mix), model(mix))
    # the exp folder itself works too (best_model.pth is picked)
    run_import(["--from", "spmamba", str(exp), str(tmp_path / "again.pt")])


def test_import_lightning_ckpt_with_audio_model_prefix(tmp_path):
    conf = tmp_path / "conf.yml"
    conf.write_text(yaml.safe_dump({**OFFICIAL_SMALL_CONF, "datamodule": {"data_config": {"sample_rate": 16000}}}))
    model = official_mamba_defaults_model(seed=5)
    ckpt = tmp_path / "epoch=12-val_loss=-10.ckpt"
    torch.save({"epoch": 12, "global_step": 1000, "pytorch-lightning_version": "2.0.2",
                "state_dict": {f"audio_model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"exp_exp_name": "x"}}, ckpt)
    out = tmp_path / "lightning.pt"
    run_import(["--from", "spmamba", "--config", str(conf), str(ckpt), str(out)])
    loaded = speechslytherin.load_model(str(out))
    assert loaded.sample_rate == 16000
    mix = torch.randn(1, 1000)
    with torch.no_grad():
        assert torch.equal(loaded(mix), model(mix))


def test_import_with_preset_full_size(tmp_path):
    model = SPMamba.from_preset("wsj0")
    state = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    torch.save({"model_name": "SPMamba", "state_dict": state}, tmp_path / "best_model.pth")
    out = tmp_path / "wsj0.pt"
    run_import(["--from", "spmamba", "--preset", "wsj0", str(tmp_path / "best_model.pth"), str(out)])
    loaded = speechslytherin.load_model(str(out))
    assert loaded.sample_rate == 8000
    assert sum(p.numel() for p in loaded.parameters()) == OFFICIAL_COUNTS["wsj0"]
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_import_errors_name_the_problem(tmp_path):
    from speechslytherin.bin.import_checkpoint import CheckpointImportError, import_checkpoint

    state = SPMamba.from_preset("wsj0").state_dict()
    pth = tmp_path / "best_model.pth"
    torch.save({"model_name": "SPMamba", "state_dict": state}, pth)
    with pytest.raises(CheckpointImportError, match="does not fit"):  # 8 kHz weights, 16 kHz config
        import_checkpoint("spmamba", str(pth), str(tmp_path / "x.pt"), preset="echo2mix")
    torch.save({"model_name": "ConvTasNet", "state_dict": state}, tmp_path / "other.pth")
    with pytest.raises(CheckpointImportError, match="model_name is 'ConvTasNet'"):
        import_checkpoint("spmamba", str(tmp_path / "other.pth"), str(tmp_path / "x.pt"), preset="wsj0")
    with pytest.raises(CheckpointImportError, match="no conf.yml|no hyperparams.yaml"):
        import_checkpoint("spmamba", str(pth), str(tmp_path / "x.pt"))
    bad_conf = tmp_path / "bad.yml"
    bad_conf.write_text(yaml.safe_dump({"audionet": {"audionet_name": "SPMamba",
                                                     "audionet_config": {"n_fft": 256, "n_mics": 2}}}))
    with pytest.raises(CheckpointImportError, match="unknown audionet_config keys"):
        import_checkpoint("spmamba", str(pth), str(tmp_path / "x.pt"), config=str(bad_conf))
    assert not (tmp_path / "x.pt").exists()


# -- configs and training --------------------------------------------------------------------

CONFIGS = {
    "egs/wsj0-2mix/sep1/conf/spmamba.yaml": OFFICIAL_COUNTS["wsj0"],
    "egs/libri2mix/sep1/conf/spmamba.yaml": OFFICIAL_COUNTS["librimix"],
    "egs/echo2mix/sep1/conf/spmamba.yaml": OFFICIAL_COUNTS["echo2mix"],
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_published_configs_build_the_official_model(config, capsys):
    from speechslytherin.bin import check_config

    assert check_config.main([os.path.join(REPO, config), "--no-forward"]) == 0
    assert f"params: {CONFIGS[config]}\n" in capsys.readouterr().out


@pytest.mark.parametrize("config", ["spmamba_tiny.yaml", "spmamba_mini.yaml"])
def test_mini_configs_check(config, capsys):
    from speechslytherin.bin import check_config

    path = os.path.join(REPO, "egs", "mini", "sep1", "conf", config)
    if not os.path.exists(path):
        pytest.skip(f"{config} not present")
    assert check_config.main([path, "--seconds", "0.25"]) == 0
    assert "output: [1, 2000, 2]" in capsys.readouterr().out


def test_tiny_training_run_on_the_mini_corpus(mini_sep_subset, tiny_mini_sep_mixture, tmp_path):
    exp = tmp_path / "exp"
    records = train_tiny("egs/mini/sep1/conf/spmamba_tiny.yaml", mini_sep_subset(4, 2), exp)
    assert [r["epoch"] for r in records] == [1, 2]
    model = check_trained_separator(exp, SPMamba, tiny_mini_sep_mixture)
    with torch.no_grad():
        assert model(torch.randn(1, 1000)).shape == (1, 1000, 2)


# -- GPU (skipped without CUDA) --------------------------------------------------------------

@pytest.mark.gpu
def test_cuda_forward_matches_cpu_and_bf16_step_runs():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = randomise(small_model()).eval()
    mix = torch.randn(2, 4000)
    with full_fp32_on_cuda(), torch.no_grad():
        cpu = model(mix)
        gpu = model.cuda()(mix.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-3)
    model.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):  # the published bf16-mixed training
        loss = PitSnrLoss()(model(mix.cuda()), torch.randn(2, 4000, 2, device="cuda"))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
