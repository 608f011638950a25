#!/usr/bin/env bash
# ASR on the mini corpus, through the LibriSpeech code path: stage 0 builds the mini corpus
# (../db/mini, if missing) and writes its single utterances as a LibriSpeech tree (../db/mini_asr):
#   train-clean-100 = TTS training voices, dev-clean = held-out TTS voices,
#   test-clean = unseen TTS voices, test-other = a real person (recorded English prompts).
#   ./run.sh                                    # stages 0-5 with conf/conmamba_mini.yaml
#   ./run.sh --stage 3 --config conf/tiny.yaml  # any stage range, any config
# Options: see ../../TEMPLATE/asr1/asr.sh (--help).
cd "$(dirname "$0")"
exec ../../TEMPLATE/asr1/asr.sh --corpus mini --mini-corpus ../db/mini --corpus-root ../db/mini_asr \
  --train-sets 100 --valid-sets dev-clean --test-sets "dev_clean test_clean test_other" \
  --config conf/conmamba_mini.yaml "$@"
