"""Correctness fixes to moto 5.2.5 that every emulator of this project loads:
the test emulator (scripts/emulator.sh runs `python scripts/moto_fixes.py
-H HOST -p PORT`, moto_server with these fixes) and the bench emulator
(scripts/bench/moto_bench.py imports this module).

A fix here makes moto behave as DynamoDB does where moto is plainly wrong;
it never changes a semantics the suite is tested for. Each fix says what
moto does, what DynamoDB does, and how `selftest()` proves it (run by
`make test`: `python scripts/moto_fixes.py --selftest`).

1. Stream sequence numbers. moto numbers a stream record with
   `len(shard.items) + start` and appends it, without a lock; moto_server
   serves requests on threads, so two concurrent writes to one table can
   get the same sequence number. An iterator "after" that number then
   starts at the second of the two records, which carries the same number,
   so every GetRecords returns that one record again and never reaches the
   records after it: a stream reader neither goes idle nor sees later
   writes. DynamoDB's sequence numbers are unique and increasing within a
   shard. The fix numbers and appends under one lock per process.
"""

from __future__ import annotations

import sys
import threading

from moto.dynamodb.models.table import StreamShard

_STREAM_LOCK = threading.RLock()
_original_add = StreamShard.add


def _add(self, old, new):  # type: ignore[no-untyped-def]
    with _STREAM_LOCK:
        return _original_add(self, old, new)


StreamShard.add = _add


def selftest(fixed: bool = True) -> int:
    """moto's own server, in this process, with the fixes (or, with
    `fixed=False`, without them: the test must then find the fault). Many
    threads write one table with a stream at once over HTTP: every stream
    record must have its own sequence number, and reading the shard from
    the start with the iterators GetRecords hands back must reach every
    record once. Returns the number of duplicated sequence numbers."""
    import logging
    import socket
    import uuid

    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    table = f"t-{uuid.uuid4().hex[:8]}"
    if not fixed:
        StreamShard.add = _original_add
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        kw = dict(
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ddb = boto3.client("dynamodb", **kw)
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        threads, per = 8, 100
        barrier = threading.Barrier(threads)

        def write(w: int) -> None:
            client = boto3.client("dynamodb", **kw)
            barrier.wait()
            for i in range(per):
                client.put_item(TableName=table, Item={"PK": {"S": f"{w}-{i}"}, "v": {"S": "x" * 2000}})

        ts = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        streams = boto3.client("dynamodbstreams", **kw)
        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        want = threads * per
        seen: list[str] = []
        for _ in range(want + 10):
            page = streams.get_records(ShardIterator=it, Limit=100)
            if not page["Records"] or len(seen) > want:
                break
            seen += [r["dynamodb"]["SequenceNumber"] for r in page["Records"]]
            it = page["NextShardIterator"]
    finally:
        server.stop()
        StreamShard.add = _add
    duplicated = len(seen) - len(set(seen))
    if fixed:
        if duplicated:
            raise SystemExit(f"moto_fixes selftest: {duplicated} duplicate stream sequence numbers")
        if len(seen) != want:
            raise SystemExit(f"moto_fixes selftest: read {len(seen)} stream records of {want}")
        print(f"moto_fixes selftest: {want} concurrent writes over HTTP, {want} stream records, distinct sequence numbers, all read")
    return duplicated


def main() -> None:
    if sys.argv[1:] == ["--selftest"]:
        selftest()
        return
    if sys.argv[1:] == ["--unfixed"]:  # does the test see moto's fault? (a few tries)
        print("duplicates without the fix:", [selftest(fixed=False) for _ in range(3)])
        return
    # The test emulator answers reads at DynamoDB's cost, not moto's: the same
    # answers, self-tested (moto_cost.py), so the tests wait less on moto.
    import moto_cost  # noqa: F401
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
