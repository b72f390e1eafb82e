#!/usr/bin/env bash
# Regenerate crates/mlflow-ddb-core/tests/fixtures/migrate/{v0_1,main}.json:
# the workload (workload.py) written by the v0.1 store (.venv) and by the main
# store (.venv-main), each into its own table on one moto_server, then paired
# (normalize.py). Needs `scripts/venv.sh emulator reference main`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/crates/mlflow-ddb-core/tests/fixtures/migrate"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/venv.sh" emulator reference main
"$root/scripts/emulator.sh" run -- bash -c '
  set -e
  "$0/.venv/bin/python" "$0/scripts/migrate/workload.py" "$AWS_ENDPOINT_URL" migrate-v0-1 "$1/v0_1.json"
  "$0/.venv-main/bin/python" "$0/scripts/migrate/workload.py" "$AWS_ENDPOINT_URL" migrate-main "$1/main.json"
' "$root" "$tmp"
mkdir -p "$out"
"$root/.venv/bin/python" "$root/scripts/migrate/normalize.py" "$tmp/v0_1.json" "$tmp/main.json" "$out"
