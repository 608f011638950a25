"""Score synthesized test sentences: WER, speaker similarity, MCD-DTW, F0 RMSE; RESULTS.md.

    python -m speechslytherin.bin.score_tts --ref data/tt.json --syn exp/<exp>/synth_tt \
        --out exp/<exp>/score_tt [--exp-name NAME] [--results-md RESULTS.md] [--asr-model ASR.pt] \
        [--codec data/codec.pt]

--syn holds <id>.wav per test id (bin/synthesize). WER uses --asr-model (the toolkit's own ASR
model file) when given, else pocketsphinx with a word-pair grammar of the recipe's sentences when
installed (see speechslytherin/scoring/tts.py). --codec adds the codec re-synthesis of the
recordings as the reference row. When --out is <recipe>/exp/<exp>/score_<set>, <recipe>/RESULTS.md
is regenerated.
"""

import argparse
import sys


def build_parser():
    from speechslytherin.scoring.cli_options import add_results_md_options, add_tts_asr_options

    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.score_tts", description=__doc__.split("\n")[0])
    p.add_argument("--ref", required=True, help="test manifest of stage 2 (data/tt.json)")
    p.add_argument("--syn", required=True, help="folder of synthesized <id>.wav")
    p.add_argument("--out", required=True, help="folder for scores.csv and summary.json")
    add_results_md_options(p)
    add_tts_asr_options(p)
    p.add_argument("--codec", default=None, help="codec file: adds the codec re-synthesis reference row")
    p.add_argument("--no-speaker", dest="speaker", action="store_false", help="skip speaker similarity")
    p.add_argument("--device", default="cpu")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from speechslytherin.data.manifest import ManifestError
    from speechslytherin.scoring.results_md import update_results_after_scoring
    from speechslytherin.scoring.tts import TTSScoringError, score_tts
    from speechslytherin.tts.scorers import ScorerUnavailable

    import torch

    torch.set_flush_denormal(True)
    try:
        s = score_tts(args.ref, args.syn, args.out, exp_name=args.exp_name, test_set=args.test_set, asr=args.asr,
                      asr_model=args.asr_model, codec=args.codec, speaker=args.speaker, device=args.device,
                      log=lambda msg: print(msg, file=sys.stderr))
    except (ManifestError, TTSScoringError, ScorerUnavailable) as err:
        print(f"score_tts: error: {err}", file=sys.stderr)
        return 2
    m = s["means"]
    shown = ", ".join(f"{title} {m[key]:.3g}" for key, title in s["columns"] if m.get(key) is not None)
    print(f"{s['test_set']} ({s['exp_name']}): {shown or 'no metric measured'}; {s['n_scored']}/{s['n_utts']} "
          f"utterances synthesized -> {args.out}")
    update_results_after_scoring(args.out, args.results_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
