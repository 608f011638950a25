"""Self-describing model files: round trip, restrictions and error messages."""

import sys

import pytest
import torch
from torch import nn

import speechslytherin
from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.model_io import (
    FORMAT,
    ModelFileError,
    load_model,
    read_model_file,
    save_model,
    state_dict_diff,
)
from speechslytherin.models.sep.mamba_tasnet import MambaTasNet


class _Tiny(SelfDescribing, nn.Module):
    """A model defined in a test module: outside the allowed class prefixes."""

    def __init__(self, width=3, **options):
        super().__init__()
        self.lin = nn.Linear(width, width)


class _TinyChild(_Tiny):
    def __init__(self, depth=2, width=5):
        super().__init__(width=width, flag=True)
        self.depth = depth


def test_records_args_of_the_most_derived_class():
    assert _Tiny(4, scale=2.0).init_args == {"width": 4, "scale": 2.0}
    assert _TinyChild(depth=3).init_args == {"depth": 3, "width": 5}


def test_unserialisable_argument_fails_at_build_time():
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        _Tiny(3, act=nn.ReLU)


@pytest.fixture
def mini_model():
    torch.manual_seed(0)
    return MambaTasNet.from_preset("mini", n_src=3).eval()


def test_round_trip_same_outputs(tmp_path, mini_model):
    path = save_model(mini_model, tmp_path / "m.pt", sample_rate=8000, task="sep", extra={"note": "x"})
    payload = read_model_file(path)
    assert payload["format"] == FORMAT and payload["format_version"] == 1
    assert payload["class"] == "speechslytherin.models.sep.mamba_tasnet.MambaTasNet"
    assert payload["args"]["n_src"] == 3
    assert set(payload["versions"]) == {"torch", "speechslytherin", "python"}
    loaded = speechslytherin.load_model(path)
    assert not loaded.training and loaded.sample_rate == 8000 and loaded.task == "sep"
    assert loaded.model_info["extra"] == {"note": "x"}
    mix = torch.randn(2, 777)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix), mini_model(mix), atol=0, rtol=0)
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write left no temporary file


def test_not_a_model_file(tmp_path, mini_model):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a speechslytherin model file"):
        load_model(text)
    raw = tmp_path / "raw.pt"
    torch.save(mini_model.state_dict(), raw)
    with pytest.raises(ModelFileError, match="import_checkpoint"):
        load_model(raw)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")


def _tamper(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_missing_or_forbidden_class(tmp_path, mini_model):
    path = save_model(mini_model, tmp_path / "m.pt", 8000, "sep")
    _tamper(path, **{"class": "speechslytherin.models.sep.mamba_tasnet.NoSuchNet"})
    with pytest.raises(ModelFileError, match="no class 'NoSuchNet'"):
        load_model(path)
    _tamper(path, **{"class": "os.system"})
    with pytest.raises(ModelFileError, match="refusing to import"):
        load_model(path)
    _tamper(path, **{"class": "speechslytherin.nomodule.Net"})
    with pytest.raises(ModelFileError, match="cannot import"):
        load_model(path)


def test_key_mismatch_names_the_keys(tmp_path, mini_model):
    path = save_model(mini_model, tmp_path / "m.pt", 8000, "sep")
    payload = torch.load(path, weights_only=True)
    state = payload["state_dict"]
    state.pop("decoder.weight")
    state["encoder.conv1d.weight"] = torch.zeros(7, 1, 16)
    _tamper(path, state_dict=state)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert "decoder.weight" in str(err.value) and "[32, 1, 16] vs file [7, 1, 16]" in str(err.value)


def test_newer_format_version_is_refused(tmp_path, mini_model):
    path = save_model(mini_model, tmp_path / "m.pt", 8000, "sep")
    _tamper(path, format_version=99)
    with pytest.raises(ModelFileError, match="Upgrade"):
        load_model(path)


def test_save_refuses_unrecorded_or_foreign_models(tmp_path):
    with pytest.raises(TypeError, match="SelfDescribing"):
        save_model(nn.Linear(2, 2), tmp_path / "x.pt", 8000, "sep")
    with pytest.raises(TypeError, match="may only name classes"):
        save_model(_Tiny(), tmp_path / "x.pt", 8000, "sep")


def test_state_dict_diff_is_empty_for_equal_layouts():
    a = {"w": torch.zeros(2, 3), "b": torch.zeros(3)}
    assert state_dict_diff(a, {"w": (2, 3), "b": [3]}) == ""
    assert "lacks" in state_dict_diff(a, {"w": (2, 3)})
    deep = {f"net.layers.{i}.w": (1,) for i in range(6)}
    diff = state_dict_diff(deep, {k: v for k, v in deep.items() if not k.startswith("net.layers.4")
                                  and not k.startswith("net.layers.5")})
    assert "net.layers.<i>.w (i = 4..5)" in diff


# ---- bin.import_checkpoint ------------------------------------------------------------

OFFICIAL_STYLE_HPARAMS = """\
seed: 1234
__set_seed: !apply:torch.manual_seed [!ref <seed>]
data_folder: !PLACEHOLDER
output_folder: !ref results/WSJ0Mix/test/<seed>
sample_rate: 8000
num_spks: 2
N_encoder_out: 32
out_channels: 32
kernel_size: 16
kernel_stride: !ref <kernel_size> // 2
n_mamba: 2
Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: !ref <kernel_size>
    out_channels: !ref <N_encoder_out>
MaskNet: &id001 !new:modules.mamba_masknet.MaskNet
    enc_dim: !ref <N_encoder_out>
    bot_dim: !ref <out_channels>
    n_spk: !ref <num_spks>
    n_mamba: !ref <n_mamba>
    bidirectional: true
    d_model: !ref <out_channels>
    d_state: 16
    expand: 2
    d_conv: 4
    fused_add_norm: false
    rms_norm: true
    residual_in_fp32: false
Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: !ref <N_encoder_out>
    out_channels: 1
    kernel_size: !ref <kernel_size>
    stride: !ref <kernel_stride>
    bias: false
optimizer: !name:torch.optim.Adam
    lr: 1.5e-4
modules:
    masknet: *id001
"""


def _fake_official_release(root, model, date="2024-06-04+23-51-03+00"):
    """A SpeechBrain save/ folder as the official release has it (plain state-dict .ckpt files)."""
    ckpt = root / "save" / f"CKPT+{date}"
    ckpt.mkdir(parents=True)
    for part in ("encoder", "masknet", "decoder"):
        torch.save(getattr(model, part).state_dict(), ckpt / f"{part}.ckpt")
    (ckpt / "CKPT.yaml").write_text("end-of-epoch: true\n")
    return ckpt


def test_import_official_release_round_trip(tmp_path):
    from speechslytherin.bin import import_checkpoint

    torch.manual_seed(1)
    official = MambaTasNet.from_preset("mini").eval()
    _fake_official_release(tmp_path / "exp", official)
    older = MambaTasNet.from_preset("mini")  # an older checkpoint beside it: must not be picked
    _fake_official_release(tmp_path / "exp", older, date="2024-05-01+10-00-00+00")
    hparams = tmp_path / "hyperparams.yaml"
    hparams.write_text(OFFICIAL_STYLE_HPARAMS)
    out = tmp_path / "model.pt"
    import_checkpoint.main(["--from", "mamba-tasnet", "--config", str(hparams), str(tmp_path / "exp"), str(out)])
    loaded = load_model(out)
    assert loaded.sample_rate == 8000 and loaded.task == "sep"
    assert loaded.init_args["N"] == 32 and loaded.init_args["n_layers"] == 2
    assert "2024-06-04" in loaded.model_info["extra"]["checkpoint"]
    mix = torch.randn(1, 1234)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix), official(mix), atol=0, rtol=0)
    # with no --config: the release's own hyperparams.yaml two folders above the CKPT folder
    (tmp_path / "exp" / "hyperparams.yaml").write_text(OFFICIAL_STYLE_HPARAMS)
    import_checkpoint.main(["--from", "mamba-tasnet", str(tmp_path / "exp" / "save"), str(out)])
    assert load_model(out).model_info["extra"]["config"] == str(tmp_path / "exp" / "hyperparams.yaml")
    # the older folder on request, given as the CKPT folder name
    import_checkpoint.main(["--from", "mamba-tasnet", "--config", str(hparams), "--ckpt-name",
                            "CKPT+2024-05-01+10-00-00+00", str(tmp_path / "exp" / "save"), str(out)])
    with torch.no_grad():
        torch.testing.assert_close(load_model(out)(mix), older.eval()(mix), atol=0, rtol=0)


@pytest.mark.parametrize("variant, n_feat, n_layers", [("XS", 128, 16), ("M", 256, 32)])
def test_official_hparams_map_to_official_counts(tmp_path, variant, n_feat, n_layers):
    from speechslytherin.models.sep.mamba_tasnet_official import build_from_official_config

    hparams = tmp_path / "hparams.yaml"
    hparams.write_text(OFFICIAL_STYLE_HPARAMS.replace("N_encoder_out: 32", f"N_encoder_out: {n_feat}")
                       .replace("out_channels: 32", f"out_channels: {n_feat}")
                       .replace("n_mamba: 2", f"n_mamba: {n_layers}"))
    model, sample_rate = build_from_official_config(hparams)
    counts = {"XS": 2_210_176, "M": 15_647_488}  # reference/official_keys/param_counts.json
    assert sum(p.numel() for p in model.parameters()) == counts[variant] and sample_rate == 8000


def test_import_with_toolkit_config(tmp_path):
    from speechslytherin.bin.import_checkpoint import import_checkpoint

    torch.manual_seed(2)
    official = MambaTasNet.from_preset("mini").eval()
    ckpt = _fake_official_release(tmp_path, official)
    config = tmp_path / "conf.yaml"
    config.write_text(
        "task: sep\nsample_rate: 8000\n"
        "model: !new:speechslytherin.models.sep.mamba_tasnet.MambaTasNet\n"
        "    N: 32\n    n_layers: 2\n"
    )
    model = import_checkpoint("mamba-tasnet", str(ckpt), str(tmp_path / "m.pt"), config=str(config))
    assert model.init_args["N"] == 32
    mix = torch.randn(1, 500)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "m.pt")(mix), official(mix), atol=0, rtol=0)


def test_import_wrong_shapes_gives_a_diff(tmp_path):
    from speechslytherin.bin import import_checkpoint

    ckpt = _fake_official_release(tmp_path, MambaTasNet(N=48, n_layers=2))
    hparams = tmp_path / "hparams.yaml"
    hparams.write_text(OFFICIAL_STYLE_HPARAMS)
    out = tmp_path / "model.pt"
    with pytest.raises(SystemExit) as err:
        import_checkpoint.main(["--from", "mamba-tasnet", "--config", str(hparams), str(ckpt), str(out)])
    message = str(err.value)
    assert "shape mismatches" in message and "encoder.conv1d.weight" in message
    assert "[32, 1, 16] vs checkpoint [48, 1, 16]" in message
    assert not out.exists()


def test_import_errors_name_the_problem(tmp_path):
    from speechslytherin.bin.import_checkpoint import CheckpointImportError, import_checkpoint

    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointImportError, match="no hyperparams.yaml found"):
        import_checkpoint("mamba-tasnet", str(tmp_path / "empty"), str(tmp_path / "o.pt"))
    with pytest.raises(CheckpointImportError, match="neither encoder.ckpt"):
        import_checkpoint("mamba-tasnet", str(tmp_path / "empty"), str(tmp_path / "o.pt"), preset="mini")
    with pytest.raises(CheckpointImportError, match="unknown format"):
        import_checkpoint("conv-tasnet", str(tmp_path), str(tmp_path / "o.pt"), preset="S")
    ckpt = _fake_official_release(tmp_path / "x", MambaTasNet.from_preset("mini"))
    (ckpt / "masknet.ckpt").unlink()
    with pytest.raises(CheckpointImportError, match="masknet.ckpt is missing"):
        import_checkpoint("mamba-tasnet", str(ckpt), str(tmp_path / "o.pt"), preset="mini")
    dpmamba = tmp_path / "dpmamba.yaml"
    dpmamba.write_text(OFFICIAL_STYLE_HPARAMS.replace("modules.mamba_masknet.MaskNet", "modules.dual_path.X"))
    with pytest.raises(CheckpointImportError, match="need their own importer"):
        import_checkpoint("mamba-tasnet", str(ckpt), str(tmp_path / "o.pt"), config=str(dpmamba))


# ---- bin.export -----------------------------------------------------------------------

EXPORT_CONFIG = """\
task: sep
sample_rate: 8000
model: !new:speechslytherin.models.sep.mamba_tasnet.MambaTasNet
    N: 16
    n_layers: 1
"""


def test_export_from_trainer_checkpoint(tmp_path):
    from speechslytherin.bin import export

    config = tmp_path / "config.yaml"
    config.write_text(EXPORT_CONFIG)
    torch.manual_seed(3)
    trained = MambaTasNet(N=16, n_layers=1).eval()
    for name, model in (("CKPT+2025-01-01+00-00-00+00", MambaTasNet(N=16, n_layers=1)),
                        ("CKPT+2025-01-02+00-00-00+00", trained)):
        (tmp_path / "save" / name).mkdir(parents=True)
        torch.save(model.state_dict(), tmp_path / "save" / name / "model.ckpt")
    out = tmp_path / "model.pt"
    export.main(["--config", str(config), "--ckpt", str(tmp_path), "--out", str(out)])
    loaded = load_model(out)
    assert loaded.sample_rate == 8000 and loaded.task == "sep"
    mix = torch.randn(1, 300)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix), trained(mix), atol=0, rtol=0)
    with pytest.raises(SystemExit, match="shape mismatches"):  # an override that no longer fits
        export.main(["--config", str(config), "--ckpt", str(tmp_path), "--out", str(out), "--model.N=24"])


def test_recipe_local_class_round_trip(tmp_path, monkeypatch):
    """A recipe's local/ model (used as !new:local.my_model.X) saves and loads like a toolkit one."""
    recipe = tmp_path / "recipe"
    (recipe / "local").mkdir(parents=True)
    (recipe / "local" / "__init__.py").write_text("")
    (recipe / "local" / "my_sep_model.py").write_text(
        "from torch import nn\n"
        "from speechslytherin.models.base import SelfDescribing\n"
        "class Gain(SelfDescribing, nn.Module):\n"
        "    def __init__(self, width=4):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(width, width)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x)\n"
    )
    monkeypatch.syspath_prepend(str(recipe))
    for name in [m for m in sys.modules if m == "local" or m.startswith("local.")]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards: other recipes' local/ stays intact
    from local.my_sep_model import Gain

    model = Gain(width=6)
    save_model(model, tmp_path / "g.pt", 16000, "enh")
    loaded = load_model(tmp_path / "g.pt")
    x = torch.randn(2, 6)
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.init_args == {"width": 6} and loaded.task == "enh"
    for name in [m for m in sys.modules if m == "local" or m.startswith("local.")]:
        del sys.modules[name]  # do not leak this test's local package
