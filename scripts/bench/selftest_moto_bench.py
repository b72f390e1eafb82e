"""Self-test of scripts/moto_cost.py (loaded by both emulators, and by
scripts/bench/moto_bench.py): its Scan patch and its Query patch (on the
table and on local and global indexes) must answer exactly what stock moto
answers.

moto runs in-process (mock_aws, no server). Three tables: string hash and
range keys (odd Unicode among them), number hash keys only, binary hash and
number range keys; items of varied sizes, some large enough for the 1 MB cut.
Every request is answered twice, by the patched Table methods and by moto's
own, and the two answers (Items in order, Count, ScannedCount,
LastEvaluatedKey, or the error) must be equal. Most Scan pages are compared at
DynamoDBBackend.scan (what moto's Scan handler calls; the wire answer is built
from its result by code both share), some through boto3 as well; Query pages
through boto3.

Covered: full scans paged with various Limits, TotalSegments 1..8 with every
Segment, ExclusiveStartKey at existing, deleted and absent keys (odd ones too:
those go to moto), FilterExpression, ScanFilter, ProjectionExpression, Select
COUNT, and Query pages (Limit, start keys, both directions; on the table,
on a local index whose sort attribute some items lack, and on a global
index, with range conditions and filters). Between pages and
between scans, keys are put and deleted and values updated (PutItem,
UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, a failed one,
PartiQL), and the pages must still agree. It also checks that the patch
served the pages itself and rebuilt its key order only after the key set
changed.

Usage: selftest_moto_bench.py     (SELFTEST_SEED=n for other random data)
Exits 1 with the first difference.
"""

from __future__ import annotations

import os
import random
import sys
import time
from contextlib import contextmanager

os.environ["BENCH_FAST_SCAN"] = "1"
for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(var, None)
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.dynamodb.models import dynamodb_backends  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.dynamodb.responses import ProjectionExpressionParser  # noqa: E402

import moto_bench  # noqa: E402,F401  the bench emulator as it runs: moto_fixes, moto_cost, its PartiQL
import moto_cost  # noqa: E402

READS = ("scan", "query", "all_items")
PATCHED = {name: getattr(Table, name) for name in READS}
STOCK = {
    "scan": moto_cost._original_scan,
    "query": moto_cost._original_query,
    "all_items": moto_cost._original_all_items,
}
if PATCHED["scan"] is STOCK["scan"]:
    sys.exit("selftest_moto_bench: FAIL: the Scan patch is not installed")

SEED = int(os.environ.get("SELFTEST_SEED", "12"))
STATS = {"requests": 0, "fallbacks": 0, "builds": 0}


# Count the pages the patch hands to moto and the times it rebuilds a table's
# key order (moto_cost looks both functions up at call time).
def _counting_fallback(*args, **kwargs):  # type: ignore[no-untyped-def]
    STATS["fallbacks"] += 1
    return STOCK["scan"](*args, **kwargs)


_real_snapshot = moto_cost._snapshot


def _counting_snapshot(table):  # type: ignore[no-untyped-def]
    before = moto_cost._scan_order(table).snapshot
    snap = _real_snapshot(table)
    if snap is not before:
        STATS["builds"] += 1
    return snap


moto_cost._original_scan = _counting_fallback
moto_cost._snapshot = _counting_snapshot


@contextmanager
def stock():
    for name in READS:
        setattr(Table, name, STOCK[name])
    try:
        yield
    finally:
        for name in READS:
            setattr(Table, name, PATCHED[name])


def fail(what: str, params: dict, fast, slow) -> None:  # type: ignore[no-untyped-def]
    shown = {k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in params.items()}
    lines = [f"selftest_moto_bench: FAIL: {what} differs from stock moto", f"  request: {shown}"]
    if isinstance(fast, dict) and isinstance(slow, dict):
        for k in ("Count", "ScannedCount", "LastEvaluatedKey"):
            if fast.get(k) != slow.get(k):
                lines.append(f"  {k}: patched {fast.get(k)!r}, stock {slow.get(k)!r}")
        fi, si = fast.get("Items"), slow.get("Items")
        if fi != si:
            if fi is None or si is None:
                lines.append(f"  Items: patched {fi is not None}, stock {si is not None}")
            else:
                lines.append(f"  Items: patched {len(fi)}, stock {len(si)}")
                for i, (a, b) in enumerate(zip(fi, si)):
                    if a != b:
                        lines.append(f"  first difference at item {i}: patched {repr(a)[:300]}")
                        lines.append(f"                                stock   {repr(b)[:300]}")
                        break
    else:
        lines.append(f"  patched: {repr(fast)[:400]}")
        lines.append(f"  stock:   {repr(slow)[:400]}")
    die("\n".join(lines))


def die(message: str) -> None:
    print(message if message.startswith("selftest_moto_bench:") else f"selftest_moto_bench: FAIL: {message}",
          file=sys.stderr)
    sys.exit(1)


class Checker:
    """Sends each request to the patched and to the stock Table methods.

    op "scan" calls DynamoDBBackend.scan with the arguments moto's Scan
    handler would pass (a fraction of the cost of the whole path, so many
    pages can be compared); "wire" (Scan) and "query" go through boto3."""

    def __init__(self, client, backend) -> None:  # type: ignore[no-untyped-def]
        self.c, self.backend = client, backend

    def _backend_scan(self, p: dict) -> dict:
        names = p.get("ExpressionAttributeNames", {})
        items, scanned, lek = self.backend.scan(
            p["TableName"],
            {k: (f["ComparisonOperator"], f.get("AttributeValueList", [])) for k, f in p.get("ScanFilter", {}).items()},
            p.get("Limit"),
            p.get("ExclusiveStartKey"),
            filter_expression=p.get("FilterExpression"),
            expr_names=names,
            expr_values=p.get("ExpressionAttributeValues", {}),
            index_name=p.get("IndexName"),
            consistent_read=False,
            projection_expression=ProjectionExpressionParser(p.get("ProjectionExpression"), names).parse(),
            segments=(p.get("Segment"), p.get("TotalSegments")),
        )
        r: dict = {"Count": len(items), "ScannedCount": scanned}
        if p.get("Select") != "COUNT":
            r["Items"] = [i.to_json()["Attributes"] for i in items]
        if lek is not None:
            r["LastEvaluatedKey"] = {k: {v.type: v.value} for k, v in lek.items()}
        return r

    def _call(self, op: str, params: dict):  # type: ignore[no-untyped-def]
        try:
            if op == "scan":
                return self._backend_scan(params)
            r = getattr(self.c, {"wire": "scan"}.get(op, op))(**params)
        except ClientError as e:
            return ("error", e.response["Error"].get("Code"), e.response["Error"].get("Message"))
        except Exception as e:  # moto's own failure
            return ("exception", type(e).__name__, str(e))
        r.pop("ResponseMetadata", None)
        return r

    def both(self, op: str, params: dict, what: str):  # type: ignore[no-untyped-def]
        """One request, patched then stock; the answer if they agree."""
        STATS["requests"] += 1
        fast = self._call(op, params)
        with stock():
            slow = self._call(op, params)
        if fast != slow:
            fail(what, params, fast, slow)
        return fast

    def pages(  # type: ignore[no-untyped-def]
        self, what: str, op: str = "scan", max_pages: int | None = None, between=None, **params
    ) -> int:
        """Page through with LastEvaluatedKey; every page compared. `between`
        runs after each page (writes)."""
        n = 0
        while True:
            r = self.both(op, params, f"{what}, page {n + 1}")
            n += 1
            if not isinstance(r, dict):
                return n
            lek = r.get("LastEvaluatedKey")
            if between is not None:
                between(r)
            if lek is None or (max_pages is not None and n >= max_pages):
                return n
            params = dict(params, ExclusiveStartKey=lek)

    def segments(  # type: ignore[no-untyped-def]
        self, what: str, table: str, totals=range(1, 9), op: str = "scan", **params
    ) -> int:
        """Every segment of each TotalSegments paged through; the pages read."""
        n = 0
        for total in totals:
            for seg in range(total):
                n += self.pages(f"{what}, segment {seg}/{total}", op=op, TableName=table, Segment=seg,
                                TotalSegments=total, **params)
        return n


# ---- data --------------------------------------------------------------

ODD_PKS = ["é", "e\u0301", "Ω", "日本語", "\U0001F600", "\U0001F600a", "\uffff", "a b", "A", "z",
           "zz\U00010348", "x\u200dy", "tab\tkey", "\u0001", "EXP#", "exp#2", "ÿ"]
ODD_SKS = ["E#META", "é#1", "\U0001F600", "Z", "a\u0301", "R#", "\u00a0", "~"]
KINDS = ["run", "param", "metric", "tag", "trace"]


def attrs(rnd: random.Random, big: bool = False) -> dict:
    it = {"n": {"N": str(rnd.randint(-50, 50))}, "kind": {"S": rnd.choice(KINDS)}}
    if rnd.random() < 0.5:
        it["ttl"] = {"N": str(rnd.randint(0, 10**9))}
    if rnd.random() < 0.3:
        it["tags"] = {"M": {"mlflow.user": {"S": rnd.choice(["ann", "bob"])}, "l": {"L": [{"N": "1"}, {"S": "x"}]}}}
    if big:  # 260-340 KB: four fill a 1 MB page (ASCII: JSON writes "é" in 6 bytes, a slow test)
        it["pad"] = {"S": "é" * 100 + "x" * rnd.randint(260_000, 340_000)}
    elif rnd.random() < 0.1:
        it["pad"] = {"S": "x" * rnd.randint(1_000, 20_000)}
    return it


def create(c, name: str, hash_type: str, range_type: str | None, indexes: bool = False) -> None:  # type: ignore[no-untyped-def]
    schema = [{"AttributeName": "PK", "KeyType": "HASH"}]
    defs = [{"AttributeName": "PK", "AttributeType": hash_type}]
    if range_type:
        schema.append({"AttributeName": "SK", "KeyType": "RANGE"})
        defs.append({"AttributeName": "SK", "AttributeType": range_type})
    extra = {}
    if indexes:  # as the store's: an LSI on a sort attribute some items lack, a GSI on two others
        defs += [{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"},
                 {"AttributeName": "ttl", "AttributeType": "N"}]
        extra["LocalSecondaryIndexes"] = [{"IndexName": "lsi", "Projection": {"ProjectionType": "ALL"},
                                           "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                                                         {"AttributeName": "ttl", "KeyType": "RANGE"}]}]
        extra["GlobalSecondaryIndexes"] = [{"IndexName": "gsi", "Projection": {"ProjectionType": "ALL"},
                                            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"},
                                                          {"AttributeName": "n", "KeyType": "RANGE"}]}]
    c.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=defs, BillingMode="PAY_PER_REQUEST",
                   **extra)


def batch_put(c, name: str, items: list[dict]) -> None:  # type: ignore[no-untyped-def]
    for i in range(0, len(items), 25):
        c.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})


class Keys:
    """The keys a table holds, as the test wrote them."""

    def __init__(self, rnd: random.Random, new_key) -> None:  # type: ignore[no-untyped-def]
        self.rnd, self.new_key, self.present = rnd, new_key, {}

    def add(self, item: dict) -> None:
        key = {k: item[k] for k in ("PK", "SK") if k in item}
        self.present[repr(sorted(key.items()))] = key

    def remove(self, key: dict) -> None:
        self.present.pop(repr(sorted(key.items())), None)

    def pick(self) -> dict:
        return self.rnd.choice(list(self.present.values()))

    def fresh(self) -> dict:
        while True:
            key = self.new_key()
            if repr(sorted(key.items())) not in self.present:
                return key


# ---- checks ------------------------------------------------------------

def read_checks(ck: Checker, table: str, keys: Keys, rnd: random.Random, cuts: tuple[str, ...]) -> None:
    """cuts: where the table's large items must bring the 1 MB cut ("full"
    scan, "segments"), or the check could not fail there."""
    if ck.pages(f"{table}: full scan", TableName=table) < 2 and "full" in cuts:
        die(f"{table}: the data never reach the 1 MB cut (test data too small)")
    for limit in (97, 17):
        op = "wire" if limit == 17 else "scan"
        ck.pages(f"{table}: full scan, Limit {limit}", op=op, TableName=table, Limit=limit)
    for limit in (1, 2):
        ck.pages(f"{table}: full scan, Limit {limit}", max_pages=6, TableName=table, Limit=limit)
    if ck.segments(f"{table}: parallel scan", table) <= 36 and "segments" in cuts:
        die(f"{table}: no segment reaches the 1 MB cut (test data too small)")
    ck.segments(f"{table}: parallel scan, Limit 13", table, totals=(3,), op="wire", Limit=13)
    # Start keys: existing items, keys in between and outside, with and without segments.
    probes = [keys.pick() for _ in range(7)] + [keys.fresh() for _ in range(7)]
    for i, esk in enumerate(probes):
        ck.both("scan", {"TableName": table, "Limit": 7, "ExclusiveStartKey": esk}, f"{table}: start key probe {i}")
        total = rnd.randint(1, 8)
        ck.both("scan", {"TableName": table, "Limit": 5, "ExclusiveStartKey": esk, "Segment": rnd.randrange(total),
                         "TotalSegments": total}, f"{table}: start key probe {i} in a segment")
        ck.both("scan", {"TableName": table, "ExclusiveStartKey": esk}, f"{table}: start key probe {i}, no Limit")
    # Filters and projections.
    names = {"#k": "kind", "#u": "mlflow.user"}
    ck.pages(f"{table}: FilterExpression", TableName=table, Limit=60, FilterExpression="#k = :k",
             ExpressionAttributeNames={"#k": "kind"}, ExpressionAttributeValues={":k": {"S": "run"}})
    ck.pages(f"{table}: FilterExpression and projection", op="wire", TableName=table, Limit=45,
             FilterExpression="attribute_exists(ttl) AND n > :v", ExpressionAttributeValues={":v": {"N": "0"}},
             ProjectionExpression="PK, n, #k, tags.#u", ExpressionAttributeNames=names)
    ck.segments(f"{table}: parallel scan, FilterExpression", table, totals=(4,), Limit=33,
                FilterExpression="begins_with(#k, :p) OR attribute_not_exists(tags)",
                ExpressionAttributeNames={"#k": "kind"}, ExpressionAttributeValues={":p": {"S": "t"}})
    ck.pages(f"{table}: ScanFilter", TableName=table, Limit=20,
             ScanFilter={"kind": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "metric"}]}})
    ck.pages(f"{table}: Select COUNT", TableName=table, Limit=70, Select="COUNT")
    ck.pages(f"{table}: projection of a list element", TableName=table, TotalSegments=2, Segment=1,
             ProjectionExpression="tags.l[1], SK")
    # Top-level projections (the ttl-sweeper's keys and ttl): strings, and
    # numbers, maps, names that look like list elements, absent names.
    ck.segments(f"{table}: projection of keys and ttl", table, totals=(3,), Limit=40,
                ProjectionExpression="PK, SK, #t", ExpressionAttributeNames={"#t": "ttl"})
    ck.pages(f"{table}: projection of strings", op="wire", TableName=table, Limit=50,
             ProjectionExpression="#k, pad, SK, #k, nothing", ExpressionAttributeNames={"#k": "kind"})
    ck.pages(f"{table}: projection of a map and a bracketed name", TableName=table, Limit=50,
             ProjectionExpression="tags, #b, PK", ExpressionAttributeNames={"#b": "kind[0]"})
    ck.pages(f"{table}: projection with a filter", TableName=table, Limit=50,
             FilterExpression="#k = :k", ProjectionExpression="SK, #k",
             ExpressionAttributeNames={"#k": "kind"}, ExpressionAttributeValues={":k": {"S": "tag"}})


def query_checks(ck: Checker, table: str, partitions: list) -> None:
    for pk in partitions:
        for limit in (None, 2):
            for forward in (True, False):
                p = {"TableName": table, "KeyConditionExpression": "PK = :p",
                     "ExpressionAttributeValues": {":p": pk}, "ScanIndexForward": forward}
                if limit:
                    p["Limit"] = limit
                ck.pages(f"{table}: Query {pk!r} Limit {limit} forward {forward}", op="query", max_pages=6, **p)
        ck.pages(f"{table}: Query {pk!r} with a filter", op="query", TableName=table, Limit=3,
                 KeyConditionExpression="PK = :p", FilterExpression="n > :v",
                 ExpressionAttributeValues={":p": pk, ":v": {"N": "0"}})


def index_query_checks(ck: Checker, table: str, partitions: list) -> None:
    """Queries on the local index (the partition's items that have `ttl`)
    and the global one (by `kind`, ordered by `n`, ties by the table's keys)."""
    for pk in partitions:
        for limit in (None, 2):
            for forward in (True, False):
                p = {"TableName": table, "IndexName": "lsi", "KeyConditionExpression": "PK = :p",
                     "ExpressionAttributeValues": {":p": pk}, "ScanIndexForward": forward}
                if limit:
                    p["Limit"] = limit
                ck.pages(f"{table}: Query lsi {pk!r} Limit {limit} forward {forward}", op="query", max_pages=6, **p)
        ck.pages(f"{table}: Query lsi {pk!r} with a range condition", op="query", TableName=table, IndexName="lsi",
                 KeyConditionExpression="PK = :p AND #t > :t", ExpressionAttributeNames={"#t": "ttl"},
                 ExpressionAttributeValues={":p": pk, ":t": {"N": "400000000"}})
    for kind in KINDS[:3] + ["absent"]:
        for limit in (None, 3):
            for forward in (True, False):
                p = {"TableName": table, "IndexName": "gsi", "KeyConditionExpression": "kind = :k",
                     "ExpressionAttributeValues": {":k": {"S": kind}}, "ScanIndexForward": forward}
                if limit:
                    p["Limit"] = limit
                ck.pages(f"{table}: Query gsi {kind!r} Limit {limit} forward {forward}", op="query",
                         max_pages=8, **p)
        ck.pages(f"{table}: Query gsi {kind!r} with a range condition and a filter", op="query", TableName=table,
                 IndexName="gsi", Limit=4, KeyConditionExpression="kind = :k AND n BETWEEN :a AND :b",
                 FilterExpression="attribute_exists(#t)", ExpressionAttributeNames={"#t": "ttl"},
                 ExpressionAttributeValues={":k": {"S": kind}, ":a": {"N": "-10"}, ":b": {"N": "30"}})


def full_compare(ck: Checker, table: str, what: str) -> None:
    ck.pages(f"{table}: {what}: full scan, Limit 61", TableName=table, Limit=61)
    ck.segments(f"{table}: {what}: parallel scan", table, totals=(2,))


def write_checks(  # type: ignore[no-untyped-def]
    ck: Checker, c, table: str, keys: Keys, rnd: random.Random, every_path: bool
) -> None:
    def put_new() -> None:
        key = keys.fresh()
        item = dict(key, **attrs(rnd))
        c.put_item(TableName=table, Item=item)
        keys.add(item)

    def delete(key: dict) -> None:
        c.delete_item(TableName=table, Key=key)
        keys.remove(key)

    def update(key: dict) -> None:
        if rnd.random() < 0.15:  # a size change moves the 1 MB cut
            c.update_item(TableName=table, Key=key, UpdateExpression="SET #p = :p",
                          ExpressionAttributeNames={"#p": "pad"},
                          ExpressionAttributeValues={":p": {"S": "é" * 50 + "x" * rnd.randint(10, 120_000)}})
        else:
            c.update_item(TableName=table, Key=key, UpdateExpression="SET n = :v, kind = :k",
                          ExpressionAttributeValues={":v": {"N": str(rnd.randint(-50, 50))},
                                                     ":k": {"S": rnd.choice(KINDS)}})

    def overwrite(key: dict) -> None:
        c.put_item(TableName=table, Item=dict(key, **attrs(rnd)))

    def churn(page: dict) -> None:  # between pages: new keys, deleted keys (the page's last among them), new values
        for _ in range(3):
            put_new()
        for _ in range(2):
            delete(keys.pick())
        lek = page.get("LastEvaluatedKey")
        if lek is not None and rnd.random() < 0.4:
            delete({k: v for k, v in lek.items() if k in ("PK", "SK")})
        for _ in range(3):
            update(keys.pick())
        overwrite(keys.pick())

    ck.pages(f"{table}: scan with writes between pages", op="wire", TableName=table, Limit=40, between=churn)
    ck.pages(f"{table}: parallel scan with writes between pages", TableName=table, Limit=25, Segment=1,
             TotalSegments=3, between=churn)
    full_compare(ck, table, "after writes")

    # Values change, keys stay: the patch must not rebuild its key order.
    ck.both("scan", {"TableName": table, "Limit": 1}, f"{table}: scan before updates")
    builds = STATS["builds"]

    def updates_only(page: dict) -> None:
        for _ in range(3):
            update(keys.pick())
        overwrite(keys.pick())
        c.delete_item(TableName=table, Key=keys.fresh())  # no such item
        if table == "runs":  # moto_bench's own PartiQL expiry sets a value in place
            key = keys.pick()
            c.batch_execute_statement(Statements=[{
                "Statement": f'UPDATE "{table}" SET "ttl" = ? WHERE "PK" = ? AND "SK" = ? '
                             'AND ("ttl" IS MISSING OR "ttl" > ?)',
                "Parameters": [{"N": str(rnd.randint(0, 10**9))}, key["PK"], key["SK"], {"N": "-1"}]}])
    ck.pages(f"{table}: scan with value updates between pages", TableName=table, Limit=50, between=updates_only)
    if STATS["builds"] != builds:
        die(f"{table}: the key order was rebuilt {STATS['builds'] - builds} times for updates of values")

    if not every_path:
        return
    # The other ways moto adds and removes items.
    puts = [dict(keys.fresh(), **attrs(rnd)) for _ in range(6)]
    dels = [keys.pick() for _ in range(4)]
    c.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in puts]
                                     + [{"DeleteRequest": {"Key": k}} for k in dels]})
    for it in puts:
        keys.add(it)
    for k in dels:
        keys.remove(k)
    full_compare(ck, table, "after BatchWriteItem")

    new, gone, upd = dict(keys.fresh(), **attrs(rnd)), keys.pick(), keys.pick()
    c.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": new}},
        {"Delete": {"TableName": table, "Key": gone}},
        {"Update": {"TableName": table, "Key": upd, "UpdateExpression": "SET n = :v",
                    "ExpressionAttributeValues": {":v": {"N": "7"}}}},
    ])
    keys.add(new)
    keys.remove(gone)
    full_compare(ck, table, "after TransactWriteItems")

    # A failed transaction: moto puts back its copy of the table.
    try:
        c.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": dict(keys.fresh(), **attrs(rnd))}},
            {"ConditionCheck": {"TableName": table, "Key": keys.pick(),
                                "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
    except ClientError:
        pass
    full_compare(ck, table, "after a failed TransactWriteItems")
    put_new()
    delete(keys.pick())
    full_compare(ck, table, "after writes to the restored table")

    created = keys.fresh()  # UpdateItem of an absent key creates the item
    c.update_item(TableName=table, Key=created, UpdateExpression="SET n = :v",
                  ExpressionAttributeValues={":v": {"N": "1"}})
    keys.add(created)
    c.delete_item(TableName=table, Key=keys.fresh())
    full_compare(ck, table, "after UpdateItem of a new key")

    if table == "runs":  # moto's PartiQL takes no parameters in INSERT or DELETE: a string key as literals
        c.execute_statement(Statement=f"INSERT INTO \"{table}\" VALUE {{'PK': 'PARTIQL#', 'SK': 'R#000', 'n': 3}}")
        keys.add({"PK": {"S": "PARTIQL#"}, "SK": {"S": "R#000"}})
        full_compare(ck, table, "after a PartiQL INSERT")
        c.execute_statement(Statement=f"DELETE FROM \"{table}\" WHERE PK = 'PARTIQL#' AND SK = 'R#000'")
        keys.remove({"PK": {"S": "PARTIQL#"}, "SK": {"S": "R#000"}})
        full_compare(ck, table, "after a PartiQL DELETE")


def odd_requests(ck: Checker, table: str, keys: Keys) -> None:
    """Start keys moto treats oddly go to moto unchanged: the same answer (or error)."""
    key = keys.pick()
    fallbacks = STATS["fallbacks"]
    odd = [{"XX": {"S": "1"}}, dict(key, PK={"N": "1"} if "S" in key["PK"] else {"S": "1"})]
    if "SK" in key:
        odd.append({"PK": key["PK"]})
    for i, esk in enumerate(odd):
        ck.both("wire", {"TableName": table, "Limit": 3, "ExclusiveStartKey": esk}, f"{table}: odd start key {i}")
    if STATS["fallbacks"] - fallbacks != len(odd):
        die(f"{table}: odd start keys were not handed to moto")


def main() -> None:
    t0 = time.monotonic()
    rnd = random.Random(SEED)
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        ck = Checker(c, dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"])

        # 1. String hash and range keys, odd Unicode, varied sizes, large items.
        create(c, "runs", "S", "S", indexes=True)
        pks = [f"EXP#{i:03d}" for i in range(8)] + ODD_PKS
        runs = Keys(rnd, lambda: {"PK": {"S": rnd.choice(pks + [f"NEW#{rnd.randint(0, 999)}"])},
                                  "SK": {"S": rnd.choice(ODD_SKS + [f"R#{rnd.randint(0, 99):03d}"])}})
        items = []
        for pk in pks:
            sks = set(rnd.sample(ODD_SKS, rnd.randint(0, 3)))
            sks |= {f"R#{j:03d}" for j in rnd.sample(range(100), rnd.randint(1, 12))}
            for sk in sorted(sks):
                items.append(dict({"PK": {"S": pk}, "SK": {"S": sk}}, **attrs(rnd)))
        # Large items in one partition, so in one segment for any TotalSegments: the 1 MB cut there too.
        items += [dict({"PK": {"S": "BIG#"}, "SK": {"S": f"R#{j:03d}"}}, **attrs(rnd, big=j % 2 == 0))
                  for j in range(8)]
        batch_put(c, "runs", items)
        for it in items:
            runs.add(it)

        # 2. Number hash keys only.
        create(c, "nums", "N", None)
        odd_numbers = ["-0.5", "0.25", "3.14159", "-1000000.001", "12345678901234567890123456789012345678", "1E+5",
                       "-7E-10", "0"]
        nums = Keys(rnd, lambda: {"PK": {"N": str(rnd.randint(-99_999, 99_999)) if rnd.random() < 0.9
                                         else f"{rnd.randint(-999, 999)}.{rnd.randint(1, 9)}"}})
        items = [dict({"PK": {"N": n}}, **attrs(rnd)) for n in odd_numbers]
        items += [dict(nums.fresh(), **attrs(rnd)) for _ in range(100)]
        seen: dict[str, dict] = {}
        for it in items:
            seen[it["PK"]["N"]] = it
        items = list(seen.values())
        for it in rnd.sample(items, 4):  # one item per partition: the cut in full scans only
            it.update(attrs(rnd, big=True))
        batch_put(c, "nums", items)
        for it in items:
            nums.add(it)

        # 3. Binary hash keys, number range keys.
        create(c, "bins", "B", "N")
        bins = Keys(rnd, lambda: {"PK": {"B": bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 4)))},
                                  "SK": {"N": str(rnd.randint(-500, 500))}})
        hashes = [b"\x00", b"\xff\xff", b"a", b"\x80"]
        hashes += [bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6))) for _ in range(6)]
        items = [dict({"PK": {"B": h}, "SK": {"N": str(s)}}, **attrs(rnd))
                 for h in hashes for s in rnd.sample(range(-500, 500), rnd.randint(1, 6))]
        batch_put(c, "bins", items)
        for it in items:
            bins.add(it)
        t_load = time.monotonic() - t0

        for name, keys, cuts in (("runs", runs, ("full", "segments")), ("nums", nums, ("full",)), ("bins", bins, ())):
            builds = STATS["builds"]
            read_checks(ck, name, keys, rnd, cuts)
            if STATS["builds"] - builds != 1:
                die(f"{name}: key order built {STATS['builds'] - builds} times for reads alone (expected once)")
        query_checks(ck, "runs", [{"S": p} for p in ("EXP#003", "\U0001F600", "tab\tkey", "absent")])
        query_checks(ck, "bins", [{"B": h} for h in hashes[:3]])
        index_query_checks(ck, "runs", [{"S": p} for p in ("EXP#003", "EXP#005", "\U0001F600", "absent")])
        for name, keys in (("runs", runs), ("nums", nums), ("bins", bins)):
            write_checks(ck, c, name, keys, rnd, every_path=name != "bins")
            # Every write went through the wrapped Table methods: the order
            # never missed a key (a miss hands the page to moto, still right).
            if STATS["fallbacks"]:
                die(f"{STATS['fallbacks']} plain scan pages were handed to moto (a key set change went unnoticed)")
        # After the writes too: index entries follow updated attributes.
        index_query_checks(ck, "runs", [{"S": p} for p in ("EXP#003", "EXP#005", "\U0001F600", "absent")])
        for name, keys in (("runs", runs), ("nums", nums), ("bins", bins)):
            odd_requests(ck, name, keys)

    if not all(moto_cost.SERVED.values()):
        die(f"a path of the patch was never used: {moto_cost.SERVED}")
    print(f"selftest_moto_bench: Query pages and projected Scan items served by the patch: {moto_cost.SERVED}")
    print(f"selftest_moto_bench: ok: {STATS['requests']} requests answered alike by the patched and stock moto "
          f"(seed {SEED}; key order built {STATS['builds']} times, {STATS['fallbacks']} pages handed to moto; "
          f"load {t_load:.1f} s, total {time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
