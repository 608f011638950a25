"""Instantiate a config on CPU and report what it builds: `params: <integer>` and I/O shapes.

`python -m speechslytherin.bin.check_config conf/x.yaml [--section.key=value ...] [--seconds 1.0]`
"""

import argparse
import sys

import torch

from speechslytherin.config import ConfigError, load_config, parse_overrides


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def example_input(cfg, seconds):
    """A batch of one the model's task takes: a waveform for separation/enhancement."""
    if cfg["task"] in ("sep", "enh"):
        return torch.randn(1, int(seconds * cfg["sample_rate"]))
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of the test input")
    parser.add_argument("--no-forward", action="store_true", help="count parameters only")
    args, rest = parser.parse_known_args(argv)
    try:
        cfg = load_config(args.config, parse_overrides(rest))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model = cfg["model"]
    print(f"config: {args.config}")
    print(f"task: {cfg['task']}  sample_rate: {cfg['sample_rate']}  model: {type(model).__module__}.{type(model).__name__}")
    print(f"params: {count_parameters(model)}")
    x = example_input(cfg, args.seconds)
    if x is not None and not args.no_forward:
        model.eval()
        with torch.no_grad():
            y = model(x)
        print(f"input: {list(x.shape)} -> output: {list(y.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
