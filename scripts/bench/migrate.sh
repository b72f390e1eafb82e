#!/usr/bin/env bash
# migrate (issue #11): copy throughput by segments, requests per copied item,
# and the sync's lag under a steady writer. Prints figures; no pass/fail gate.
#
#   1. A v0.1 table provisioned by the 0.1.0 store and bulk-loaded with
#      BENCH_MIGRATE_PARTITIONS experiment partitions shaped like the
#      reference's (scripts/bench/load_table.py, ~26 items each; default
#      4000: ~100,000 items), with a NEW_AND_OLD_IMAGES stream.
#   2. `migrate copy --segments N` for N in BENCH_MIGRATE_SEGMENTS (default
#      "1 2 4 8"; the speedup is against the first), each into a fresh
#      target: items/s of the copy phase (the migrate's own figure, scan
#      start to last segment done), then the whole command's wall time (copy
#      plus the rebuild of the derived state in main's layout); requests per
#      copied item: the copy phase's own count (client side), and every
#      request the emulator saw for the whole command (moto_bench.py counts
#      them by X-Amz-Target). The floor of the copy phase: one Scan page per
#      1 MB read and one BatchWriteItem per 25 items written.
#   3. The sync's lag: a writer (scripts/bench/migrate_writer.py) puts about
#      BENCH_MIGRATE_RATE (default 100) items a second into the source for
#      BENCH_MIGRATE_SECONDS (default 30), BENCH_MIGRATE_BATCH (default 10)
#      items to a BatchWriteItem (one PutItem each reached only 42-46 items/s
#      on the emulator), while `migrate sync --until-idle`
#      runs back to back; each run's lag (stream record -> carried, ms) is
#      printed, then the p50/p99/max over all of them.
#
# On the emulator, moto is one Python process: figures are the emulator's,
# not DynamoDB's (see scripts/bench/indexer.sh on moto's costs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
. "$root/scripts/bench/lib.sh"
partitions="${BENCH_MIGRATE_PARTITIONS:-4000}"
rate="${BENCH_MIGRATE_RATE:-100}"
seconds="${BENCH_MIGRATE_SECONDS:-30}"
segments="${BENCH_MIGRATE_SEGMENTS:-1 2 4 8}"
sync_target="bench-mig-dst-${segments##* }"
"$root/scripts/venv.sh" emulator reference >/dev/null

echo "== migrate: copy by segments, requests per item, sync lag =="
echo "building migrate (release)..."
cargo build --quiet --release --locked -p migrate
bin="$root/target/release/migrate"

bench_emulator
src=bench-mig-src
echo "loading $src ($partitions partitions)..."
"$py" "$root/scripts/bench/load_table.py" "$src" "$partitions" 0 >"$state/load.txt"
cat "$state/load.txt"
enable_stream "$src"

for n in $segments; do
  counts >/dev/null
  t0=$(date +%s.%N)
  "$bin" copy --source "$src" --target "bench-mig-dst-$n" --to main --segments "$n" --json >"$state/copy_$n.json"
  t1=$(date +%s.%N)
  counts >"$state/copy_$n.counts"
  echo "$t0 $t1" >"$state/copy_$n.wall"
done

echo "-- sync lag: ${rate} writes/s for ${seconds} s into $src, sync into $sync_target"
BATCH="${BENCH_MIGRATE_BATCH:-10}" "$py" "$root/scripts/bench/migrate_writer.py" "$src" "$rate" "$seconds" >"$state/writer.json" &
writer=$!
i=0
while kill -0 "$writer" 2>/dev/null; do
  "$bin" sync --source "$src" --target "$sync_target" --until-idle --checkpoint "$state/sync.json" >"$state/sync_$i.json"
  i=$((i + 1))
done
wait "$writer"
"$bin" sync --source "$src" --target "$sync_target" --until-idle --checkpoint "$state/sync.json" >"$state/sync_$i.json"
"$bin" status --source "$src" --target "$sync_target" --checkpoint "$state/sync.json" --json >"$state/status.json" || true

"$py" - "$state" $segments <<'PY'
import glob, json, math, sys
state = sys.argv[1]
segments = [int(n) for n in sys.argv[2:]]
print(f"{'segments':>8} {'items':>7} {'copy s':>7} {'items/s':>8} {'speedup':>7} {'req/item':>9} {'floor':>7} {'wall s':>7} {'all req/item':>12}  requests by operation (whole command)")
base = None
for n in segments:
    s = json.load(open(f"{state}/copy_{n}.json"))
    c = json.load(open(f"{state}/copy_{n}.counts"))
    c = {k.split(".", 1)[-1]: v for k, v in c.items() if not k.startswith("GET /_bench")}
    t0, t1 = map(float, open(f"{state}/copy_{n}.wall").read().split())
    k = s["copy"]["counts"]
    items = k["items_scanned"]
    copied = k["copy"]["copied"] + k["copy"]["unknown"]
    rate = s["copy"]["items_per_s"]
    base = base or rate
    req = (k["read_requests"] + k["writes"]) / max(items, 1)
    floor = (k["pages"] + math.ceil(copied / 25)) / max(items, 1)
    allreq = sum(c.values()) / max(items, 1)
    ops = ", ".join(f"{o} {v}" for o, v in sorted(c.items(), key=lambda kv: -kv[1]))
    print(f"{n:>8} {items:>7} {s['copy']['elapsed_s']:>7.1f} {rate:>8.0f} {rate / base:>6.2f}x {req:>9.4f} {floor:>7.4f} {t1 - t0:>7.1f} {allreq:>12.4f}  {ops}")
    assert s["copy_done"], f"copy with {n} segments not done"
w = json.load(open(f"{state}/writer.json"))
print(f"writer: {w['writes']} writes in {w['seconds']:.1f} s ({w['writes'] / w['seconds']:.0f}/s; "
      f"{w.get('requests', w['writes'])} requests of {w.get('batch', 1)})")
lags = []
records = 0
for f in sorted(glob.glob(f"{state}/sync_*.json")):
    s = json.load(open(f))
    records += s["stats"]["records"]
    l = s["lag_ms"]
    if l["samples"]:
        lags.append(l)
        print(f"  sync run: {s['stats']['records']:>6} records, lag p50 {l['p50']} ms, p99 {l['p99']} ms, max {l['max']} ms")
if lags:
    print(f"sync: {records} records carried; lag p50 of runs {sorted(l['p50'] for l in lags)[len(lags) // 2]} ms, "
          f"worst p99 {max(l['p99'] for l in lags)} ms, max {max(l['max'] for l in lags)} ms")
st = json.load(open(f"{state}/status.json"))
print(f"status after the writer stopped: lag {st['sync_lag_records']} records, up to date: {st['is_up_to_date']}")
PY
