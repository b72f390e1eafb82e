#!/usr/bin/env bash
# `make bench`: every benchmark section, each a script under scripts/bench/
# that prints its own figures. Add a section: one line in SECTIONS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

SECTIONS=(
  "scripts/bench/ttl-sweeper.sh"
  "scripts/bench/indexer.sh"
  "scripts/bench/materializer.sh"
  "scripts/bench/shard.sh"
  "scripts/bench/migrate.sh"
)

rc=0
for s in "${SECTIONS[@]}"; do
  printf '\n######## %s ########\n' "$s"
  "$root/$s" || { echo "bench: $s FAILED" >&2; rc=1; }
done
exit "$rc"
