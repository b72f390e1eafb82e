#!/usr/bin/env bash
# The workspace's tests against the local emulator, as `make test` runs them.
#
# The migration's end-to-end tests (tools/migrate, `cargo test -p migrate`) spend most of their
# time waiting on two Python stores and the emulator, one core's worth; the rest of the workspace
# is the same kind of wait. So, after one build of every test binary, the two groups run at the
# same time, each with an emulator of its own (scripts/emulator.sh, free loopback ports), and the
# migration's output is printed whole when it ends. Either failing fails the script.
#
#   scripts/test-endpoint.sh [-- extra args for the test binaries]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo="${CARGO:-cargo}"
extra=("$@")
[ "${extra[0]:-}" = "--" ] && extra=("${extra[@]:1}")

"$cargo" test --workspace --lib --bins --tests --locked --no-run

log="$(mktemp "${TMPDIR:-/tmp}/migrate-tests.XXXXXX")"
trap 'rm -f "$log"' EXIT
echo "test-endpoint.sh: the migration's tests run beside the rest; their output follows the rest's"
scripts/emulator.sh run -- "$cargo" test --locked -p migrate --lib --bins --tests -- "${extra[@]}" >"$log" 2>&1 &
migrate=$!

rest=0
scripts/emulator.sh run -- "$cargo" test --workspace --exclude migrate --lib --bins --tests --locked -- "${extra[@]}" || rest=$?

mig=0
wait "$migrate" || mig=$?
echo "======== cargo test -p migrate (ran beside the above) ========"
cat "$log"
if [ "$rest" -ne 0 ] || [ "$mig" -ne 0 ]; then
  echo "test-endpoint.sh: failed (workspace exit $rest, migrate exit $mig)" >&2
  exit 1
fi
