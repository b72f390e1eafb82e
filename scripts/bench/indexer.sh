#!/usr/bin/env bash
# indexer: scan throughput by segments, and requests per scanned item.
#
# Tables (BENCH_COPIES copies of the reference-built session table's
# experiment partition, ~183 items each) are created like the reference's
# template and bulk-loaded by the bench loader (functions/indexer/benches).
#   1. a correct table: `indexer verify` with BENCH_VERIFY_SEGMENTS (default
#      "1 2 4 8") segments (reads only) -> items/s, requests per item;
#   2. the same data with all derived state missing (no FTS items, empty
#      tags maps): `indexer backfill` with BENCH_BACKFILL_SEGMENTS (default
#      "1 8"), each on a fresh copy -> items/s, requests per item; then a
#      `verify` of the result must be clean.
# items/s is the indexer's own figure (scan start to last segment done, no
# process start). Requests are counted twice: by the indexer (client side)
# and by the emulator (scripts/bench/moto_bench.py counts every request by
# X-Amz-Target, so Query pages and retries are included). The emulator's CPU
# over each whole command is given in seconds and as a share of its wall
# time: moto is one Python process (one core at most, the GIL), so a share
# near 100% means the emulator, not the indexer, sets the pace.
#
# moto_bench.py gives the emulator DynamoDB's costs for what the indexer
# reads: a Scan page costs O(page + log table), in each segment too, a Query
# on the table O(partition) (stock moto sorts the whole table for each;
# BENCH_FAST_SCAN=0 restores its Scan). What is left is moto's Python work
# per request and per item, on one core. BENCH_COPIES (default 30, ~5,500
# items) sets the size; BENCH_RTT_MS adds a per-request round trip.
#
# A third part measures the indexer alone: the same tables in memory behind a
# fixed delay per request (BENCH_LATENCY_MS, default 10, a network round
# trip; BENCH_LATENCY_COPIES copies, default 200, ~36,000 items; 0 skips it),
# 1, 2, 4 and 8 segments, verify and backfill.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
. "$root/scripts/bench/lib.sh"
copies="${BENCH_COPIES:-30}"
verify_segments="${BENCH_VERIFY_SEGMENTS:-1 2 4 8}"
backfill_segments="${BENCH_BACKFILL_SEGMENTS-1 8}" # set and empty: no backfill runs
"$root/scripts/venv.sh" emulator >/dev/null

echo "== indexer: segments and requests per item =="
echo "building indexer and its bench loader (release)..."
cargo build --quiet --release --locked -p indexer
cargo bench --quiet --locked -p indexer --bench indexer --no-run 2>/dev/null
bin="$root/target/release/indexer"
load() { cargo bench --quiet --locked -p indexer --bench indexer -- load "$@"; }

bench_emulator

run() { # NAME MODE TABLE SEGMENTS
  local name="$1" mode="$2" table="$3" segments="$4"
  counts >/dev/null
  local t0=$EPOCHREALTIME c0; c0="$(moto_cpu)"
  local rc=0 # 3: drift; 1: errors (the summary says which), reported below, not fatal here
  "$bin" "$mode" --table "$table" --segments "$segments" --json >"$state/$name.json" || rc=$?
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v c="$c0" -v d="$(moto_cpu)" -v l="$(cut -d' ' -f1 /proc/loadavg)" -v rc="$rc" \
    'BEGIN { printf "{\"wall_s\": %.3f, \"cpu_s\": %.2f, \"load\": %s, \"exit\": %d}\n", b - a, d - c, l, rc }' >"$state/$name.emu"
  counts >"$state/$name.counts"
}

echo "loading bench-idx-correct ($copies copies, every derived item right)..."
load bench-idx-correct "$copies" correct >"$state/correct.items"
for n in $verify_segments; do run "verify_$n" verify bench-idx-correct "$n"; done

for n in $backfill_segments; do
  echo "loading bench-idx-missing-$n ($copies copies, all derived state missing)..."
  load "bench-idx-missing-$n" "$copies" stripped >"$state/missing_$n.items"
  run "backfill_$n" backfill "bench-idx-missing-$n" "$n"
  run "reverify_$n" verify "bench-idx-missing-$n" 4
done

"$py" - "$state" "$verify_segments" "$backfill_segments" <<'PY'
import json, sys
state, verify, backfill = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def load(name):
    s = json.load(open(f"{state}/{name}.json"))
    c = json.load(open(f"{state}/{name}.counts"))
    c = {k.split(".", 1)[-1]: v for k, v in c.items() if not k.startswith("GET /_bench")}
    return s, c

failed = []

def emu(name):  # the emulator's CPU over the whole command, the load average after it, and a failed exit
    e = json.load(open(f"{state}/{name}.emu"))
    s = json.load(open(f"{state}/{name}.json"))
    out = f"{e['cpu_s']:>9.1f} {e['cpu_s'] / e['wall_s']:>7.0%} {e['load']:>5.2f}"
    if e["exit"] not in (0, 3):
        failed.append(name)
        out += f"  EXIT {e['exit']} ({s['counts']['errors']} errors, done: {s['done']})"
    return out

def fmt(c):
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))

def gate(s):  # the one retry policy at work: errors left, retries, transient failures, in-flight limit low/end
    g = s.get("gate") or {}
    return (f"errors {s['counts']['errors']}, retries {g.get('retries', 0)}, transient {g.get('transient', 0)}, "
            f"in-flight limit low {g.get('lowest_limit', '-')} end {g.get('limit', '-')}, "
            f"lowered on a queue {g.get('queue_decreases', '-')}, halved on overload {g.get('decreases', '-')}")

table_items = json.load(open(f"{state}/correct.items"))["items"]
print(f"correct table: {table_items} items")
print(f"{'run':<28} {'items':>7} {'wall s':>7} {'items/s':>8} {'speedup':>7} {'req/item':>9} {'(client)':>9} "
      f"{'emu CPU s':>9} {'CPU/wall':>7} {'load':>5}  requests by operation")
base = None
for n in verify:
    s, c = load(f"verify_{n}")
    items = s["counts"]["items_scanned"]
    rate = s["items_per_s"]
    base = base or rate
    req = sum(c.values())
    print(f"{'verify, ' + n + ' segments':<28} {items:>7} {s['elapsed_s']:>7.2f} {rate:>8.0f} {rate / base:>6.2f}x "
          f"{req / items:>9.4f} {s['requests_per_item']:>9.4f} {emu(f'verify_{n}')}  {fmt(c)}")
    print(f"  {gate(s)}")
    assert s["drift"]["categories"] == {} or all(v["count"] == 0 for v in s["drift"]["categories"].values()), "correct table has drift"
base = None
for n in backfill:
    s, c = load(f"backfill_{n}")
    loaded = json.load(open(f"{state}/missing_{n}.items"))["items"]
    items = s["counts"]["items_scanned"]
    rate = s["items_per_s"]
    base = base or rate
    req = sum(c.values())
    print(f"{'backfill, ' + n + ' segments':<28} {items:>7} {s['elapsed_s']:>7.2f} {rate:>8.0f} {rate / base:>6.2f}x "
          f"{req / items:>9.4f} {s['requests_per_item']:>9.4f} {emu(f'backfill_{n}')}  {fmt(c)}")
    print(f"  {gate(s)}")
    k = s["counts"]
    print(f"  table had {loaded} items (scan also met FTS items written during the walk); "
          f"{req / loaded:.4f} requests per loaded item; writes {k['writes']} "
          f"(map updates {k['map_updates']}, FTS puts {k['fts_puts']}); drifted targets {k['drifted_targets']}")
    r, _ = load(f"reverify_{n}")
    clean = all(v["count"] == 0 for v in r["drift"]["categories"].values())
    print(f"  verify after backfill: {'clean' if clean else 'DRIFT'}")
    if not clean:
        sys.exit(1)
if failed:
    print(f"failed runs (errors, figures above are partial): {', '.join(failed)}")
    sys.exit(1)
PY

if [ "${BENCH_LATENCY_COPIES:-200}" != "0" ]; then
  echo
  echo "-- the indexer alone: in memory, a fixed delay per request --"
  cargo bench --quiet --locked -p indexer --bench indexer -- latency "${BENCH_LATENCY_COPIES:-200}" "${BENCH_LATENCY_MS:-10}"
fi
