"""A steady writer for the migrate bench: about RATE puts a second into a v0.1
table for SECONDS, each a run tag item changed or created (the commonest
write of a tracking server), on runs of the partitions load_table.py wrote.
Raw PutItem through boto3: the point is the stream's load, not the store.
WRITERS threads (default 4) share the rate, so one slow answer does not
hold the whole rate back.

Usage: migrate_writer.py TABLE RATE SECONDS      (AWS_ENDPOINT_URL set)
Prints JSON: {"writes", "seconds"}.
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
    t0 = time.monotonic()
    done = [0] * writers

    def write(w: int) -> None:
        ddb = boto3.client("dynamodb")
        i = 0
        while time.monotonic() - t0 < seconds:
            n = i * writers + w
            exp = f"01bench{n % 1000:07d}"
            run = f"{exp}r{n % 2}"
            ddb.put_item(TableName=table, Item={
                "PK": {"S": f"EXP#{exp}"}, "SK": {"S": f"R#{run}#TAG#bench.step"},
                "key": {"S": "bench.step"}, "value": {"S": f"step {n}"},
            })
            i += 1
            done[w] = i
            ahead = i * writers / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"writes": sum(done), "seconds": time.monotonic() - t0, "writers": writers}))


if __name__ == "__main__":
    main()
