#!/usr/bin/env bash
# Kaldi-style option parsing for run.sh scripts. Source it after declaring the variables:
#   stage=0; stop_stage=5; . ../../utils/parse_options.sh
# Then `--stop-stage 3` or `--stop_stage=3` sets $stop_stage. An option that names no declared
# variable is an error (a typo must not be ignored). `--help` prints $help_message.
# Positional arguments left after the options stay in "$@".

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "${help_message:-Usage: $0 [--option value] ...}"
      echo "Options (current values):"
      for __v in ${__options_listed:-}; do echo "  --${__v//_/-} ${!__v}"; done
      exit 0 ;;
    --*=*)
      __name="${1%%=*}"; __value="${1#*=}"; shift ;;
    --*)
      __name="$1"
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      __value="$2"; shift 2 ;;
    *) break ;;
  esac
  __var="${__name#--}"; __var="${__var//-/_}"
  if [[ ! "$__var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!__var+set}" ]; then
    echo "$0: unknown option ${__name} (no variable '${__var}' is declared in $0; see --help)" >&2
    exit 1
  fi
  # Booleans stay booleans: a variable declared true/false only takes true/false.
  if [ "${!__var}" = "true" ] || [ "${!__var}" = "false" ]; then
    if [ "$__value" != "true" ] && [ "$__value" != "false" ]; then
      echo "$0: option ${__name} takes true or false, got '${__value}'" >&2; exit 1
    fi
  fi
  printf -v "$__var" '%s' "$__value"
done
unset __name __value __var
true
