#!/usr/bin/env bash
# Create (or refresh) the project's Python venv at .venv and install the named
# requirement sets into it. Idempotent: a set is reinstalled only when its file
# changed. Usage: scripts/venv.sh emulator [reference ...]
# The set `main` (the main-format oracle) goes to its own venv, .venv-main: scripts/oracle-main.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
for set in "$@"; do
  if [ "$set" = main ]; then
    "$root/scripts/oracle-main.sh"
    continue
  fi
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
  fi
  req="$root/python/requirements-$set.txt"
  [ -f "$req" ] || { echo "venv.sh: no requirement set '$set' ($req)" >&2; exit 2; }
  stamp="$venv/.stamp-$set"
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "venv.sh: installing '$set' into .venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$sum" > "$stamp"
  fi
done
