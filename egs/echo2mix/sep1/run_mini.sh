#!/usr/bin/env bash
# The reverberant noisy mini counterpart: an Echo2Mix-like set simulated from the mini corpus
# (egs/mini/db/mini, built here if missing) into egs/mini/db/mini_echo2mix, then run.sh's stages
# with a CPU-sized config. Everything after the options below can be overridden, e.g.
#   ./run_mini.sh --mini-scale tiny --simulate-args "--n-mixtures 8 4 4 --duration 1.5" --config conf/x.yaml
cd "$(dirname "$0")"
. ../../utils/path.sh
mini_scale=default
sim_args="--n-mixtures 600 100 100 --duration 4"
args=()
while [ $# -gt 0 ]; do   # two options are ours; the rest goes to run.sh
  case "$1" in
    --mini-scale) mini_scale="$2"; shift 2 ;;
    --mini-scale=*) mini_scale="${1#*=}"; shift ;;
    --simulate-args) sim_args="$2"; shift 2 ;;
    --simulate-args=*) sim_args="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -e
"$PYTHON" -m speechslytherin.bin.make_mini --out ../../mini/db/mini --scale "$mini_scale"
exec ./run.sh --simulate echo2mix --simulate-root ../../mini/db/mini --corpus-root ../../mini/db/mini_echo2mix \
  --simulate-args "$sim_args" --data data_mini --config conf/mamba_tasnet_mini.yaml ${args[@]+"${args[@]}"}
