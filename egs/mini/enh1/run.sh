#!/usr/bin/env bash
# SEMamba on the mini-enh set: VoiceBank-DEMAND-like noisy/clean pairs made from the mini corpus
# (generated noises; train SNR 0/5/10/15 dB, test 2.5/7.5/12.5/17.5 dB), written at 48 kHz in
# VoiceBank's layout, so stages 1-2 are the voicebank recipe's own code path.
# Test sets: tt = real recorded people (out of domain: training voices are TTS), tt_tts = unseen TTS voices.
#   ./run.sh                                    # stages 0-5 with conf/semamba_mini.yaml
#   ./run.sh --stage 3 --config conf/tiny.yaml  # any stage range, any config
# Options: see ../../TEMPLATE/enh1/enh.sh (--help).
cd "$(dirname "$0")"
exec ../../TEMPLATE/enh1/enh.sh --mini-corpus ../db/mini --corpus-root ../db/mini_enh \
  --config conf/semamba_mini.yaml --test-sets "tt tt_tts" "$@"
