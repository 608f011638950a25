"""Run the offline TTS engines (eSpeak NG, flite, festival) on one utterance or a batch.

Each call writes a wav and returns (samples float32, sample_rate). The engines are
deterministic: the same text and settings give the same samples, which makes the whole
mini corpus reproducible from its seed.
"""

import os
import subprocess

import soundfile as sf


class SynthesisError(RuntimeError):
    """A TTS engine failed; the message has its command and stderr."""


def _run(cmd, what, stdin=None):
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SynthesisError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()[-2000:]}"
        )


def _read(path, what):
    if not os.path.isfile(path) or os.path.getsize(path) <= 44:
        raise SynthesisError(f"{what} produced no audio at {path}")
    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    return wav[:, 0], sr


def espeak(text, accent, variant, pitch, rate, wav_path):
    """eSpeak NG: `pitch` 0-99 (default 50), `rate` in words per minute (default 175)."""
    voice = f"{accent}+{variant}"
    _run(
        ["espeak-ng", "-v", voice, "-p", str(int(pitch)), "-s", str(int(rate)), "-w", wav_path,
         "--", text],
        f"espeak-ng voice {voice}",
    )
    return _read(wav_path, f"espeak-ng voice {voice}")


def flite(text, voice, duration_stretch, f0_mean, wav_path):
    """flite: `duration_stretch` >1 is slower; `f0_mean` is the target mean pitch in Hz."""
    _run(
        ["flite", "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.3f}",
         "--setf", f"int_f0_target_mean={f0_mean:.1f}", "-t", text, "-o", wav_path],
        f"flite voice {voice}",
    )
    return _read(wav_path, f"flite voice {voice}")


def _scheme_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_batch(voice, items):
    """festival, one process for many utterances: items = [(text, duration_stretch, wav_path)]."""
    lines = [f"(voice_{voice})"]
    for text, stretch, wav_path in items:
        lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.3f})")
        lines.append(f"(utt.save.wave (SynthText {_scheme_string(text)}) {_scheme_string(wav_path)} 'riff)")
    script = items[0][2] + ".scm"
    with open(script, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    _run(["festival", "--batch", script], f"festival voice {voice}")
    return [_read(wav_path, f"festival voice {voice}") for _, _, wav_path in items]
