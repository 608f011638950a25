"""Stage 2 of the TTS recipes: phonemes and codec tokens for every manifest, the symbol table,
and the acoustic prompts of the test set.

    python -m speechslytherin.bin.tts_features --prep-dir data/prep --codec data/codec.pt --out data

Reads PREP/{tr,cv,tt}.json (stage 1: "audio", "text", "speaker", "duration") and writes
- OUT/codes/<set>/<id>.npy: int16 [n_q, T] codec tokens (atomic; existing files are reused,
  so an interrupted run resumes where it stopped);
- OUT/symbols.txt: the phoneme symbols of the training set (<pad> = 0, <unk> = 1); symbols of
  other sets that training never saw are written as <unk>;
- OUT/phonemizer.json: the espeak-ng build used (a later run with another build is refused:
  the phoneme inventory would change silently);
- OUT/{tr,cv,tt}.json: {"phonemes", "codes" (absolute path), "frames", "duration", "speaker",
  "text", "audio"}; test entries also carry "prompt_id", "prompt_codes", "prompt_phonemes",
  "prompt_audio", "prompt_text": another utterance of the same speaker. Per test speaker the
  --prompts-per-speaker utterances closest to --prompt-seconds (3 s, the VALL-E protocol) are
  held out as prompts and never synthesized as targets; the others are targets (at most
  --max-targets-per-speaker), each paired with a prompt in turn.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from speechslytherin.simulate.derived_set import progress_items

SETS = ("tr", "cv", "tt")


class FeatureError(ValueError):
    """Input that stage 2 cannot use; the message names the file and the fix."""


def build_parser():
    p = argparse.ArgumentParser(prog="python -m speechslytherin.bin.tts_features", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prep-dir", required=True, help="folder of the stage-1 manifests {tr,cv,tt}.json")
    p.add_argument("--codec", required=True, help="codec file (bin/fit_codec), e.g. data/codec.pt")
    p.add_argument("--out", required=True, help="data folder of the recipe (never the corpus)")
    p.add_argument("--sets", nargs="+", default=list(SETS), help="manifests to process (tr first: the symbols)")
    p.add_argument("--test-set", default="tt", help="the set that gets prompts (default tt)")
    p.add_argument("--prompts-per-speaker", type=int, default=1)
    p.add_argument("--prompt-seconds", type=float, default=3.0)
    p.add_argument("--max-targets-per-speaker", type=int, default=None)
    p.add_argument("--language", default="en-us")
    p.add_argument("--device", default="cpu", help="codec device (EnCodec on a GPU is much faster)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def check_phonemizer(out_dir, info):
    """Record the espeak-ng build; refuse a different one than an earlier run used."""
    from speechslytherin.utils.atomic import write_json_atomic

    path = os.path.join(out_dir, "phonemizer.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            earlier = json.load(f)
        if earlier != info:
            raise FeatureError(f"{path}: this data was phonemized with {earlier}, this run has {info}. Phoneme "
                               "inventories of two espeak-ng builds differ; use the same build or delete the "
                               "data folder and run stage 2 again.")
    write_json_atomic(path, info)


def encode_set(name, entries, codec, out_dir, device="cpu", progress=True):
    """{id: (codes path, frames)}; existing .npy files are reused (resume)."""
    import torch

    from speechslytherin.tts.codec import load_wav
    from speechslytherin.utils.atomic import atomic_path

    folder = os.path.join(out_dir, "codes", name)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for uid in progress_items(sorted(entries), progress, f"codes {name}"):
        path = os.path.abspath(os.path.join(folder, uid + ".npy"))
        if os.path.isfile(path):
            try:
                out[uid] = (path, int(np.load(path, mmap_mode="r").shape[1]))
                continue
            except (OSError, ValueError, IndexError):
                pass  # damaged: encode again
        wav = load_wav(entries[uid]["audio"], codec.sample_rate)
        with torch.no_grad():
            codes = codec.encode(wav[None])[0].cpu().numpy()
        if codes.max() > np.iinfo(np.int16).max:
            raise FeatureError(f"codec codes exceed int16 ({codes.max()})")
        with atomic_path(path) as tmp:
            np.save(tmp, codes.astype(np.int16))
        out[uid] = (path, int(codes.shape[1]))
    return out


def pick_prompts(entries, prompts_per_speaker=1, prompt_seconds=3.0, max_targets=None):
    """{target id: prompt id}: per speaker the utterances closest to prompt_seconds are prompts,
    the rest targets (each with a prompt in turn). Speakers with one utterance are skipped."""
    by_speaker = {}
    for uid in sorted(entries):
        by_speaker.setdefault(entries[uid]["speaker"], []).append(uid)
    pairs, skipped = {}, []
    for spk, ids in sorted(by_speaker.items()):
        n_prompts = min(int(prompts_per_speaker), len(ids) - 1)
        if n_prompts < 1:
            skipped.append(spk)
            continue
        ranked = sorted(ids, key=lambda u: (abs(float(entries[u]["duration"]) - prompt_seconds), u))
        prompts = sorted(ranked[:n_prompts])
        targets = [u for u in ids if u not in prompts]
        if max_targets is not None:
            targets = targets[:int(max_targets)]
        for k, uid in enumerate(targets):
            pairs[uid] = prompts[k % n_prompts]
    return pairs, skipped


def prompted_entries(entries, pairs):
    """{target id: its entry plus the prompt's codes, phonemes, audio and text} for the
    {target id: prompt id} pairs of pick_prompts: the form bin/synthesize and score_tts read."""
    out = {}
    for uid, pid in pairs.items():
        entry = dict(entries[uid])
        entry.update(prompt_id=pid, prompt_codes=entries[pid]["codes"], prompt_phonemes=entries[pid]["phonemes"],
                     prompt_audio=entries[pid]["audio"], prompt_text=entries[pid]["text"],
                     prompt_duration=entries[pid]["duration"])
        out[uid] = entry
    return out


def make_features(prep_dir, codec_path, out_dir, sets=SETS, test_set="tt", prompts_per_speaker=1,
                  prompt_seconds=3.0, max_targets_per_speaker=None, language="en-us", device="cpu",
                  progress=True, log=print):
    """Run stage 2 (see module doc); returns {set name: manifest path}."""
    from speechslytherin.data.manifest import load_manifest
    from speechslytherin.tts.codec import load_codec
    from speechslytherin.tts.text import Phonemizer, SymbolTable, UNK
    from speechslytherin.utils.atomic import write_json_atomic

    sets = list(sets)
    if "tr" not in sets:
        raise FeatureError("--sets must include tr: the symbol table is built from the training set")
    if os.path.realpath(out_dir) == os.path.realpath(prep_dir):
        raise FeatureError(f"--out {out_dir} is the stage-1 folder; its manifests would be overwritten. Use the "
                           "recipe's data/ with stage-1 manifests in data/prep/.")
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    phonemizer = Phonemizer(language)
    check_phonemizer(out_dir, phonemizer.backend_info)
    codec = load_codec(codec_path, device=device)
    manifests = {name: load_manifest(os.path.join(prep_dir, f"{name}.json")) for name in sets}
    phonemes = {}
    for name in sets:
        ids = sorted(manifests[name])
        for uid in ids:
            if not str(manifests[name][uid].get("text", "")).strip():
                raise FeatureError(f"{prep_dir}/{name}.json: id '{uid}' has no text; re-run stage 1.")
        seqs = phonemizer.phonemize_batch([manifests[name][u]["text"] for u in ids])
        phonemes[name] = dict(zip(ids, seqs))
        empty = [u for u, s in phonemes[name].items() if not s]
        if empty:
            raise FeatureError(f"{prep_dir}/{name}.json: id '{empty[0]}' ({len(empty)} in all) phonemizes to "
                               "nothing; check its text.")
    table = SymbolTable.build(phonemes["tr"].values())
    table.save(os.path.join(out_dir, "symbols.txt"))
    written = {}
    for name in sets:
        entries = manifests[name]
        codes = encode_set(name, entries, codec, out_dir, device, progress)
        unknown = 0
        out = {}
        for uid in sorted(entries):
            seq = table.known(phonemes[name][uid])
            unknown += seq.count(UNK)
            e = entries[uid]
            out[uid] = {"phonemes": " ".join(seq), "codes": codes[uid][0], "frames": codes[uid][1],
                        "duration": e["duration"], "speaker": e["speaker"], "text": e["text"], "audio": e["audio"]}
        if unknown:
            log(f"{name}: {unknown} phoneme(s) unseen in training written as {UNK}")
        if name == test_set:
            pairs, skipped = pick_prompts(entries, prompts_per_speaker, prompt_seconds, max_targets_per_speaker)
            if skipped:
                log(f"{name}: speakers with a single utterance have no prompt and are left out: {', '.join(skipped)}")
            if not pairs:
                raise FeatureError(f"{prep_dir}/{name}.json: no speaker has two utterances; the test set needs a "
                                   "prompt and a target per speaker.")
            out = prompted_entries(out, pairs)
        written[name] = os.path.join(out_dir, f"{name}.json")
        write_json_atomic(written[name], out)
        log(f"{written[name]}: {len(out)} utterances, {sum(v['frames'] for v in out.values())} code frames")
    write_json_atomic(os.path.join(out_dir, "features.json"), {
        "codec": os.path.abspath(codec_path), "codec_kind": codec.kind, "n_q": codec.n_q,
        "codebook_size": codec.codebook_size, "frame_rate": codec.frame_rate, "sample_rate": codec.sample_rate,
        "symbols": len(table), "phonemizer": phonemizer.backend_info, "sets": sets,
        "seconds": round(time.time() - started, 2)})
    return written


def main(argv=None):
    args = build_parser().parse_args(argv)
    from speechslytherin.tts.codec import CodecError
    from speechslytherin.tts.text import TextFrontEndError

    try:
        import torch

        torch.set_flush_denormal(True)
        make_features(args.prep_dir, args.codec, args.out, args.sets, args.test_set, args.prompts_per_speaker,
                      args.prompt_seconds, args.max_targets_per_speaker, args.language, args.device, args.progress)
    except (FeatureError, CodecError, TextFrontEndError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
