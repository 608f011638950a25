#!/usr/bin/env bash
# Reverberant noisy two-speaker separation on Echo2Mix (16 kHz, 6 s; targets = reverberant images).
#   ./run.sh --corpus-root /data/Echo2Mix                       # the released set: {train,val,test}/...
#   ./run.sh --simulate echo2mix --simulate-root /data/LibriSpeech --corpus-root /data/echo2mix_sim
#                                                               # stage 2 simulates an Echo2Mix-like set
#   ./run_mini.sh                                               # the same, from the mini corpus, on CPU
# Set ECHO2MIX in the environment (or ../../utils/db.sh) to skip --corpus-root.
# Options: ../../TEMPLATE/sep1/sep.sh --help; simulation options:
#   python -m speechslytherin.bin.simulate --kind echo2mix --help (pass them with --simulate-args "...")
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/sep1/sep.sh --corpus echo2mix --corpus-root "${ECHO2MIX:-/path/to/Echo2Mix}" \
  --prepare-args "--sample-rate 16000" --config conf/mamba_tasnet_S.yaml "$@"
