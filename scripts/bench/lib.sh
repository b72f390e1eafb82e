# Shared by the scripts/bench/*.sh benchmarks (source it; it defines
# functions and runs nothing by itself).
#
# bench_emulator: start scripts/bench/moto_bench.py (moto plus request
# counting by X-Amz-Target) on a free port, with a state directory; both are
# removed on exit. Sets `state` and `moto_pid`, exports the endpoint, region
# and dummy credentials, and waits (up to 30 s) until the emulator answers.
# Needs `root` (the repository) and `py` (the venv's python).
bench_emulator() {
  local port
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  state="$(mktemp -d)"
  "$py" "$root/scripts/bench/moto_bench.py" "$port" >"$state/moto.log" 2>&1 &
  moto_pid=$!
  trap bench_cleanup EXIT INT TERM
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  [ "${BENCH_RTT_MS:-0}" != "0" ] && echo "emulator: ${BENCH_RTT_MS} ms round trip added to every request (BENCH_RTT_MS)"
  for _ in $(seq 1 150); do
    "$py" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/_bench/counts', timeout=1)" 2>/dev/null && break
    sleep 0.2
  done
}

bench_cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -rf "$state"
}

# moto_cpu: the emulator's CPU seconds so far (user + system, all its threads).
moto_cpu() {
  local stat; stat="$(cat "/proc/$moto_pid/stat")"
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }' <<<"${stat##*) }"
}

# enable_stream TABLE: turn on the table's NEW_AND_OLD_IMAGES stream.
enable_stream() {
  "$py" -c 'import sys, boto3; boto3.client("dynamodb").update_table(TableName=sys.argv[1], StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})' "$1"
}

# counts: print the request counts since the last call as JSON, and reset them.
counts() {
  "$py" -c "import urllib.request; print(urllib.request.urlopen('$AWS_ENDPOINT_URL/_bench/counts?reset=1').read().decode())"
}
