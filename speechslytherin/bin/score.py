"""Score separated or enhanced audio: per-utterance CSV, summary.json and the recipe's RESULTS.md.

    python -m speechslytherin.bin.score --ref data/tt.json --est exp/<exp>/separate_tt \
        --out exp/<exp>/score_tt [--pesq] [--stoi] [--sdr-backend fast_bss_eval|mir_eval]
    python -m speechslytherin.bin.score --task enh --ref data/tt.json --est exp/<exp>/enhanced_tt \
        --out exp/<exp>/score_tt

--task sep (default): SI-SNR(i), SDR(i), optional PESQ/STOI. --task enh: PESQ-WB, CSIG, CBAK,
COVL, STOI, segSNR and SI-SNR, each also for the noisy input (the --pesq/--stoi/--sdr-backend
options do not apply).

When --out is <recipe>/exp/<exp>/score_<set>, <recipe>/RESULTS.md is regenerated.
"""

import argparse
import json
import os
import sys

# Scoring parallelises over processes (--nj); one BLAS thread each avoids oversubscription.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from speechslytherin.metrics.sdr import BACKENDS  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.score", description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=("sep", "enh"), default="sep",
                   help="sep: separation metrics (default); enh: enhancement metrics")
    p.add_argument("--ref", required=True, help="reference separation manifest (e.g. data/tt.json)")
    p.add_argument("--est", required=True, help="inference output folder holding manifest.json, or that file")
    p.add_argument("--out", required=True, help="output folder (e.g. exp/<exp>/score_tt)")
    p.add_argument("--pesq", action="store_true", help="also compute PESQ (nb at 8 kHz, wb at 16 kHz)")
    p.add_argument("--pesq-mode", choices=("auto", "nb", "wb"), default="auto")
    p.add_argument("--stoi", action="store_true", help="also compute STOI")
    p.add_argument("--sdr-backend", choices=BACKENDS, default="fast_bss_eval")
    p.add_argument("--exp-name", default=None, help="name in RESULTS.md (default: the exp folder name)")
    p.add_argument("--nj", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    p.add_argument("--data-root", default=None, help="fills {data_root} placeholders of the ref manifest")
    p.add_argument("--results-md", default=None,
                   help="RESULTS.md file (or the recipe folder holding it) to regenerate from "
                        "<its folder>/exp/*/score_*/summary.json (default: inferred from --out)")
    p.add_argument("--no-progress", action="store_true")
    return p



def main(argv=None):
    args = build_parser().parse_args(argv)
    from speechslytherin.data.manifest import ManifestError
    from speechslytherin.scoring import score_separation
    from speechslytherin.scoring.results_md import update_results_after_scoring

    replacements = {"data_root": args.data_root} if args.data_root else None
    try:
        if args.task == "enh":
            from speechslytherin.scoring.enhancement import score_enhancement

            if args.pesq or args.stoi or args.pesq_mode != "auto" or args.sdr_backend != "fast_bss_eval":
                print("score: --task enh always scores PESQ-WB, the composite measures, STOI and SI-SNR; "
                      "--pesq/--stoi/--pesq-mode/--sdr-backend are ignored.", file=sys.stderr)

            summary = score_enhancement(args.ref, args.est, args.out, exp_name=args.exp_name, nj=args.nj,
                                        replacements=replacements, progress=not args.no_progress)
        else:
            summary = score_separation(
                args.ref, args.est, args.out, use_pesq=args.pesq, use_stoi=args.stoi,
                sdr_backend=args.sdr_backend, exp_name=args.exp_name, nj=args.nj, replacements=replacements,
                pesq_mode=args.pesq_mode, progress=not args.no_progress,
            )
    except (ManifestError, ValueError) as err:
        print(f"score: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"means": summary["means"], "mixture": summary["mixture"], "failures": summary["failures"],
                      "n_scored": summary["n_scored"], "n_utts": summary["n_utts"]}, indent=2))
    for item in summary["failed_utts"][:10]:
        print(f"  {item['id']}: {item['status']}", file=sys.stderr)
    update_results_after_scoring(args.out, args.results_md)
    return 0 if summary["n_scored"] else 1


if __name__ == "__main__":
    sys.exit(main())
