"""Read-only scanning of a "one folder per signal" mixture subset (LibriMix, WHAM!, wsj0-2mix style):

    <subset>/<mix folder>/<id>.wav   <subset>/s1/<id>.wav   <subset>/s2/<id>.wav   [<subset>/noise/<id>.wav]

Shared by the Libri2Mix and WHAM! preparations: both generators write this layout with the same
file name in every folder. The per-mixture checks (equal lengths, the entry) serve wsj0-2mix and
Echo2Mix too. Problems are collected (not raised) so one report lists them all.
"""

import os

from speechslytherin.prepare.common import PrepareError, check_count, header, list_dirs, list_files, warn


def rate_mode_folders(top):
    """['wav8k/min', ...]: the <rate>/<mode> folders the mixture generators wrote under `top`."""
    return [f"{r}/{m}" for r in list_dirs(top) if r.startswith("wav") for m in list_dirs(os.path.join(top, r))]


def equal_length(paths, sample_rate, problems, what, labels=None, fix=" Re-generate this mixture."):
    """The length in samples shared by the files of one mixture (headers checked at sample_rate), or
    None after appending a problem: an unreadable file, or lengths that differ ('<paths[0]>: <what>
    differ in length (...)'; labels name the files in the detail)."""
    try:
        frames = [header(p, sample_rate)[1] for p in paths]
    except PrepareError as err:
        problems.append(str(err))
        return None
    if len(set(frames)) != 1:
        shown = [f"{label}={n}" for label, n in zip(labels, frames)] if labels else map(str, frames)
        detail = ", ".join(shown)
        problems.append(f"{paths[0]}: {what} differ in length ({detail} samples); the files do not belong "
                        f"together.{fix}")
        return None
    return frames[0]


def mixture_entry(mix, sources, frames, sample_rate, noise=None, speakers=None):
    """A separation manifest entry; `noise` and `speakers` only when known."""
    entry = {"mix": mix, "sources": list(sources), "duration": frames / sample_rate, "sample_rate": sample_rate}
    if noise:
        entry["noise"] = noise
    if speakers:
        entry["speakers"] = speakers
    return entry


def scan_folders(subset_dir, mix_folder, sample_rate, problems, n_src=2, noise_folder=None, ids=None,
                 lengths=None, speakers=None):
    """Manifest entries {id: entry} of one subset.

    ids: the ids the corpus metadata lists (None: whatever the mix folder holds). Each listed id must
    have every file; files on disk that the metadata does not list are reported as a warning.
    lengths: {id: samples} from the metadata, checked against the headers when given.
    speakers: function id -> list of speaker ids, or None.
    """
    folders = [mix_folder] + [f"s{i + 1}" for i in range(n_src)] + ([noise_folder] if noise_folder else [])
    missing = [f for f in folders if not os.path.isdir(os.path.join(subset_dir, f))]
    if missing:
        problems.append(f"{subset_dir}: missing folder(s) {', '.join(missing)}")
        return {}
    names = {f: {os.path.splitext(n)[0] for n in list_files(os.path.join(subset_dir, f), (".wav",))}
             for f in folders}
    if ids is None:
        ids = sorted(names[mix_folder])
        if not ids:
            problems.append(f"{os.path.join(subset_dir, mix_folder)}: no .wav files")
            return {}
    else:
        extra = names[mix_folder] - set(ids)
        if extra:
            warn(f"{os.path.join(subset_dir, mix_folder)}: {len(extra)} file(s) not in the metadata "
                 f"(e.g. {sorted(extra)[0]}.wav); ignored.")
    absent_by_folder = {f: [uid for uid in ids if uid not in names[f]] for f in folders}
    for f, absent in absent_by_folder.items():
        if absent:
            where = os.path.join(subset_dir, f)
            shown = ", ".join(f"{uid}.wav" for uid in absent[:3]) + (" ..." if len(absent) > 3 else "")
            problems.append(f"{where}: {len(absent)} of {len(ids)} listed file(s) missing ({shown})")
    bad = {uid for absent in absent_by_folder.values() for uid in absent}
    entries = {}
    for uid in ids:
        if uid in bad:
            continue
        paths = [os.path.join(subset_dir, f, uid + ".wav") for f in folders]
        frames = equal_length(paths, sample_rate, problems, "mixture, sources and noise", labels=folders)
        if frames is None:
            continue
        if lengths is not None and uid in lengths and lengths[uid] != frames:
            problems.append(f"{paths[0]}: {frames} samples, the metadata says {lengths[uid]}; the file is "
                            "truncated or from another generation. Re-generate it.")
            continue
        entries[uid] = mixture_entry(paths[0], paths[1:1 + n_src], frames, sample_rate,
                                     noise=paths[-1] if noise_folder else None,
                                     speakers=speakers(uid) if speakers else None)
    return entries


def scan_mix_subset(base, subset, mix_type, sample_rate, problems, expected_counts=None, **kwargs):
    """scan_folders of <base>/<subset> for a LibriMix/WHAM! mix type (mix_both brings the noise folder),
    warning when the subset does not have its standard size (expected_counts: {subset: n})."""
    entries = scan_folders(os.path.join(base, subset), mix_type, sample_rate, problems,
                           noise_folder="noise" if mix_type == "mix_both" else None, **kwargs)
    if entries:
        check_count(f"{base}/{subset}/{mix_type}", len(entries), (expected_counts or {}).get(subset))
    return entries


def mixtures_line(note):
    """describe() of write_manifests for a mixture set: 'N mixtures, H h (<note>)'."""
    return lambda name, entries, hours: f"{len(entries)} mixtures, {hours:.2f} h ({note})"
