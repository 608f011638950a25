"""Score ASR hypotheses: word/character error rates, per-utterance CSV, summary.json, RESULTS.md.

    python -m speechslytherin.bin.wer --ref data/test_clean.json --hyp exp/<exp>/decode_test_clean \
        --out exp/<exp>/score_test_clean [--exp-name NAME] [--results-md RESULTS.md]

--hyp is hypotheses.json ({id: text}, as bin/transcribe writes it) or the folder holding it.
Text is normalised the LibriSpeech way (upper case, punctuation stripped; see
speechslytherin/scoring/asr.py). When --out is <recipe>/exp/<exp>/score_<set>, <recipe>/RESULTS.md
is regenerated.
"""

import argparse
import sys


def build_parser():
    from speechslytherin.scoring.cli_options import add_results_md_options

    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.wer", description=__doc__.split("\n")[0])
    p.add_argument("--ref", required=True, help="reference manifest (id -> {\"text\", ...})")
    p.add_argument("--hyp", required=True, help="hypotheses.json (id -> text) or its folder")
    p.add_argument("--out", required=True, help="folder for wer.csv and summary.json")
    add_results_md_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from speechslytherin.data.manifest import ManifestError
    from speechslytherin.scoring.asr import HypothesisError, score_asr
    from speechslytherin.scoring.results_md import update_results_after_scoring

    try:
        summary = score_asr(args.ref, args.hyp, args.out, exp_name=args.exp_name, test_set=args.test_set,
                            log=lambda msg: print(msg, file=sys.stderr))
    except (ManifestError, HypothesisError) as err:
        print(f"wer: error: {err}", file=sys.stderr)
        return 2
    m, c = summary["means"], summary["counts"]
    print(f"{summary['test_set']} ({summary['exp_name']}): WER {m['wer']}% ({c['word_errors']}/{c['words']}: "
          f"S {c['substitutions']} D {c['deletions']} I {c['insertions']}), CER {m['cer']}%, "
          f"{summary['n_scored']}/{summary['n_utts']} utterances with a hypothesis -> {args.out}")
    update_results_after_scoring(args.out, args.results_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
