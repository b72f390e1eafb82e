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
# The same expired set: after each sweep, the keys whose ttl it set (ttl at
# or before the sweep's end) are read back; after cleanup-expired, the keys
# whose ttl it set (ttl from its start on); the two sets are compared.
# The emulator's CPU (moto is one Python process: one core at most, the GIL)
# is given per command, in seconds and as a share of its wall time.
#
# moto_bench.py gives the emulator DynamoDB's costs for what both tools read:
# a Scan page costs O(page + log table) and a Query on the table O(partition)
# (stock moto sorts the whole table for each; BENCH_FAST_SCAN=0 restores its
# Scan), and Scan/Query answers are written with json.dumps. What is left is
# moto's Python work per request and per item. BENCH_RTT_MS adds a
# per-request round trip to both tools.
#
# moto 5.2.5 cannot run a conditional PartiQL UPDATE (ValidationError), so
# moto_bench.py answers BatchExecuteStatement for the adapter's one expire
# statement with DynamoDB's semantics (item exists; ttl absent or later); the
# sweeper runs with EXPIRE_VIA=partiql, its path on AWS.
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

timed() { # NAME CMD...: run CMD, save its stdout, wall seconds, the emulator's CPU seconds and request counts under NAME
  local name="$1"; shift
  counts >/dev/null
  local t0=$EPOCHREALTIME c0; c0="$(moto_cpu)"
  "$@" >"$state/$name.out"
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }' >"$state/$name.secs"
  awk -v a="$c0" -v b="$(moto_cpu)" 'BEGIN { printf "%.2f", b - a }' >"$state/$name.cpu"
  cut -d' ' -f1 /proc/loadavg >"$state/$name.load"
  counts >"$state/$name.counts"
}

expired_keys() { # TABLE FROM TO OUT: the keys of TABLE whose ttl is in [FROM, TO] (epoch s), sorted, to OUT
  "$py" - "$@" <<'PY'
import sys, boto3
table, lo, hi, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ddb = boto3.client("dynamodb")
kw = {"TableName": table, "ProjectionExpression": "PK, SK", "FilterExpression": "#t BETWEEN :lo AND :hi",
      "ExpressionAttributeNames": {"#t": "ttl"}, "ExpressionAttributeValues": {":lo": {"N": lo}, ":hi": {"N": hi}}}
keys = []
while True:
    page = ddb.scan(**kw)
    keys += [f"{i['PK']['S']}\t{i['SK']['S']}" for i in page["Items"]]
    if "LastEvaluatedKey" not in page:
        break
    kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
open(out, "w").write("".join(k + "\n" for k in sorted(keys)))
PY
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
  # each tool's expired set: the keys whose ttl it set (the sweeper's `now`
  # is read at its start; cleanup-expired's when it expires a partition)
  local s0=$EPOCHSECONDS
  timed "sweeper_$label" env EXPIRE_VIA="$via" "$bin" --table "$table" --json
  expired_keys "$table" "$s0" "$EPOCHSECONDS" "$state/sweeper_$label.expired"
  sleep 1 # cleanup-expired's ttl values start after the sweeper's
  local r0=$EPOCHSECONDS
  timed "reference_$label" "${ref[@]}"
  expired_keys "$table" "$r0" "$EPOCHSECONDS" "$state/reference_$label.expired"
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
    return secs, counts, open(f"{state}/{name}.out").read(), float(open(f"{state}/{name}.cpu").read()), \
        open(f"{state}/{name}.load").read().strip()

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
print(f"{'':<46} {'wall s':>8} {'requests':>9} {'emu CPU s':>9} {'CPU/wall':>8} {'load':>5}   requests by operation")
same = True
for label in pairs:
    S, R = load(f"sweeper_{label}"), load(f"reference_{label}")
    sn, rn = sum(S[1].values()), sum(R[1].values())
    t = titles.get(label, label)
    for tool, x, n in (("ttl-sweeper", S, sn), ("cleanup-expired", R, rn)):
        print(f"{tool + ', ' + t:<46} {x[0]:>8.2f} {n:>9} {x[3]:>9.2f} {x[3] / x[0]:>7.0%} {x[4]:>5}   {fmt(x[1])}")
    print(f"{'  ratio cleanup-expired / ttl-sweeper':<46} {R[0] / S[0]:>7.1f}x {rn / max(sn, 1):>8.1f}x")
    if not label.startswith("dry_"):
        summ = json.loads(S[2])
        print(f"  ttl-sweeper: expired {summ['items_expired']}, skipped already expiring "
              f"{summ['items_skipped_already_expiring']}, {summ['duration_ms']} ms inside the sweep; "
              f"cleanup-expired: {R[2].strip().splitlines()[-1]}")
        se = set(open(f"{state}/sweeper_{label}.expired").read().splitlines())
        re_ = set(open(f"{state}/reference_{label}.expired").read().splitlines())
        verdict = "the same set" if se == re_ else (
            f"DIFFERENT: {len(se - re_)} only by ttl-sweeper (e.g. {sorted(se - re_)[:3]}), "
            f"{len(re_ - se)} only by cleanup-expired (e.g. {sorted(re_ - se)[:3]})")
        print(f"  expired set (keys whose ttl each set): ttl-sweeper {len(se)}, cleanup-expired {len(re_)}: {verdict}")
        same = same and se == re_
if not same:
    sys.exit(1)
PY
