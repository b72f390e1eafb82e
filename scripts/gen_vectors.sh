#!/usr/bin/env bash
# Regenerate tests/fixtures/parity from the reference packages (same as `make vectors`).
# Extra arguments go to the generator, e.g. --out DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/venv.sh" reference main
exec "$root/.venv/bin/python" "$root/scripts/gen_vectors.py" "$@"
