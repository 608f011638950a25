"""Offline scorers of synthesized speech: ASR for WER and a speaker encoder for similarity.

ASR backends (all take 16 kHz float audio):
- ``ModelASR``: the toolkit's own ASR model file (``speechslytherin.load_model(path).transcribe``);
  the scorer for real recipes (LibriSpeech-trained models for LibriTTS).
- ``PocketsphinxASR``: pocketsphinx 5 (its en-us acoustic model and dictionary ship in the
  wheel) with a word-pair grammar (FSG) of given sentences (which word may follow which): for
  the mini recipe, whose sentences come from a small template. The general LM is useless on
  synthetic voices. Words outside the dictionary are left out of the grammar (reported).
Speaker similarity: ``ResemblyzerSpeaker``, the GE2E encoder shipped inside the Resemblyzer
wheel (256-d, cosine of utterance embeddings). Missing packages raise ScorerUnavailable naming
the install command; the scoring then reports the metric as unavailable instead of failing.
"""

import os
import re
import tempfile

import numpy as np

SAMPLE_RATE = 16000


class ScorerUnavailable(RuntimeError):
    """A scorer whose package or model is missing; the message names what to install."""


class ModelASR:
    name = "own ASR model"

    def __init__(self, path, device="cpu", batch_size=4):
        from speechslytherin import load_model

        self.model = load_model(path, map_location=device)
        if not hasattr(self.model, "transcribe"):
            raise ScorerUnavailable(f"{path}: not an ASR model (no transcribe method)")
        self.batch_size, self.device = int(batch_size), device
        self.name = f"own ASR ({os.path.basename(os.path.dirname(os.path.abspath(path)))})"

    def transcribe(self, wavs):
        import torch

        out = []
        for start in range(0, len(wavs), self.batch_size):
            batch = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in wavs[start:start + self.batch_size]]
            out += self.model.transcribe(batch)
        return out


DECODER_OPTIONS = dict(fwdflat=False, bestpath=False, maxhmmpf=10000, beam=1e-60, wbeam=1e-40)
_WORD = re.compile(r"[a-z']+")


def sentence_words(text):
    """Lower-case words of a sentence (letters and apostrophes)."""
    return [w.strip("'") for w in _WORD.findall(str(text).lower()) if w.strip("'")]


def vocabulary(texts):
    return sorted({w for t in texts for w in sentence_words(t)})


def word_pair_grammar(sentences):
    """Word-pair grammar (as the Resource Management task's) in the Sphinx FSG text format: a
    sentence starts with a word that starts some given sentence, each word is followed by a word
    that follows it somewhere, and it may end after a word that ends some sentence. Looser than
    the sentence list, far tighter than a free word loop. One state per word (written directly:
    pocketsphinx expands recursive JSGF rules, which explodes)."""
    words = sorted({w for sent in sentences for w in sent})
    state = {w: k + 1 for k, w in enumerate(words)}  # 0 = start, len + 1 = final
    final = len(words) + 1
    starts, ends, follows = set(), set(), {w: set() for w in words}
    for sent in sentences:
        starts.add(sent[0])
        ends.add(sent[-1])
        for x, y in zip(sent, sent[1:]):
            follows[x].add(y)
    arcs = []

    def add(origin, targets, may_end):
        n = len(targets) + (1 if may_end else 0)
        arcs.extend(f"TRANSITION {origin} {state[w]} {1.0 / n:.6f} {w}" for w in sorted(targets))
        if may_end:
            arcs.append(f"TRANSITION {origin} {final} {1.0 / n:.6f}")

    add(0, starts, False)
    for w in words:
        add(state[w], follows[w], w in ends)
    head = ["FSG_BEGIN tts", f"NUM_STATES {final + 1}", "START_STATE 0", f"FINAL_STATE {final}"]
    return "\n".join(head + arcs + ["FSG_END"]) + "\n"


class PocketsphinxASR:
    name = "pocketsphinx + word-pair grammar"

    def __init__(self, texts, log=None):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise ScorerUnavailable("pocketsphinx is not installed: pip install pocketsphinx") from None
        model = os.path.join(get_model_path(), "en-us")
        dictionary = os.path.join(model, "cmudict-en-us.dict")
        known = set()
        with open(dictionary, encoding="utf-8") as f:
            for line in f:
                known.add(line.split(" ", 1)[0])
        sentences = [[w for w in sentence_words(t)] for t in texts]
        words = sorted({w for sent in sentences for w in sent})
        self.missing = [w for w in words if w not in known]
        sentences = [[w for w in sent if w in known] for sent in sentences]
        sentences = [sent for sent in sentences if sent]
        if not sentences:
            raise ScorerUnavailable("no word of the sentences is in pocketsphinx's dictionary")
        if self.missing and log:
            log(f"pocketsphinx: {len(self.missing)} words not in its dictionary are left out of the grammar "
                f"(e.g. {', '.join(self.missing[:5])}); they count as errors")
        self.vocabulary = sorted({w for sent in sentences for w in sent})
        grammar = word_pair_grammar(sentences)
        fd, self.grammar_path = tempfile.mkstemp(suffix=".fsg")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(grammar)
        # one forward pass (no flat-lexicon rescoring) and wide beams: fewer empty hypotheses
        self.decoder = Decoder(hmm=os.path.join(model, "en-us"), dict=dictionary, fsg=self.grammar_path,
                               loglevel="FATAL", **DECODER_OPTIONS)

    def transcribe(self, wavs):
        out = []
        for wav in wavs:
            pcm = (np.clip(np.asarray(wav, dtype=np.float32), -1, 1) * 32767).astype(np.int16)
            self.decoder.start_utt()
            self.decoder.process_raw(pcm.tobytes(), full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            out.append(hyp.hypstr if hyp is not None else "")
        return out

    def __del__(self):
        try:
            os.unlink(self.grammar_path)
        except (OSError, AttributeError):
            pass


class ResemblyzerSpeaker:
    name = "Resemblyzer GE2E"

    def __init__(self, device="cpu"):
        try:
            from resemblyzer import VoiceEncoder, preprocess_wav
        except ImportError as err:
            raise ScorerUnavailable(f"Resemblyzer cannot be imported ({err}): pip install --no-deps resemblyzer; "
                                    "pip install librosa webrtcvad-wheels") from None
        self.encoder = VoiceEncoder(device, verbose=False)
        self.preprocess = preprocess_wav

    def embed(self, wav):
        """Unit-norm 256-d embedding of 16 kHz audio, None when nothing voiced is left after VAD."""
        wav = self.preprocess(np.asarray(wav, dtype=np.float32), source_sr=SAMPLE_RATE)
        if len(wav) < SAMPLE_RATE // 10:
            return None
        return self.encoder.embed_utterance(wav)

    @staticmethod
    def similarity(a, b):
        if a is None or b is None:
            return None
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def make_asr(kind="auto", model_path=None, texts=(), device="cpu", log=print):
    """An ASR scorer: 'model' (needs model_path), 'pocketsphinx', 'none', or 'auto' (the model when
    given, else pocketsphinx when installed, else none). Returns None for none."""
    if kind == "none":
        return None
    if kind == "model" or (kind == "auto" and model_path):
        if not model_path:
            raise ScorerUnavailable("--asr model needs --asr-model FILE.pt")
        return ModelASR(model_path, device)
    try:
        return PocketsphinxASR(texts, log=log)
    except ScorerUnavailable as err:
        if kind == "pocketsphinx":
            raise
        log(f"WER not measured: {err}")
        return None
