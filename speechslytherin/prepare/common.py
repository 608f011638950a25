"""Shared pieces of corpus preparation: read-only checks of what is on disk, problem reports.

Preparation never writes into the corpus: it only lists folders and reads audio headers,
and refuses an output folder inside the corpus root.
"""

import os
import sys

import soundfile as sf

REPORT_LIMIT = 20  # problems listed in full before "... and N more"


class PrepareError(RuntimeError):
    """The corpus on disk is not what preparation needs; the message lists what is wrong."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def warn(msg):
    log(f"WARNING: {msg}")


def require_dir(path, what, hint=""):
    if not os.path.isdir(path):
        raise PrepareError(f"{what} not found: {path}.{(' ' + hint) if hint else ''}")


def ensure_outside(out_dir, root):
    """Refuse to write manifests inside the corpus root."""
    out = os.path.realpath(out_dir)
    base = os.path.realpath(root)
    if out == base or out.startswith(base + os.sep):
        raise PrepareError(
            f"output folder {out_dir} is inside the corpus root {root}; preparation never writes into the "
            "corpus. Use a folder of the recipe, e.g. --out data/."
        )


def require_choice(option, value, choices):
    """Refuse an option value outside `choices` before anything is read."""
    if value not in choices:
        raise PrepareError(f"{option} {value!r}: choose one of {', '.join(choices)}")


def check_root_and_out(root, out_dir, verify_only, root_hint, out_example="data/", what="corpus root"):
    """The checks every preparation starts with: the corpus root exists, an output folder is given
    (unless verify_only) and it lies outside the corpus."""
    require_dir(root, what, root_hint)
    if out_dir is None and not verify_only:
        raise PrepareError(f"no output folder given: pass --out (e.g. --out {out_example}) or --verify-only.")
    if out_dir is not None:
        ensure_outside(out_dir, root)


def list_files(folder, exts):
    """Sorted file names in `folder` whose lower-cased extension is in exts (no recursion)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file() and os.path.splitext(e.name)[1].lower() in exts)


def list_dirs(folder):
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir())


def sphere_coding(path):
    """The `sample_coding` field of a NIST SPHERE header ('pcm', 'pcm,embedded-shorten-v2.00', ...),
    '' if the header has none, None if the file is not SPHERE."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head.startswith(b"NIST_1A"):
        return None
    for line in head.split(b"\n"):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == b"sample_coding":
            return parts[2].decode("ascii", "replace")
    return ""


def header(path, expected_sr=None):
    """(sample_rate, frames) from the header; raises PrepareError naming the file and the fix."""
    if os.path.splitext(path)[1].lower() in (".wv1", ".wv2", ".sph"):
        coding = sphere_coding(path)
        if coding and "shorten" in coding:
            raise PrepareError(
                f"{path}: NIST SPHERE compressed with shorten ({coding}), which soundfile cannot decode. "
                "Convert the folder to wav first, e.g. `sph2pipe -f wav in.wv1 out.wav` for each file "
                "(keep the <speaker>/<utt> layout), and point --pool at the converted folder."
            )
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise PrepareError(f"{path}: cannot be read as audio ({err}). Re-extract or remove the file.") from None
    if info.channels != 1:
        raise PrepareError(f"{path}: {info.channels} channels, expected mono. Use a mono copy of the corpus.")
    if info.frames <= 0:
        raise PrepareError(f"{path}: the file holds no samples. Re-extract or remove it.")
    if expected_sr is not None and info.samplerate != expected_sr:
        raise PrepareError(
            f"{path}: sample rate {info.samplerate} Hz, expected {expected_sr} Hz. Check --sample-rate "
            "or that this is the right corpus folder."
        )
    return info.samplerate, info.frames


def report(problems, title):
    """Raise one PrepareError listing all problems (the first REPORT_LIMIT in full)."""
    if not problems:
        return
    lines = [f"{title}: {len(problems)} problem(s):"] + [f"  - {p}" for p in problems[:REPORT_LIMIT]]
    if len(problems) > REPORT_LIMIT:
        lines.append(f"  ... and {len(problems) - REPORT_LIMIT} more")
    raise PrepareError("\n".join(lines))


def check_count(what, found, expected):
    """Warn (never fail) when a set does not have its standard size: small or partial copies work."""
    if expected is not None and found != expected:
        warn(f"{what}: {found} files, the standard corpus has {expected}. Continuing with what is there.")


def write_manifest(out_dir, name, entries):
    """Save OUT/<name>.json; returns (its path, hours of audio it lists) for the log line."""
    from speechslytherin.data.manifest import save_manifest

    path = os.path.join(out_dir, f"{name}.json")
    save_manifest(path, entries)
    return path, sum(e["duration"] for e in entries.values()) / 3600


def write_manifests(out_dir, manifests, describe):
    """Save OUT/<name>.json for each {name: entries}, logging '<path>: <describe(name, entries, hours)>';
    returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name, entries in manifests.items():
        written[name], hours = write_manifest(out_dir, name, entries)
        log(f"{written[name]}: {describe(name, entries, hours)}")
    return written


def sizes(manifests, label=lambda name: name):
    """'tr 20000, cv 5000, tt 3000' for the verify-only log line."""
    return ", ".join(f"{label(name)} {len(entries)}" for name, entries in manifests.items())


def report_and_write(out_dir, manifests, problems, title, verify_only, describe, verified_as=None,
                     label=lambda name: name):
    """The last step of a preparation: raise the problems found (report, under `title`), then log what
    was verified and write nothing (verify_only; returns {}) or write the manifests (write_manifests).
    verified_as: the log line's subject (default: title); label: how a manifest is named in it."""
    report(problems, title)
    if verify_only:
        log(f"{verified_as or title}: verified ({sizes(manifests, label)}); nothing written")
        return {}
    return write_manifests(out_dir, manifests, describe)
