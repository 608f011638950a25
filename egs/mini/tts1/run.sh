#!/usr/bin/env bash
# VALL-E / VALL-M on the mini corpus: synthesized offline, its voices and sentences written as a
# 16 kHz LibriTTS tree (../db/mini_tts), tokens of the mel-RVQ codec fitted in stage 2 (8 x 256, 50 Hz).
# Training: the corpus's 2,820 utterances of the training voices + 120 more sentences per voice (--mini-tts-args):
# three times the sentences lift the AR's reading of the text (README). Test: unseen TTS voices, each target
# sentence synthesized with a held-out utterance of the same voice as prompt.
#   ./run.sh                                               # stages 0-5 with conf/vallm_nano.yaml
#   ./run.sh --config conf/valle_nano.yaml --stage 3       # the VALL-E baseline on the same data
# Options: see ../../TEMPLATE/tts1/tts.sh (--help).
cd "$(dirname "$0")"
exec ../../TEMPLATE/tts1/tts.sh --corpus mini --mini-corpus ../db/mini --corpus-root ../db/mini_tts \
  --mini-tts-args "--extra-train-utts 120" --prepare-args "--train-sets 100" --codec mel-rvq \
  --feature-args "--max-targets-per-speaker 10" \
  --train-stages "ar nar" --synth-args "--top-k 5 --min-len-ratio 0.6 --max-len-ratio 2.0" \
  --config conf/vallm_nano.yaml "$@"
