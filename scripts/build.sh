#!/usr/bin/env bash
# make build: release zips of the Lambda functions for Graviton (arm64, runtime provided.al2023).
#
#   scripts/build.sh                 materializer, ttl-sweeper, indexer
#   scripts/build.sh materializer    just the named ones
#   BUILD_PROFILE=ci-lambda scripts/build.sh   another Cargo profile than release (make test uses
#                                    ci-lambda: see Cargo.toml; zips land in the same place)
#
# Output: target/lambda/<name>/bootstrap.zip (what infra/ deploys), and a size line per zip.
#
# Tools come from the project's own scripts: cargo-lambda and zig (the cross linker) are the
# pinned PyPI packages of python/requirements-build.txt, installed into .venv by scripts/venv.sh.
# The Rust standard library for aarch64 comes from rustup (`rustup target add
# aarch64-unknown-linux-gnu`, done below when missing).
#
# Panics: cargo-lambda's release defaults pass `--config profile.release.panic="abort"` unless
# the workspace's [profile.release] sets `panic` itself. With abort, a panic in a handler kills
# the process: lambda_runtime's catch_unwind (its CatchPanic layer, which turns a panic into a
# "Lambda panicked: ..." error response for the invocation) never runs, the invocation ends as
# "Runtime exited with error: signal: aborted" and the next one pays a cold start. The root
# Cargo.toml therefore sets `panic = "unwind"` for release on purpose: panics are reported as
# the invocation's error (a stream batch is retried/bisected, and reaches the on-failure queue),
# at the price of the unwinding tables (measured: see the README's "Builds" section).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target=aarch64-unknown-linux-gnu
default_functions=(materializer ttl-sweeper indexer)
functions=("$@")
[ ${#functions[@]} -gt 0 ] || functions=("${default_functions[@]}")

"$root/scripts/venv.sh" build
# cargo-lambda from the venv; cargo-zigbuild (inside cargo-lambda) finds zig as `python3 -m ziglang`,
# which resolves to the venv's python first on this PATH.
export PATH="$root/.venv/bin:$PATH"

if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$target"; then
    echo "build.sh: installing the Rust standard library for $target (rustup)" >&2
    rustup target add "$target"
  fi
else
  sysroot="$(rustc --print sysroot)"
  [ -d "$sysroot/lib/rustlib/$target" ] || {
    echo "build.sh: no rustup and no $target standard library in $sysroot; install it first" >&2
    exit 1
  }
fi

args=()
for f in "${functions[@]}"; do args+=(--package "$f"); done

start=$(date +%s)
profile="${BUILD_PROFILE:-release}"
if [ "$profile" = release ]; then profile_args=(--release); else profile_args=(--profile "$profile"); fi
cargo lambda build "${profile_args[@]}" --arm64 --output-format zip --locked "${args[@]}"
end=$(date +%s)

status=0
for f in "${functions[@]}"; do
  zip="$root/target/lambda/$f/bootstrap.zip"
  if [ -f "$zip" ]; then
    printf 'build.sh: %-14s %s  %8d bytes\n' "$f" "${zip#"$root"/}" "$(stat -c %s "$zip")"
  else
    echo "build.sh: $f: no zip at ${zip#"$root"/}" >&2
    status=1
  fi
done
echo "build.sh: built in $((end - start)) s (profile $profile)" >&2
exit $status
