"""Synthesize test sentences with a VALL-E / VALL-M model file and a codec.

`python -m speechslytherin.bin.synthesize --model exp/x/model.pt --codec CODEC --text-manifest data/tt.json --out DIR`

Each manifest entry gives the sentence (``phonemes``, space-separated symbols, or ``text``,
phonemized here) and its acoustic prompt: ``prompt_codes`` (a .npy of int16 [n_q, T], 3 s of
another utterance of the same speaker; relative paths are relative to the manifest) and
``prompt_phonemes``. Writes DIR/<id>.wav and DIR/synth.json ({id: {"audio", "duration",
"frames", ... the input entry's other fields}}); items whose AR stops at once (an
undertrained model) are listed with ``"frames": 0`` and no audio.
"""

import argparse
import importlib
import os
import sys
import time

import numpy as np
import torch

CODEC_MODULE = "speechslytherin.tts.codec"
TEXT_MODULE = "speechslytherin.tts.text"


class SynthesisError(ValueError):
    """Input that cannot be synthesized; the message names the file, the id and the fix."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model.pt written by bin/train (task tts)")
    p.add_argument("--codec", required=True, help="codec directory or file, as speechslytherin.tts.codec.load_codec takes")
    p.add_argument("--text-manifest", required=True, help="JSON {id: {phonemes|text, prompt_codes, prompt_phonemes}}")
    p.add_argument("--out", required=True, help="output folder for <id>.wav and synth.json")
    p.add_argument("--symbols", default=None, help="symbols.txt (default: beside the manifest)")
    p.add_argument("--top-k", type=int, default=-100, help="top-k sampling of the AR (<= 0: all tokens)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-len", type=int, default=None, help="AR frame limit (default 16 x phonemes, as lifeiteng)")
    p.add_argument("--min-len", type=int, default=0, help="AR frames before EOS may end the output")
    p.add_argument("--min-len-ratio", type=float, default=0.0,
                   help="EOS may not end the output before this share of the expected length (the prompt's "
                        "frames per phoneme x the sentence's phonemes); 0: off")
    p.add_argument("--max-len-ratio", type=float, default=0.0,
                   help="stop the AR at this multiple of the expected length (0: --max-len or its default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="synthesize the first N items only")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def phonemes_of(entry, table, phonemizer, where):
    from speechslytherin.tasks.tts import phoneme_ids

    if entry.get("phonemes"):
        return phoneme_ids(entry["phonemes"], table, where)
    if not entry.get("text"):
        raise SynthesisError(f"{where}: needs 'phonemes' or 'text'.")
    return phoneme_ids(" ".join(phonemizer().phonemize(entry["text"])), table, where)


def lazy_phonemizer():
    cache = {}

    def get():
        if "p" not in cache:
            cache["p"] = importlib.import_module(TEXT_MODULE).Phonemizer()
        return cache["p"]

    return get


def length_limits(prompt_frames, prompt_phonemes, phonemes, min_len=0, max_len=None, min_ratio=0.0, max_ratio=0.0):
    """(min_len, max_len) of the AR output. The expected length is the sentence's phonemes at the
    prompt speaker's rate (prompt frames per prompt phoneme): an undertrained AR that ends at
    once, or never, is held to a share of it (a speaker-aware form of lifeiteng's 16 x phonemes cap)."""
    expected = prompt_frames / max(prompt_phonemes, 1) * phonemes
    if min_ratio:
        min_len = max(int(min_len or 0), int(min_ratio * expected))
    if max_ratio:
        max_len = max(int(max_ratio * expected), int(min_len or 0) + 1)
    return min_len, max_len


def synthesize_manifest(model, codec, manifest_path, out_dir, symbols_path, top_k=-100, temperature=1.0,
                        max_len=None, min_len=0, seed=0, limit=None, device="cpu", min_len_ratio=0.0,
                        max_len_ratio=0.0):
    """Synthesize every entry; returns the output manifest dict."""
    from speechslytherin.data.audio import write_audio
    from speechslytherin.data.manifest import load_manifest
    from speechslytherin.tasks.tts import load_codes, read_symbols
    from speechslytherin.utils.atomic import write_json_atomic

    table = read_symbols(symbols_path)
    entries = load_manifest(manifest_path)
    base = os.path.dirname(os.path.abspath(manifest_path))
    os.makedirs(out_dir, exist_ok=True)
    phonemizer = lazy_phonemizer()
    out = {}
    for n, (uid, entry) in enumerate(entries.items()):
        if limit is not None and n >= limit:
            break
        where = f"{manifest_path}: id '{uid}'"
        for key in ("prompt_codes", "prompt_phonemes"):
            if key not in entry:
                raise SynthesisError(f"{where}: missing '{key}' (the 3 s prompt of the same speaker); "
                                     f"re-run the recipe's data stage.")
        path = entry["prompt_codes"] if os.path.isabs(entry["prompt_codes"]) else os.path.join(base, entry["prompt_codes"])
        prompt = load_codes(path, where)[None].to(device)
        text = torch.tensor([phonemes_of(entry, table, phonemizer, where)], device=device)
        prompt_text = torch.tensor([phonemes_of({"phonemes": entry["prompt_phonemes"]}, table, phonemizer, where)],
                                   device=device)
        lo, hi = length_limits(prompt.shape[2], prompt_text.shape[1], text.shape[1], min_len, max_len,
                               min_len_ratio, max_len_ratio)
        torch.manual_seed(seed + n)
        started = time.time()
        codes = model.synthesize(text, prompt_text, prompt, top_k=top_k, temperature=temperature,
                                 max_len=hi, min_len=lo)
        record = {k: v for k, v in entry.items() if k not in ("audio",)}
        record.update(frames=int(codes.shape[2]), synth_seconds=round(time.time() - started, 3))
        if codes.shape[2] > 0:
            wav = codec.decode(codes.cpu())[0]
            audio = os.path.join(out_dir, f"{uid}.wav")
            write_audio(audio, wav.detach().cpu().numpy() if torch.is_tensor(wav) else np.asarray(wav),
                        codec.sample_rate)
            record.update(audio=os.path.abspath(audio), duration=round(len(wav) / codec.sample_rate, 3),
                          sample_rate=int(codec.sample_rate))
        out[uid] = record
    write_json_atomic(os.path.join(out_dir, "synth.json"), out)
    return out


def main(argv=None):
    args = parse_args(argv)
    from speechslytherin.models.model_io import load_model

    torch.set_flush_denormal(True)
    model = load_model(args.model, map_location=args.device)
    if not hasattr(model, "synthesize"):
        print(f"error: {args.model} is not a TTS model (no synthesize method)", file=sys.stderr)
        return 2
    codec = importlib.import_module(CODEC_MODULE).load_codec(args.codec)
    symbols = args.symbols or os.path.join(os.path.dirname(os.path.abspath(args.text_manifest)), "symbols.txt")
    try:
        out = synthesize_manifest(model, codec, args.text_manifest, args.out, symbols, args.top_k, args.temperature,
                                  args.max_len, args.min_len, args.seed, args.limit, args.device,
                                  args.min_len_ratio, args.max_len_ratio)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    empty = sum(1 for r in out.values() if r["frames"] == 0)
    print(f"synthesized {len(out) - empty} of {len(out)} items into {args.out}"
          + (f" ({empty} empty: the AR stopped at once)" if empty else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
