"""wsj0-2mix: verify ROOT/2speakers/wav8k/min/{tr,cv,tt}/{mix,s1,s2} and write data/{tr,cv,tt}.json,
plus data/dm_pool.json from the wsj0 si_tr_s speakers for dynamic mixing.

The mini corpus (speechslytherin.bin.make_mini) writes exactly this layout, with its pool at
ROOT/wsj0/si_tr_s, so `--corpus mini` is the same preparation with that pool as default.
"""

import os

from speechslytherin.prepare.common import (PrepareError, check_count, check_root_and_out, ensure_outside, header,
                                            list_dirs, list_files, log, report, require_dir, sizes, warn,
                                            write_manifest, write_manifests)
from speechslytherin.prepare.mixtree import equal_length, mixture_entry, rate_mode_folders

EXPECTED_COUNTS = {"tr": 20000, "cv": 5000, "tt": 3000}
POOL_EXTS = (".wav", ".wv1", ".flac")


def mix_base(root, sample_rate, mode, n_src=2):
    """The folder holding tr/cv/tt: ROOT/<n>speakers/wav8k/min (ROOT may also be the <n>speakers folder)."""
    rate_dir = f"wav{sample_rate // 1000}k"
    spk_dir = f"{n_src}speakers"
    for base in (os.path.join(root, spk_dir, rate_dir, mode), os.path.join(root, rate_dir, mode)):
        if os.path.isdir(base):
            return base
    expected = os.path.join(root, spk_dir, rate_dir, mode)
    spk_root = os.path.join(root, spk_dir) if os.path.isdir(os.path.join(root, spk_dir)) else root
    found = rate_mode_folders(spk_root)
    hint = (f" Found {', '.join(found)} under {spk_root}: choose --sample-rate/--mode to match." if found
            else f" Generate wsj0-2mix with the official scripts (mode '{mode}', {sample_rate} Hz) or pass the "
                 "right --root.")
    raise PrepareError(f"wsj0-2mix folder not found: {expected}.{hint}")


def speakers_of(stem):
    """Speaker ids from a wsj0-2mix name '<utt1>_<gain1>_<utt2>_<gain2>' (first 3 chars of each utt)."""
    parts = stem.split("_")
    if len(parts) == 4:
        try:
            float(parts[1]), float(parts[3])
        except ValueError:
            return None
        return [parts[0][:3], parts[2][:3]]
    return None


def scan_subset(base, subset, sample_rate, n_src, problems):
    """Manifest entries of one subset; problems are appended, not raised."""
    folders = ["mix"] + [f"s{i + 1}" for i in range(n_src)]
    subset_dir = os.path.join(base, subset)
    missing = [f for f in folders if not os.path.isdir(os.path.join(subset_dir, f))]
    if missing:
        problems.append(f"{subset_dir}: missing folder(s) {', '.join(missing)}")
        return {}
    names = {f: set(list_files(os.path.join(subset_dir, f), (".wav",))) for f in folders}
    if not names["mix"]:
        problems.append(f"{subset_dir}/mix: no .wav files")
        return {}
    for f in folders[1:]:
        extra = names[f] - names["mix"]
        if extra:
            warn(f"{subset_dir}/{f}: {len(extra)} file(s) with no mixture (e.g. {sorted(extra)[0]}); ignored.")
    entries = {}
    for name in sorted(names["mix"]):
        absent = [f for f in folders[1:] if name not in names[f]]
        if absent:
            problems.append(f"{os.path.join(subset_dir, 'mix', name)}: no matching {', '.join(absent)} file "
                            f"({', '.join(os.path.join(subset_dir, a, name) for a in absent)} missing)")
            continue
        paths = [os.path.join(subset_dir, f, name) for f in folders]
        frames = equal_length(paths, sample_rate, problems, "mixture and sources", labels=folders)
        if frames is None:
            continue
        uid = os.path.splitext(name)[0]
        entries[uid] = mixture_entry(paths[0], paths[1:], frames, sample_rate,
                                     speakers=speakers_of(uid) if n_src == 2 else None)
    return entries


def scan_pool(pool_dir, problems):
    """Pool entries from <pool_dir>/<speaker>/<utt>.wav (or .wv1, uncompressed); speaker = folder name.
    Files directly in pool_dir are accepted too, with the WSJ convention speaker = first 3 characters."""
    entries = {}
    groups = [(spk, os.path.join(pool_dir, spk)) for spk in list_dirs(pool_dir)]
    groups.append((None, pool_dir))
    for spk, folder in groups:
        for name in list_files(folder, POOL_EXTS):
            path = os.path.join(folder, name)
            stem = os.path.splitext(name)[0]
            speaker = spk if spk is not None else stem[:3]
            try:
                sr, frames = header(path)
            except PrepareError as err:
                problems.append(str(err))
                continue
            uid = stem if stem not in entries else f"{speaker}_{stem}"
            if uid in entries:
                problems.append(f"{path}: duplicate utterance id '{stem}'")
                continue
            entries[uid] = {"audio": path, "speaker": speaker, "duration": frames / sr, "sample_rate": sr}
    return entries


def prepare_wsj0_2mix(root, out_dir, sample_rate=8000, mode="min", pool=None, n_src=2,
                      subsets=("tr", "cv", "tt"), expected_counts=EXPECTED_COUNTS, verify_only=False,
                      pool_only=False):
    """Verify the corpus and write out_dir/{tr,cv,tt}.json (+ dm_pool.json if pool); returns {name: path}.

    verify_only: check everything, write nothing (recipe stage 0; out_dir may be None).
    pool_only: check and write only dm_pool.json (recipe stage 2).
    """
    root = os.fspath(root)
    check_root_and_out(root, out_dir, verify_only, "Pass the folder that holds 2speakers/ with --root.")
    if pool_only and pool is None:
        warn("no --pool given: dm_pool.json not written (training with dynamic mixing needs it; pass the wsj0 "
             "si_tr_s folder, <speaker>/<utt>.wav, with --pool).")
        return {}
    if pool is not None:
        require_dir(pool, "dynamic-mixing pool folder",
                    "Pass the wsj0 si_tr_s folder (<speaker>/<utt>.wav) with --pool, or leave --pool out.")
        if out_dir is not None:
            ensure_outside(out_dir, pool)
    problems = []
    manifests = {}
    base = None if pool_only else mix_base(root, sample_rate, mode, n_src)
    for subset in () if pool_only else subsets:
        entries = scan_subset(base, subset, sample_rate, n_src, problems)
        if entries:
            check_count(f"{base}/{subset}", len(entries), (expected_counts or {}).get(subset))
        manifests[subset] = entries
    pool_entries = None
    if pool is not None:
        pool_entries = scan_pool(pool, problems)
        if not pool_entries and not problems:
            problems.append(f"{pool}: no .wav/.wv1 utterances in <speaker>/ folders")
        speakers = {e["speaker"] for e in (pool_entries or {}).values()}
        if pool_entries and len(speakers) < n_src:
            problems.append(f"{pool}: {len(speakers)} speaker folder(s); dynamic mixing needs at least {n_src}")
    report(problems, f"wsj0-2mix at {root}")
    if verify_only:
        pool_note = f"; pool {len(pool_entries)} utterances" if pool_entries else ""
        log(f"wsj0-2mix at {root}: verified ({sizes(manifests)}{pool_note}); nothing written")
        return {}
    written = write_manifests(out_dir, manifests, lambda name, entries, hours:
                              f"{len(entries)} mixtures, {hours:.2f} h")
    if pool_entries:
        rates = sorted({e["sample_rate"] for e in pool_entries.values()})
        if rates != [sample_rate]:
            log(f"dm pool at {rates} Hz: resampled to {sample_rate} Hz on the fly during training")
        written["dm_pool"], _ = write_manifest(out_dir, "dm_pool", pool_entries)
        n_spk = len({e["speaker"] for e in pool_entries.values()})
        log(f"{written['dm_pool']}: {len(pool_entries)} utterances, {n_spk} speakers")
    return written


def prepare_mini(root, out_dir, sample_rate=8000, mode="min", pool=None, n_src=2, verify_only=False,
                 pool_only=False):
    """The mini corpus: the wsj0-2mix layout, pool at ROOT/wsj0/si_tr_s when present, no size checks.
    Besides tr/cv/tt (tt: real recorded speakers) it has tt_tts (unseen TTS voices) when built so."""
    if pool is None:
        default = os.path.join(os.fspath(root), "wsj0", "si_tr_s")
        pool = default if os.path.isdir(default) else None
    base = os.path.join(os.fspath(root), "2speakers", f"wav{sample_rate // 1000}k", mode)
    subsets = ("tr", "cv", "tt") + (("tt_tts",) if os.path.isdir(os.path.join(base, "tt_tts")) else ())
    return prepare_wsj0_2mix(root, out_dir, sample_rate=sample_rate, mode=mode, pool=pool, n_src=n_src,
                             subsets=subsets, expected_counts=None, verify_only=verify_only,
                             pool_only=pool_only)


def add_wsj0_2mix_arguments(parser):
    """Command-line options of `bin/prepare --corpus wsj0-2mix|mini` (keyword names of prepare_*)."""
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--mode", default="min", choices=("min", "max"))
    parser.add_argument("--pool", default=None,
                        help="wsj0 si_tr_s folder (<speaker>/<utt>.wav) for dynamic mixing -> dm_pool.json "
                             "(mini: defaults to ROOT/wsj0/si_tr_s)")
    parser.add_argument("--n-src", dest="n_src", type=int, default=2)
