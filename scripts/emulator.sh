#!/usr/bin/env bash
# The local AWS endpoint: moto_server (from the project's venv, with the fixes of
# scripts/moto_fixes.py) on a free loopback port.
#   scripts/emulator.sh run -- CMD...   start, run CMD with AWS_ENDPOINT_URL set, stop
#   scripts/emulator.sh start           start in the background, print the endpoint URL
#   scripts/emulator.sh stop            stop the one started by `start`
# The environment given to CMD: AWS_ENDPOINT_URL, AWS_REGION (us-east-1 unless
# set), and dummy credentials (the emulator accepts any).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="$root/.cache/emulator"
mkdir -p "$state"

"$root/scripts/venv.sh" emulator

free_port() {
  "$root/.venv/bin/python" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

start() {
  local port pid url log i
  port="$(free_port)"
  log="$state/moto-$port.log"
  # moto_server with the correctness fixes of scripts/moto_fixes.py (stream sequence numbers).
  "$root/.venv/bin/python" "$root/scripts/moto_fixes.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  pid=$!
  url="http://127.0.0.1:$port"
  for i in $(seq 1 150); do
    if curl -s -o /dev/null "$url/moto-api/" 2>/dev/null \
       || "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('$url/moto-api/', timeout=1)" 2>/dev/null; then
      echo "$pid" >"$state/moto-$port.pid"
      echo "$url"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "emulator.sh: moto_server exited; its log:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.2
  done
  echo "emulator.sh: moto_server did not answer on $url within 30 s; its log:" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null || true
  return 1
}

# moto_server is started inside a command substitution, so it is not this
# shell's child and `wait` cannot be used: poll until it is gone (10 s), then
# kill it hard.
stop_pid() {
  local i
  kill "$1" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
}

case "${1:-}" in
  start)
    url="$(start)"
    cp "$state/moto-${url##*:}.pid" "$state/pid"; echo "$url" >"$state/url"
    echo "$url" ;;
  stop)
    if [ -f "$state/pid" ]; then
      stop_pid "$(cat "$state/pid")"
      [ -f "$state/url" ] && rm -f "$state/moto-$(sed 's/.*://' "$state/url").pid"
      rm -f "$state/pid" "$state/url"
    fi ;;
  run)
    # Each `run` owns its own moto_server (its pid file is per port), so
    # concurrent runs (several people testing at once) never stop each other's.
    shift; [ "${1:-}" = "--" ] && shift
    url="$(start)"
    pidfile="$state/moto-${url##*:}.pid"
    pid="$(cat "$pidfile")"
    trap 'stop_pid "$pid"; rm -f "$pidfile"' EXIT INT TERM
    export AWS_ENDPOINT_URL="$url"
    export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
    echo "emulator.sh: moto_server at $AWS_ENDPOINT_URL" >&2
    "$@" ;;
  *)
    echo "usage: scripts/emulator.sh run -- CMD... | start | stop" >&2; exit 2 ;;
esac
