#!/usr/bin/env bash
# `make demo`: the suite end to end on the local emulator, printing what each
# step did, with a numbered header and its duration per step.
#
# Adding a step: write a function `step_<name>` and list it with its title in
# STEPS_INSIDE (steps that need the emulator run in a second invocation of
# this script, `--inside`, under `scripts/emulator.sh run`). Python helpers
# live in scripts/demo/ and run with the project venv; for before/after
# counts around a step, `scripts/demo/tablestats.py TABLE --save FILE` then
# `... --compare FILE`.
#
#   scripts/demo.sh            run everything; the emulator is started and stopped
#   DEMO_TABLE=name            table name (default mlflow-demo)
#   DEMO_FORMAT=v0.1|main      the table format, i.e. which reference store writes
#                              (`make demo FORMAT=main`; default v0.1)
#
# The format matters in one place, the block below: which venv holds the
# writer (and runs the Python helpers), and which admin CLI `cli` calls. The
# helpers read DEMO_FORMAT for what they expect of the writer and print.
set -euo pipefail
set -E  # the ERR trap fires inside functions too

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
demo="$root/scripts/demo"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export MLFLOW_LOGGING_LEVEL=WARNING  # MLflow's INFO lines would drown the demo's own
export DEMO_TABLE="${DEMO_TABLE:-mlflow-demo}"
export DEMO_FORMAT="${DEMO_FORMAT:-v0.1}"
case "$DEMO_FORMAT" in
  v0.1) # PyPI mlflow-dynamodbstore 0.1.0 in the project venv
    writer_venv="$root/.venv"; venv_sets=(emulator reference)
    writer="the reference store mlflow-dynamodbstore" ;;
  main) # the reference's main branch (3ccbc9e) in its own venv (MLflow 3.17)
    writer_venv="$root/.venv-main"; venv_sets=(emulator main)
    writer="the reference store's main branch (mlflow-dynamodbstore 3ccbc9e, table format main)" ;;
  *) echo "demo: DEMO_FORMAT (make demo FORMAT=...) is '$DEMO_FORMAT'; expected v0.1 or main" >&2; exit 2 ;;
esac
py="$writer_venv/bin/python"

# ---------------------------------------------------------------- framework

STEP="${DEMO_STEP:-0}"
STEP_TITLE=""
STEP_T0=""

elapsed() { # seconds since $1 (an $EPOCHREALTIME value), one decimal
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

begin_step() {
  STEP=$((STEP + 1))
  STEP_TITLE="$1"
  STEP_T0="$EPOCHREALTIME"
  printf '\n=== %d. %s ===\n' "$STEP" "$STEP_TITLE"
}

end_step() {
  printf '  (step %d took %s s)\n' "$STEP" "$(elapsed "$STEP_T0")"
}

on_error() {
  local rc=$?
  trap - ERR
  if [ -n "$STEP_TITLE" ]; then
    printf '\ndemo: FAILED in step %d (%s), exit code %d; see the output above.\n' \
      "$STEP" "$STEP_TITLE" "$rc" >&2
  fi
  exit "$rc"
}
trap on_error ERR

cli() { # the reference's admin CLI, called with v0.1's subcommands
  if [ "$DEMO_FORMAT" = main ]; then
    # main's CLI: `--name T --endpoint-url URL` before the subcommand, and
    # fts-trigrams / denormalize-tags are called fts / tag
    local args=("$@")
    case "${args[0]}" in
      fts-trigrams) args[0]=fts ;;
      denormalize-tags) args[0]=tag ;;
    esac
    printf '  $ mlflow-dynamodbstore --name %s --endpoint-url $AWS_ENDPOINT_URL %s\n' "$DEMO_TABLE" "${args[*]}"
    "$writer_venv/bin/mlflow-dynamodbstore" --name "$DEMO_TABLE" --endpoint-url "$AWS_ENDPOINT_URL" \
      --region "$AWS_REGION" "${args[@]}" | sed 's/^/    /'
    return
  fi
  # v0.1's CLI reaches the emulator through AWS_ENDPOINT_URL.
  printf '  $ mlflow-dynamodbstore %s\n' "$*"
  # Every CLI call imports the package half-way, then MLflow loads the store
  # entry points and warns 'Failure attempting to register store for scheme
  # "dynamodb": partially initialized module' (a circular import, harmless for
  # the CLI); only that warning is silenced.
  PYTHONWARNINGS="ignore:Failure attempting to register store:UserWarning" \
    "$writer_venv/bin/mlflow-dynamodbstore" "$@" --table "$DEMO_TABLE" --region "$AWS_REGION" | sed 's/^/    /'
}

manifest() { # a value from the manifest the dataset steps wrote, e.g. manifest experiments.ranking.id
  "$py" - "$DEMO_STATE/manifest.json" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1], encoding="utf-8"))
for part in sys.argv[2].split("."):
    value = value[part]
print(value)
PY
}

# ------------------------------------------------------- steps (outside)

step_venv() {
  scripts/venv.sh "${venv_sets[@]}"
  "$py" - <<'PY'
from importlib.metadata import version
pkgs = ["mlflow", "mlflow-dynamodbstore", "moto", "boto3", "snowballstemmer"]
print("  " + ", ".join(f"{p} {version(p)}" for p in pkgs))
PY
}

# -------------------------------------------------------- steps (inside)

step_provision() {
  "$py" "$demo/provision.py"
}

step_preflight() {
  # The upgrade's first steps (README runbook 1 and 3) on the table the reference store created.
  # moto's CloudFormation ignores the template's TimeToLiveSpecification and point-in-time
  # recovery, so on the emulator `ttl` stays FAIL and `pitr` warns; on AWS both are on.
  cargo build --quiet --locked -p preflight
  local pf="$root/target/debug/preflight" rc=0
  echo "  \$ preflight check --table $DEMO_TABLE"
  "$pf" check --table "$DEMO_TABLE" >"$DEMO_STATE/preflight.txt" || rc=$?
  sed 's/^/    /' "$DEMO_STATE/preflight.txt"
  echo "    (exit code $rc: 1 = not up to date)"
  [ "$rc" -eq 1 ] && grep -q 'FAIL  stream   no stream' "$DEMO_STATE/preflight.txt"
  echo "  \$ preflight enable-stream --table $DEMO_TABLE   (twice: the second changes nothing)"
  "$pf" enable-stream --table "$DEMO_TABLE" | sed 's/^/    /'
  "$pf" enable-stream --table "$DEMO_TABLE" | sed 's/^/    /'
  rc=0
  "$pf" check --table "$DEMO_TABLE" --json >"$DEMO_STATE/preflight.json" || rc=$?
  "$py" - "$DEMO_STATE/preflight.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
stream = next(c for c in r["checks"] if c["name"] == "stream")
print(f"  after: stream {stream['status']} ({r['stream_view_type']}); "
      + ", ".join(f"{c['name']} {c['status']}" for c in r["checks"] if c["name"] != "stream"))
assert stream["status"] == "ok", stream
PY
}

step_configure_global() {
  # opt-in value FTS, so that run tag/param and trace tag values get FTS items too
  cli fts-trigrams add run_tag_value
  cli fts-trigrams add run_param_value
  cli fts-trigrams add trace_tag_value
  cli fts-trigrams list
  cli denormalize-tags list
}

step_write_experiments() {
  "$py" "$demo/dataset.py" experiments
}

step_configure_experiments() {
  # team.* joins the tags map of runs and traces of these two experiments only
  local ranking assistant
  ranking="$(manifest experiments.ranking.id)"
  assistant="$(manifest experiments.assistant.id)"
  cli denormalize-tags add --experiment-id "$ranking" 'team.*'
  cli denormalize-tags add --experiment-id "$assistant" 'team.*'
  cli denormalize-tags list --experiment-id "$ranking"
}

step_write_contents() {
  "$py" "$demo/dataset.py" contents
}

step_table_stats() {
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --sample --save "$DEMO_STATE/stats-written.json" | sed 's/^/  /'
}

step_searches() {
  # one attempt per request: a search known to fail on moto (HTTP 500) would
  # otherwise wait through botocore's retries
  AWS_MAX_ATTEMPTS=1 "$py" "$demo/searches.py"
}

step_materializer() {
  # Raw writes (PutItem, no inline materialization) on the stream-enabled
  # table; `materializer tail` reads the whole stream through the Lambda
  # handler. The reference's own inline writes are already right (reads
  # only); the raw targets get their tags entries and FTS items.
  cargo build --quiet --locked -p materializer
  local m="$root/target/debug/materializer"
  "$py" "$demo/materializer_raw.py" write
  echo "  before:"
  "$py" "$demo/materializer_raw.py" show | sed 's/^/  /'
  if [ "$DEMO_FORMAT" = main ]; then
    "$py" "$demo/materializer_raw.py" renamed | sed 's/^/  /'
  fi
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --save "$DEMO_STATE/stats-before-materializer.json" >/dev/null
  printf '  $ materializer tail --table %s --until-idle\n' "$DEMO_TABLE"
  "$m" tail --table "$DEMO_TABLE" --until-idle --checkpoint "$DEMO_STATE/materializer-checkpoint.json" \
    >"$DEMO_STATE/materializer-tail.json" 2>"$DEMO_STATE/materializer-tail.log"
  "$py" - "$DEMO_STATE/materializer-tail.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
st = r["stats"]
skipped = ", ".join(f"{k} {v}" for k, v in sorted(st["skipped"].items()))
print(f"    {st['records']} records in {r['invocations']} invocations ({r['elapsed_ms']} ms); skipped: {skipped}")
print(f"    {st['targets']} targets reconciled: {st['noop_targets']} already right (reads only), "
      f"{st['missing_targets']} gone; {st['writes']} write requests; DLQ {st['dlq_sends']}, retries {st['retries']}")
print(f"    record age when acknowledged (a backlog: tail started after the writes): p50 {r['lag_ms']['p50']} ms, p99 {r['lag_ms']['p99']} ms")
assert st["failed"] == 0 and st["dlq_sends"] == 0, st
PY
  echo "  after:"
  "$py" "$demo/materializer_raw.py" check | sed 's/^/  /'
  if [ "$DEMO_FORMAT" = main ]; then
    echo "  the run the data set renamed through mlflow.runName (main left the old name's tokens):"
    "$py" "$demo/materializer_raw.py" renamed --check | sed 's/^/  /'
    echo "    our materializer plans a run's name tokens from its current run_name, whichever write changed"
    echo "    it, and replaces the whole token set (stale ones deleted): the state a store writing that"
    echo "    name at creation would have; main's rename path updates run_name without touching FTS"
  fi
  echo "  what changed in the table:"
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --compare "$DEMO_STATE/stats-before-materializer.json" | sed 's/^/    /'
}

step_format_detection() {
  # The functions follow the table's format: TABLE_FORMAT unset means auto
  # (DescribeTable's lsi2sk type: N = main, S = v0.1). A TABLE_FORMAT naming
  # the other format is refused before anything is written: shown with one
  # stream record and one drift pending, which a wrong-format run would have
  # written in the wrong layout.
  local other bin="$root/target/debug" rc
  other="$([ "$DEMO_FORMAT" = main ] && echo v0.1 || echo main)"
  "$py" "$demo/materializer_raw.py" pending
  "$py" "$demo/materializer_raw.py" run-entries
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --save "$DEMO_STATE/stats-before-refusals.json" >/dev/null
  cp "$DEMO_STATE/materializer-checkpoint.json" "$DEMO_STATE/checkpoint-before-refusals.json"
  refused() { # CMD...: run with the wrong TABLE_FORMAT, show its error and exit code, fail unless refused
    local shown="${*/#$bin\//}"
    printf '  $ TABLE_FORMAT=%s %s\n' "$other" "${shown//$DEMO_STATE/\$DEMO_STATE}"
    rc=0
    TABLE_FORMAT="$other" RUST_LIB_BACKTRACE=0 "$@" >"$DEMO_STATE/refused.out" 2>"$DEMO_STATE/refused.err" || rc=$?
    grep -v '^$' "$DEMO_STATE/refused.err" | sed 's/^/    /'
    echo "    (exit code $rc)"
    [ "$rc" -ne 0 ] && grep -q "TABLE_FORMAT=$other: nothing was written" "$DEMO_STATE/refused.err"
  }
  refused "$bin/materializer" tail --table "$DEMO_TABLE" --until-idle --checkpoint "$DEMO_STATE/materializer-checkpoint.json"
  refused "$bin/indexer" backfill --table "$DEMO_TABLE" --segments 4
  refused "$bin/ttl-sweeper" --table "$DEMO_TABLE"
  echo "  the table after the three refusals:"
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --compare "$DEMO_STATE/stats-before-refusals.json" | sed 's/^/  /'
  "$py" "$demo/materializer_raw.py" run-entries
  cmp -s "$DEMO_STATE/materializer-checkpoint.json" "$DEMO_STATE/checkpoint-before-refusals.json"
  echo "    materializer checkpoint unchanged: the pending record was not acknowledged"
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --compare "$DEMO_STATE/stats-before-refusals.json" | grep -qx '  no change'

  echo "  without TABLE_FORMAT (auto), each function detects the format and goes on:"
  printf '  $ materializer tail --table %s --until-idle\n' "$DEMO_TABLE"
  env -u TABLE_FORMAT "$bin/materializer" tail --table "$DEMO_TABLE" --until-idle \
    --checkpoint "$DEMO_STATE/materializer-checkpoint.json" >"$DEMO_STATE/detect-tail.json" 2>"$DEMO_STATE/detect-tail.log"
  "$py" - "$DEMO_STATE/detect-tail.json" "$DEMO_STATE/detect-tail.log" "$DEMO_FORMAT" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
log = open(sys.argv[2], encoding="utf-8").read()
m = re.search(r"table format .*?format=(\S+) setting=(\S+) evidence=(.*)", log)
evidence = f" (setting {m.group(2)}; {m.group(3).strip()})" if m else ""
st = r["stats"]
print(f"    format {r['format']}{evidence}")
print(f"    {st['records']} records, {st['targets']} targets, {st['writes']} write requests, {st['failed']} failed")
assert r["format"] == sys.argv[3] and st["failed"] == 0 and st["writes"] > 0, r
PY
  "$py" "$demo/materializer_raw.py" run-entries
  printf '  $ indexer verify --table %s --segments 4\n' "$DEMO_TABLE"
  rc=0
  env -u TABLE_FORMAT "$bin/indexer" verify --table "$DEMO_TABLE" --segments 4 \
    >"$DEMO_STATE/detect-verify.json" 2>"$DEMO_STATE/detect-verify.txt" || rc=$?
  sed 's/^/    /' "$DEMO_STATE/detect-verify.txt"
  echo "    (exit code $rc: 0 = clean, 3 = drift)"
  grep -q "(format $DEMO_FORMAT: " "$DEMO_STATE/detect-verify.txt"
  printf '  $ ttl-sweeper --table %s --dry-run --json\n' "$DEMO_TABLE"
  env -u TABLE_FORMAT "$bin/ttl-sweeper" --table "$DEMO_TABLE" --dry-run --json >"$DEMO_STATE/detect-sweep.json"
  "$py" - "$DEMO_STATE/detect-sweep.json" "$DEMO_FORMAT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"    format {r['format']}: {r['items_scanned']} items scanned, {r['orphaned_partitions']} orphaned partitions"
      + (" (dry run, nothing written)" if r["dry_run"] else ""))
assert r["format"] == sys.argv[2], r
PY
}

step_ttl_sweeper() {
  # soft-delete an experiment, simulate TTL removing its E#META, then sweep
  "$py" "$demo/sweeper.py" prepare
  cargo build --quiet -p ttl-sweeper
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --save "$DEMO_STATE/stats-before-sweep.json" >/dev/null
  printf '  $ ttl-sweeper --table %s --dry-run\n' "$DEMO_TABLE"
  "$root/target/debug/ttl-sweeper" --table "$DEMO_TABLE" --dry-run | sed 's/^/    /'
  printf '  $ ttl-sweeper --table %s\n' "$DEMO_TABLE"
  "$root/target/debug/ttl-sweeper" --table "$DEMO_TABLE" | sed 's/^/    /'
  echo "  what changed:"
  "$py" "$demo/tablestats.py" "$DEMO_TABLE" --compare "$DEMO_STATE/stats-before-sweep.json" | sed 's/^/    /'
  "$py" "$demo/sweeper.py" verify
}

step_indexer_story() {
  # The operator story on a table of its own: a configuration change hides
  # existing runs from the reference store's search; indexer verify shows
  # the drift, indexer backfill repairs it. Every search is a fresh store
  # process (the reference caches CONFIG per process).
  local t="${DEMO_TABLE}-indexer" story=("$py" "$demo/indexer_story.py")
  local indexer=("$root/target/debug/indexer")
  # runs, risk, zebra found: v0.1 answers a tag LIKE from value FTS items only;
  # main filters tag items for it, so only the team.* pattern hides runs there
  local -A want=([v0.1]="6,3,0 6,0,0 8,2,2" [main]="6,3,3 6,0,3 8,2,5")
  local w=(${want[$DEMO_FORMAT]})
  cargo build --quiet --locked -p indexer
  "${story[@]}" seed --table "$t" >/dev/null
  echo "  6 runs written by the reference store: tag team.name (3 'risk'), tag note (3 with 'zebra')"
  "${story[@]}" say --table "$t" --label "before any change:" --expect "${w[0]}"
  DEMO_TABLE="$t" cli denormalize-tags add 'team.*'
  "${story[@]}" say --table "$t" --label "after adding team.*:" --expect "${w[1]}"
  DEMO_TABLE="$t" cli fts-trigrams add run_tag_value
  "${story[@]}" write-new --table "$t" -n 2 >/dev/null
  echo "  2 more runs written (risk, zebra)"
  "${story[@]}" say --table "$t" --label "after run_tag_value FTS + 2 new runs:" --expect "${w[2]}"
  if [ "$DEMO_FORMAT" = main ]; then
    echo "  (main filters tag items for tags.note LIKE, so zebra runs never drop out; team.* still hides risk runs)"
  fi
  "$py" "$demo/tablestats.py" "$t" --save "$DEMO_STATE/stats-indexer.json" >/dev/null
  echo "  \$ indexer verify --table $t --segments 4"
  local rc=0
  "${indexer[@]}" verify --table "$t" --segments 4 --examples 3 >"$DEMO_STATE/verify.json" 2>"$DEMO_STATE/verify.txt" || rc=$?
  sed 's/^/    /' "$DEMO_STATE/verify.txt"
  echo "    (exit code $rc: 3 = drift)"
  [ "$rc" -eq 3 ]
  echo "  \$ indexer backfill --table $t --segments 4"
  "${indexer[@]}" backfill --table "$t" --segments 4 --examples 3 2>&1 >/dev/null | sed 's/^/    /'
  "$py" "$demo/tablestats.py" "$t" --compare "$DEMO_STATE/stats-indexer.json" | sed 's/^/  /'
  "${story[@]}" say --table "$t" --label "after indexer backfill (fresh process):" --expect 8,5,5
  echo "  \$ indexer verify --table $t --segments 4"
  rc=0
  "${indexer[@]}" verify --table "$t" --segments 4 >/dev/null 2>"$DEMO_STATE/verify.txt" || rc=$?
  sed 's/^/    /' "$DEMO_STATE/verify.txt"
  echo "    (exit code $rc: 0 = clean)"
  [ "$rc" -eq 0 ]
}

STEPS_INSIDE=(
  "provision|Provision the table through the reference store (CloudFormation in moto)"
  "preflight|Upgrade preflight: no stream on the reference table; enable-stream (idempotent)"
  "configure_global|Configure the reference store through its CLI"
  "write_experiments|Write experiments through MLflow's client"
  "configure_experiments|Per-experiment tag denormalization patterns (CLI)"
  "write_contents|Write runs, traces and the model registry through MLflow's client"
  "table_stats|What the table holds: items and derived items per kind"
  "searches|The reference store's own searches"
  "materializer|materializer: raw writes without inline materialization; tail derives them"
  "format_detection|Format detection: the functions follow the table; a wrong TABLE_FORMAT is refused, nothing written"
  "ttl_sweeper|ttl-sweeper: an experiment soft-deleted and expired; dry run, then the sweep"
  "indexer_story|indexer: a new pattern hides old runs from search; verify, backfill, verify"
)

# Format detection is shown with FORMAT=main only: `make demo` (v0.1) keeps its steps.
if [ "$DEMO_FORMAT" != main ]; then
  steps=()
  for entry in "${STEPS_INSIDE[@]}"; do
    [ "${entry%%|*}" = format_detection ] || steps+=("$entry")
  done
  STEPS_INSIDE=("${steps[@]}")
fi

run_steps() {
  local entry
  for entry in "$@"; do
    begin_step "${entry#*|}"
    "step_${entry%%|*}"
    end_step
  done
}

# ------------------------------------------------------------------- main

if [ "${1:-}" = "--inside" ]; then
  # the outer script opened the step that starts the emulator; close it here
  STEP_TITLE="start the emulator"
  echo "  moto_server at $AWS_ENDPOINT_URL (region $AWS_REGION); table $DEMO_TABLE"
  echo "$AWS_ENDPOINT_URL" >"$DEMO_STATE/endpoint"
  STEP_T0="$DEMO_STEP_T0"
  end_step
  run_steps "${STEPS_INSIDE[@]}"
  exit 0
fi

T0="$EPOCHREALTIME"
if [ "$DEMO_FORMAT" = main ]; then
  echo "make demo FORMAT=main: $writer on a local emulator"
  run_steps "venv|Python venvs: emulator (.venv) and the main store (.venv-main) (scripts/venv.sh)"
else
  echo "make demo: $writer on a local emulator"
  run_steps "venv|Python venv: emulator and reference store (scripts/venv.sh)"
fi

mkdir -p "$root/.cache/demo"
DEMO_STATE="$(mktemp -d "$root/.cache/demo/run-XXXXXX")"
export DEMO_STATE
begin_step "Start the emulator (scripts/emulator.sh run -- scripts/demo.sh --inside)"
if DEMO_STEP="$STEP" DEMO_STEP_T0="$STEP_T0" scripts/emulator.sh run -- "$root/scripts/demo.sh" --inside; then
  rc=0
else
  rc=$?
fi

# Nothing may be left running. emulator.sh signals moto_server on exit but
# does not wait for it to end, so wait here (up to 15 s) until no process
# serves that port any more and it refuses connections.
endpoint="$(cat "$DEMO_STATE/endpoint" 2>/dev/null || true)"
if [ -n "$endpoint" ] && ! "$py" - "$endpoint" <<'PY'
import glob, socket, sys, time
url = sys.argv[1]
host, port = url.split("//", 1)[1].rsplit(":", 1)

def serving() -> bool:
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = open(path, "rb").read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"moto_server") for a in args) and port.encode() in args:
            return True
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False

deadline = time.monotonic() + 15
while serving():
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.1)
PY
then
  echo "demo: the emulator at $endpoint is still running 15 s after the demo" >&2
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  echo "demo: FAILED (exit code $rc); state kept in $DEMO_STATE" >&2
  exit "$rc"
fi
rm -rf "$DEMO_STATE"
printf '\n=== done in %s s; the emulator at %s is stopped ===\n' "$(elapsed "$T0")" "$endpoint"
