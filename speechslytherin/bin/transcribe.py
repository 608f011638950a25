r"""Transcribe speech with an ASR model file.

    python -m speechslytherin.bin.transcribe --model exp/asr_x/model.pt utt.wav
    python -m speechslytherin.bin.transcribe --model exp/asr_x/model.pt data/test_clean.json --out DIR \
        [--beam-size 10] [--ctc-weight 0.4] [--lm-weight 0.6] [--device cuda] [--batch-size 8]

INPUT is an audio file (wav/flac; its id is the file name without extension) or an ASR
manifest (JSON, id -> {"audio": path, ...}; ``{name}`` placeholders filled by
``--replace name=value``). Without ``--out`` it prints ``id text`` lines. With ``--out`` it
writes ``DIR/hypotheses.json`` ({id: text}) atomically, every ``--save-every`` utterances and
at the end; a re-run skips the ids already in it (resumable). Audio must be at the model's
sample rate. Batches (``--batch-size``) are formed from utterances of similar length; batch 1
(the default) decodes each utterance on its own, exactly as ``model.transcribe([wav])``.
"""

import argparse
import json
import os
import sys

from tqdm import tqdm

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".sph")


class TranscribeError(ValueError):
    """Bad input for transcription; the message names the file or option and the fix."""


def fill_placeholders(path, replacements, where):
    try:
        return path.format_map(replacements) if "{" in path else path
    except KeyError as err:
        raise TranscribeError(f"{where}: placeholder {{{err.args[0]}}} in {path!r} has no value; "
                              f"pass --replace {err.args[0]}=PATH.") from None


def parse_replacements(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise TranscribeError(f"--replace {item!r}: expected NAME=VALUE, e.g. data_root=/data/LibriSpeech.")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def list_inputs(input_path, replacements=None):
    """[(id, audio path, duration or None)] from an audio file or an ASR manifest."""
    if not os.path.isfile(input_path):
        raise TranscribeError(f"{input_path}: input not found (an audio file or a manifest .json).")
    if not input_path.lower().endswith(".json"):
        if not input_path.lower().endswith(AUDIO_EXTENSIONS):
            raise TranscribeError(f"{input_path}: expected an audio file ({', '.join(AUDIO_EXTENSIONS)}) or a "
                                  f"manifest .json.")
        return [(os.path.splitext(os.path.basename(input_path))[0], input_path, None)]
    try:
        with open(input_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except json.JSONDecodeError as err:
        raise TranscribeError(f"{input_path}: not valid JSON ({err}).") from None
    if not isinstance(manifest, dict) or not manifest:
        raise TranscribeError(f"{input_path}: expected a non-empty JSON object id -> {{'audio': path, ...}}.")
    items = []
    for utt_id, entry in manifest.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("audio"), str):
            raise TranscribeError(f"{input_path}: entry {utt_id!r} has no 'audio' path.")
        path = fill_placeholders(entry["audio"], replacements or {}, f"{input_path}[{utt_id}]")
        items.append((utt_id, path, entry.get("duration")))
    return items


def batches_by_length(items, batch_size):
    """Groups of up to batch_size items of similar duration (in input order when batch_size is 1)."""
    if batch_size <= 1:
        return [[it] for it in items]
    ordered = sorted(items, key=lambda it: (it[2] is None, it[2] or 0.0))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def load_asr_model(model_path, device, tokenizer=None):
    from speechslytherin.models.model_io import load_model

    model = load_model(model_path, map_location=device)
    if not hasattr(model, "transcribe"):
        raise TranscribeError(f"{model_path}: {type(model).__qualname__} has no transcribe() method.")
    if model.task not in (None, "asr"):
        raise TranscribeError(f"{model_path}: a {model.task!r} model, not an ASR model.")
    if tokenizer:
        model.set_tokenizer(tokenizer)
    return model


def transcribe(model_path, input_path, out_dir=None, device="cpu", batch_size=1, decoding=None, replacements=None,
               tokenizer=None, save_every=50, progress=True, emit=print):
    """Transcribe every input; returns {id: text}. With out_dir, hypotheses.json is kept up to date."""
    import torch

    from speechslytherin.data.audio import read_audio
    from speechslytherin.utils.atomic import write_json_atomic

    torch.set_flush_denormal(True)
    items = list_inputs(input_path, replacements)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TranscribeError(f"--device {device}: CUDA is not available here; use --device cpu.")
    model = load_asr_model(model_path, device, tokenizer)
    sample_rate = int(model.sample_rate or 16000)
    out_file = os.path.join(out_dir, "hypotheses.json") if out_dir else None
    results = {}
    if out_file and os.path.isfile(out_file):
        with open(out_file, encoding="utf-8") as f:
            results = json.load(f)
    todo = [it for it in items if it[0] not in results]
    pending = 0
    bar = tqdm(total=len(todo), desc="transcribe", unit="utt", disable=not progress)
    for group in batches_by_length(todo, batch_size):
        wavs = [torch.from_numpy(read_audio(path, expected_sr=sample_rate)[0]) for _, path, _ in group]
        texts = model.transcribe(wavs, **(decoding or {}))
        for (utt_id, _, _), text in zip(group, texts):
            results[utt_id] = text
            if out_file is None:
                emit(f"{utt_id} {text}")
        pending += len(group)
        bar.update(len(group))
        if out_file and pending >= save_every:
            write_json_atomic(out_file, results)
            pending = 0
    bar.close()
    ordered = {utt_id: results[utt_id] for utt_id, _, _ in items}  # input order, whatever the batching
    results = {**ordered, **{k: v for k, v in results.items() if k not in ordered}}
    if out_file:
        write_json_atomic(out_file, results)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m speechslytherin.bin.transcribe",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--model", required=True, help="ASR model file (bin/train's model.pt or bin.export)")
    parser.add_argument("input", help="an audio file or an ASR manifest .json")
    parser.add_argument("--out", default=None, help="folder for hypotheses.json (default: print id text lines)")
    parser.add_argument("--beam-size", type=int, default=None, help="beam size (default: the model's)")
    parser.add_argument("--ctc-weight", type=float, default=None, help="CTC weight in joint decoding")
    parser.add_argument("--lm-weight", type=float, default=None, help="Transformer LM weight (models with an LM)")
    parser.add_argument("--batch-size", type=int, default=1, help="utterances decoded together (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--tokenizer", default=None, help="SentencePiece .model for a model file that has none")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {NAME} placeholder in manifest paths (repeatable)")
    parser.add_argument("--save-every", type=int, default=50, help="rewrite hypotheses.json every N utterances")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    from speechslytherin.data.audio import AudioError
    from speechslytherin.models.asr.tokenizer import TokenizerError
    from speechslytherin.models.model_io import ModelFileError

    args = parse_args(argv)
    decoding = {"beam_size": args.beam_size, "ctc_weight": args.ctc_weight, "lm_weight": args.lm_weight}
    try:
        results = transcribe(args.model, args.input, out_dir=args.out, device=args.device,
                             batch_size=args.batch_size, decoding={k: v for k, v in decoding.items() if v is not None},
                             replacements=parse_replacements(args.replace), tokenizer=args.tokenizer,
                             save_every=max(1, args.save_every), progress=not args.no_progress)
    except (TranscribeError, AudioError, ModelFileError, TokenizerError) as err:
        sys.exit(f"transcribe: error: {err}")
    if args.out:
        print(f"transcribed {len(results)} utterance(s) into {os.path.join(args.out, 'hypotheses.json')}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
