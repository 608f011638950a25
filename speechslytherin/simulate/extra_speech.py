"""More synthesized speech for the sets derived from the mini corpus (mini-asr, mini-tts).

The mini corpus fixes how many utterances each voice has. The derived sets can ask for more:
further sentences read by the same training voices, made by the corpus's own synthesis machinery
(same engines, voices and per-utterance variation) from separate random streams, so the corpus
itself is never re-drawn and the result is deterministic from the seed.
"""

import itertools

import numpy as np

from speechslytherin.simulate import mini_corpus, voices


def voice_available(inventory, engine, voice):
    """Whether the engine's voice is installed here (the corpus records what it used)."""
    if engine == "espeak-ng":
        return voice.split("+", 1)[1] in inventory.espeak_variants
    if engine == "flite":
        return voice in inventory.flite_voices
    if engine == "festival":
        return voice in inventory.festival_voices
    return True


def require_training_voices(speakers, error_cls, hint):
    """Raise error_cls when a training voice of the corpus is not installed (extra synthesis needs it)."""
    inventory = voices.find_inventory()
    for code, spk in speakers.items():
        engines = [(spk["engine"], spk["voice"])] + [tuple(v) for v in spk.get("extra_voices", [])]
        for engine, voice in engines:
            if spk["split"] == "tr" and not voice_available(inventory, engine, voice):
                raise error_cls(f"extra synthesis needs the {engine} voice {voice} of speaker {code}, which is "
                                f"not installed here; install it or {hint}.")


def training_voice_streams(speakers, n_per_speaker, seed, stream_base, make_job):
    """({code: n_per_speaker}, {code: endless iterator of make_job(spk, k, rng)}) for every training
    TTS voice; voice number i draws from the random stream stream_base + i."""
    def endless(spk, rng):
        for k in itertools.count():
            yield make_job(spk, k, rng)

    codes = sorted(c for c, s in speakers.items() if s["split"] == "tr" and s["engine"] != "asterisk")
    streams = {code: endless(dict(speakers[code], code=code), mini_corpus._rng(seed, stream_base + index))
               for index, code in enumerate(codes)}
    return {code: n_per_speaker for code in codes}, streams


def sentence_jobs(speakers, n_per_speaker, seed, workdir, stream_base, marker):
    """{code: iterator of synthesis jobs} reading new grammar sentences with every training TTS voice;
    ids are <code><marker><k>, so sets from different streams never share an id."""
    def make_job(spk, k, rng):
        return mini_corpus._tts_job(spk, f"{spk['code']}{marker}{k:05d}", rng, workdir)

    return training_voice_streams(speakers, n_per_speaker, seed, stream_base, make_job)


def make_until(wanted, streams, work_root, jobs, progress, accept, log, what):
    """Draw jobs from each stream until `wanted[key]` accepted utterances exist; returns {key: [meta]}.

    Synthesis can fail or be rejected (`accept`), so each round asks for 10 % more than missing;
    at most 8 rounds."""
    kept = {key: [] for key in wanted}
    for round_index in range(8):
        batch = []
        for key, n in wanted.items():
            deficit = n - len(kept[key])
            if deficit > 0:
                for _ in range(int(np.ceil(deficit * 1.1)) + 1):
                    job = next(streams[key], None)
                    if job is None:
                        break
                    batch.append((key, job))
        if not batch:
            break
        log(f"{what}: round {round_index + 1}: {len(batch)} utterances with {jobs} jobs")
        key_of = {job["uid"]: key for key, job in batch}
        results = mini_corpus._run_batches(mini_corpus._batches([j for _, j in batch]), work_root, jobs, progress)
        for meta, wav8 in sorted((r for b in results for r in b), key=lambda r: r[0]["uid"]):
            key = key_of[meta["uid"]]
            if wav8 is not None and len(kept[key]) < wanted[key] and accept(meta):
                kept[key].append(meta)
    return kept
