#!/usr/bin/env bash
# Two-speaker separation on Libri2Mix (LibriMix's generator), 8 kHz min mix_clean train-100 by default
# (the variant SPMamba reports). The corpus root holds Libri2Mix/wav8k/min/{train-100,dev,test,metadata}.
#   ./run.sh --corpus-root /data/LibriMix --config conf/mamba_tasnet_S.yaml
#   ./run.sh --prepare-args "--sample-rate 8000 --mode min --mix-type mix_both --train-set train-360" --data data_both
# Set LIBRIMIX in the environment (or ../../utils/db.sh) to skip --corpus-root.
# Options: ../../TEMPLATE/sep1/sep.sh --help; corpus options: python -m speechslytherin.bin.prepare --corpus libri2mix --help
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/sep1/sep.sh --corpus libri2mix --corpus-root "${LIBRIMIX:-/path/to/LibriMix}" \
  --prepare-args "--sample-rate 8000 --mode min --mix-type mix_clean --train-set train-100" \
  --config conf/mamba_tasnet_S.yaml "$@"
