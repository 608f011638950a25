"""Make the codec file of a TTS recipe (data/codec.pt), which stage 2 and synthesis load.

    python -m speechslytherin.bin.fit_codec --manifest data/prep/tr.json --out data/codec.pt           # mini
    python -m speechslytherin.bin.fit_codec --kind encodec --encodec-dir DIR --out data/codec.pt       # LibriTTS

mel-rvq: fits the mel + residual k-means codec on (a seeded sample of) the manifest's audio in
seconds. encodec: checks that the EnCodec 24 kHz weights load and writes a small spec file
naming them. An existing output is kept (the stage is resumable); --force refits.
"""

import argparse
import os
import random
import sys
import time


def build_parser():
    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.fit_codec", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="codec file to write, e.g. data/codec.pt")
    p.add_argument("--kind", default="mel-rvq", choices=("mel-rvq", "encodec"))
    p.add_argument("--manifest", default=None, help="mel-rvq: manifest whose 'audio' files the codec is fitted on")
    p.add_argument("--max-utts", type=int, default=400, help="mel-rvq: utterances sampled for fitting (default 400)")
    p.add_argument("--n-q", type=int, default=8, help="mel-rvq: residual levels (default 8)")
    p.add_argument("--codebook-size", type=int, default=256, help="mel-rvq: entries per level (default 256)")
    p.add_argument("--iterations", type=int, default=15, help="mel-rvq: Lloyd iterations per level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encodec-dir", default=None,
                   help="encodec: the folder (or file) holding encodec_24khz-d7cc33bc.th (default: torch hub cache)")
    p.add_argument("--force", action="store_true", help="rewrite an existing codec file")
    return p


def fit_mel_rvq(manifest, out, max_utts=400, n_q=8, codebook_size=256, iterations=15, seed=0, log=print):
    import torch

    from speechslytherin.data.manifest import load_manifest
    from speechslytherin.tts.codec import MelRVQCodec, load_wav

    torch.set_flush_denormal(True)
    entries = load_manifest(manifest)
    ids = sorted(entries)
    random.Random(seed).shuffle(ids)
    ids = sorted(ids[:max_utts])
    codec = MelRVQCodec(n_q=n_q, codebook_size=codebook_size)
    started = time.time()
    wavs = [load_wav(entries[i]["audio"], codec.sample_rate) for i in ids]
    codec.fit(wavs, iterations=iterations, seed=seed, log=log)
    codec.fit_report.update(utterances=len(ids), manifest=os.path.abspath(manifest),
                            seconds=round(time.time() - started, 2))
    codec.save(out)
    log(f"{out}: mel-rvq codec ({n_q} x {codebook_size}, {codec.frame_rate:g} Hz) fitted on {len(ids)} utterances "
        f"in {codec.fit_report['seconds']} s")
    return codec


def main(argv=None):
    args = build_parser().parse_args(argv)
    from speechslytherin.tts.codec import CodecError, EncodecCodec

    if os.path.exists(args.out) and not args.force:
        print(f"{args.out} exists; kept (use --force to refit)")
        return 0
    try:
        if args.kind == "encodec":
            codec = EncodecCodec(args.encodec_dir)
            codec.save(args.out)
            print(f"{args.out}: EnCodec 24 kHz, {codec.bandwidth:g} kbps ({codec.n_q} x {codec.codebook_size}, "
                  f"{codec.frame_rate:g} Hz), weights {codec.weights}")
        else:
            if not args.manifest:
                print("error: --manifest is needed to fit the mel-rvq codec", file=sys.stderr)
                return 2
            fit_mel_rvq(args.manifest, args.out, args.max_utts, args.n_q, args.codebook_size, args.iterations,
                        args.seed)
    except (CodecError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
