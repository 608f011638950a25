"""Redraw an experiment's training curves, and spectrograms of separated files.

  python -m speechslytherin.bin.plot EXP_DIR                      # EXP_DIR/plots/training_curves.png
  python -m speechslytherin.bin.plot EXP_DIR --separated exp/x/separated_tt --ref data/tt.json --n 3
"""

import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_dir")
    parser.add_argument("--separated", help="a separate output folder (holding manifest.json)")
    parser.add_argument("--ref", help="the reference manifest of that set (e.g. data/tt.json)")
    parser.add_argument("--n", type=int, default=3, help="how many utterances to draw")
    args = parser.parse_args(argv)

    from speechslytherin.training.plots import plot_separation_example, plot_training_curves

    log = os.path.join(args.exp_dir, "train_log.jsonl")
    if not os.path.isfile(log):
        print(f"error: {log} not found: is {args.exp_dir} an experiment folder that has trained an epoch?",
              file=sys.stderr)
        return 2
    out = os.path.join(args.exp_dir, "plots", "training_curves.png")
    plot_training_curves(log, out)
    print(out)
    if args.separated:
        if not args.ref:
            parser.error("--separated needs --ref (the reference manifest)")
        import numpy as np

        from speechslytherin.data.audio import read_audio
        from speechslytherin.data.manifest import load_manifest
        from speechslytherin.scoring.separation import load_estimates

        refs = load_manifest(args.ref)
        estimates = load_estimates(args.separated)
        for utt_id in list(estimates)[: args.n]:
            mix, sr = read_audio(refs[utt_id]["mix"])
            sources = np.stack([read_audio(p)[0] for p in refs[utt_id]["sources"]], -1)
            est = np.stack([read_audio(p)[0] for p in estimates[utt_id]], -1)
            path = os.path.join(args.exp_dir, "plots", f"{os.path.basename(args.separated.rstrip('/'))}_{utt_id}.png")
            plot_separation_example(mix, sources, est, sr, path, title=utt_id)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
