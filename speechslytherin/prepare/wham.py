"""WHAM! (wsj0-2mix + WHAM! noise, made by the official wham_scripts from wsj0 or wsj0-2mix and
wham_noise): verify the generated tree and write data/{tr,cv,tt}.json for noisy separation.

The scripts write

    <out>/wav{8k,16k}/{min,max}/{tr,cv,tt}/{mix_both,mix_clean,mix_single,s1,s2,noise}/<wsj0-2mix name>.wav

with the wsj0-2mix file names (so the speakers are read from the names). The WHAM! separation task
is mix_both (two speakers + noise) with the clean s1/s2 as targets; mix_clean is wsj0-2mix again.
Entries of mix_both carry the noise file as `noise`.
"""

import os

from speechslytherin.prepare.common import (PrepareError, check_root_and_out, list_dirs, log, report_and_write,
                                            require_choice)
from speechslytherin.prepare.mixtree import mixtures_line, rate_mode_folders, scan_mix_subset
from speechslytherin.prepare.wsj0_2mix import speakers_of

EXPECTED_COUNTS = {"tr": 20000, "cv": 5000, "tt": 3000}
MIX_TYPES = ("mix_both", "mix_clean")


def wham_base(root, sample_rate, mode):
    """The folder holding tr/cv/tt: ROOT/wav<k>k/<mode>."""
    rate_dir = f"wav{sample_rate // 1000}k"
    base = os.path.join(root, rate_dir, mode)
    if os.path.isdir(base):
        return base
    found = rate_mode_folders(root)
    nested = [d for d in list_dirs(root) if os.path.isdir(os.path.join(root, d, rate_dir))]
    if found:
        hint = f" Found {', '.join(found)} under {root}: choose --sample-rate/--mode to match."
    elif nested:
        hint = f" {os.path.join(root, nested[0])} holds {rate_dir}/: pass that folder with --root."
    else:
        hint = (" Generate WHAM! with the official wham_scripts (create_wham_from_scratch.py with wsj0 and "
                "wham_noise, or create_wham_from_wsjmix.py from wsj0-2mix) and pass their --output-dir as --root.")
    raise PrepareError(f"WHAM! folder not found: {base}.{hint}")


def prepare_wham(root, out_dir, sample_rate=8000, mode="min", mix_type="mix_both", verify_only=False,
                 pool_only=False, subsets=("tr", "cv", "tt"), expected_counts=EXPECTED_COUNTS):
    """Verify the tree and write out_dir/{tr,cv,tt}.json; returns {name: path}.

    verify_only: check, write nothing (stage 0). pool_only: no dynamic-mixing pool here, nothing to do.
    """
    root = os.fspath(root)
    require_choice("--mix-type", mix_type, MIX_TYPES)
    if pool_only:
        log("wham: no dynamic-mixing pool (training uses the fixed noisy mixtures); nothing to do")
        return {}
    check_root_and_out(root, out_dir, verify_only, "Pass the WHAM! output folder (it holds wav8k/) with --root.")
    base = wham_base(root, sample_rate, mode)
    missing = [s for s in subsets if not os.path.isdir(os.path.join(base, s))]
    if missing:
        raise PrepareError(f"WHAM! at {base}: missing subset folder(s) {', '.join(missing)} (present: "
                           f"{', '.join(list_dirs(base)) or 'none'}). Re-run the wham_scripts for all splits.")
    problems = []
    manifests = {}
    for subset in subsets:
        manifests[subset] = scan_mix_subset(base, subset, mix_type, sample_rate, problems, expected_counts,
                                            speakers=speakers_of)
    return report_and_write(out_dir, manifests, problems, f"WHAM! at {base} ({mix_type})", verify_only,
                            describe=mixtures_line(mix_type))


def add_wham_arguments(parser):
    """Command-line options of `bin/prepare --corpus wham` (keyword names of prepare_wham)."""
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--mode", default="min", choices=("min", "max"))
    parser.add_argument("--mix-type", dest="mix_type", default="mix_both", choices=MIX_TYPES,
                        help="mix_both: the WHAM! noisy task (targets: clean s1/s2); mix_clean: wsj0-2mix")
