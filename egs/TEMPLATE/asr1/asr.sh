#!/usr/bin/env bash
# Speech recognition stages shared by every ASR recipe (egs/<corpus>/asr1/run.sh calls this).
#   0 verify the corpus (mini: synthesize it)   1 manifests   2 tokenizer   3 train
#   4 decode the test sets                      5 WER -> RESULTS.md
# The corpus is read in the LibriSpeech layout; the mini ASR set is written in that layout, so
# both go through the same preparation.
set -euo pipefail
{  # bash reads a script as it runs it: the braces make it read all of it first, so editing this
   # file (or a git pull) while a recipe runs cannot shift what the running recipe executes

# Defaults; every one can be given as --name value (or --name=value).
stage=0
stop_stage=5
corpus=librispeech     # librispeech | mini (mini: stage 0 builds the LibriSpeech-layout mini set)
corpus_root=           # the LibriSpeech tree (holds LibriSpeech/<subset>/ or is that folder)
mini_corpus=           # mini only: the mini corpus (built by stage 0 if missing)
mini_scale=default     # mini only: tiny | small | default
mini_asr_args=         # mini only: options of bin/simulate --kind mini-asr, e.g. "--extra-train-utts 60"
train_sets=960         # 100 | 460 | 960 hours of LibriSpeech training speech
valid_sets=dev-clean   # subsets combined into data/cv.json
test_sets="dev_clean dev_other test_clean test_other"
config=conf/conmamba_S.yaml
tag=                   # appended to the exp name: exp/asr_<config>[_<tag>]
train_args=            # extra config overrides, e.g. "--trainer.epochs=2 --data.batch_size=2"
decode_args=           # extra options of bin/transcribe
ngpu=1                 # > 1: torchrun with NCCL
nproc=1                # > 1 on CPU: torchrun with gloo
device=                # cpu | cuda | cuda:N (default: cuda when available)
prep_jobs=4            # threads reading audio headers in stage 1
force=false            # redo stages that are marked done
help_message="Usage: $0 [--stage N] [--stop-stage N] [--config conf/x.yaml] [--corpus-root DIR] [--train-sets 960] [--tag T] ..."
__options_listed="stage stop_stage corpus corpus_root mini_corpus mini_scale mini_asr_args train_sets valid_sets test_sets config tag train_args decode_args ngpu nproc device prep_jobs force"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${here}/../../utils/stage.sh" "$@"
. "${here}/../../utils/parse_options.sh"
. "${here}/../../utils/path.sh"

[ -n "$corpus_root" ] || { echo "error: --corpus-root is required (the LibriSpeech tree; mini: where the mini ASR set goes)" >&2; exit 1; }
if [ "$corpus" = mini ]; then
  [ -n "$mini_corpus" ] || { echo "error: --mini-corpus is required with --corpus mini (where the mini corpus is, or goes)" >&2; exit 1; }
elif [ "$corpus" = librispeech ]; then
  if [ ! -d "$corpus_root" ]; then
    echo "error: LibriSpeech is not at '${corpus_root}'. Pass --corpus-root DIR, or set LIBRISPEECH in egs/utils/db.sh (or the environment)." >&2
    exit 1
  fi
else
  echo "error: --corpus must be librispeech or mini, got '${corpus}'" >&2; exit 1
fi
[ -f "$config" ] || { echo "error: config $config not found (configs are in $(pwd)/conf)" >&2; exit 1; }
data=data
exp="exp/asr_$(basename "${config%.*}")${tag:+_${tag}}"
prep_args="--train-sets ${train_sets} --valid-sets ${valid_sets} --test-sets ${test_sets//_/-}"

if run_stage 0 "corpus ${corpus} at ${corpus_root}" "$data"; then
  if [ "$corpus" = mini ]; then
    "$PYTHON" -m speechslytherin.bin.make_mini --out "$mini_corpus" --scale "$mini_scale" --no-progress
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.simulate --kind mini-asr --root "$mini_corpus" --out "$corpus_root" \
      --no-progress ${mini_asr_args}
  fi
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.prepare --corpus librispeech --root "$corpus_root" --verify-only ${prep_args}
  stage_done
fi

if run_stage 1 "manifests -> ${data}/" "$data"; then
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.prepare --corpus librispeech --root "$corpus_root" --out "$data" \
    --jobs "$prep_jobs" --no-progress ${prep_args}
  stage_done
fi

# The tokenizer follows the config (vocab_size, token_type), so its marker is the experiment's;
# bin/tokenizer keeps an existing model trained on the same text and settings.
if run_stage 2 "tokenizer of ${config} -> ${data}/tokenizer" "$exp"; then
  "$PYTHON" -m speechslytherin.bin.tokenizer "$config" --data-dir "$data"
  stage_done
fi

if run_stage 3 "train ${config} -> ${exp}" "$exp"; then
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.train "$config" --data-dir "$data" --exp-dir "$exp" \
    --ngpu "$ngpu" --nproc "$nproc" ${device:+--device "$device"} ${train_args}
  stage_done
fi

present_sets() {  # the test sets whose manifest stage 1 wrote (a missing subset is skipped there)
  local set
  for set in $test_sets; do
    if [ -f "${data}/${set}.json" ]; then echo "$set"; else echo "warning: ${data}/${set}.json missing (subset not in the corpus); ${set} skipped" >&2; fi
  done
}

if run_stage 4 "decode ${test_sets}" "$exp"; then
  for set in $(present_sets); do
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.transcribe --model "${exp}/model.pt" "${data}/${set}.json" \
      --out "${exp}/decode_${set}" --device "${device:-auto}" ${decode_args}
  done
  stage_done
fi

if run_stage 5 "WER of ${test_sets} -> RESULTS.md" "$exp"; then
  for set in $(present_sets); do
    "$PYTHON" -m speechslytherin.bin.wer --ref "${data}/${set}.json" --hyp "${exp}/decode_${set}" \
      --out "${exp}/score_${set}" --exp-name "$(basename "$exp")" --results-md RESULTS.md
  done
  stage_done
fi
exit
}
