#!/usr/bin/env bash
# ConMamba / Conformer ASR on LibriSpeech (960 h by default), as the Speech Slytherin paper.
#   ./run.sh --corpus-root /data/LibriSpeech --config conf/conmamba_S.yaml
#   ./run.sh --train-sets 100 --tag 100h                 # train-clean-100 only
#   ./run.sh --stage 4 --config conf/conmamba_L.yaml     # any stage range, any config
# corpus-root holds LibriSpeech/<subset>/ (or is that folder); set LIBRISPEECH in ../../utils/db.sh
# (or the environment) to avoid typing it. Options: ../../TEMPLATE/asr1/asr.sh --help.
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/asr1/asr.sh --corpus librispeech --corpus-root "${LIBRISPEECH:-}" \
  --config conf/conmamba_S.yaml "$@"
