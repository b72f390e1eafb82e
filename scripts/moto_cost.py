"""Cost-fidelity patches to moto 5.2.5: moto answers some reads at a cost
DynamoDB does not have (a sort of the whole table per Query, a walk of the
whole table per Scan page, a slow serializer), and these make those reads
cost what they cost on DynamoDB, with exactly moto's answers.

Both emulators of the project load this module: the bench emulator
(scripts/bench/moto_bench.py), where the cost model is the point, and the
test emulator (scripts/moto_fixes.py, which scripts/emulator.sh runs), where
it only makes the tests wait less on moto. A patch here never changes an
answer: `make test` runs scripts/bench/selftest_moto_bench.py, which answers
every kind of request twice, patched and stock, and fails on the first
difference. Correctness fixes (where moto is wrong) are moto_fixes.py's.

- A Query on the table costs O(partition); a Query on a local secondary
  index too; a Query on a global secondary index skips moto's sort of the
  whole table (its results are sorted again by the index's keys).
- A Scan page costs O(page + log table) (BENCH_FAST_SCAN=0 turns it off),
  and a projection of top-level string attributes does not copy each whole
  item twice (moto deep-copies it, then round-trips it through Python values:
  ~0.2 ms per item read, 14 s of a scan of 67,000 items).
- Scan and Query answers are written with json.dumps (BENCH_FAST_JSON=0
  turns it off).
"""

from __future__ import annotations

import copy
import json
import os
import threading
from decimal import Decimal

from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoHandler
from moto.utilities.utils import md5_hash

# moto 5.2.5 answers a Query by sorting every item of the table
# (all_items()), then keeping the items whose key matches: 2-3 s per Query at
# 67,000 items. While a Query runs, all_items() here yields:
# - on the table, or on a local secondary index (whose hash key is the
#   table's): that partition's items only, in the same key order. moto keeps
#   the same items from either list, so a Query costs O(partition), as on AWS;
# - on a global secondary index: every item, unsorted. moto keeps the
#   matching ones and sorts them by the index's keys and then the table's,
#   a total order (the table's keys are unique), so the sort of the whole
#   table changed nothing; the Query still walks the table once.
# Anything else (no hash condition, an unknown index) goes to moto as is.
_local = threading.local()
# Queries served by each of these paths, and items projected by _project
# (the self-test checks it used them all).
SERVED = {"table": 0, "local index": 0, "global index": 0, "scan projection": 0}
_original_all_items = Table.all_items
_original_query = Table.query


def _arg(args: tuple, kwargs: dict, name: str, position: int):  # type: ignore[no-untyped-def]
    return kwargs.get(name) if name in kwargs else (args[position] if len(args) > position else None)


def query(self, hash_key, *args, **kwargs):  # type: ignore[no-untyped-def]
    index_name = _arg(args, kwargs, "index_name", 6)
    if hash_key is None:
        return _original_query(self, hash_key, *args, **kwargs)
    if index_name is None:
        _local.mode = ("partition", hash_key)
        SERVED["table"] += 1
    else:
        conditions = _arg(args, kwargs, "hash_key_conditions", 9) or []
        local = next((i for i in self.indexes if i.name == index_name), None)
        if local is not None and len(conditions) == 1 and conditions[0][0] == self.hash_key_attr:
            _local.mode = ("partition", conditions[0][1])
            SERVED["local index"] += 1
        elif conditions and any(i.name == index_name for i in self.global_indexes):
            _local.mode = ("unsorted", None)
            SERVED["global index"] += 1
        else:
            return _original_query(self, hash_key, *args, **kwargs)
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        _local.mode = None


def all_items(self):  # type: ignore[no-untyped-def]
    mode = getattr(_local, "mode", None)
    if mode is None or not self.range_key_attr:
        return _original_all_items(self)
    kind, hash_key = mode
    if kind == "partition":
        return sorted(self.items.get(hash_key, {}).values(), key=lambda x: (x.hash_key, x.range_key))
    return [item for hash_set in self.items.values() for item in hash_set.values()]


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
        size = item.size()
        reached_length_limit = len(results) == limit
        reached_size_limit = (result_size + size) > RESULT_SIZE_LIMIT
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
            # With a projection, moto copies the whole item, then builds the
            # projected one from that copy: the projection alone is a copy.
            results.append(item if projection_expression else copy.deepcopy(item))
            result_size += size

        scanned_count += 1

    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expression:
        results = [_project(r, projection_expression) for r in results]
    return results, scanned_count, last_evaluated_key


def _project(item: Item, paths: list) -> Item:  # type: ignore[type-arg]
    """Item.project, for a projection of top-level names whose values are
    strings: the same Item, without moto's round trip of the whole item
    through Python values (~0.1 ms per item). Anything else (a nested path,
    a number, a set, a map...) goes to moto's own."""
    attrs = {}
    for path in paths:
        if len(path) != 1 or "[" in path[0]:  # a nested path, a list element
            return item.project(paths)
        value = item.attrs.get(path[0])
        if value is None:
            continue
        if value.type != "S":
            return item.project(paths)
        attrs[path[0]] = {"S": value.value}
    SERVED["scan projection"] += 1
    return Item(hash_key=item.hash_key, range_key=item.range_key, attrs=attrs)


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

