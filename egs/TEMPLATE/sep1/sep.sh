#!/usr/bin/env bash
# Speech separation stages shared by every separation recipe (egs/<corpus>/sep1/run.sh calls this).
#   0 verify the corpus (mini: synthesize it)   1 manifests of the fixed sets
#   2 dynamic-mixing pool (corpora without one: nothing to do), or with --simulate KIND: simulate the
#     corpus from --simulate-root into --corpus-root and write its manifests (stage 1 then skips)
#   3 train   4 separate the test set   5 score -> RESULTS.md
set -euo pipefail
{  # bash reads a script as it runs it: the braces make it read all of it first, so editing this
   # file (or a git pull) while a recipe runs cannot shift what the running recipe executes

# Defaults; every one can be given as --name value (or --name=value).
stage=0
stop_stage=5
corpus=mini            # mini | wsj0-2mix | libri2mix | wham | echo2mix (see speechslytherin/prepare)
corpus_root=           # the corpus tree (mini: where to synthesize it)
mini_scale=default     # mini only: tiny | small | default
config=conf/mamba_tasnet_mini.yaml
tag=                   # appended to the exp name: exp/sep_<config>[_<tag>]
train_args=            # extra config overrides, e.g. "--trainer.epochs=2 --data.batch_size=2"
ngpu=1                 # > 1: torchrun with NCCL
nproc=1                # > 1 on CPU: torchrun with gloo
device=                # cpu | cuda | cuda:N (default: cuda when available)
test_sets="tt"
score_args=            # e.g. "--pesq --stoi" or "--sdr-backend mir_eval"
dm_pool=               # dynamic-mixing pool (wsj0 si_tr_s); mini: inside the corpus
prepare_args=          # corpus options of bin/prepare, e.g. "--sample-rate 16000 --mix-type mix_both"
data=data              # manifest folder (one per corpus variant, e.g. data_mix_both)
simulate=              # a bin/simulate kind (echo2mix): stage 2 makes the corpus at --corpus-root
simulate_root=         # the speech it is simulated from (LibriSpeech, a mini corpus, ...)
simulate_args=         # e.g. "--n-mixtures 200 50 50 --duration 4 --seed 1"
force=false            # redo stages that are marked done
help_message="Usage: $0 [--stage N] [--stop-stage N] [--config conf/x.yaml] [--corpus-root DIR] [--tag T] [--ngpu N] ..."
__options_listed="stage stop_stage corpus corpus_root mini_scale config tag train_args ngpu nproc device test_sets score_args dm_pool prepare_args data simulate simulate_root simulate_args force"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${here}/../../utils/stage.sh" "$@"
. "${here}/../../utils/parse_options.sh"
. "${here}/../../utils/path.sh"

[ -n "$corpus_root" ] || { echo "error: --corpus-root is required (where the ${corpus} corpus is, or goes for mini)" >&2; exit 1; }
if [ -n "$simulate" ]; then
  if [ -z "$simulate_root" ] || [ ! -d "$simulate_root" ]; then
    echo "error: --simulate ${simulate} needs the speech to simulate from: --simulate-root DIR ('${simulate_root}' is not a folder)." >&2
    exit 1
  fi
elif [ "$corpus" != mini ] && [ ! -d "$corpus_root" ]; then
  echo "error: the ${corpus} corpus is not at '${corpus_root}'. Pass --corpus-root DIR, or set its path in egs/utils/db.sh." >&2
  exit 1
fi
[ -f "$config" ] || { echo "error: config $config not found (configs are in $(pwd)/conf)" >&2; exit 1; }
exp="exp/sep_$(basename "${config%.*}")${tag:+_${tag}}"

if run_stage 0 "corpus ${corpus} at ${corpus_root}" "$data"; then
  if [ "$corpus" = mini ]; then
    "$PYTHON" -m speechslytherin.bin.make_mini --out "$corpus_root" --scale "$mini_scale"
  elif [ -n "$simulate" ]; then
    echo "${corpus} is simulated at stage 2 (${simulate}) from ${simulate_root} into ${corpus_root}"
  else
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --verify-only ${prepare_args}
  fi
  stage_done
fi

if run_stage 1 "manifests of the fixed sets -> ${data}/" "$data"; then
  if [ -n "$simulate" ]; then
    echo "nothing to do: the simulated corpus gets its manifests at stage 2"
  else
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --out "$data" ${prepare_args}
  fi
  stage_done
fi

if [ -n "$simulate" ]; then
  stage2_title="simulate ${simulate} from ${simulate_root} -> ${corpus_root}, manifests -> ${data}/"
else
  stage2_title="dynamic-mixing pool -> ${data}/dm_pool.json"
fi
if run_stage 2 "$stage2_title" "$data"; then
  if [ -n "$simulate" ]; then
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.simulate --kind "$simulate" --root "$simulate_root" --out "$corpus_root" \
      ${simulate_args}
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --out "$data" ${prepare_args}
  else
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --out "$data" \
      --pool-only ${dm_pool:+--pool "$dm_pool"} ${prepare_args}
  fi
  stage_done
fi

if run_stage 3 "train ${config} -> ${exp}" "$exp"; then
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.train "$config" --data-dir "$data" --exp-dir "$exp" \
    --ngpu "$ngpu" --nproc "$nproc" ${device:+--device "$device"} ${train_args}
  stage_done
fi

if run_stage 4 "separate ${test_sets}" "$exp"; then
  for set in $test_sets; do
    "$PYTHON" -m speechslytherin.bin.separate --model "${exp}/model.pt" "${data}/${set}.json" \
      --out "${exp}/separated_${set}" ${device:+--device "$device"}
  done
  stage_done
fi

if run_stage 5 "score ${test_sets} -> RESULTS.md" "$exp"; then
  for set in $test_sets; do
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.score --ref "${data}/${set}.json" --est "${exp}/separated_${set}" \
      --out "${exp}/score_${set}" --exp-name "$(basename "$exp")" --results-md RESULTS.md ${score_args}
  done
  stage_done
fi
exit
}
