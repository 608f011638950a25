r"""Separate mixtures with a model file and write one float WAV per estimated source.

    python -m speechslytherin.bin.separate --model exp/model.pt mix.wav --out DIR
    python -m speechslytherin.bin.separate --model exp/model.pt data/tt.json --out DIR \
        --replace data_root=/corpora/wsj0-2mix [--device cuda] [--segment-seconds 30]

INPUT is a wav file (its id is the file name without .wav) or a separation manifest (JSON,
id -> {"mix": path, ...}; ``{name}`` placeholders filled by ``--replace name=value``).
Outputs, in the layout of wsj0-2mix: ``DIR/s1/<id>.wav``, ``DIR/s2/<id>.wav``, ... in the
model's output order, written atomically as 32-bit float WAV holding the raw estimates (no
rescaling, and nothing clips, so scores are computed on exactly what the model produced), and
``DIR/manifest.json`` = {id: {"sources": [paths in output order], "mix": input path}}.
A re-run skips ids whose outputs all exist.
"""

import argparse
import json
import os
import sys

from tqdm import tqdm


class SeparateError(ValueError):
    """Bad input for separation; the message names the file or option and the fix."""


def parse_replacements(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SeparateError(f"--replace {item!r}: expected NAME=VALUE, e.g. data_root=/data/wsj0-2mix.")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def fill_placeholders(path, replacements, where):
    try:
        return path.format_map(replacements) if "{" in path else path
    except KeyError as err:
        raise SeparateError(
            f"{where}: placeholder {{{err.args[0]}}} in {path!r} has no value; "
            f"pass --replace {err.args[0]}=PATH."
        ) from None


def list_inputs(input_path, replacements):
    """[(id, mix path)] from a wav file or a separation manifest."""
    if not os.path.isfile(input_path):
        raise SeparateError(f"{input_path}: input not found (a .wav file or a manifest .json).")
    if not input_path.lower().endswith(".json"):
        return [(os.path.splitext(os.path.basename(input_path))[0], input_path)]
    try:
        with open(input_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except json.JSONDecodeError as err:
        raise SeparateError(f"{input_path}: not valid JSON ({err}).") from None
    if not isinstance(manifest, dict) or not manifest:
        raise SeparateError(f"{input_path}: expected a non-empty JSON object id -> {{'mix': path, ...}}.")
    items = []
    for utt_id, entry in manifest.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("mix"), str):
            raise SeparateError(f"{input_path}: entry {utt_id!r} has no 'mix' path.")
        if "/" in utt_id or utt_id in ("", ".", ".."):
            raise SeparateError(f"{input_path}: id {utt_id!r} cannot be used as a file name.")
        items.append((utt_id, fill_placeholders(entry["mix"], replacements, f"{input_path}[{utt_id}]")))
    return items


def output_paths(out_dir, utt_id, n_src):
    return [os.path.join(out_dir, f"s{k + 1}", f"{utt_id}.wav") for k in range(n_src)]


def pick_device(name):
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SeparateError(f"--device {name}: CUDA is not available here; use --device cpu.")
    return name


def separate(model_path, input_path, out_dir, device="cpu", segment_seconds=None,
             replacements=None, progress=True):
    """Run the separation; returns the output manifest dict."""
    import torch

    from speechslytherin.data.audio import read_audio, write_audio
    from speechslytherin.models.model_io import load_model
    from speechslytherin.utils.atomic import write_json_atomic

    torch.set_flush_denormal(True)
    items = list_inputs(input_path, replacements or {})
    device = pick_device(device)
    model = load_model(model_path, map_location=device)
    if not hasattr(model, "separate"):
        raise SeparateError(f"{model_path}: {type(model).__qualname__} has no separate() method.")
    if model.task not in (None, "sep", "enh"):
        raise SeparateError(f"{model_path}: a {model.task!r} model, not a separation model.")
    if not model.sample_rate:
        raise SeparateError(f"{model_path}: the model file records no sample rate; re-export it.")
    sample_rate = int(model.sample_rate)
    n_src = getattr(model, "n_src", None)
    segment = int(segment_seconds * sample_rate) if segment_seconds else None
    if segment is not None and segment <= 0:
        raise SeparateError(f"--segment-seconds {segment_seconds}: must be positive.")

    results = {}
    for utt_id, mix_path in tqdm(items, desc="separate", unit="utt", disable=not progress):
        if n_src is not None:
            paths = output_paths(out_dir, utt_id, n_src)
            if all(os.path.isfile(p) for p in paths):
                results[utt_id] = {"sources": [os.path.abspath(p) for p in paths], "mix": mix_path}
                continue
        mix, _ = read_audio(mix_path, expected_sr=sample_rate)
        with torch.inference_mode():
            est = model.separate(torch.from_numpy(mix), segment_samples=segment)  # [n_src, T]
        est = est.float().cpu().numpy()
        paths = output_paths(out_dir, utt_id, est.shape[0])
        for wav, path in zip(est, paths):
            write_audio(path, wav, sample_rate, subtype="FLOAT")
        results[utt_id] = {"sources": [os.path.abspath(p) for p in paths], "mix": mix_path}
    write_json_atomic(os.path.join(out_dir, "manifest.json"), results)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m speechslytherin.bin.separate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--model", required=True, help="model file (bin.export / bin.import_checkpoint)")
    parser.add_argument("input", help="a .wav file or a separation manifest .json")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--segment-seconds", type=float, default=None,
                        help="process long inputs in overlapping windows of this length")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {NAME} placeholder in manifest paths (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    from speechslytherin.data.audio import AudioError
    from speechslytherin.models.model_io import ModelFileError

    args = parse_args(argv)
    try:
        results = separate(args.model, args.input, args.out, device=args.device,
                           segment_seconds=args.segment_seconds,
                           replacements=parse_replacements(args.replace),
                           progress=not args.no_progress)
    except (SeparateError, AudioError, ModelFileError) as err:
        sys.exit(f"separate: error: {err}")
    print(f"separated {len(results)} mixture(s) into {args.out} (manifest: "
          f"{os.path.join(args.out, 'manifest.json')})")


if __name__ == "__main__":
    main()
