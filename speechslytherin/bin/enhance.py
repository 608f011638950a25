r"""Enhance noisy speech with a model file and write one float WAV per input.

    python -m speechslytherin.bin.enhance --model exp/enh_semamba/model.pt noisy.wav --out DIR
    python -m speechslytherin.bin.enhance --model exp/enh_semamba/model.pt data/tt.json --out DIR \
        [--pcs] [--device cuda] [--replace data_root=/corpora/voicebank]

INPUT is a wav file (its id is the file name without .wav) or an enhancement manifest (JSON,
id -> {"mix": noisy path, ...}). The model maps a [batch, time] noisy waveform to the enhanced
waveform (STFT, compression and RMS normalisation are inside it). --pcs applies perceptual
contrast stretching (PCS400) to the output, as SEMamba's +PCS results do.
Outputs: DIR/<id>.wav (32-bit float WAV, the model's output as it is, nothing clipped; the
input's length) and DIR/manifest.json = {id: {"sources": [enhanced path], "mix": input path}},
which `bin.score --task enh` reads. A re-run skips ids whose output exists; DIR/settings.json
records the model and --pcs so a re-run with other settings cannot mix outputs.
"""

import argparse
import json
import os
import sys

from tqdm import tqdm

from speechslytherin.bin.separate import SeparateError, list_inputs, parse_replacements, pick_device

SETTINGS = "settings.json"


class EnhanceError(SeparateError):
    """Bad input for enhancement; the message names the file or option and the fix."""


def check_settings(out_dir, settings):
    """Write DIR/settings.json, or insist that an existing one matches (resuming the same run)."""
    from speechslytherin.utils.atomic import write_json_atomic

    path = os.path.join(out_dir, SETTINGS)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError:
                old = None
        if old != settings:
            raise EnhanceError(
                f"{out_dir} holds outputs made with other settings ({old}, now {settings}); choose another "
                "--out or delete the folder.")
        return
    write_json_atomic(path, settings)


def fit_length(wav, n):
    """Trim or zero-pad a 1-D tensor to n samples (the STFT round trip may change the length)."""
    import torch

    if wav.shape[-1] >= n:
        return wav[..., :n]
    return torch.nn.functional.pad(wav, (0, n - wav.shape[-1]))


def enhance(model_path, input_path, out_dir, device="cpu", pcs=False, replacements=None, progress=True):
    """Run the enhancement; returns the output manifest dict."""
    import torch

    from speechslytherin.data.audio import read_audio, write_audio
    from speechslytherin.models.model_io import load_model
    from speechslytherin.utils.atomic import write_json_atomic

    torch.set_flush_denormal(True)
    items = list_inputs(input_path, replacements or {})
    device = pick_device(device)
    model = load_model(model_path, map_location=device)
    if model.task not in (None, "enh"):
        raise EnhanceError(f"{model_path}: a {model.task!r} model, not an enhancement model.")
    if not model.sample_rate:
        raise EnhanceError(f"{model_path}: the model file records no sample rate; re-export it.")
    sample_rate = int(model.sample_rate)
    post = None
    if pcs:
        from speechslytherin.models.enh.pcs import apply_pcs

        post = apply_pcs
        if sample_rate != 16000:
            raise EnhanceError(f"--pcs: PCS400 is defined for 16 kHz audio, the model runs at {sample_rate} Hz.")
    os.makedirs(out_dir, exist_ok=True)
    check_settings(out_dir, {"model": os.path.abspath(model_path), "pcs": bool(pcs)})

    results = {}
    for utt_id, noisy_path in tqdm(items, desc="enhance", unit="utt", disable=not progress):
        path = os.path.join(out_dir, f"{utt_id}.wav")
        if not os.path.isfile(path):
            noisy, _ = read_audio(noisy_path, expected_sr=sample_rate)
            with torch.inference_mode():
                x = torch.from_numpy(noisy).to(device)[None]
                est = fit_length(model(x)[0].float(), x.shape[-1])
                if post is not None:
                    est = post(est, sample_rate)
            write_audio(path, est.cpu().numpy(), sample_rate, subtype="FLOAT")
        results[utt_id] = {"sources": [os.path.abspath(path)], "mix": noisy_path}
    write_json_atomic(os.path.join(out_dir, "manifest.json"), results)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m speechslytherin.bin.enhance",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--model", required=True, help="model file (bin.export / bin.import_checkpoint)")
    parser.add_argument("input", help="a .wav file or an enhancement manifest .json")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--pcs", action="store_true", help="perceptual contrast stretching (PCS400) on the output")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {NAME} placeholder in manifest paths (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    from speechslytherin.data.audio import AudioError
    from speechslytherin.models.model_io import ModelFileError

    args = parse_args(argv)
    try:
        results = enhance(args.model, args.input, args.out, device=args.device, pcs=args.pcs,
                          replacements=parse_replacements(args.replace), progress=not args.no_progress)
    except (SeparateError, AudioError, ModelFileError) as err:
        sys.exit(f"enhance: error: {err}")
    print(f"enhanced {len(results)} file(s) into {args.out} (manifest: {os.path.join(args.out, 'manifest.json')})")


if __name__ == "__main__":
    main()
