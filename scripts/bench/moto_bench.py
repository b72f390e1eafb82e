"""moto_server for benchmarks: counts requests, and runs the one PartiQL
statement the suite sends as AWS does.

- Every request is counted by its `X-Amz-Target` (e.g.
  `DynamoDB_20120810.UpdateItem`). `GET /_bench/counts` returns the counts
  as JSON; `GET /_bench/counts?reset=1` returns them and starts again.
- A Query on the table itself costs O(partition), not a sort of the whole
  table (see below): the reference sends one per orphaned partition.
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
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.core.responses import ActionResult
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

# moto 5.2.5 answers a Query on the table (no index) by sorting every item of
# the table, then keeping one partition: 2-3 s per Query at 67,000 items. While
# such a Query runs, all_items() here yields that partition's items only (the
# same items, in the same key order), so a Query costs O(partition) as on AWS.
# This speeds up the reference's per-partition Queries; the sweeper sends none.
_local = threading.local()
_original_all_items = Table.all_items
_original_query = Table.query


def query(self, hash_key, *args, **kwargs):  # type: ignore[no-untyped-def]
    index_name = kwargs.get("index_name") if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None:
        return _original_query(self, hash_key, *args, **kwargs)
    _local.hash_key = hash_key
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        _local.hash_key = None


def all_items(self):  # type: ignore[no-untyped-def]
    hash_key = getattr(_local, "hash_key", None)
    if hash_key is None or not self.range_key_attr:
        return _original_all_items(self)
    return sorted(self.items.get(hash_key, {}).values(), key=lambda x: (x.hash_key, x.range_key))


Table.all_items = all_items
Table.query = query

# moto 5.2.5 serializes every response through its botocore-model-driven
# serializer: ~0.15 ms per item a Scan or Query returns, so reading 67,000
# keys costs ~10 s of emulator CPU (DynamoDB serves such a page in
# milliseconds). A Scan or Query result is already plain DynamoDB JSON (moto's
# DynamoResult converts it), so this server writes it with json.dumps, which
# gives the same wire document. Anything json.dumps cannot write (binary
# values) goes through moto's serializer as before. BENCH_FAST_JSON=0 turns
# this off.
class _JsonBody(ActionResult):
    def __init__(self, body: str) -> None:
        super().__init__(None)
        self._body = body

    def execute_result(self, context):  # type: ignore[no-untyped-def]
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, self._body


def _fast_json(method):  # type: ignore[no-untyped-def]
    def wrapped(self):  # type: ignore[no-untyped-def]
        result = method(self)
        try:
            return _JsonBody(json.dumps(result.result))
        except (TypeError, ValueError):
            return result

    return wrapped


if os.environ.get("BENCH_FAST_JSON", "1") != "0":
    DynamoHandler.scan = _fast_json(DynamoHandler.scan)
    DynamoHandler.query = _fast_json(DynamoHandler.query)

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
