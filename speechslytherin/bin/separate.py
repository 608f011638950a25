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

Streaming (causal models with a ``streamer()``, e.g. causal SepMamba):

    python -m speechslytherin.bin.separate --model causal.pt --stream --chunk-ms 20 mix.wav --out DIR
    sox in.wav -t raw -r 8000 -e signed -b 16 -c 1 - | \
        python -m speechslytherin.bin.separate --model causal.pt --stream - --out DIR

``--stream`` feeds the input to the model chunk by chunk (``--chunk-ms`` milliseconds each) with
constant memory and writes each output chunk as it comes; the result equals the offline pass.
INPUT ``-`` reads raw audio from stdin: 16-bit signed little-endian PCM, mono, at the model's
sample rate (headerless; id ``stdin``). Outputs are the same float WAVs as above, plus
``DIR/stream_stats.json``: per input, chunks, mean and p95 milliseconds of compute per chunk,
real-time factor (compute time / audio time) and the model's algorithmic latency.
"""

import argparse
import json
import os
import sys
import time

from tqdm import tqdm


class SeparateError(ValueError):
    """Bad input for separation; the message names the file or option and the fix."""


STDIN = "-"
STDIN_ID = "stdin"


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


# -- streaming ---------------------------------------------------------------------------------

def _read_up_to(stream, n_bytes):
    """Up to n_bytes from a binary stream, fewer only at its end (pipes return partial reads)."""
    buf = bytearray()
    while len(buf) < n_bytes:
        part = stream.read(n_bytes - len(buf))
        if not part:
            break
        buf += part
    return bytes(buf)


def pcm16_chunks(stream, chunk_samples):
    """float32 chunks of chunk_samples (the last may be shorter) from raw 16-bit LE mono PCM."""
    import numpy as np

    while True:
        data = _read_up_to(stream, 2 * chunk_samples)
        if not data:
            return
        if len(data) % 2:
            raise SeparateError("stdin: the stream ended in the middle of a sample (odd byte count); "
                                "expected raw 16-bit signed little-endian mono PCM.")
        yield np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if len(data) < 2 * chunk_samples:
            return


def wav_chunks(path, sample_rate, chunk_samples):
    """float32 mono chunks of a wav file, read block by block (channels averaged)."""
    import soundfile as sf

    from speechslytherin.data.audio import AudioError, audio_info

    sr, _, _ = audio_info(path)
    if sr != sample_rate:
        raise AudioError(f"{path}: sample rate {sr} Hz, the model expects {sample_rate} Hz; resample it first.")
    with sf.SoundFile(path) as f:
        for block in f.blocks(blocksize=chunk_samples, dtype="float32", always_2d=True):
            yield block.mean(axis=1)


class StreamingWavWriter:
    """One float WAV per source, appended chunk by chunk, renamed into place when complete."""

    def __init__(self, paths, sample_rate):
        import soundfile as sf

        self.paths = paths
        self.partial = [f"{p}.partial.wav" for p in paths]
        self.files = []
        for path in self.partial:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.files.append(sf.SoundFile(path, "w", samplerate=sample_rate, channels=1, subtype="FLOAT",
                                           format="WAV"))

    def write(self, est):
        """est: [m, n_src] samples of every source."""
        import numpy as np

        est = est.float().cpu().numpy()
        if not np.all(np.isfinite(est)):
            raise SeparateError(f"{self.paths[0]}: the model produced NaN/Inf; refusing to write it.")
        for k, f in enumerate(self.files):
            f.write(est[:, k])

    def close(self):
        for f in self.files:
            f.close()
        for tmp, path in zip(self.partial, self.paths):
            os.replace(tmp, path)

    def abort(self):
        for f in self.files:
            f.close()
        for tmp in self.partial:
            if os.path.exists(tmp):
                os.remove(tmp)


def stream_one(streamer, chunks, writer):
    """Push every chunk, write what comes out, flush; returns the compute seconds per chunk
    (the flush counts as the last) and the number of input samples."""
    import torch

    times, n_in = [], 0
    streamer.reset()
    for chunk in chunks:
        n_in += len(chunk)
        start = time.perf_counter()
        out = streamer.push(torch.from_numpy(chunk))
        times.append(time.perf_counter() - start)
        writer.write(out)
    start = time.perf_counter()
    out = streamer.flush()
    times.append(time.perf_counter() - start)
    writer.write(out)
    return times, n_in


def chunk_stats(times, n_samples, sample_rate, chunk_samples, latency_samples):
    """Per-chunk compute statistics of one streamed input (milliseconds, real-time factor)."""
    import numpy as np

    ms = np.asarray(times) * 1000.0
    audio_s = n_samples / sample_rate
    return {
        "chunks": len(times),
        "chunk_ms": 1000.0 * chunk_samples / sample_rate,
        "mean_ms": float(ms.mean()),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
        "rtf": float(ms.sum() / 1000.0 / audio_s) if audio_s > 0 else None,
        "algorithmic_latency_ms": 1000.0 * latency_samples / sample_rate,
        "audio_seconds": audio_s,
    }


def separate_streaming(model_path, input_path, out_dir, chunk_ms=20.0, device="cpu", replacements=None,
                       progress=True, stdin=None):
    """Stream every input through a causal model; returns (output manifest, stats per id)."""
    import torch

    from speechslytherin.models.model_io import load_model
    from speechslytherin.utils.atomic import write_json_atomic

    torch.set_flush_denormal(True)
    if input_path == STDIN:
        items = [(STDIN_ID, STDIN)]
    else:
        items = list_inputs(input_path, replacements or {})
    model = load_model(model_path, map_location=pick_device(device))
    if not hasattr(model, "streamer"):
        raise SeparateError(f"{model_path}: {type(model).__qualname__} cannot stream (no streamer()); "
                            f"drop --stream, or use a causal model such as SepMamba causal-S.")
    if not model.sample_rate:
        raise SeparateError(f"{model_path}: the model file records no sample rate; re-export it.")
    sample_rate = int(model.sample_rate)
    if chunk_ms is None or chunk_ms <= 0:
        raise SeparateError(f"--chunk-ms {chunk_ms}: must be positive.")
    chunk_samples = max(1, int(round(chunk_ms * sample_rate / 1000.0)))
    try:
        streamer = model.streamer(batch=1)
    except ValueError as err:
        raise SeparateError(f"{model_path}: {err}") from None
    n_src = model.n_src
    results, stats = {}, {}
    for utt_id, mix_path in tqdm(items, desc="stream", unit="utt", disable=not progress or len(items) == 1):
        paths = output_paths(out_dir, utt_id, n_src)
        if mix_path != STDIN and all(os.path.isfile(p) for p in paths):
            results[utt_id] = {"sources": [os.path.abspath(p) for p in paths], "mix": mix_path}
            continue
        if mix_path == STDIN:
            chunks = pcm16_chunks(stdin if stdin is not None else sys.stdin.buffer, chunk_samples)
        else:
            chunks = wav_chunks(mix_path, sample_rate, chunk_samples)
        writer = StreamingWavWriter(paths, sample_rate)
        try:
            times, n_in = stream_one(streamer, chunks, writer)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        stats[utt_id] = chunk_stats(times, n_in, sample_rate, chunk_samples, streamer.latency)
        results[utt_id] = {"sources": [os.path.abspath(p) for p in paths], "mix": mix_path}
    write_json_atomic(os.path.join(out_dir, "manifest.json"), results)
    if stats:
        write_json_atomic(os.path.join(out_dir, "stream_stats.json"), stats)
    return results, stats


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m speechslytherin.bin.separate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--model", required=True, help="model file (bin.export / bin.import_checkpoint)")
    parser.add_argument("input", help="a .wav file or a separation manifest .json (with --stream also '-': "
                        "raw 16-bit LE mono PCM on stdin)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--segment-seconds", type=float, default=None,
                        help="process long inputs in overlapping windows of this length")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a {NAME} placeholder in manifest paths (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--stream", action="store_true",
                        help="separate chunk by chunk with a causal model (same output as offline)")
    parser.add_argument("--chunk-ms", type=float, default=20.0,
                        help="with --stream: chunk length in milliseconds (default 20)")
    return parser.parse_args(argv)


def main(argv=None):
    from speechslytherin.data.audio import AudioError
    from speechslytherin.models.model_io import ModelFileError

    args = parse_args(argv)
    if args.stream:
        return _main_stream(args)
    if args.input == STDIN:
        sys.exit("separate: error: input '-' (stdin) needs --stream.")
    try:
        results = separate(args.model, args.input, args.out, device=args.device,
                           segment_seconds=args.segment_seconds,
                           replacements=parse_replacements(args.replace),
                           progress=not args.no_progress)
    except (SeparateError, AudioError, ModelFileError) as err:
        sys.exit(f"separate: error: {err}")
    print(f"separated {len(results)} mixture(s) into {args.out} (manifest: "
          f"{os.path.join(args.out, 'manifest.json')})")


def _main_stream(args):
    from speechslytherin.data.audio import AudioError
    from speechslytherin.models.model_io import ModelFileError

    if args.segment_seconds is not None:
        sys.exit("separate: error: --segment-seconds and --stream exclude each other (streaming needs no segments).")
    try:
        results, stats = separate_streaming(args.model, args.input, args.out, chunk_ms=args.chunk_ms,
                                            device=args.device, replacements=parse_replacements(args.replace),
                                            progress=not args.no_progress)
    except (SeparateError, AudioError, ModelFileError) as err:
        sys.exit(f"separate: error: {err}")
    for utt_id, st in stats.items():
        rtf = "n/a" if st["rtf"] is None else f"{st['rtf']:.3f}"
        print(f"{utt_id}: {st['chunks']} chunks of {st['chunk_ms']:g} ms, {st['mean_ms']:.2f} ms mean / "
              f"{st['p95_ms']:.2f} ms p95 per chunk, RTF {rtf}, algorithmic latency "
              f"{st['algorithmic_latency_ms']:.1f} ms", file=sys.stderr)
    print(f"streamed {len(results)} input(s) into {args.out} (manifest: {os.path.join(args.out, 'manifest.json')})")


if __name__ == "__main__":
    main()
