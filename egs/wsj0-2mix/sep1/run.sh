#!/usr/bin/env bash
# Mamba-TasNet on wsj0-2mix (8 kHz, min), with dynamic mixing from WSJ0 si_tr_s.
#   ./run.sh --corpus-root /data/wsj0-mix --dm-pool /data/wsj0/si_tr_s --config conf/mamba_tasnet_S.yaml
# corpus-root holds 2speakers/wav8k/min/{tr,cv,tt}; set WSJ0_2MIX and WSJ0_SI_TR_S in ../../utils/db.sh
# (or the environment) to avoid typing them. Options: ../../TEMPLATE/sep1/sep.sh --help.
cd "$(dirname "$0")"
. ../../utils/db.sh
exec ../../TEMPLATE/sep1/sep.sh --corpus wsj0-2mix --corpus-root "${WSJ0_2MIX}" --dm-pool "${WSJ0_SI_TR_S}" \
  --config conf/mamba_tasnet_S.yaml "$@"
