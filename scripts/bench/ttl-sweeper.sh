#!/usr/bin/env bash
# ttl-sweeper vs the reference's `cleanup-expired`, on emulated tables.
#
# Each table (BENCH_PARTITIONS experiment partitions, ~25 items each, the
# first BENCH_ORPHANED without E#META, as after TTL) is provisioned by the
# reference store and bulk-loaded with BatchWriteItem. On each table, in this
# order: ttl-sweeper --dry-run, cleanup-expired --dry-run, ttl-sweeper (it
# expires), cleanup-expired (it expires again: it checks no ttl, so its work
# does not depend on what the sweeper did). Wall time is the whole command,
# process start included. Requests are counted by the emulator itself
# (scripts/bench/moto_bench.py counts every request by X-Amz-Target).
#
#   A  PartiQL expiry (the sweeper's path on AWS): dry runs, then sweeps
#   B  (BENCH_UPDATE_ITEM=1, default) UpdateItem expiry, the sweeper's path on
#      a stock emulator: sweeps only
#
# On moto, a Scan request sorts and walks the whole table (each segment of a
# parallel scan again), so reading the table's keys costs the sweeper ~10 s of
# emulator CPU (with moto_bench.py's json.dumps answers; ~18 s without), where
# DynamoDB serves the pages in O(page): that floor bounds the wall-time ratio
# on the emulator. BENCH_RTT_MS adds a per-request round trip to both tools.
#
# moto 5.2.5 cannot run a conditional PartiQL UPDATE (ValidationError), so
# moto_bench.py answers BatchExecuteStatement for the adapter's one expire
# statement with DynamoDB's semantics (item exists; ttl absent or later); the
# sweeper runs with EXPIRE_VIA=partiql, its path on AWS. moto_bench.py also
# answers a table Query in O(partition) instead of sorting the whole table
# (that helps the reference, which sends one per orphaned partition).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
. "$root/scripts/bench/lib.sh"
partitions="${BENCH_PARTITIONS:-2700}"
orphaned="${BENCH_ORPHANED:-500}"
"$root/scripts/venv.sh" emulator reference >/dev/null

echo "== ttl-sweeper vs cleanup-expired =="
echo "building ttl-sweeper (release)..."
cargo build --quiet --release -p ttl-sweeper
bin="$root/target/release/ttl-sweeper"

bench_emulator
export PYTHONWARNINGS="ignore" MLFLOW_LOGGING_LEVEL=WARNING

timed() { # NAME CMD...: run CMD, save its stdout, wall seconds and request counts under NAME
  local name="$1"; shift
  counts >/dev/null
  local t0=$EPOCHREALTIME
  "$@" >"$state/$name.out"
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }' >"$state/$name.secs"
  counts >"$state/$name.counts"
}

run_pair() { # TABLE LABEL EXPIRE_VIA DRY(1|0): load TABLE, then time the pair(s)
  local table="$1" label="$2" via="$3" dry="$4"
  echo "loading $table: $partitions experiment partitions, $orphaned orphaned..."
  local t0=$EPOCHREALTIME
  "$py" "$root/scripts/bench/load_table.py" "$table" "$partitions" "$orphaned" | sed 's/^/  /'
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "  loaded in %.1f s\n", b - a }'
  local ref=("$root/.venv/bin/mlflow-dynamodbstore" cleanup-expired --table "$table" --region us-east-1)
  if [ "$dry" = 1 ]; then
    timed "sweeper_dry_$label" env EXPIRE_VIA="$via" "$bin" --table "$table" --dry-run --json
    timed "reference_dry_$label" "${ref[@]}" --dry-run
    echo "dry_$label" >>"$state/pairs"
  fi
  timed "sweeper_$label" env EXPIRE_VIA="$via" "$bin" --table "$table" --json
  timed "reference_$label" "${ref[@]}"
  echo "$label" >>"$state/pairs"
}

: >"$state/pairs"
run_pair bench-sweep-a partiql partiql 1
if [ "${BENCH_UPDATE_ITEM:-1}" = "1" ]; then
  run_pair bench-sweep-b updateitem update-item 0
fi

"$py" - "$state" <<'PY'
import json, re, sys
state = sys.argv[1]

def load(name):
    secs = float(open(f"{state}/{name}.secs").read())
    counts = json.loads(open(f"{state}/{name}.counts").read())
    counts = {k.split(".", 1)[-1]: v for k, v in counts.items() if not k.startswith("GET /_bench")}
    return secs, counts, open(f"{state}/{name}.out").read()

def fmt(c):
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))

titles = {
    "dry_partiql": "dry run",
    "partiql": "sweep, PartiQL expiry",
    "updateitem": "sweep, UpdateItem expiry",
}
pairs = open(f"{state}/pairs").read().split()
for label in pairs:
    if label.startswith("dry_"):
        sd, rd = load(f"sweeper_{label}"), load(f"reference_{label}")
        sweep = json.loads(sd[2])
        ref_items = int(re.search(r"Dry run: (\d+) orphaned items", rd[2]).group(1))
        ref_parts = len(re.findall(r"^Experiment \S+: \d+ orphaned items", rd[2], re.M))
        print(f"[{label}] table: {sweep['items_scanned']} items, {sweep['partitions_scanned']} EXP#/RM# partitions; "
              f"orphans: ttl-sweeper category 1 = {sweep['orphans']['experiment']['groups']} partitions / "
              f"{sweep['orphans']['experiment']['items']} items, cleanup-expired = {ref_parts} / {ref_items}")
print()
print(f"{'':<46} {'wall s':>8} {'requests':>9}   requests by operation")
for label in pairs:
    S, R = load(f"sweeper_{label}"), load(f"reference_{label}")
    sn, rn = sum(S[1].values()), sum(R[1].values())
    t = titles.get(label, label)
    print(f"{'ttl-sweeper, ' + t:<46} {S[0]:>8.2f} {sn:>9}   {fmt(S[1])}")
    print(f"{'cleanup-expired, ' + t:<46} {R[0]:>8.2f} {rn:>9}   {fmt(R[1])}")
    print(f"{'  ratio cleanup-expired / ttl-sweeper':<46} {R[0] / S[0]:>7.1f}x {rn / max(sn, 1):>8.1f}x")
    if not label.startswith("dry_"):
        summ = json.loads(S[2])
        print(f"  ttl-sweeper: expired {summ['items_expired']}, skipped already expiring "
              f"{summ['items_skipped_already_expiring']}, {summ['duration_ms']} ms inside the sweep; "
              f"cleanup-expired: {R[2].strip().splitlines()[-1]}")
PY
