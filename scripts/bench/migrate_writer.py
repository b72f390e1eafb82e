"""A steady writer for the migrate and shard benches: about RATE puts a
second into a v0.1 table for SECONDS, each a run tag item changed or created
(the commonest write of a tracking server), on runs of the partitions
load_table.py wrote. Raw writes through boto3: the point is the stream's
load, not the store.

Environment:
  WRITERS  threads sharing the rate (default 4), so one slow answer does not
           hold the whole rate back;
  BATCH    items per request (default 1: PutItem; 2..25: BatchWriteItem, as
           a bulk logger writes), so the writer's own requests do not use up
           the emulator before the rate is reached;
  SPREAD   partitions written to (default 1000; 2 runs each);
  TAG_KEY  the tag written (default bench.step; an `mlflow.` key is
           denormalized into the run's tag map by the materializer).

Usage: migrate_writer.py TABLE RATE SECONDS      (AWS_ENDPOINT_URL set)
Prints JSON: {"writes", "seconds", "writers", "batch", "requests"}.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import boto3


def main() -> None:
    table, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    writers = int(os.environ.get("WRITERS", "4"))
    batch = max(1, min(25, int(os.environ.get("BATCH", "1"))))
    spread = max(1, int(os.environ.get("SPREAD", "1000")))
    key = os.environ.get("TAG_KEY", "bench.step")
    t0 = time.monotonic()
    done = [0] * writers
    requests = [0] * writers

    def item(n: int) -> dict:
        exp = f"01bench{n % spread:07d}"
        run = f"{exp}r{(n // spread) % 2}"
        return {
            "PK": {"S": f"EXP#{exp}"}, "SK": {"S": f"R#{run}#TAG#{key}"},
            "key": {"S": key}, "value": {"S": f"step {n}"},
        }

    def write(w: int) -> None:
        ddb = boto3.client("dynamodb")
        i = 0
        while time.monotonic() - t0 < seconds:
            # Each thread writes its own numbers: writer w takes every
            # writers-th batch, so no two requests carry the same key.
            first = (i // batch * writers + w) * batch
            items = [item(first + j) for j in range(batch)]
            if batch == 1:
                ddb.put_item(TableName=table, Item=items[0])
            else:
                todo = {table: [{"PutRequest": {"Item": it}} for it in items]}
                while todo:
                    todo = ddb.batch_write_item(RequestItems=todo).get("UnprocessedItems") or {}
            i += batch
            done[w] = i
            requests[w] += 1
            ahead = i * writers / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"writes": sum(done), "seconds": time.monotonic() - t0, "writers": writers,
                      "batch": batch, "requests": sum(requests)}))


if __name__ == "__main__":
    main()
