#!/usr/bin/env bash
# indexer: scan throughput by segments, and requests per scanned item.
#
# Tables (BENCH_COPIES copies of the reference-built session table's
# experiment partition, ~183 items each) are created like the reference's
# template and bulk-loaded by the bench loader (functions/indexer/benches).
#   1. a correct table: `indexer verify` with 1, 2, 4 and 8 segments
#      (reads only) -> items/s, requests per item;
#   2. the same data with all derived state missing (no FTS items, empty
#      tags maps): `indexer backfill` with BENCH_BACKFILL_SEGMENTS (default
#      "1 8"), each on a fresh copy -> items/s, requests per item; then a
#      `verify` of the result must be clean.
# items/s is the indexer's own figure (scan start to last segment done, no
# process start). Requests are counted twice: by the indexer (client side)
# and by the emulator (scripts/bench/moto_bench.py counts every request by
# X-Amz-Target, so Query pages and retries are included).
#
# Reading the figures: moto is one Python process (one core, the GIL), and
# its Query on a base table walks every item of the table (moto 5.2.5,
# dynamodb/models/table.py `query`: `for item in self.all_items()`), so each
# Query costs O(table size) there, against O(result) on DynamoDB. Items/s on
# the emulator therefore falls as the table grows, and more segments add
# concurrency the single emulator process cannot serve. BENCH_COPIES (default
# 30, ~5,500 items) keeps a run to minutes.
#
# So a third part measures the indexer alone: the same tables in memory
# behind a fixed delay per request (BENCH_LATENCY_MS, default 10, a network
# round trip; BENCH_LATENCY_COPIES copies, default 200, ~36,000 items), 1, 2,
# 4 and 8 segments, verify and backfill.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
. "$root/scripts/bench/lib.sh"
copies="${BENCH_COPIES:-30}"
backfill_segments="${BENCH_BACKFILL_SEGMENTS:-1 8}"
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
  "$bin" "$mode" --table "$table" --segments "$segments" --json >"$state/$name.json" || [ $? -eq 3 ]
  counts >"$state/$name.counts"
}

echo "loading bench-idx-correct ($copies copies, every derived item right)..."
load bench-idx-correct "$copies" correct >"$state/correct.items"
for n in 1 2 4 8; do run "verify_$n" verify bench-idx-correct "$n"; done

for n in $backfill_segments; do
  echo "loading bench-idx-missing-$n ($copies copies, all derived state missing)..."
  load "bench-idx-missing-$n" "$copies" stripped >"$state/missing_$n.items"
  run "backfill_$n" backfill "bench-idx-missing-$n" "$n"
  run "reverify_$n" verify "bench-idx-missing-$n" 4
done

"$py" - "$state" "$backfill_segments" <<'PY'
import json, sys
state, backfill = sys.argv[1], sys.argv[2].split()

def load(name):
    s = json.load(open(f"{state}/{name}.json"))
    c = json.load(open(f"{state}/{name}.counts"))
    c = {k.split(".", 1)[-1]: v for k, v in c.items() if not k.startswith("GET /_bench")}
    return s, c

def fmt(c):
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))

table_items = json.load(open(f"{state}/correct.items"))["items"]
print(f"correct table: {table_items} items")
print(f"{'run':<28} {'items':>7} {'wall s':>7} {'items/s':>8} {'speedup':>7} {'req/item':>9} {'(client)':>9}  requests by operation")
base = None
for n in (1, 2, 4, 8):
    s, c = load(f"verify_{n}")
    items = s["counts"]["items_scanned"]
    rate = s["items_per_s"]
    base = base or rate
    req = sum(c.values())
    print(f"{'verify, ' + str(n) + ' segments':<28} {items:>7} {s['elapsed_s']:>7.2f} {rate:>8.0f} {rate / base:>6.2f}x "
          f"{req / items:>9.4f} {s['requests_per_item']:>9.4f}  {fmt(c)}")
    assert s["drift"]["categories"] == {} or all(v["count"] == 0 for v in s["drift"]["categories"].values()), "correct table has drift"
for n in backfill:
    s, c = load(f"backfill_{n}")
    loaded = json.load(open(f"{state}/missing_{n}.items"))["items"]
    items = s["counts"]["items_scanned"]
    req = sum(c.values())
    print(f"{'backfill, ' + n + ' segments':<28} {items:>7} {s['elapsed_s']:>7.2f} {s['items_per_s']:>8.0f} {'':>7} "
          f"{req / items:>9.4f} {s['requests_per_item']:>9.4f}  {fmt(c)}")
    k = s["counts"]
    print(f"  table had {loaded} items (scan also met FTS items written during the walk); "
          f"{req / loaded:.4f} requests per loaded item; writes {k['writes']} "
          f"(map updates {k['map_updates']}, FTS puts {k['fts_puts']}); drifted targets {k['drifted_targets']}")
    r, _ = load(f"reverify_{n}")
    clean = all(v["count"] == 0 for v in r["drift"]["categories"].values())
    print(f"  verify after backfill: {'clean' if clean else 'DRIFT'}")
    if not clean:
        sys.exit(1)
PY

echo
echo "-- the indexer alone: in memory, a fixed delay per request --"
cargo bench --quiet --locked -p indexer --bench indexer -- latency "${BENCH_LATENCY_COPIES:-200}" "${BENCH_LATENCY_MS:-10}"
