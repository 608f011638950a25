#!/usr/bin/env bash
# Install the Debian (main) packages the toolkit needs: speech synthesis engines and voices,
# recorded Asterisk prompts (with their transcripts) for the offline mini corpus, and sox.
# As root: apt-get update + install. Otherwise: print the command to run and exit 0.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
list="$here/system_packages.txt"
mapfile -t packages < <(grep -v -e '^\s*#' -e '^\s*$' "$list")
cmd="apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Not root: install the system packages with"
  echo "  sudo apt-get update && sudo $cmd"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
$cmd
