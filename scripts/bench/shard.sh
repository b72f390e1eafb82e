#!/usr/bin/env bash
# The materializer at a stream shard's limit (issue #12, 5). Prints figures;
# no pass/fail gate.
#
# A DynamoDB stream shard carries about 1,000 writes a second. Here:
#   1. a v0.1 table (the 0.1.0 store provisions it; load_table.py writes
#      BENCH_SHARD_PARTITIONS experiment partitions, 2 runs each) gets a
#      NEW_AND_OLD_IMAGES stream; the emulator adds BENCH_RTT_MS (default 5)
#      to every request;
#   2. `materializer tail` (release build; batch size BENCH_SHARD_BATCH,
#      default 100 like the deployed event source mapping; one shard read
#      in order, like a mapping with parallelization factor 1) runs while a
#      writer (migrate_writer.py: BatchWriteItem, 25 items a request) puts
#      BENCH_SHARD_RATE (default 1,000) `mlflow.` run tags a second for
#      BENCH_SHARD_SECONDS (default 60), spread over the runs of
#      BENCH_SHARD_SPREAD partitions (default: all; fewer is a few busy runs,
#      whose records a batch coalesces); `tail` exits 5 s after the last
#      record, or BENCH_SHARD_GRACE (default 120) s after the writer's end if
#      it has not caught up by then (the summary says which);
#   3. reported: the writer's achieved rate; the lag from each record's
#      ApproximateCreationDateTime to the end of the invocation that
#      acknowledged it (p50/p99/max); handler milliseconds per 1,000 records
#      (the time Lambda bills; stream reads between invocations aside);
#      write requests per changed target (the handler's own count, and the
#      emulator's count of write operations less the writer's); the
#      emulator's CPU share (moto is one Python process: at 100 % it, not
#      the materializer, sets the pace);
#   4. the cold start of the release binary as a Lambda bootstrap: spawn to
#      its first event poll against a local Runtime API stand-in
#      (runtime_api.py), and its first invocation (cold caches), over
#      BENCH_SHARD_COLD runs (default 5).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
. "$root/scripts/bench/lib.sh"
rate="${BENCH_SHARD_RATE:-1000}"
seconds="${BENCH_SHARD_SECONDS:-60}"
partitions="${BENCH_SHARD_PARTITIONS:-1000}"
batch="${BENCH_SHARD_BATCH:-100}"
spread="${BENCH_SHARD_SPREAD:-$partitions}"
grace="${BENCH_SHARD_GRACE:-120}"
cold_runs="${BENCH_SHARD_COLD:-5}"
export BENCH_RTT_MS="${BENCH_RTT_MS-5}"
"$root/scripts/venv.sh" emulator reference >/dev/null

echo "== materializer at a shard's limit: ${rate} writes/s for ${seconds} s on the runs of ${spread} partitions, batch ${batch} =="
echo "building materializer (release)..."
cargo build --quiet --release --locked -p materializer
bin="$root/target/release/materializer"

bench_emulator
table=bench-shard
echo "loading $table ($partitions partitions)..."
"$py" "$root/scripts/bench/load_table.py" "$table" "$partitions" 0
enable_stream "$table"

"$bin" tail --table "$table" --until-idle --idle-ms 5000 --max-seconds $((seconds + grace)) --batch-size "$batch" \
  --checkpoint "$state/tail.json" >"$state/tail.out" 2>"$state/tail.err" &
tail_pid=$!
sleep 1
counts >/dev/null
c0="$(moto_cpu)"
t0=$EPOCHREALTIME
WRITERS="${WRITERS:-8}" BATCH=25 SPREAD="$spread" TAG_KEY=mlflow.bench.step \
  "$py" "$root/scripts/bench/migrate_writer.py" "$table" "$rate" "$seconds" >"$state/writer.json"
rc=0
wait "$tail_pid" || rc=$?
t1=$EPOCHREALTIME
c1="$(moto_cpu)"
counts >"$state/counts.json"
if [ "$rc" -ne 0 ]; then
  echo "tail failed (exit $rc):" >&2
  tail -20 "$state/tail.err" >&2
  exit 1
fi

"$py" - "$state" "$t0" "$t1" "$c0" "$c1" <<'PY'
import json, sys
state, t0, t1, c0, c1 = sys.argv[1], *map(float, sys.argv[2:])
w = json.load(open(f"{state}/writer.json"))
s = json.load(open(f"{state}/tail.out"))
c = {k.split(".", 1)[-1]: v for k, v in json.load(open(f"{state}/counts.json")).items()}
st = s["stats"]
print(f"writer: {w['writes']} writes in {w['seconds']:.1f} s = {w['writes'] / w['seconds']:.0f}/s "
      f"({w['requests']} BatchWriteItem of {w['batch']})")
print(f"tail: {st['records']} records in {s['elapsed_ms'] / 1000:.1f} s = {st['records'] / max(s['elapsed_ms'], 1) * 1000:.0f}/s, "
      f"{s['invocations']} invocations, {st['dlq_sends']} dead letters, {s['batches_retried']} batches retried; "
      + ("caught up" if s["caught_up"] else "NOT caught up: stopped at its time limit, behind the writer"))
l = s["lag_ms"]
print(f"lag (record created -> acknowledged): p50 {l['p50']} ms, p99 {l['p99']} ms, max {l['max']} ms "
      f"over {l['samples']} records (goal: p99 < 2,000 ms)")
print(f"handler time: {s['handler_ms']:.0f} ms in all, {s['handler_ms'] / max(st['records'], 1) * 1000:.0f} ms "
      f"per 1,000 records (the time Lambda bills)")
writes = sum(v for k, v in c.items() if k in ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem",
                                                "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement"))
mine = writes - w["requests"]
print(f"targets changed: {st['targets']} ({st['noop_targets']} already right); write requests per target: "
      f"{st['writes'] / max(st['targets'], 1):.3f} (handler's count), {mine / max(st['targets'], 1):.3f} "
      f"(emulator's: {mine} writes less the writer's {w['requests']})")
ops = ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]) if not k.startswith("GET /_bench"))
print(f"requests the emulator saw: {ops}")
print(f"emulator CPU: {c1 - c0:.1f} s over {t1 - t0:.1f} s = {(c1 - c0) / (t1 - t0):.0%} of one core")
PY

echo "-- cold start (release binary as a Lambda bootstrap; $cold_runs runs)"
"$py" - "$table" "$state/event.json" <<'PY'
import json, sys
table, out = sys.argv[1], sys.argv[2]
records = []
for n in range(100):
    exp = f"01bench{n:07d}"
    pk, sk = f"EXP#{exp}", f"R#{exp}r0#TAG#mlflow.cold"
    image = {"PK": {"S": pk}, "SK": {"S": sk}, "key": {"S": "mlflow.cold"}, "value": {"S": f"cold {n}"}}
    records.append({"eventID": str(n), "eventName": "INSERT", "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "dynamodb": {"Keys": {"PK": image["PK"], "SK": image["SK"]}, "NewImage": image,
                                 "SequenceNumber": f"{n + 1:021}", "StreamViewType": "NEW_AND_OLD_IMAGES",
                                 "ApproximateCreationDateTime": 1700000000}})
json.dump({"Records": records}, open(out, "w"))
PY
TABLE_NAME="$table" "$py" "$root/scripts/bench/runtime_api.py" "$bin" "$state/event.json" "$cold_runs" >"$state/cold.json"
"$py" - "$state/cold.json" <<'PY'
import json, statistics, sys
c = json.load(open(sys.argv[1]))
cold, first = c["cold_start_ms"], c["first_invoke_ms"]
print(f"spawn -> first event poll: median {statistics.median(cold):.1f} ms (runs: {cold})")
print(f"first invocation, 100 records, cold caches: median {statistics.median(first):.1f} ms (runs: {first})")
print(f"its response: {json.dumps(c['response'])}")
PY
