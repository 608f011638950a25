#!/usr/bin/env bash
# Mamba-TasNet on the mini corpus: synthesized offline, 8 kHz 2-speaker mixtures (wsj0-2mix layout).
# Test sets: tt = real recorded speakers (out of domain: training voices are TTS), tt_tts = unseen TTS voices.
#   ./run.sh                                    # stages 0-5 with conf/mamba_tasnet_mini.yaml
#   ./run.sh --stage 3 --config conf/tiny.yaml  # any stage range, any config
# Options: see ../../TEMPLATE/sep1/sep.sh (--help).
cd "$(dirname "$0")"
exec ../../TEMPLATE/sep1/sep.sh --corpus mini --corpus-root ../db/mini --test-sets "tt tt_tts" "$@"
