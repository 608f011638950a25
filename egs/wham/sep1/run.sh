#!/usr/bin/env bash
# Noisy two-speaker separation on WHAM! (8 kHz min, mix_both: two speakers + WHAM! noise, clean targets).
# The corpus root is the wham_scripts --output-dir, holding wav8k/min/{tr,cv,tt}/{mix_both,s1,s2,noise}.
#   ./run.sh --corpus-root /data/wham --config conf/mamba_tasnet_S.yaml
# Set WHAM in the environment (or ../../utils/db.sh) to skip --corpus-root.
# Options: ../../TEMPLATE/sep1/sep.sh --help; corpus options: python -m speechslytherin.bin.prepare --corpus wham --help
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/sep1/sep.sh --corpus wham --corpus-root "${WHAM:-/path/to/wham}" \
  --prepare-args "--sample-rate 8000 --mode min --mix-type mix_both" \
  --config conf/mamba_tasnet_S.yaml "$@"
