#!/usr/bin/env bash
# SEMamba on VoiceBank-DEMAND (28 speakers, 48 kHz zips; stage 2 resamples to 16 kHz into data/wav16k).
#   ./run.sh --corpus-root /data/VoiceBank-DEMAND                       # SEMamba advanced, stages 0-5
#   ./run.sh --config conf/semamba_causal.yaml --pcs true              # another config, +PCS rows too
#   ./run.sh --valid test                                              # official setup: validate on test
# corpus-root holds the unpacked zips (clean_trainset_28spk_wav/, noisy_trainset_28spk_wav/,
# clean_testset_wav/, noisy_testset_wav/, logfiles/); set VOICEBANK in ../../utils/db.sh (or the
# environment) to avoid typing it. Options: ../../TEMPLATE/enh1/enh.sh --help.
cd "$(dirname "$0")"
. ../../utils/db.sh
VOICEBANK="${VOICEBANK:-/path/to/VoiceBank-DEMAND}"
exec ../../TEMPLATE/enh1/enh.sh --corpus-root "${VOICEBANK}" --config conf/semamba.yaml "$@"
