"""Choose the AR decoding of a VALL-E / VALL-M model on held-out voices, not on the test set:
synthesize the dev sentences with every setting of a small grid and score them as stage 5 does.

    python -m speechslytherin.bin.tune_synthesis --model exp/x/model.pt --codec data/codec.pt \\
        --manifest data/cv.json --asr-model ../asr1/exp/y/model.pt --out exp/x/tune_cv \\
        --top-k 5 20 -100 --min-len-ratio 0 0.6 --max-targets-per-speaker 4

The manifest is a stage-2 set without prompts (cv.json: phonemes, codes, audio, text, speaker);
it is paired into prompts and targets as the test set is (per speaker the utterance closest to
3 s is the prompt). Writes OUT/dev.json (the pairs), OUT/<setting>/ (wavs, synth.json, score/)
and OUT/summary.md: one row per setting, sorted by WER, with the share of empty outputs and the
length of the outputs against the recordings.
"""

import argparse
import importlib
import itertools
import json
import os
import sys


def build_parser():
    from speechslytherin.scoring.cli_options import add_tts_asr_options

    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.tune_synthesis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model.pt of a TTS run")
    p.add_argument("--codec", required=True, help="the codec of the recipe's stage 2 (data/codec.pt)")
    p.add_argument("--manifest", required=True, help="a stage-2 manifest of held-out voices (data/cv.json)")
    p.add_argument("--out", required=True, help="output folder")
    add_tts_asr_options(p)
    p.add_argument("--top-k", type=int, nargs="+", default=[-100], help="values to try (<= 0: all tokens)")
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0], help="values to try")
    p.add_argument("--min-len-ratio", type=float, nargs="+", default=[0.0], help="values to try (see synthesize)")
    p.add_argument("--max-len-ratio", type=float, default=0.0, help="one value for every setting (see synthesize)")
    p.add_argument("--max-targets-per-speaker", type=int, default=4)
    p.add_argument("--prompt-seconds", type=float, default=3.0)
    p.add_argument("--speaker", action="store_true", help="also score speaker similarity (needs Resemblyzer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    return p


def dev_pairs(manifest_path, out_path, max_targets, prompt_seconds):
    """Write the prompt/target pairs of a stage-2 manifest in the test-set form; returns their count."""
    from speechslytherin.bin.tts_features import FeatureError, pick_prompts, prompted_entries
    from speechslytherin.data.manifest import load_manifest
    from speechslytherin.utils.atomic import write_json_atomic

    entries = load_manifest(manifest_path)
    missing = [k for k in ("phonemes", "codes", "audio", "text", "speaker") if k not in next(iter(entries.values()))]
    if missing:
        raise FeatureError(f"{manifest_path}: entries lack {missing}; give a stage-2 manifest such as data/cv.json.")
    base = os.path.dirname(os.path.abspath(manifest_path))
    for entry in entries.values():  # the pairs are written elsewhere: relative paths would break
        entry["codes"] = os.path.join(base, entry["codes"])
    pairs, _ = pick_prompts(entries, 1, prompt_seconds, max_targets)
    if not pairs:
        raise FeatureError(f"{manifest_path}: no speaker has two utterances, so there is no prompt/target pair.")
    write_json_atomic(out_path, prompted_entries(entries, pairs))
    return len(pairs)


def setting_name(top_k, temperature, min_ratio):
    return f"topk{top_k}_temp{temperature:g}_min{min_ratio:g}"


def summary_table(rows):
    lines = ["| setting | WER % | SIM | empty outputs | output / recording length |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["wer"] is None, r["wer"])):
        sim = "–" if r["sim"] is None else f"{r['sim']:.2f}"
        wer = "–" if r["wer"] is None else f"{r['wer']:.1f}"
        lines.append(f"| {r['name']} | {wer} | {sim} | {r['empty']}/{r['n']} | {r['length_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def tune(args, log=print):
    import torch

    from speechslytherin.bin.synthesize import CODEC_MODULE, synthesize_manifest
    from speechslytherin.data.manifest import load_manifest
    from speechslytherin.models.model_io import load_model
    from speechslytherin.scoring.tts import score_tts
    from speechslytherin.utils.atomic import write_text_atomic

    os.makedirs(args.out, exist_ok=True)
    dev = os.path.join(args.out, "dev.json")
    n = dev_pairs(args.manifest, dev, args.max_targets_per_speaker, args.prompt_seconds)
    log(f"{dev}: {n} targets with prompts of their speaker")
    targets = load_manifest(dev)
    torch.set_flush_denormal(True)
    model = load_model(args.model, map_location=args.device)
    codec = importlib.import_module(CODEC_MODULE).load_codec(args.codec)
    symbols = os.path.join(os.path.dirname(os.path.abspath(args.manifest)), "symbols.txt")
    rows, reference_rows = [], None
    for top_k, temperature, min_ratio in itertools.product(args.top_k, args.temperature, args.min_len_ratio):
        name = setting_name(top_k, temperature, min_ratio)
        folder = os.path.join(args.out, name)
        synth = synthesize_manifest(model, codec, dev, folder, symbols, top_k, temperature, seed=args.seed,
                                    device=args.device, min_len_ratio=min_ratio, max_len_ratio=args.max_len_ratio)
        summary = score_tts(dev, folder, os.path.join(folder, "score"), exp_name=name, asr=args.asr,
                            asr_model=args.asr_model,
                            speaker=args.speaker, device=args.device, reference_rows=reference_rows,
                            log=lambda *a: None)
        if reference_rows is None:  # the recordings score the same for every setting: once is enough
            with open(os.path.join(folder, "score", "reference_scores.json"), encoding="utf-8") as f:
                reference_rows = json.load(f)
        made = [uid for uid, r in synth.items() if r["frames"] > 0]
        ratio = sum(synth[u]["frames"] for u in made) / max(sum(targets[u]["frames"] for u in made), 1)
        rows.append({"name": name, "wer": summary["means"]["wer"], "sim": summary["means"]["sim"],
                     "empty": len(synth) - len(made), "n": len(synth), "length_ratio": ratio})
        log(summary_table(rows[-1:]).splitlines()[-1])
    write_text_atomic(os.path.join(args.out, "summary.md"), f"# Decoding on {args.manifest}\n\nmodel: {args.model}\n\n"
                      + summary_table(rows))
    return rows


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        rows = tune(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
