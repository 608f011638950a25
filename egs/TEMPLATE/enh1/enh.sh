#!/usr/bin/env bash
# Speech enhancement stages shared by every enhancement recipe (egs/<corpus>/enh1/run.sh calls this).
#   0 verify the corpus (mini: synthesize it)   1 manifests at the corpus's rate
#   2 resample to 16 kHz into data/wav16k (never in place) and point the manifests there
#   3 train   4 enhance the test sets (and with PCS when --pcs true)   5 score -> RESULTS.md
set -euo pipefail
{  # bash reads a script as it runs it: the braces make it read all of it first, so editing this
   # file (or a git pull) while a recipe runs cannot shift what the running recipe executes

# Defaults; every one can be given as --name value (or --name=value).
stage=0
stop_stage=5
corpus=voicebank       # corpus preparation (speechslytherin/prepare): the VoiceBank-DEMAND layout
corpus_root=           # the corpus tree (mini: where the mini-enh set is simulated)
mini_corpus=           # mini only: the mini corpus the mini-enh set is made from (built if missing)
mini_scale=default     # mini only: tiny | small | default
valid=speakers         # speakers: hold p226/p287 out of train; test: validate on the test set (official SEMamba)
sample_rate=16000
config=conf/semamba.yaml
tag=                   # appended to the exp name: exp/enh_<config>[_<tag>]
train_args=            # extra config overrides, e.g. "--trainer.epochs=2 --data.batch_size=2"
ngpu=1                 # > 1: torchrun with NCCL
nproc=1                # > 1 on CPU: torchrun with gloo
device=                # cpu | cuda | cuda:N (default: cuda when available)
test_sets="tt"
pcs=false              # also enhance + score with PCS post-processing (rows "<exp>+PCS")
nj=2                   # parallel processes for resampling and scoring
force=false            # redo stages that are marked done
help_message="Usage: $0 [--stage N] [--stop-stage N] [--config conf/x.yaml] [--corpus-root DIR] [--tag T] [--pcs true] ..."
__options_listed="stage stop_stage corpus corpus_root mini_corpus mini_scale valid sample_rate config tag train_args ngpu nproc device test_sets pcs nj force"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${here}/../../utils/stage.sh" "$@"
. "${here}/../../utils/parse_options.sh"
. "${here}/../../utils/path.sh"

[ -n "$corpus_root" ] || { echo "error: --corpus-root is required (where the ${corpus} corpus is, or goes for mini)" >&2; exit 1; }
if [ -z "$mini_corpus" ] && [ ! -d "$corpus_root" ]; then
  echo "error: the ${corpus} corpus is not at '${corpus_root}'. Pass --corpus-root DIR, or set its path in egs/utils/db.sh." >&2
  exit 1
fi
[ -f "$config" ] || { echo "error: config $config not found (configs are in $(pwd)/conf)" >&2; exit 1; }
data=data
exp="exp/enh_$(basename "${config%.*}")${tag:+_${tag}}"

if run_stage 0 "corpus ${corpus} at ${corpus_root}" "$data"; then
  if [ -n "$mini_corpus" ]; then
    "$PYTHON" -m speechslytherin.bin.make_mini --out "$mini_corpus" --scale "$mini_scale" --no-progress
    "$PYTHON" -m speechslytherin.bin.simulate --kind mini-enh --root "$mini_corpus" --out "$corpus_root" \
      --scale "$mini_scale" --no-progress
  fi
  "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --verify-only --valid "$valid"
  stage_done
fi

if run_stage 1 "manifests -> ${data}/{tr,cv,${test_sets// /,}}.json (the corpus's own rate)" "$data"; then
  "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --out "$data" --valid "$valid"
  stage_done
fi

if run_stage 2 "resample to ${sample_rate} Hz -> ${data}/wav$((sample_rate / 1000))k, manifests point there" "$data"; then
  "$PYTHON" -m speechslytherin.bin.prepare --corpus "$corpus" --root "$corpus_root" --out "$data" --valid "$valid" \
    --resample-to "${data}/wav$((sample_rate / 1000))k" --sample-rate "$sample_rate" --nj "$nj"
  stage_done
fi

if run_stage 3 "train ${config} -> ${exp}" "$exp"; then
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.train "$config" --data-dir "$data" --exp-dir "$exp" \
    --ngpu "$ngpu" --nproc "$nproc" ${device:+--device "$device"} ${train_args}
  stage_done
fi

variants=""
[ "$pcs" = true ] && variants="_pcs"
if run_stage 4 "enhance ${test_sets}${variants:+ (also with PCS)}" "$exp"; then
  for set in $test_sets; do
    "$PYTHON" -m speechslytherin.bin.enhance --model "${exp}/model.pt" "${data}/${set}.json" \
      --out "${exp}/enhanced_${set}" ${device:+--device "$device"}
    if [ "$pcs" = true ]; then
      "$PYTHON" -m speechslytherin.bin.enhance --model "${exp}/model.pt" "${data}/${set}.json" \
        --out "${exp}/enhanced_${set}_pcs" --pcs ${device:+--device "$device"}
    fi
  done
  stage_done
fi

if run_stage 5 "score ${test_sets} -> RESULTS.md" "$exp"; then
  for set in $test_sets; do
    "$PYTHON" -m speechslytherin.bin.score --task enh --ref "${data}/${set}.json" --est "${exp}/enhanced_${set}" \
      --out "${exp}/score_${set}" --exp-name "$(basename "$exp")" --nj "$nj" --results-md RESULTS.md
    if [ "$pcs" = true ]; then
      "$PYTHON" -m speechslytherin.bin.score --task enh --ref "${data}/${set}.json" \
        --est "${exp}/enhanced_${set}_pcs" --out "${exp}/score_${set}_pcs" --exp-name "$(basename "$exp")+PCS" \
        --nj "$nj" --results-md RESULTS.md
    fi
  done
  stage_done
fi
exit
}
