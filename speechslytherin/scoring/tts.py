"""Scores of synthesized test sentences: WER, speaker similarity, MCD-DTW and F0 RMSE.

For every entry of the test manifest (stage 2's tt.json: "text", "audio" = the recording,
"prompt_audio" = the 3 s prompt of the same speaker, "codes"), the synthesized DIR/<id>.wav is
- transcribed by an ASR scorer (speechslytherin/tts/scorers.py) and scored against "text" with
  the ASR scoring's normalisation; WER is over all words of the set, and an utterance that
  could not be synthesized or read counts as all deletions;
- compared with the prompt by the speaker encoder (cosine, "SIM": the zero-shot cloning score);
- compared with the recording of the same sentence by MCD-DTW and F0 RMSE (tts/objective.py).
All audio is scored at 16 kHz. The reference row of RESULTS.md ("mixture" in the summary) is
the codec re-synthesis of the recording when the codec is given (the best a codec LM can do),
else the recording itself. Failures (missing, empty or unreadable output, an ASR error) are
counted per kind and never stop the scoring.

Outputs in out_dir: scores.csv (one row per utterance) and summary.json (means, the columns
RESULTS.md shows, failures, a few sample files).
"""

import csv
import io
import os

import numpy as np

from speechslytherin.utils.atomic import write_json_atomic, write_text_atomic

SAMPLE_RATE = 16000
COLUMNS = [["wer", "WER %"], ["sim", "SIM"], ["mcd", "MCD dB"], ["f0_rmse", "F0 RMSE Hz"], ["vde", "VDE"]]
CSV_FIELDS = ["id", "speaker", "prompt_id", "status", "duration", "ref_words", "errors", "wer", "sim", "mcd",
              "f0_rmse", "vde", "ref", "hyp"]
N_SAMPLES = 3


class TTSScoringError(ValueError):
    """A reference manifest or output folder that cannot be scored; the message says what to do."""


def load_references(ref_path):
    from speechslytherin.data.manifest import read_json_object

    data = read_json_object(ref_path, missing="test manifest not found. Run the recipe's stage 2.",
                            redo="Re-run stage 2.")
    for uid, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry.get("audio"):
            raise TTSScoringError(f"{ref_path}: id '{uid}' needs \"text\" and \"audio\" (stage 2's test manifest).")
    if not data:
        raise TTSScoringError(f"{ref_path}: the manifest is empty.")
    return data


def _read16k(path):
    """(audio at 16 kHz, None) or (None, failure kind)."""
    from speechslytherin.data.audio import AudioError, read_audio

    if not path or not os.path.isfile(path):
        return None, "missing"
    try:
        wav, sr = read_audio(path, allow_empty=True)
    except AudioError:
        return None, "unreadable"
    if len(wav) < sr // 20 or not np.any(wav):  # under 50 ms or all zeros: nothing to score
        return None, "empty"
    if sr != SAMPLE_RATE:
        import torch
        import torchaudio.functional as AF

        wav = AF.resample(torch.from_numpy(wav), sr, SAMPLE_RATE).numpy()
    return wav, None


def _codec_resynthesis(codec, codes_path):
    import torch

    codes = torch.from_numpy(np.load(codes_path).astype(np.int64))[None]
    wav = codec.decode(codes)[0].numpy()
    if codec.sample_rate != SAMPLE_RATE:
        import torchaudio.functional as AF

        wav = AF.resample(torch.from_numpy(wav), codec.sample_rate, SAMPLE_RATE).numpy()
    return wav


def _score_set(ids, refs, wavs, rec, prompts_emb, asr, speaker, log):
    """Rows for one system: wavs {id: audio or None}, with failures {id: kind}."""
    from speechslytherin.scoring.asr import normalise_text, score_utterance
    from speechslytherin.tts.objective import mcd_f0

    rows = {}
    ok = [u for u in ids if wavs[u][0] is not None]
    hyps = {}
    if asr is not None and ok:
        try:
            hyps = dict(zip(ok, asr.transcribe([wavs[u][0] for u in ok])))
        except Exception as err:  # noqa: BLE001 - one bad scorer call must not lose the other metrics
            log(f"WARNING: ASR failed on the batch ({err}); trying one utterance at a time")
            for u in ok:
                try:
                    hyps[u] = asr.transcribe([wavs[u][0]])[0]
                except Exception:  # noqa: BLE001
                    hyps[u] = None
    for u in ids:
        wav, failure = wavs[u]
        row = {"id": u, "speaker": refs[u].get("speaker"), "prompt_id": refs[u].get("prompt_id"),
               "status": failure or "ok", "ref": normalise_text(refs[u]["text"])}
        if asr is not None:
            hyp = hyps.get(u) if wav is not None else ""
            if hyp is None:
                row["status"], hyp = "asr_failed", ""
            counts = score_utterance(refs[u]["text"], hyp)
            row.update(ref_words=counts["ref_words"], errors=counts["errors"], wer=counts["wer"], hyp=counts["hyp"])
        if wav is not None:
            row["duration"] = round(len(wav) / SAMPLE_RATE, 3)
            if speaker is not None and refs[u].get("prompt_id") in prompts_emb:
                try:
                    row["sim"] = speaker.similarity(speaker.embed(wav), prompts_emb[refs[u]["prompt_id"]])
                except Exception as err:  # noqa: BLE001
                    log(f"WARNING: speaker similarity failed on {u}: {err}")
            if rec.get(u) is not None:
                row.update({k: v for k, v in mcd_f0(wav, rec[u]).items() if k in ("mcd", "f0_rmse", "vde")})
        rows[u] = row
    return rows


def _means(rows, with_asr):
    def mean(key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return round(float(np.mean(values)), 4) if values else None

    words = sum(r.get("ref_words", 0) for r in rows)
    errors = sum(r.get("errors", 0) for r in rows)
    return {"wer": round(100.0 * errors / words, 2) if with_asr and words else None, "sim": mean("sim"),
            "mcd": mean("mcd"), "f0_rmse": mean("f0_rmse"), "vde": mean("vde")}


def score_tts(ref_path, syn_dir, out_dir, exp_name=None, test_set=None, asr="auto", asr_model=None, codec=None,
              speaker=True, grammar_texts=None, device="cpu", reference_rows=None, log=print):
    """Score DIR/<id>.wav against the test manifest; writes out_dir/{scores.csv, summary.json,
    reference_scores.json}. reference_rows: the reference_scores.json of an earlier call on the same
    manifest with the same scorers and codec, whose reference row is then reused, not recomputed
    (bin/tune_synthesis scores many decodings of one set)."""
    from speechslytherin.tts.scorers import ResemblyzerSpeaker, ScorerUnavailable, make_asr

    refs = load_references(ref_path)
    if not os.path.isdir(syn_dir):
        raise TTSScoringError(f"{syn_dir}: no such folder of synthesized audio. Run the synthesis stage first.")
    ids = sorted(refs)
    if grammar_texts is None:
        grammar_texts = [e["text"] for e in refs.values()]
        train = os.path.join(os.path.dirname(os.path.abspath(ref_path)), "tr.json")
        if os.path.isfile(train):
            from speechslytherin.data.manifest import read_json_object

            grammar_texts += [e.get("text", "") for e in read_json_object(train, "", "").values()]
    notes = {}
    asr_scorer = make_asr(asr, asr_model, grammar_texts, device, log)
    notes["asr"] = asr_scorer.name if asr_scorer is not None else "none (not measured)"
    spk = None
    if speaker:
        try:
            spk = ResemblyzerSpeaker(device)
        except ScorerUnavailable as err:
            log(f"speaker similarity not measured: {err}")
    notes["speaker_encoder"] = spk.name if spk is not None else "none (not measured)"

    recordings, prompt_emb = {}, {}
    for u in ids:
        recordings[u] = _read16k(refs[u]["audio"])[0]
        pid = refs[u].get("prompt_id")
        if spk is not None and pid and pid not in prompt_emb:
            prompt, _ = _read16k(refs[u].get("prompt_audio"))
            if prompt is not None:
                prompt_emb[pid] = spk.embed(prompt)
    syn = {u: _read16k(os.path.join(syn_dir, f"{u}.wav")) for u in ids}
    rows = _score_set(ids, refs, syn, recordings, prompt_emb, asr_scorer, spk, log)

    if reference_rows is not None:
        missing = [u for u in ids if u not in reference_rows]
        if missing:
            raise TTSScoringError(f"reference_rows lack {len(missing)} id(s) of {ref_path} (e.g. {missing[0]}); "
                                  "they come from another test set: leave them out to score the reference anew.")
        ref_rows = {u: reference_rows[u] for u in ids}
        input_label = "codec re-synthesis of the recording" if codec is not None else "recording"
    elif codec is not None:
        from speechslytherin.tts.codec import load_codec

        codec_obj = load_codec(codec) if isinstance(codec, (str, os.PathLike)) else codec
        reference = {}
        for u in ids:
            try:
                reference[u] = (_codec_resynthesis(codec_obj, refs[u]["codes"]), None)
            except (KeyError, OSError, ValueError) as err:
                log(f"WARNING: no codec re-synthesis of {u}: {err}")
                reference[u] = (None, "missing")
        input_label = "codec re-synthesis of the recording"
    else:
        reference = {u: (recordings[u], None if recordings[u] is not None else "missing") for u in ids}
        input_label = "recording"
    if reference_rows is None:
        ref_rows = _score_set(ids, refs, reference, recordings if codec is not None else {}, prompt_emb,
                              asr_scorer, spk, log)

    failures = {}
    for r in rows.values():
        if r["status"] != "ok":
            failures[r["status"]] = failures.get(r["status"], 0) + 1
    if failures:
        log(f"WARNING: {sum(failures.values())} of {len(ids)} utterances could not be fully scored: {failures} "
            "(they count as all deletions in the WER)")
    test_set = test_set or os.path.splitext(os.path.basename(ref_path))[0]
    if exp_name is None:
        parent = os.path.dirname(os.path.abspath(out_dir))
        exp_name = os.path.basename(parent) if os.path.basename(os.path.abspath(out_dir)).startswith("score") \
            else os.path.basename(os.path.abspath(out_dir))
    with_asr = asr_scorer is not None
    ok = [u for u in ids if rows[u]["status"] == "ok"]
    summary = {
        "task": "tts", "exp_name": exp_name, "test_set": test_set, "ref": os.path.abspath(ref_path),
        "syn": os.path.abspath(syn_dir), "n_utts": len(ids),
        "n_scored": sum(1 for u in ids if syn[u][0] is not None),
        "columns": COLUMNS, "means": _means(list(rows.values()), with_asr),
        "mixture": _means(list(ref_rows.values()), with_asr), "input_label": input_label,
        "failures": failures, "scorers": notes,
        "samples": [{"id": u, "audio": os.path.abspath(os.path.join(syn_dir, f"{u}.wav")), "text": refs[u]["text"],
                     "prompt": refs[u].get("prompt_audio")} for u in ok[:N_SAMPLES]],
        "notes": "WER over all words (failed utterances = all deletions); SIM = cosine of speaker embeddings of "
                 "output and prompt; MCD-DTW (24 mel-cepstra, dB) and F0 RMSE (Hz) / VDE against the recording.",
    }
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(os.path.join(out_dir, "scores.csv"), _rows_to_csv(rows[u] for u in ids))
    write_json_atomic(os.path.join(out_dir, "reference_scores.json"), ref_rows)
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _rows_to_csv(rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else (round(row[k], 4) if isinstance(row[k], float)
                                                              else row[k])) for k in CSV_FIELDS})
    return buf.getvalue()
