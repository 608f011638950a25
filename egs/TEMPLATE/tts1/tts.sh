#!/usr/bin/env bash
# Speech synthesis (VALL-E / VALL-M over codec tokens) stages shared by every TTS recipe
# (egs/<corpus>/tts1/run.sh calls this).
#   0 verify the corpus (mini: synthesize the mini corpus and write it as a LibriTTS tree)
#   1 manifests (LibriTTS layout, 0.5-14 s)   2 codec (mini: fit it) + phonemes + codec tokens + prompts
#   3 train AR and NAR (one run, or AR then NAR into the same exp)   4 synthesize the test set with
#   3 s prompts of the same speaker   5 score (WER, speaker similarity, MCD, F0) -> RESULTS.md
set -euo pipefail
{  # bash reads a script as it runs it: the braces make it read all of it first, so editing this
   # file (or a git pull) while a recipe runs cannot shift what the running recipe executes

# Defaults; every one can be given as --name value (or --name=value).
stage=0
stop_stage=5
corpus=libritts        # libritts | mini (mini: stage 0 builds the LibriTTS-layout mini TTS set)
corpus_root=           # the LibriTTS tree (holds LibriTTS/<split>/ or is that folder); mini: where the set goes
mini_corpus=           # mini only: the mini corpus (built by stage 0 if missing)
mini_scale=default     # mini only: tiny | small | default
mini_tts_args=         # mini only: options of bin/simulate --kind mini-tts, e.g. "--extra-train-utts 400"
prepare_args=          # options of bin/prepare --corpus libritts, e.g. "--train-sets 100"
codec=encodec          # encodec (EnCodec 24 kHz 6 kbps; real recipes) | mel-rvq (fitted in stage 2; mini)
codec_args=            # options of bin/fit_codec, e.g. "--encodec-dir DIR" or "--max-utts 200 --iterations 10"
feature_args=          # options of bin/tts_features, e.g. "--max-targets-per-speaker 10"
config=conf/vallm.yaml
tag=                   # appended to the exp name: exp/tts_<config>[_<tag>]
train_stages=both      # both: AR and NAR trained together in one run; "ar nar": AR first, then NAR from it
train_args=            # extra config overrides for every training run, e.g. "--trainer.epochs=2"
ar_init=               # "ar nar" only: start the AR run from this model.pt (train an earlier AR further)
synth_args=            # options of bin/synthesize, e.g. "--top-k 10 --limit 20"
score_args=            # options of bin/score_tts, e.g. "--asr-model ../../mini/asr1/exp/x/model.pt"
ngpu=1                 # > 1: torchrun with NCCL
nproc=1                # > 1 on CPU: torchrun with gloo
device=                # cpu | cuda | cuda:N (default: cuda when available)
test_sets="tt"
data=data              # stage-2 output (stage-1 manifests go to ${data}/prep)
force=false            # redo stages that are marked done
help_message="Usage: $0 [--stage N] [--stop-stage N] [--config conf/x.yaml] [--corpus-root DIR] [--codec encodec|mel-rvq] [--train-stages 'ar nar'] ..."
__options_listed="stage stop_stage corpus corpus_root mini_corpus mini_scale mini_tts_args prepare_args codec codec_args feature_args config tag train_stages train_args synth_args score_args ar_init ngpu nproc device test_sets data force"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${here}/../../utils/stage.sh" "$@"
. "${here}/../../utils/parse_options.sh"
. "${here}/../../utils/path.sh"

[ -n "$corpus_root" ] || { echo "error: --corpus-root is required (the LibriTTS tree; mini: where the mini TTS set goes)" >&2; exit 1; }
case "$corpus" in
  mini) [ -n "$mini_corpus" ] || { echo "error: --mini-corpus is required with --corpus mini (where the mini corpus is, or goes)" >&2; exit 1; } ;;
  libritts) [ -d "$corpus_root" ] || { echo "error: the LibriTTS corpus is not at '${corpus_root}'. Pass --corpus-root DIR, or set its path in egs/utils/db.sh." >&2; exit 1; } ;;
  *) echo "error: --corpus must be libritts or mini, got '${corpus}'" >&2; exit 1 ;;
esac
case "$codec" in mel-rvq|encodec) ;; *) echo "error: --codec must be encodec or mel-rvq, got '${codec}'" >&2; exit 1 ;; esac
if [ -n "$ar_init" ]; then
  [ "$train_stages" != both ] || { echo "error: --ar-init starts the AR run of --train-stages 'ar nar'; set that too" >&2; exit 1; }
  [ -f "$ar_init" ] || { echo "error: --ar-init ${ar_init}: no such model file" >&2; exit 1; }
fi
for s in $train_stages; do
  case "$s" in both|ar|nar) ;; *) echo "error: --train-stages takes 'both' or 'ar nar', got '${train_stages}'" >&2; exit 1 ;; esac
done
[ -f "$config" ] || { echo "error: config $config not found (configs are in $(pwd)/conf)" >&2; exit 1; }
exp="exp/tts_$(basename "${config%.*}")${tag:+_${tag}}"
prep="${data}/prep"

if run_stage 0 "corpus ${corpus} at ${corpus_root}" "$data"; then
  if [ "$corpus" = mini ]; then
    "$PYTHON" -m speechslytherin.bin.make_mini --out "$mini_corpus" --scale "$mini_scale"
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.simulate --kind mini-tts --root "$mini_corpus" --out "$corpus_root" ${mini_tts_args}
  fi
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.prepare --corpus libritts --root "$corpus_root" --verify-only ${prepare_args}
  stage_done
fi

if run_stage 1 "manifests -> ${prep}/" "$data"; then
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.prepare --corpus libritts --root "$corpus_root" --out "$prep" ${prepare_args}
  stage_done
fi

if run_stage 2 "codec (${codec}), phonemes, codec tokens, test prompts -> ${data}/" "$data"; then
  if [ "$codec" = mel-rvq ]; then
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.fit_codec --kind mel-rvq --manifest "${prep}/tr.json" --out "${data}/codec.pt" ${codec_args}
  else
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.fit_codec --kind encodec --out "${data}/codec.pt" ${codec_args}
  fi
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.tts_features --prep-dir "$prep" --codec "${data}/codec.pt" --out "$data" \
    ${device:+--device "$device"} ${feature_args}
  stage_done
fi

train() {  # train <exp dir> [overrides...]
  local dir="$1"; shift
  # shellcheck disable=SC2086
  "$PYTHON" -m speechslytherin.bin.train "$config" --data-dir "$data" --exp-dir "$dir" \
    --ngpu "$ngpu" --nproc "$nproc" ${device:+--device "$device"} "$@" ${train_args}
}

if run_stage 3 "train ${config} (${train_stages}) -> ${exp}" "$exp"; then
  if [ "$train_stages" = both ]; then
    train "$exp" --trainer.train_stage=both
  else
    # AR first (its own run in ${exp}/ar), then NAR starting from the AR model; ${exp}/model.pt holds both.
    train "${exp}/ar" --trainer.train_stage=ar ${ar_init:+"--trainer.init_from=${ar_init}"}
    train "$exp" --trainer.train_stage=nar "--trainer.init_from=${exp}/ar/model.pt"
  fi
  stage_done
fi

if run_stage 4 "synthesize ${test_sets} with 3 s prompts of the same speaker" "$exp"; then
  for set in $test_sets; do
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.synthesize --model "${exp}/model.pt" --codec "${data}/codec.pt" \
      --text-manifest "${data}/${set}.json" --out "${exp}/synth_${set}" ${device:+--device "$device"} ${synth_args}
  done
  stage_done
fi

if run_stage 5 "score ${test_sets} -> RESULTS.md" "$exp"; then
  for set in $test_sets; do
    # shellcheck disable=SC2086
    "$PYTHON" -m speechslytherin.bin.score_tts --ref "${data}/${set}.json" --syn "${exp}/synth_${set}" \
      --out "${exp}/score_${set}" --exp-name "$(basename "$exp")" --results-md RESULTS.md \
      --codec "${data}/codec.pt" ${score_args}
  done
  stage_done
fi
exit
}
