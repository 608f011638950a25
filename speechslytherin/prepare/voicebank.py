"""VoiceBank-DEMAND (Valentini-Botinhao et al., Edinburgh DataShare 10283/2791): verify the
unpacked zips, write data/{tr,cv,tt}.json, and resample 48 kHz -> 16 kHz into the recipe.

Expected under ROOT (each zip unpacks into its own folder; logfiles.zip into logfiles/):

    clean_trainset_28spk_wav/p226_001.wav ...   11572 files, 28 speakers, 48 kHz
    noisy_trainset_28spk_wav/p226_001.wav ...   same names
    clean_testset_wav/p232_001.wav ...          824 files, speakers p232 and p257
    noisy_testset_wav/p232_001.wav ...
    logfiles/log_trainset_28spk.txt, logfiles/log_testset.txt   "<id> <noise type> <SNR dB>" (optional)
    trainset_28spk_txt/<id>.txt, testset_txt/<id>.txt           transcripts (optional)

Folders that already hold 16 kHz copies (SEMamba's `*_wav_16k` names, or `clean/noisy_trainset_wav[_16k]`)
are accepted too, as are logs directly in ROOT. Splits:
- tr: the train set less the validation speakers;
- cv: `valid="speakers"` (default) holds speakers p226 and p287 out of train (`valid_speakers`);
  `valid="test"` is the official SEMamba setup, which validates on the 824 test utterances
  (checkpoint selection then sees the test set: results are not a clean held-out measure);
- tt: the 824 test utterances;
- tt_tts: only when the tree has `clean_testset_tts_wav/` and `noisy_testset_tts_wav/` (the mini-enh
  set's unseen TTS voices; simulate/mini_enh.py): a second test set, scored beside tt.
Entries: {"mix": noisy, "sources": [clean], "duration", "sample_rate", "speaker", "noise_type"?,
"snr"?, "text"?}.

Resampling (`resample_to=DIR`, recipe stage 2): every file used goes to DIR/<folder>/<id>.wav at
`sample_rate` (polyphase, anti-aliased, 16-bit like the source), written atomically; files already
there with the right rate and length are kept, so an interrupted run resumes. The manifests then
point at DIR. A corpus already at `sample_rate` needs no copy: the manifests point at it.
"""

import os

from speechslytherin.prepare.common import (PrepareError, check_count, ensure_outside, header, list_files, log,
                                            report, require_dir, sizes, warn, write_manifests)

SETS = {
    # split -> (clean folder, noisy folder, log file, transcript folder, standard count)
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt",
              "trainset_28spk_txt", 11572),
    "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt", "testset_txt", 824),
}
# Extra test sets, read only when their folders exist: manifest name -> folders as in SETS.
EXTRA_TEST_SETS = {
    "tt_tts": ("clean_testset_tts_wav", "noisy_testset_tts_wav", "log_testset_tts.txt", "testset_tts_txt", None),
}
ZIP_OF = {"clean_trainset_28spk_wav": "clean_trainset_28spk_wav.zip",
          "noisy_trainset_28spk_wav": "noisy_trainset_28spk_wav.zip",
          "clean_testset_wav": "clean_testset_wav.zip", "noisy_testset_wav": "noisy_testset_wav.zip"}
VALID_SPEAKERS = ("p226", "p287")
NATIVE_RATES = (48000, 16000)


def speaker_of(uid):
    """'p226_001' -> 'p226' (VoiceBank names are <speaker>_<number>)."""
    return uid.split("_", 1)[0]


def find_folder(root, name):
    """ROOT/<name>, else ROOT/<name>_16k (SEMamba's copies), else the same without `_28spk` (other
    16 kHz redistributions name the train folders clean/noisy_trainset_wav[_16k]); None if none exists."""
    short = name.replace("_28spk", "")
    for candidate in dict.fromkeys((name, f"{name}_16k", short, f"{short}_16k")):
        path = os.path.join(root, candidate)
        if os.path.isdir(path):
            return path
    return None


def find_log(root, name):
    for path in (os.path.join(root, "logfiles", name), os.path.join(root, name)):
        if os.path.isfile(path):
            return path
    return None


def read_log(path, problems):
    """{id: (noise type, snr)} from a '<id> <noise> <snr>' log; bad lines become problems."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != 3:
                    raise ValueError
                out[parts[0]] = (parts[1], float(parts[2]))
            except ValueError:
                problems.append(f"{path}:{n}: expected '<id> <noise type> <snr>', got {line.strip()!r}")
    return out


def read_transcript(folder, uid):
    path = os.path.join(folder, f"{uid}.txt")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return " ".join(f.read().split()) or None
    except OSError:
        return None


def scan_split(root, split, problems, folders_of=None):
    """Entries {id: {...}} of one split at the corpus's own rate; problems appended, not raised.
    folders_of: (clean, noisy, log, transcripts, standard count), default SETS[split]."""
    clean_name, noisy_name, log_name, txt_name, expected = folders_of or SETS[split]
    folders = {}
    for name in (clean_name, noisy_name):
        folders[name] = find_folder(root, name)
        if folders[name] is None:
            unpack = f"unpack {ZIP_OF[name]} into {root}" if name in ZIP_OF else "the set is incomplete"
            problems.append(f"{os.path.join(root, name)}: folder missing ({unpack})")
    if None in folders.values():
        return {}
    clean_dir, noisy_dir = folders[clean_name], folders[noisy_name]
    clean_files = set(list_files(clean_dir, (".wav",)))
    noisy_files = list_files(noisy_dir, (".wav",))
    if not noisy_files:
        problems.append(f"{noisy_dir}: no .wav files (is {ZIP_OF[noisy_name]} fully unpacked?)")
        return {}
    extra = clean_files - set(noisy_files)
    if extra:
        warn(f"{clean_dir}: {len(extra)} clean file(s) with no noisy version (e.g. {sorted(extra)[0]}); ignored.")
    log_path = find_log(root, log_name)
    log_entries = read_log(log_path, problems) if log_path else {}
    if log_path is None:
        warn(f"{log_name} not found in {root}/logfiles or {root} (unpack logfiles.zip): the manifests of the "
             f"{split} set carry no noise type / SNR.")
    txt_dir = os.path.join(root, txt_name)
    txt_dir = txt_dir if os.path.isdir(txt_dir) else None
    entries = {}
    for name in noisy_files:
        uid = os.path.splitext(name)[0]
        noisy = os.path.join(noisy_dir, name)
        if name not in clean_files:
            problems.append(f"{noisy}: no clean file {os.path.join(clean_dir, name)}")
            continue
        clean = os.path.join(clean_dir, name)
        try:
            (sr_n, len_n), (sr_c, len_c) = header(noisy), header(clean)
        except PrepareError as err:
            problems.append(str(err))
            continue
        if (sr_n, len_n) != (sr_c, len_c):
            problems.append(f"{noisy}: {len_n} samples at {sr_n} Hz but the clean file has {len_c} at {sr_c} Hz; "
                            "the pair does not belong together. Re-extract both zips.")
            continue
        if sr_n not in NATIVE_RATES:
            problems.append(f"{noisy}: {sr_n} Hz; VoiceBank-DEMAND is 48000 Hz (or 16000 Hz copies).")
            continue
        entry = {"mix": noisy, "sources": [clean], "duration": len_n / sr_n, "sample_rate": sr_n,
                 "speaker": speaker_of(uid)}
        if uid in log_entries:
            entry["noise_type"], entry["snr"] = log_entries[uid]
        text = read_transcript(txt_dir, uid) if txt_dir else None
        if text:
            entry["text"] = text
        entries[uid] = entry
    if log_entries:
        unlogged = [uid for uid in entries if uid not in log_entries]
        if unlogged:
            warn(f"{log_path}: {len(unlogged)} file(s) not in the log (e.g. {unlogged[0]}).")
    if entries:
        check_count(noisy_dir, len(entries), expected)
    return entries


def split_valid(train, test, valid, valid_speakers):
    """(tr, cv) from the train set: held-out speakers, or the test set as validation."""
    if valid == "test":
        warn("valid=test (the official SEMamba setup): validation and checkpoint selection use the test set.")
        return dict(train), dict(test)
    if valid != "speakers":
        raise PrepareError(f"valid={valid!r}: choose 'speakers' (hold --valid-speakers out of train) or 'test'.")
    wanted = set(valid_speakers)
    found = {e["speaker"] for e in train.values()}
    missing = sorted(wanted - found)
    if missing:
        raise PrepareError(
            f"validation speaker(s) {', '.join(missing)} not in the train set (speakers there: "
            f"{', '.join(sorted(found)[:10])}{' ...' if len(found) > 10 else ''}). Pass --valid-speakers with "
            "speakers of the train set, or --valid test.")
    tr = {k: e for k, e in train.items() if e["speaker"] not in wanted}
    cv = {k: e for k, e in train.items() if e["speaker"] in wanted}
    if not tr:
        raise PrepareError("holding out the validation speakers leaves no training data; choose other speakers.")
    return tr, cv


def _resample_job(job):
    src, dst, sample_rate = job
    from speechslytherin.data.audio import audio_info, read_audio, write_audio
    from speechslytherin.simulate.levels import resample

    sr_in, frames, _ = audio_info(src)
    expected = -(-frames * sample_rate // sr_in)  # ceil: what polyphase resampling returns
    if os.path.isfile(dst):
        try:
            if audio_info(dst)[:2] == (sample_rate, expected):
                return dst, False
        except ValueError:
            pass  # a broken leftover: write it again
    wav, sr = read_audio(src)
    write_audio(dst, resample(wav, sr, sample_rate), sample_rate)
    return dst, True


def resample_manifests(manifests, resample_to, sample_rate, nj=1, progress=True):
    """Resample every referenced file into resample_to/<folder>/<name>; returns updated manifests."""
    from tqdm import tqdm

    jobs, mapping = {}, {}
    for entries in manifests.values():
        for entry in entries.values():
            for path in [entry["mix"]] + entry["sources"]:
                if path in mapping:
                    continue
                folder = os.path.basename(os.path.dirname(path))
                dst = os.path.join(resample_to, folder, os.path.basename(path))
                mapping[path] = dst
                if entry["sample_rate"] != sample_rate:
                    jobs[path] = (path, dst, sample_rate)
                else:
                    mapping[path] = path
    written = 0
    if jobs:
        log(f"resampling {len(jobs)} files to {sample_rate} Hz into {resample_to} (kept: files already done)")
        bar = tqdm(total=len(jobs), desc="resample", unit="file", disable=not progress)
        work = list(jobs.values())
        if nj > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(nj) as pool:
                for _, new in pool.imap_unordered(_resample_job, work, chunksize=16):
                    written += new
                    bar.update()
        else:
            for job in work:
                written += _resample_job(job)[1]
                bar.update()
        bar.close()
        log(f"resampled {written} file(s), {len(jobs) - written} already there")
    out = {}
    for split, entries in manifests.items():
        out[split] = {}
        for uid, entry in entries.items():
            new = dict(entry, mix=mapping[entry["mix"]], sources=[mapping[p] for p in entry["sources"]])
            if entry["sample_rate"] != sample_rate:
                frames = round(entry["duration"] * entry["sample_rate"])
                new["duration"] = -(-frames * sample_rate // entry["sample_rate"]) / sample_rate
                new["sample_rate"] = sample_rate
            out[split][uid] = new
    return out


def prepare_voicebank(root, out_dir, valid="speakers", valid_speakers=VALID_SPEAKERS, resample_to=None,
                      sample_rate=16000, nj=1, verify_only=False, pool_only=False, progress=True):
    """Verify the corpus and write out_dir/{tr,cv,tt}.json (and tt_tts.json, see above); returns {name: path}.

    Without resample_to the manifests point at the corpus at its own rate (recipe stage 1);
    with it, at `sample_rate` copies under resample_to (stage 2). verify_only: check, write nothing.
    """
    root = os.path.abspath(os.fspath(root))  # manifests hold absolute paths: they work from any folder
    require_dir(root, "VoiceBank-DEMAND root",
                "Pass the folder where the DataShare zips (clean_trainset_28spk_wav.zip, ...) were unpacked.")
    if pool_only:
        warn("VoiceBank-DEMAND has no dynamic-mixing pool; nothing to do for --pool-only.")
        return {}
    if out_dir is None and not verify_only:
        raise PrepareError("no output folder given: pass --out (e.g. --out data/) or --verify-only.")
    if out_dir is not None:
        ensure_outside(out_dir, root)
    if resample_to is not None:
        resample_to = os.path.abspath(os.fspath(resample_to))
        ensure_outside(resample_to, root)
    if isinstance(valid_speakers, str):
        valid_speakers = [s for s in valid_speakers.replace(",", " ").split() if s]
    problems = []
    train = scan_split(root, "train", problems)
    test = scan_split(root, "test", problems)
    extra = {name: scan_split(root, name, problems, folders) for name, folders in EXTRA_TEST_SETS.items()
             if any(os.path.isdir(os.path.join(root, f)) for f in folders[:2])}
    every = [train, test, *extra.values()]
    rates = sorted({e["sample_rate"] for entries in every for e in entries.values()})
    if len(rates) > 1:
        problems.append(f"{root}: files at several sample rates {rates}; use one copy of the corpus (48 kHz, "
                        "or 16 kHz everywhere).")
    train_speakers = {e["speaker"] for e in train.values()}
    for name, entries in (("test", test), *extra.items()):
        overlap = sorted(train_speakers & {e["speaker"] for e in entries.values()})
        if overlap:
            problems.append(f"speaker(s) {', '.join(overlap)} in both the train and the {name} set; check the folders.")
    report(problems, f"VoiceBank-DEMAND at {root}")
    tr, cv = split_valid(train, test, valid, valid_speakers)
    manifests = {"tr": tr, "cv": cv, "tt": test, **extra}
    rate = rates[0] if rates else sample_rate
    if verify_only:
        log(f"VoiceBank-DEMAND at {root}: verified ({sizes(manifests)}; {rate} Hz); nothing written")
        return {}
    if resample_to is not None:
        manifests = resample_manifests(manifests, resample_to, sample_rate, nj=nj, progress=progress)
    elif rate != sample_rate:
        log(f"the corpus is at {rate} Hz: these manifests point at it; stage 2 (--resample-to DIR) makes "
            f"{sample_rate} Hz copies and points the manifests at them.")
    return write_manifests(out_dir, manifests, lambda name, entries, hours:
                           f"{len(entries)} utterances, {len({e['speaker'] for e in entries.values()})} speakers, "
                           f"{hours:.2f} h")


def add_voicebank_arguments(parser):
    """Options of `bin/prepare --corpus voicebank` (keyword names of prepare_voicebank)."""
    parser.add_argument("--valid", default="speakers", choices=("speakers", "test"),
                        help="speakers: hold --valid-speakers out of train (default); test: validate on the "
                             "test set, the official SEMamba setup (selection then sees the test set)")
    parser.add_argument("--valid-speakers", dest="valid_speakers", default=",".join(VALID_SPEAKERS),
                        help="comma-separated train speakers used for validation (default p226,p287)")
    parser.add_argument("--resample-to", dest="resample_to", default=None,
                        help="folder for resampled copies (stage 2, e.g. data/wav16k); manifests then point there")
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=16000,
                        help="rate of the resampled copies (default 16000, SEMamba's)")
    parser.add_argument("--nj", type=int, default=1, help="parallel resampling processes")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
