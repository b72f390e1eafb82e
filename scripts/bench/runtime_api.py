"""Cold start of a Lambda bootstrap binary, measured against a local stand-in
for the Lambda Runtime API (the HTTP interface a `provided.al2023` function
polls; lambda_runtime speaks it).

For each of RUNS starts: the binary is spawned with AWS_LAMBDA_RUNTIME_API
pointing here; the time from spawn to its first `GET .../invocation/next`
is its cold start (process start, tracing, SDK clients, up to the first
event poll); the event from EVENT.json is then handed over, and the time to
its `POST .../response` is the first invocation (format detection and the
configuration read included: the caches are cold). The process is killed
once it polls for the next event.

Usage: runtime_api.py BINARY EVENT.json RUNS    (the function's environment,
       e.g. TABLE_NAME and AWS_ENDPOINT_URL, is passed through)
Prints JSON: {"cold_start_ms": [...], "first_invoke_ms": [...], "response": ...}.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENTS: "queue.Queue[tuple[str, float]]" = queue.Queue()
BODY: bytes = b""
ROUND = {"n": 0, "served": -1}


class Runtime(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        t = time.monotonic()
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        n = ROUND["n"]
        EVENTS.put(("next", t))
        if ROUND["served"] == n:
            # The second poll of this start: it stays open until the process is killed.
            time.sleep(30)
            return
        ROUND["served"] = n
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"bench-{n}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:materializer")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.end_headers()
        self.wfile.write(BODY)

    def do_POST(self) -> None:  # noqa: N802
        t = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        kind = "response" if self.path.endswith("/response") else "error"
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        EVENTS.put((kind + ":" + body.decode("utf-8", "replace"), t))


def main() -> None:
    global BODY
    binary, event, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(event, "rb") as f:
        BODY = f.read()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "materializer",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/materializer",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    })
    cold, first, response = [], [], None
    for n in range(runs):
        ROUND["n"] = n
        while not EVENTS.empty():
            EVENTS.get_nowait()
        t0 = time.monotonic()
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            kind, t_next = EVENTS.get(timeout=30)
            assert kind == "next", kind
            kind, t_done = EVENTS.get(timeout=120)
            if not kind.startswith("response:"):
                raise SystemExit(f"runtime_api.py: the invocation failed: {kind}")
            response = json.loads(kind.split(":", 1)[1])
            EVENTS.get(timeout=30)  # the next poll: the invocation is over
        except queue.Empty:
            proc.kill()
            proc.wait()
            log.seek(0)
            err = log.read().decode("utf-8", "replace")
            raise SystemExit(f"runtime_api.py: no answer from {binary}:\n{err[-2000:]}")
        proc.kill()
        proc.wait()
        log.close()
        cold.append(round((t_next - t0) * 1000, 1))
        first.append(round((t_done - t_next) * 1000, 1))
    server.shutdown()
    print(json.dumps({"cold_start_ms": cold, "first_invoke_ms": first, "response": response}))


if __name__ == "__main__":
    main()
