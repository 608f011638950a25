#!/usr/bin/env bash
# VALL-E / VALL-M on LibriTTS (585 h, 24 kHz) over EnCodec 24 kHz 6 kbps tokens (8 x 1024, 75 Hz).
#   ./run.sh --corpus-root /data/LibriTTS                              # stages 0-5, conf/vallm.yaml
#   ./run.sh --corpus-root /data/LibriTTS --config conf/valle.yaml --train-stages "ar nar"
# EnCodec weights: encodec_24khz-d7cc33bc.th in the torch hub cache or --codec-args "--encodec-dir DIR".
# Options: see ../../TEMPLATE/tts1/tts.sh (--help).
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/tts1/tts.sh --corpus libritts --corpus-root "${LIBRITTS:-}" --codec encodec \
  --config conf/vallm.yaml "$@"
