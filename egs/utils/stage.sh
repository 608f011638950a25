#!/usr/bin/env bash
# Stage bookkeeping shared by every run.sh: finished-stage markers and the resume line.
# Usage inside run.sh (source it BEFORE parse_options.sh so it sees the original arguments):
#   . ../../utils/stage.sh "$@"; . ../../utils/parse_options.sh
#   if run_stage 3 "train" "$exp"; then python -m ...; stage_done; fi
# A stage runs when stage <= N <= stop_stage and its folder has no marker for it, or when
# --force true. Data stages keep markers in the data folder, experiment stages in the exp dir.

__run_args=""
for __a in "$@"; do __run_args+=" $(printf '%q' "$__a")"; done

run_stage() {
  local n="$1" what="$2" dir="$3"
  [ "$n" -ge "$stage" ] && [ "$n" -le "$stop_stage" ] || return 1
  if [ "${force:-false}" != true ] && [ -f "${dir}/.stage${n}.done" ]; then
    echo "== stage ${n}: ${what}: done before (${dir}/.stage${n}.done), skipped; --force true redoes it"
    return 1
  fi
  echo "== stage ${n}: ${what}"
  mkdir -p "$dir"
  current_stage="$n"; current_dir="$dir"
  # The command that resumes from this stage if it fails or is killed.
  # Written aside and renamed: `bash resume.sh` is reading the old file while the resumed run
  # writes the new one, and bash reads a script as it goes.
  printf 'cd %q && ./run.sh%s --stage %s\n' "$(pwd)" "${__run_args}" "$n" > "${dir}/.resume.sh.tmp"
  mv -f "${dir}/.resume.sh.tmp" "${dir}/resume.sh"
  return 0
}

stage_done() {
  date -u +%FT%TZ > "${current_dir}/.stage${current_stage}.done"
}

trap 'rc=$?; if [ $rc -ne 0 ] && [ -n "${current_stage:-}" ]; then echo "stage ${current_stage} failed (exit ${rc}); resume with: bash ${current_dir}/resume.sh" >&2; fi' EXIT
