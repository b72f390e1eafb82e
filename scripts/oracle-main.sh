#!/usr/bin/env bash
# Install the `main`-format oracle (zeroae/mlflow-dynamodbstore at commit 3ccbc9e, version
# 0.2.0.dev0) into its own venv, .venv-main: it needs MLflow >= 3.10 and would replace 0.1.0 in
# the shared .venv. Also `scripts/venv.sh main`.
#
# Sources, in order:
#   1. the wheel ../shared/oracle/mlflow_dynamodbstore-0.2.0.dev0+g3ccbc9e-py3-none-any.whl
#      (relative to the repository's parent; MAIN_ORACLE_WHEEL overrides), sha256-checked;
#   2. SETUPTOOLS_SCM_PRETEND_VERSION=0.2.0.dev0 pip install git+https://github.com/...@3ccbc9e.
# Neither: exit 1 with a message. A test or vector that needs the oracle must not pass without it.
#
# Idempotent: .venv-main/.stamp-main holds the requirement file's sha256 and the source used;
# nothing is reinstalled while it matches and the store imports at the expected version.
# Prints the source used (or already installed) on stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MAIN_VENV:-$root/.venv-main}"
req="$root/python/requirements-main.txt"
commit=3ccbc9e
version=0.2.0.dev0
wheel="${MAIN_ORACLE_WHEEL:-$root/../shared/oracle/mlflow_dynamodbstore-0.2.0.dev0+g3ccbc9e-py3-none-any.whl}"
wheel_sha=34af4f3c9fd060a17b6829f5c6c8397f6041974e94550a6c8363fb303f1fc5bb
git_url="git+https://github.com/zeroae/mlflow-dynamodbstore@$commit"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3

say() { echo "oracle-main: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# The installed store's version, or nothing. The wheel says 0.2.0.dev0+g3ccbc9e, a git build
# with the pretended version 0.2.0.dev0.
installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow-dynamodbstore"))' 2>/dev/null || true
}

want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.stamp-main"
if [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$want" ]; then
  got="$(installed_version)"
  case "$got" in
    "$version"|"$version+g$commit"*)
      say "mlflow-dynamodbstore $got already in ${venv#"$root/"} ($(sed -n 2p "$stamp"))"
      exit 0 ;;
  esac
fi

if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# Keep the venv out of git (as Python 3.13's venv does by itself).
[ -f "$venv/.gitignore" ] || echo '*' > "$venv/.gitignore"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
rm -f "$stamp"
say "installing $(basename "$req") into ${venv#"$root/"}"
"${pip[@]}" -r "$req"

source=""
if [ -f "$wheel" ]; then
  got_sha="$(sha256sum "$wheel" | cut -d' ' -f1)"
  if [ "$got_sha" != "$wheel_sha" ]; then
    say "wheel $wheel has sha256 $got_sha, expected $wheel_sha: not using it"
  elif "${pip[@]}" -r "$req" "$wheel"; then
    source="wheel $(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel") (sha256 $wheel_sha)"
  else
    say "installing the wheel failed"
  fi
else
  say "no wheel at $wheel"
fi
if [ -z "$source" ]; then
  say "trying $git_url"
  if SETUPTOOLS_SCM_PRETEND_VERSION="$version" "${pip[@]}" -r "$req" "$git_url"; then
    source="$git_url"
  fi
fi
[ -n "$source" ] || die "cannot install the main-format oracle: no usable wheel at $wheel and '$git_url' failed"

got="$(installed_version)"
case "$got" in
  "$version"|"$version+g$commit"*) ;;
  *) die "installed mlflow-dynamodbstore is '${got:-absent}', expected $version (+g$commit)" ;;
esac
printf '%s\n%s\n' "$want" "$source" > "$stamp"
say "mlflow-dynamodbstore $got installed into ${venv#"$root/"} from $source"
