#!/usr/bin/env bash
# Put the toolkit's Python on PATH for recipes: the repository's .venv (made by `make install`)
# unless an environment is already active. Override with PYTHON=/path/to/python.
__repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && [ -x "${__repo_root}/.venv/bin/python3" ]; then
  export PATH="${__repo_root}/.venv/bin:${PATH}"
fi
PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
if ! "$PYTHON" -c "import speechslytherin" 2>/dev/null; then
  echo "error: '$PYTHON' cannot import speechslytherin. Run 'make install' in ${__repo_root} first." >&2
  exit 1
fi
# Logs redirected to a file get a progress-bar line every 30 s instead of many per second
# (tqdm reads TQDM_* variables as defaults); an interactive terminal keeps live bars.
if [ ! -t 2 ] && [ -z "${TQDM_MININTERVAL:-}" ]; then
  export TQDM_MININTERVAL=30
fi
