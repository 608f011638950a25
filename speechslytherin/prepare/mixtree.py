"""Read-only scanning of a "one folder per signal" mixture subset (LibriMix, WHAM!, wsj0-2mix style):

    <subset>/<mix folder>/<id>.wav   <subset>/s1/<id>.wav   <subset>/s2/<id>.wav   [<subset>/noise/<id>.wav]

Shared by the Libri2Mix and WHAM! preparations: both generators write this layout with the same
file name in every folder. Problems are collected (not raised) so one report lists them all.
"""

import os

from speechslytherin.prepare.common import PrepareError, header, list_files, warn


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
        try:
            frames = [header(p, sample_rate)[1] for p in paths]
        except PrepareError as err:
            problems.append(str(err))
            continue
        if len(set(frames)) != 1:
            detail = ", ".join(f"{f}={n}" for f, n in zip(folders, frames))
            problems.append(f"{paths[0]}: mixture, sources and noise differ in length ({detail} samples); the "
                            "files do not belong together. Re-generate this mixture.")
            continue
        if lengths is not None and uid in lengths and lengths[uid] != frames[0]:
            problems.append(f"{paths[0]}: {frames[0]} samples, the metadata says {lengths[uid]}; the file is "
                            "truncated or from another generation. Re-generate it.")
            continue
        entry = {"mix": paths[0], "sources": paths[1:1 + n_src], "duration": frames[0] / sample_rate,
                 "sample_rate": sample_rate}
        if noise_folder:
            entry["noise"] = paths[-1]
        spk = speakers(uid) if speakers else None
        if spk:
            entry["speakers"] = spk
        entries[uid] = entry
    return entries
