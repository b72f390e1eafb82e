"""moto_server for benchmarks: counts requests, and runs the one PartiQL
statement the suite sends as AWS does.

It loads scripts/moto_fixes.py first: the correctness fixes (stream sequence
numbers) the test emulator (scripts/emulator.sh) has too.

- Every request is counted by its `X-Amz-Target` (e.g.
  `DynamoDB_20120810.UpdateItem`). `GET /_bench/counts` returns the counts
  as JSON; `GET /_bench/counts?reset=1` returns them and starts again.
- A Query on the table itself costs O(partition), not a sort of the whole
  table (see below): the reference sends one per orphaned partition.
- A Scan page costs O(page + log table), not a sort and walk of the whole
  table per page (and per segment), with the same pages as moto's (see
  below; scripts/bench/selftest_moto_bench.py checks them against moto's
  own). BENCH_FAST_SCAN=0 turns this off.
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

import copy
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
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoHandler
from moto.core.responses import ActionResult
from moto.utilities.utils import md5_hash
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

# moto 5.2.5 answers every Scan page by sorting the whole table (all_items),
# walking it from the first item to the page's ExclusiveStartKey and, for a
# parallel scan, hashing every item's key to keep its segment's: a page costs
# O(table), ~9 s at 99,000 items (a full scan of 9 pages: 85 s; 15 s here),
# where DynamoDB serves a page in O(page). Here each table keeps its keys in
# moto's scan order (and per segment, for each TotalSegments asked), rebuilt
# only after its key set changed (put_item of a new key, delete_item: the only
# ways moto 5.2.5 adds or removes an item; ~0.3 s at 100,000 items). A page
# finds its ExclusiveStartKey by binary search with moto's own comparison,
# then runs moto's loop over the live items (never a stale value): Limit, the
# 1 MB cut, ScanFilter, FilterExpression, projection, LastEvaluatedKey, Count
# and ScannedCount come out the same, for O(page + log table). Index scans,
# and start keys or segments moto would treat oddly (a missing key attribute,
# another type), go to moto unchanged. scripts/bench/selftest_moto_bench.py
# checks the pages against moto's own. BENCH_FAST_SCAN=0 turns this off.
_original_scan = Table.scan
_original_put_item = Table.put_item
_original_delete_item = Table.delete_item


class _ScanOrder:
    """A table's keys in moto's scan order. `version` counts the changes of
    the table's key set; `snapshot` holds the keys as of one version."""

    def __init__(self) -> None:
        self.version = 0
        self.snapshot: _ScanSnapshot | None = None
        self.lock = threading.Lock()  # one build at a time (parallel segments ask together)

    def __deepcopy__(self, memo):  # type: ignore[no-untyped-def]
        # moto deep-copies a table before a transaction (and puts the copy
        # back if it fails): the copy builds its own order when scanned.
        return _ScanOrder()


class _ScanSnapshot:
    def __init__(self, version: int, keys: list) -> None:
        self.version = version
        self.keys = keys  # (hash, range) DynamoTypes, range None without a range key
        self.segment_bytes: list[int] | None = None  # per key: the byte moto picks its segment by
        self.segments: dict[int, list[list]] = {}  # TotalSegments -> keys per segment

    def segment(self, segment: int, total: int) -> list:
        lists = self.segments.get(total)
        if lists is None:
            if self.segment_bytes is None:
                byte_of: dict = {}
                segment_bytes = []
                for h, _ in self.keys:  # Item.is_within_segment's hash, once per hash key
                    b = byte_of.get(h.value)
                    if b is None:
                        b = byte_of[h.value] = md5_hash(h.value.encode("utf8")).digest()[0]
                    segment_bytes.append(b)
                self.segment_bytes = segment_bytes
            lists = [[] for _ in range(total)]
            for key, b in zip(self.keys, self.segment_bytes):
                lists[b % total].append(key)
            self.segments[total] = lists
        return lists[segment]


def _scan_order(table: Table) -> _ScanOrder:
    order = table.__dict__.get("_bench_scan_order")
    if order is None:
        order = table.__dict__.setdefault("_bench_scan_order", _ScanOrder())
    return order


def _key_set_changed(table: Table) -> None:
    order = table.__dict__.get("_bench_scan_order")
    if order is not None:
        order.version += 1


def _snapshot(table: Table) -> _ScanSnapshot:
    order = _scan_order(table)
    snap = order.snapshot
    if snap is not None and snap.version == order.version:
        return snap
    with order.lock:
        snap = order.snapshot
        if snap is not None and snap.version == order.version:
            return snap
        snap = order.snapshot = _build_snapshot(table, order.version)
        return snap


def _build_snapshot(table: Table, version: int) -> _ScanSnapshot:
    # moto sorts Items by (hash_key, range_key) DynamoTypes, which compare by
    # cast_value: Decimal(value) for N, the value itself for S and B. put_item
    # gives every key the table's declared types, so sorting by those values
    # gives the same order (keys are unique), without a Python call per
    # comparison.
    h_cast = Decimal if table.hash_key_type == "N" else None
    if table.range_key_attr:
        r_cast = Decimal if table.range_key_type == "N" else None
        keys = [(i.hash_key, i.range_key) for part in table.items.values() for i in part.values()]
        if h_cast is None and r_cast is None:
            keys.sort(key=lambda k: (k[0].value, k[1].value))
        else:
            hc, rc = h_cast or (lambda v: v), r_cast or (lambda v: v)
            keys.sort(key=lambda k: (hc(k[0].value), rc(k[1].value)))
    else:
        keys = [(i.hash_key, None) for i in table.items.values()]
        if h_cast is None:
            keys.sort(key=lambda k: k[0].value)
        else:
            keys.sort(key=lambda k: h_cast(k[0].value))
    return _ScanSnapshot(version, keys)


def _key_count(table: Table, hash_value: DynamoType) -> int:
    if not table.range_key_attr:
        return len(table.items)
    part = table.items.get(hash_value)
    return 0 if part is None else len(part)


def put_item(self, item_attrs, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        hash_value = DynamoType(item_attrs[self.hash_key_attr])
        before = _key_count(self, hash_value)
    except Exception:  # moto raises its own error below
        before = None
    item = _original_put_item(self, item_attrs, *args, **kwargs)
    if before is None or _key_count(self, hash_value) != before:
        _key_set_changed(self)
    return item


def delete_item(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    item = _original_delete_item(self, *args, **kwargs)
    if item is not None:
        _key_set_changed(self)
    return item


def _plain_start_key(table: Table, key) -> bool:  # type: ignore[no-untyped-def]
    """A start key moto compares like a table key: every key attribute, with
    the table's type and a value moto can cast."""
    if key is None:
        return True
    if not isinstance(key, dict):
        return False
    for attr, type_ in ((table.hash_key_attr, table.hash_key_type), (table.range_key_attr, table.range_key_type)):
        if attr is None:
            continue
        value = key.get(attr)
        if not isinstance(value, dict) or list(value) != [type_] or not isinstance(value[type_], (str, bytes)):
            return False
        try:
            DynamoType(value).cast_value
        except Exception:
            return False
    return True


class _StaleOrder(Exception):
    """A key of the snapshot is no longer in the table."""


def scan(  # type: ignore[no-untyped-def]
    self,
    filters,
    limit,
    exclusive_start_key,
    filter_expression=None,
    index_name=None,
    consistent_read=False,
    projection_expression=None,
    segments=(None, None),
):
    segment, total = segments
    plain_segments = (segment, total) == (None, None) or (
        type(segment) is int and type(total) is int and 0 <= segment < total
    )
    if not index_name and plain_segments and _plain_start_key(self, exclusive_start_key):
        try:
            return _scan_page(
                self, filters, limit, exclusive_start_key, filter_expression, projection_expression, segments
            )
        except _StaleOrder:  # a key left without delete_item: moto answers, the order is rebuilt
            _key_set_changed(self)
    return _original_scan(
        self, filters, limit, exclusive_start_key, filter_expression,
        index_name, consistent_read, projection_expression, segments=segments,
    )


def _scan_page(  # type: ignore[no-untyped-def]
    self, filters, limit, exclusive_start_key, filter_expression, projection_expression, segments
):
    snap = _snapshot(self)
    segment, total = segments
    keys = snap.keys if total is None else snap.segment(segment, total)
    items = self.items
    ranged = bool(self.range_key_attr)

    def live(i: int) -> Item:
        h, r = keys[i]
        item = items.get(h)
        if ranged and item is not None:
            item = item.get(r)
        if item is None:
            raise _StaleOrder
        return item

    # moto skips the items that come before or at the start key, then reads
    # from the first that does not: the same position, by binary search.
    start = 0
    if exclusive_start_key is not None:
        hash_attrs, range_attrs = [self.hash_key_attr], [self.range_key_attr]
        lo, hi = 0, len(keys)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._item_comes_before_dct(live(mid), exclusive_start_key, hash_attrs, range_attrs, True):
                lo = mid + 1
            else:
                hi = mid
        start = lo

    # From here on, Table.scan's loop, over the page's items only.
    results: list[Item] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    for i in range(start, len(keys)):
        item = live(i)
        reached_length_limit = len(results) == limit
        reached_size_limit = (result_size + item.size()) > RESULT_SIZE_LIMIT
        if reached_length_limit or reached_size_limit:
            last_evaluated_key = self._get_last_evaluated_key(results[-1], None)
            break

        passes_all_conditions = True
        for attribute_name in filters:
            attribute = item.attrs.get(attribute_name)
            (comparison_operator, comparison_objs) = filters[attribute_name]
            if attribute:
                if not attribute.compare(comparison_operator, comparison_objs):
                    passes_all_conditions = False
                    break
            elif comparison_operator == "NULL":
                continue
            else:
                passes_all_conditions = False
                break

        if passes_all_conditions:
            results.append(copy.deepcopy(item))
            result_size += item.size()

        scanned_count += 1

    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expression:
        results = [r.project(projection_expression) for r in results]
    return results, scanned_count, last_evaluated_key


if os.environ.get("BENCH_FAST_SCAN", "1") != "0":
    Table.put_item = put_item
    Table.delete_item = delete_item
    Table.scan = scan

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
