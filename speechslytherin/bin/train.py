"""Train any task from a config: `python -m speechslytherin.bin.train CONF.yaml --data-dir DATA --exp-dir EXP`.

Dotted overrides follow (`--model.n_layers=8 --trainer.epochs=2`). Re-running the same command
resumes from the last checkpoint. `--ngpu N` (CUDA, NCCL) or `--nproc N` (CPU, gloo) launches N
processes through torchrun. The exp dir receives the config as given, the overrides, the
resolved config, the environment, the per-epoch log and curves, and the final `model.pt`.
"""

import argparse
import inspect
import logging
import math
import os
import sys

import yaml

from speechslytherin.config import ConfigError, load_config, parse_overrides

logger = logging.getLogger("speechslytherin.train")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="hyperpyyaml config")
    parser.add_argument("--data-dir", required=True, help="folder with the task's manifests (stage 1/2 output)")
    parser.add_argument("--exp-dir", required=True, help="experiment folder (created; resumed if it exists)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--ngpu", type=int, default=1, help="GPUs to train on (torchrun + NCCL when > 1)")
    parser.add_argument("--nproc", type=int, default=1, help="CPU processes (torchrun + gloo when > 1)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars (logs only)")
    args, rest = parser.parse_known_args(argv)
    bad = [item for item in rest if not (item.startswith("--") and "=" in item and "." in item.split("=")[0])]
    if bad:
        parser.error(f"unrecognised arguments {bad}; config overrides look like --section.key=value")
    args.overrides = rest
    return args


def relaunch_with_torchrun(args, argv):
    """Re-exec this command under torchrun with one process per GPU (or CPU worker)."""
    n = args.ngpu if args.ngpu > 1 else args.nproc
    cleaned, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--ngpu", "--nproc"):
            skip = True
            continue
        if a.startswith(("--ngpu=", "--nproc=")):
            continue
        cleaned.append(a)
    forwarded = cleaned
    if args.nproc > 1 and args.ngpu <= 1:
        forwarded += ["--device", "cpu"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "speechslytherin.bin.train", *forwarded]
    print("launching:", " ".join(cmd), flush=True)
    os.execv(sys.executable, cmd)


def prepare_exp_dir(cfg, args):
    """Write what the run was made from; refuse to resume an exp dir made from another config."""
    from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic
    from speechslytherin.utils.env import environment

    exp = args.exp_dir
    os.makedirs(os.path.join(exp, "plots"), exist_ok=True)
    given = os.path.join(exp, "config.yaml")
    overrides_text = yaml.safe_dump(cfg.overrides or {}, sort_keys=True)
    if os.path.exists(given):
        with open(given, encoding="utf-8") as f:
            same_config = f.read() == cfg.text
        old_overrides = os.path.join(exp, "overrides.yaml")
        same_overrides = os.path.exists(old_overrides) and open(old_overrides, encoding="utf-8").read() == overrides_text
        if not (same_config and same_overrides):
            raise ConfigError(
                f"{exp} holds a run made from a different config or overrides. Resume it with the same "
                f"config, or train into a new exp dir (e.g. add a --tag in run.sh, or delete {exp})."
            )
    write_text_atomic(given, cfg.text)
    write_text_atomic(os.path.join(exp, "overrides.yaml"), overrides_text)
    write_text_atomic(os.path.join(exp, "config.resolved.yaml"), cfg.resolved_text())
    write_json_atomic(os.path.join(exp, "env.json"), environment())


def scheduler_factory(cfg, total_steps):
    spec = cfg.get("scheduler")
    if spec is None:
        return None

    def build(optimizer):
        params = inspect.signature(spec).parameters
        if "total_steps" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return spec(optimizer, total_steps=total_steps)
        return spec(optimizer)

    return build


def average_best(checkpointer, model, n_best):
    """Average the n best checkpoints (lowest valid loss) into `model`; returns the ones used."""
    import speechbrain as sb

    ckpts = checkpointer.find_checkpoints(
        min_key="loss", max_num_checkpoints=n_best, ckpt_predicate=lambda c: "loss" in c.meta
    )
    if not ckpts:
        return []
    if len(ckpts) == 1:
        state = sb.utils.checkpoints.torch.load(ckpts[0].paramfiles["model"], map_location="cpu")
    else:
        state = sb.utils.checkpoints.average_checkpoints(ckpts, "model")
    model.load_state_dict(state)
    return ckpts


def train(args):
    import speechbrain as sb
    import torch
    from speechbrain.utils.distributed import if_main_process

    from speechslytherin.losses.sep import PitSiSnrLoss
    from speechslytherin.tasks import get_task
    from speechslytherin.training.checkpointing import AtomicCheckpointer, RNGState

    cfg = load_config(args.config, parse_overrides(args.overrides))
    task = get_task(cfg["task"])
    if hasattr(task, "configure"):
        task.configure(cfg)
    trainer = cfg.trainer
    if trainer["threads"]:
        torch.set_num_threads(int(trainer["threads"]))
    torch.set_flush_denormal(True)
    distributed = os.environ.get("LOCAL_RANK") is not None
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if distributed and device.startswith("cuda"):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    run_opts = {
        "device": device,
        "precision": trainer["precision"],
        "max_grad_norm": float(trainer["grad_clip"]) if trainer["grad_clip"] else 1e12,
        "ckpt_interval_minutes": float(trainer["ckpt_interval_minutes"] or 0),
        "grad_accumulation_factor": int(trainer["grad_accumulation"]),
        "optimizer_step_limit": trainer["max_steps"],
        "distributed_backend": "nccl" if device.startswith("cuda") else "gloo",
        "noprogressbar": args.no_progress,
    }
    if distributed:
        sb.utils.distributed.ddp_init_group(run_opts)
    if if_main_process():
        prepare_exp_dir(cfg, args)
    sb.utils.distributed.ddp_barrier()

    train_set, valid_set = task.build_datasets(cfg, args.data_dir)
    world = torch.distributed.get_world_size() if distributed else 1
    batch_size = int(cfg.data["batch_size"])
    steps_per_epoch = math.ceil(len(train_set) / (batch_size * world * int(trainer["grad_accumulation"])))
    total_steps = steps_per_epoch * int(trainer["epochs"])

    model = cfg["model"]
    extra = task.extra_modules(cfg) if hasattr(task, "extra_modules") else {}
    if trainer["early_stop_patience"]:
        counter = sb.utils.epoch_loop.EpochCounterWithStopper(
            limit=int(trainer["epochs"]), limit_to_stop=int(trainer["early_stop_patience"]),
            limit_warmup=0, direction="min")
    else:
        counter = sb.utils.epoch_loop.EpochCounter(limit=int(trainer["epochs"]))
    checkpointer = AtomicCheckpointer(
        os.path.join(args.exp_dir, "save"),
        recoverables={"model": model, **extra, "counter": counter, "rng": RNGState()},
    )
    hparams = dict(cfg)
    hparams.setdefault("loss", PitSiSnrLoss())
    hparams["exp_dir"] = args.exp_dir
    hparams["scheduler_factory"] = scheduler_factory(cfg, total_steps)
    hparams["lr_scheduler"] = None
    hparams["train_dataset"] = train_set
    hparams["epoch_counter"] = counter
    brain = task.Brain(
        modules={"model": model, **extra},
        opt_class=cfg["optimizer"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=checkpointer,
    )
    loader_kwargs = {"batch_size": batch_size, "num_workers": int(cfg.data["num_workers"]), "collate_fn": task.collate_fn()}
    valid_kwargs = {"batch_size": int(cfg.data["valid_batch_size"]), "num_workers": 0, "collate_fn": task.collate_fn()}
    brain.fit(counter, train_set, valid_set, train_loader_kwargs={**loader_kwargs, "shuffle": True},
              valid_loader_kwargs=valid_kwargs, progressbar=not args.no_progress)

    if if_main_process():
        finish(cfg, args, checkpointer, model, valid_set, task, device)
    sb.utils.distributed.ddp_barrier()


def finish(cfg, args, checkpointer, model, valid_set, task, device):
    """Average the best checkpoints, export model.pt, draw the curves and a few examples."""
    from speechslytherin.models.model_io import save_model
    from speechslytherin.training.plots import plot_training_curves
    from speechslytherin.utils.atomic import write_json_atomic

    model = model.module if hasattr(model, "module") else model
    used = average_best(checkpointer, model, int(cfg.trainer["n_best_average"]))
    model_path = os.path.join(args.exp_dir, "model.pt")
    save_model(model, model_path, sample_rate=cfg["sample_rate"], task=cfg["task"],
               extra={"config": cfg.text, "averaged_checkpoints": [c.path.name for c in used]})
    log_path = os.path.join(args.exp_dir, "train_log.jsonl")
    plots = []
    if os.path.exists(log_path):
        plot_training_curves(log_path, os.path.join(args.exp_dir, "plots", "training_curves.png"))
        plots.append("plots/training_curves.png")
    model.to(device)
    for path in task.plot_examples(model, valid_set, os.path.join(args.exp_dir, "plots"), cfg["sample_rate"],
                                   int(cfg.trainer["n_plot_examples"]), device=device):
        plots.append(os.path.relpath(path, args.exp_dir))
    write_json_atomic(os.path.join(args.exp_dir, "train_summary.json"), {
        "model": "model.pt",
        "averaged_checkpoints": [{"name": c.path.name, "valid_loss": c.meta.get("loss")} for c in used],
        "plots": plots,
    })
    print(f"model written to {model_path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # A per-step bar redrawn with the loss floods a log file (tqdm ignores its redraw interval when
    # the postfix changes); logs get the per-epoch summary lines instead.
    args.no_progress = args.no_progress or not sys.stderr.isatty()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if (args.ngpu > 1 or args.nproc > 1) and os.environ.get("LOCAL_RANK") is None:
        relaunch_with_torchrun(args, argv)
    try:
        train(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
