#!/usr/bin/env bash
# Where the corpora live on this machine. Edit, or export the variables before running a recipe.
WSJ0_2MIX="${WSJ0_2MIX:-/path/to/wsj0-mix}"          # holds 2speakers/wav8k/min/{tr,cv,tt}
WSJ0_SI_TR_S="${WSJ0_SI_TR_S:-/path/to/wsj0/si_tr_s}" # single-speaker training utterances for dynamic mixing
LIBRIMIX="${LIBRIMIX:-/path/to/LibriMix}"             # holds Libri2Mix/wav8k/min/...
WHAM="${WHAM:-/path/to/wham}"                         # wham_scripts output: wav8k/min/{tr,cv,tt}
ECHO2MIX="${ECHO2MIX:-/path/to/Echo2Mix}"             # {train,val,test}/...
VOICEBANK="${VOICEBANK:-/path/to/VoiceBank-DEMAND}"   # clean_trainset_28spk_wav/, noisy_*_wav/, logfiles/ (48 kHz)
LIBRISPEECH="${LIBRISPEECH:-/path/to/LibriSpeech}"    # holds train-clean-100/, dev-clean/, ...
LIBRITTS="${LIBRITTS:-/path/to/LibriTTS}"             # holds train-clean-100/, dev-clean/, ... (24 kHz)
