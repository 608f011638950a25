"""Synthesize the offline `mini` corpus (wsj0-2mix-like layout), e.g.

    python -m speechslytherin.bin.make_mini --out data/mini --scale default --seed 0 --jobs 2

Re-running with the same parameters does nothing; different parameters for an existing
folder are refused (choose a new --out).
"""

import argparse
import sys

from speechslytherin.simulate import mini_corpus
from speechslytherin.simulate.voices import MissingPackageError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m speechslytherin.bin.make_mini",
        description="Synthesize the offline mini speech corpus from Debian speech packages.",
    )
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--scale", default="default", choices=sorted(mini_corpus.SCALES),
                        help="tiny: tests (seconds); small; default: the recipe demo")
    parser.add_argument("--seed", type=int, default=0, help="everything random follows this seed")
    parser.add_argument("--test-voices", default="both", choices=mini_corpus.TEST_VOICES,
                        help="tt is always made of recorded people (real speakers); 'both' (default) "
                             "adds tt_tts, mixtures of unseen TTS voices (the condition the models train in)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        print("make_mini: --jobs must be >= 1", file=sys.stderr)
        return 2
    try:
        mini_corpus.make_mini(args.out, scale=args.scale, seed=args.seed, jobs=args.jobs,
                              test_voices=args.test_voices,
                              progress=not args.no_progress)
    except (MissingPackageError, mini_corpus.CorpusExistsError) as err:
        print(f"make_mini: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
