"""Echo2Mix (the reverberant noisy 2-speaker set released with SPMamba, 16 kHz, 6 s): verify the tree
and write data/{tr,cv,tt}.json (tr = train, cv = val, tt = test).

What the layout is, and how sure we are (no file list of the release was readable here):
- SPMamba's own indexer (process_echoset.py) walks ROOT/<split>/ recursively, takes every `mix*.wav`
  and finds its targets by replacing `mix` with `spk1_reverb` / `spk2_reverb` in the path;
- its demo files are `<spk1>_<spk2>/{mix,spk1_reverb,spk2_reverb}.wav` (LibriSpeech speaker ids);
- a public fork's test script splits a mixture path as `<split>/<record>/<room>/<spk1>_<spk2>/mix.wav`.
So this preparation expects ROOT/{train,val,test}/ and, at any depth below, folders holding
`mix<sfx>.wav`, `spk1_reverb<sfx>.wav`, `spk2_reverb<sfx>.wav` (same suffix, usually none), all mono
at the same rate and of equal length. Targets are the reverberant images (separation without
dereverberation). An optional `noise<sfx>.wav` becomes the entry's `noise`, and an optional
`info.json` (written by `bin/simulate --kind echo2mix`) adds its room facts (measured RT60, SIR, SNR).
The id of a mixture is its folder path below the split joined with '-' (plus the suffix).
"""

import json
import os

from speechslytherin.prepare.common import PrepareError, check_root_and_out, list_dirs, log, report_and_write
from speechslytherin.prepare.mixtree import equal_length, mixture_entry

SPLITS = {"tr": "train", "cv": "val", "tt": "test"}
TARGETS = ("spk1_reverb", "spk2_reverb")
INFO_KEYS = ("rt60", "rt60_target", "sir_db", "snr_db", "noise_kind", "room_dim")


def find_mixtures(split_dir):
    """[(folder, suffix)] of every mix<sfx>.wav below split_dir, sorted."""
    found = []
    for folder, dirs, files in os.walk(split_dir):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() == ".wav" and stem.startswith("mix"):
                found.append((folder, stem[len("mix"):]))
    return found


def mixture_id(split_dir, folder, suffix):
    rel = os.path.relpath(folder, split_dir)
    parts = [] if rel == "." else rel.split(os.sep)
    tail = suffix.strip("_-")
    return "-".join(parts + ([tail] if tail else [])) or "mix"


def speakers_of(folder):
    """['1221', '3575'] from a folder named '1221_3575', else None."""
    parts = os.path.basename(folder).split("_")
    return parts if len(parts) == 2 and all(parts) else None


def read_info(folder, suffix, problems):
    path = os.path.join(folder, "info.json")
    if suffix or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        problems.append(f"{path}: unreadable ({err}); delete it or re-simulate this mixture")
        return {}
    return {k: info[k] for k in INFO_KEYS if k in info}


def scan_split(split_dir, sample_rate, problems):
    entries = {}
    mixtures = find_mixtures(split_dir)
    if not mixtures:
        problems.append(f"{split_dir}: no mix*.wav files below it (expected <...>/mix.wav beside "
                        "spk1_reverb.wav and spk2_reverb.wav)")
        return entries
    for folder, suffix in mixtures:
        paths = [os.path.join(folder, f"{name}{suffix}.wav") for name in ("mix",) + TARGETS]
        absent = [p for p in paths[1:] if not os.path.isfile(p)]
        if absent:
            problems.append(f"{paths[0]}: no matching {', '.join(os.path.basename(p) for p in absent)} beside it")
            continue
        noise = os.path.join(folder, f"noise{suffix}.wav")
        noise = noise if os.path.isfile(noise) else None
        frames = equal_length(paths + ([noise] if noise else []), sample_rate, problems, "mixture and targets", fix="")
        if frames is None:
            continue
        uid = mixture_id(split_dir, folder, suffix)
        if uid in entries:
            problems.append(f"{paths[0]}: duplicate mixture id '{uid}'")
            continue
        entry = mixture_entry(paths[0], paths[1:], frames, sample_rate, noise=noise, speakers=speakers_of(folder))
        entry.update(read_info(folder, suffix, problems))
        entries[uid] = entry
    return entries


def echo2mix_root(root):
    """ROOT itself, or its only child folder when the archive was unpacked into one (Echo2Mix/...)."""
    if any(os.path.isdir(os.path.join(root, s)) for s in SPLITS.values()):
        return root
    children = [d for d in list_dirs(root) if any(os.path.isdir(os.path.join(root, d, s)) for s in SPLITS.values())]
    if len(children) == 1:
        return os.path.join(root, children[0])
    raise PrepareError(
        f"Echo2Mix not found at {root}: expected {', '.join(f'{root}/{s}' for s in SPLITS.values())} (found: "
        f"{', '.join(list_dirs(root)) or 'nothing'}). Download Echo2Mix (SPMamba README, Google Drive) and unpack "
        "it, or simulate an Echo2Mix-like set with `python -m speechslytherin.bin.simulate --kind echo2mix`.")


def prepare_echo2mix(root, out_dir, sample_rate=16000, verify_only=False, pool_only=False, splits=SPLITS):
    """Verify the tree and write out_dir/{tr,cv,tt}.json; returns {name: path}."""
    root = os.fspath(root)
    if pool_only:
        log("echo2mix: no dynamic-mixing pool (fixed mixtures; an Echo2Mix-like set is made by "
            "`bin/simulate --kind echo2mix`); nothing to do")
        return {}
    check_root_and_out(root, out_dir, verify_only, "Pass the Echo2Mix folder (it holds train/ val/ test/) with --root.")
    base = echo2mix_root(root)
    missing = [s for s in splits.values() if not os.path.isdir(os.path.join(base, s))]
    if missing:
        raise PrepareError(f"Echo2Mix at {base}: missing split folder(s) {', '.join(missing)} (present: "
                           f"{', '.join(list_dirs(base)) or 'none'}); expected {', '.join(splits.values())}.")
    problems = []
    manifests = {name: scan_split(os.path.join(base, split), sample_rate, problems) for name, split in splits.items()}

    def describe(name, entries, hours):
        return f"{len(entries)} mixtures, {hours:.2f} h (from {splits[name]}/)"

    return report_and_write(out_dir, manifests, problems, f"Echo2Mix at {base}", verify_only, describe,
                            label=splits.get)


def add_echo2mix_arguments(parser):
    """Command-line options of `bin/prepare --corpus echo2mix`."""
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=16000,
                        help="the rate the files must have (Echo2Mix: 16000)")
