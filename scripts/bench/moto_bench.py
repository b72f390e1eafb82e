"""moto_server for benchmarks: counts requests, and runs the one PartiQL
statement the suite sends as AWS does.

It loads scripts/moto_fixes.py first: the correctness fixes (stream sequence
numbers) the test emulator (scripts/emulator.sh) has too; then
scripts/moto_cost.py, the cost-fidelity patches (a Query in O(partition), a
Scan page in O(page), answers written with json.dumps), which the test
emulator loads as well. This server adds request counting, the round trip,
and the PartiQL expiry statement.

- Every request is counted by its `X-Amz-Target` (e.g.
  `DynamoDB_20120810.UpdateItem`). `GET /_bench/counts` returns the counts
  as JSON; `GET /_bench/counts?reset=1` returns them and starts again.
- From moto_cost.py: a Query on the table costs O(partition), not a sort of
  the whole table (the reference sends one per orphaned partition); a Scan
  page costs O(page + log table), not a sort and walk of the whole table per
  page (and per segment), with the same pages as moto's
  (scripts/bench/selftest_moto_bench.py checks them against moto's own).
  BENCH_FAST_SCAN=0 turns the Scan patch off.
- moto 5.2.5 cannot run `BatchExecuteStatement` with a condition on a non-key
  attribute (every statement fails with ValidationError; and it copies every
  table for every statement). This server runs the adapter's expire statement
      UPDATE "<table>" SET "ttl" = ? WHERE "PK" = ? AND "SK" = ? AND ("ttl" IS MISSING OR "ttl" > ?)
  with DynamoDB's semantics: the item must exist (an UPDATE never creates
  one), and its ttl must be absent or later than the new one; otherwise the
  statement's error is `ConditionalCheckFailed`. Other statements go to moto.

- BENCH_RTT_MS (default 0): every request waits this long before moto
  answers it, the round trip a network hop to DynamoDB adds (a few ms in a
  region). The wait releases the GIL, so concurrent requests wait together,
  as they would on a network. The same for every client: a benchmark that
  compares two tools on one server charges both the same per request.

Usage: moto_bench.py PORT
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from decimal import Decimal

from moto import server as moto_server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import moto_fixes  # noqa: E402,F401  the correctness fixes every emulator of the project loads
import moto_cost  # noqa: E402,F401  the cost-fidelity patches (Query, Scan, answers' JSON)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from werkzeug.serving import run_simple

EXPIRE = re.compile(
    r'^UPDATE "(?P<table>[^"]+)" SET "ttl" = \? WHERE "PK" = \? AND "SK" = \? '
    r'AND \("ttl" IS MISSING OR "ttl" > \?\)$'
)

_original = DynamoDBBackend.batch_execute_statement


def batch_execute_statement(self, statements):  # type: ignore[no-untyped-def]
    if not all(EXPIRE.match(s.get("Statement", "")) for s in statements):
        return _original(self, statements)
    responses = []
    for s in statements:
        m = EXPIRE.match(s["Statement"])
        params = s.get("Parameters", [])
        name = m.group("table")
        if name not in self.tables or len(params) != 4:
            responses.append({"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}})
            continue
        table = self.tables[name]
        now, pk, sk, _ = params
        item = table.get_item(DynamoType(pk), DynamoType(sk))
        ttl = item.attrs.get("ttl") if item is not None else None
        if item is None or (
            ttl is not None and not (ttl.type == "N" and Decimal(ttl.value) > Decimal(now["N"]))
        ):
            responses.append(
                {"TableName": name, "Error": {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}}
            )
            continue
        item.attrs["ttl"] = DynamoType(now)
        responses.append({"TableName": name})
    return responses


DynamoDBBackend.batch_execute_statement = batch_execute_statement

COUNTS: Counter[str] = Counter()
LOCK = threading.Lock()
RTT_S = float(os.environ.get("BENCH_RTT_MS", "0") or 0) / 1000.0


def counting(app):  # type: ignore[no-untyped-def]
    def wrapped(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") == "/_bench/counts":
            with LOCK:
                body = json.dumps(dict(COUNTS)).encode()
                if "reset=1" in environ.get("QUERY_STRING", ""):
                    COUNTS.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        with LOCK:
            COUNTS[target] += 1
        if RTT_S > 0:
            time.sleep(RTT_S)
        return app(environ, start_response)

    return wrapped


def main() -> None:
    port = int(sys.argv[1])
    app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
    run_simple("127.0.0.1", port, counting(app), threaded=True, request_handler=moto_server.MotoRequestHandler)


if __name__ == "__main__":
    main()
