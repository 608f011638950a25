#!/usr/bin/env bash
# Where the corpora live on this machine. Edit, or export the variables before running a recipe.
WSJ0_2MIX="${WSJ0_2MIX:-/path/to/wsj0-mix}"          # holds 2speakers/wav8k/min/{tr,cv,tt}
WSJ0_SI_TR_S="${WSJ0_SI_TR_S:-/path/to/wsj0/si_tr_s}" # single-speaker training utterances for dynamic mixing
