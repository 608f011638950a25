"""Libri2Mix (LibriMix's generator, JorisCos/LibriMix): verify the generated tree and write
data/{tr,cv,tt}.json.

The generator writes, per sample rate and mode,

    Libri2Mix/wav{8k,16k}/{min,max}/{train-100,train-360,dev,test}/{mix_clean,mix_both,mix_single,s1,s2,noise}/<id>.wav
    Libri2Mix/wav{8k,16k}/{min,max}/metadata/mixture_<subset>_<mix type>.csv

(the csv lists mixture_ID, mixture_path, source_1_path, source_2_path, [noise_path], length; its paths are
the absolute paths of the machine that generated the corpus, so only the ids and lengths are used and the
files are looked up in the tree given here). tr = train-100, train-360 or both (train-460), cv = dev,
tt = test. mix_both entries carry the noise file as `noise`; the targets are always the clean s1/s2.
"""

import csv
import os

from speechslytherin.prepare.common import (PrepareError, check_root_and_out, list_dirs, log, report_and_write,
                                            require_choice, warn)
from speechslytherin.prepare.mixtree import mixtures_line, rate_mode_folders, scan_mix_subset

EXPECTED_COUNTS = {"train-100": 13900, "train-360": 50800, "dev": 3000, "test": 3000}
TRAIN_SETS = {"train-100": ("train-100",), "train-360": ("train-360",), "train-460": ("train-100", "train-360")}
MIX_TYPES = ("mix_clean", "mix_both")


def libri2mix_base(root, sample_rate, mode):
    """The folder holding the subsets: ROOT[/Libri2Mix]/wav<k>k/<mode>."""
    rate_dir = f"wav{sample_rate // 1000}k"
    candidates = [os.path.join(root, "Libri2Mix", rate_dir, mode), os.path.join(root, rate_dir, mode)]
    for base in candidates:
        if os.path.isdir(base):
            return base
    top = os.path.join(root, "Libri2Mix") if os.path.isdir(os.path.join(root, "Libri2Mix")) else root
    found = rate_mode_folders(top)
    hint = (f" Found {', '.join(found)} under {top}: choose --sample-rate/--mode to match." if found else
            " Generate it with LibriMix's generate_librimix.sh (it writes Libri2Mix/wav8k|wav16k/min|max/...) "
            "and pass the folder that holds Libri2Mix/ with --root.")
    raise PrepareError(f"Libri2Mix folder not found: {candidates[0]}.{hint}")


def speakers_of(uid):
    """LibriSpeech speakers from a Libri2Mix id '<spk>-<chapter>-<utt>_<spk>-<chapter>-<utt>'."""
    parts = uid.split("_")
    if len(parts) == 2 and all(p.count("-") == 2 for p in parts):
        return [p.split("-")[0] for p in parts]
    return None


def read_metadata(base, subset, mix_type, problems):
    """(ids, {id: length}) from metadata/mixture_<subset>_<mix_type>.csv, or (None, None) if absent."""
    path = os.path.join(base, "metadata", f"mixture_{subset}_{mix_type}.csv")
    if not os.path.isfile(path):
        warn(f"{path} not found: taking the mixture list from the {subset}/{mix_type} folder instead (the "
             "metadata folder is written by LibriMix's generator; without it missing files cannot be detected).")
        return None, None
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "mixture_ID" not in columns:
            problems.append(f"{path}: no 'mixture_ID' column (columns: {', '.join(columns) or 'none'}); this is "
                            "not a LibriMix mixture metadata file.")
            return None, None
        ids, lengths = [], {}
        for row in reader:
            uid = row["mixture_ID"]
            ids.append(uid)
            if row.get("length"):
                try:
                    lengths[uid] = int(float(row["length"]))
                except ValueError:
                    problems.append(f"{path}: id '{uid}': length {row['length']!r} is not a number")
    if not ids:
        problems.append(f"{path}: lists no mixtures")
    return ids, lengths


def prepare_libri2mix(root, out_dir, sample_rate=8000, mode="min", mix_type="mix_clean", train_set="train-100",
                      verify_only=False, pool_only=False, expected_counts=EXPECTED_COUNTS):
    """Verify the tree and write out_dir/{tr,cv,tt}.json; returns {name: path}.

    verify_only: check, write nothing (recipe stage 0). pool_only: Libri2Mix has no dynamic-mixing pool,
    so nothing to do (recipe stage 2).
    """
    root = os.fspath(root)
    require_choice("--mix-type", mix_type, MIX_TYPES)
    require_choice("--train-set", train_set, TRAIN_SETS)
    if pool_only:
        log("libri2mix: no dynamic-mixing pool (training uses the fixed mixtures); nothing to do")
        return {}
    check_root_and_out(root, out_dir, verify_only, "Pass the folder that holds Libri2Mix/ with --root.")
    base = libri2mix_base(root, sample_rate, mode)
    sets = {"tr": TRAIN_SETS[train_set], "cv": ("dev",), "tt": ("test",)}
    missing = [s for subsets in sets.values() for s in subsets if not os.path.isdir(os.path.join(base, s))]
    if missing:
        present = [d for d in list_dirs(base) if d != "metadata"]
        raise PrepareError(
            f"Libri2Mix at {base}: missing subset folder(s) {', '.join(missing)} (present: "
            f"{', '.join(present) or 'none'}). Generate them with LibriMix's generate_librimix.sh"
            + (" or choose --train-set train-100" if "train-360" in missing and "train-100" in present else "") + ".")
    problems = []
    manifests = {}
    for name, subsets in sets.items():
        entries = {}
        for subset in subsets:
            ids, lengths = read_metadata(base, subset, mix_type, problems)
            entries.update(scan_mix_subset(base, subset, mix_type, sample_rate, problems, expected_counts, ids=ids,
                                           lengths=lengths, speakers=speakers_of))
        manifests[name] = entries
    return report_and_write(out_dir, manifests, problems, f"Libri2Mix at {base} ({mix_type})", verify_only,
                            describe=mixtures_line(mix_type),
                            verified_as=f"Libri2Mix at {base} ({mix_type}, tr = {train_set})")


def add_libri2mix_arguments(parser):
    """Command-line options of `bin/prepare --corpus libri2mix` (keyword names of prepare_libri2mix)."""
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--mode", default="min", choices=("min", "max"))
    parser.add_argument("--mix-type", dest="mix_type", default="mix_clean", choices=MIX_TYPES,
                        help="mix_clean: 2 speakers; mix_both: 2 speakers + WHAM! noise (targets stay clean)")
    parser.add_argument("--train-set", dest="train_set", default="train-100", choices=tuple(TRAIN_SETS),
                        help="training subset; train-460 = train-100 + train-360")
