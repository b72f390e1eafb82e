"""A steady writer for the migrate bench: about RATE puts a second into a v0.1
table for SECONDS, each a run tag item changed or created (the commonest
write of a tracking server), on runs of the partitions load_table.py wrote.
Raw PutItem through boto3: the point is the stream's load, not the store.

Usage: migrate_writer.py TABLE RATE SECONDS      (AWS_ENDPOINT_URL set)
Prints JSON: {"writes", "seconds"}.
"""

from __future__ import annotations

import json
import sys
import time

import boto3


def main() -> None:
    table, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    ddb = boto3.client("dynamodb")
    t0 = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - t0) < seconds:
        exp = f"01bench{n % 1000:07d}"
        run = f"{exp}r{n % 2}"
        ddb.put_item(TableName=table, Item={
            "PK": {"S": f"EXP#{exp}"}, "SK": {"S": f"R#{run}#TAG#bench.step"},
            "key": {"S": "bench.step"}, "value": {"S": f"step {n}"},
        })
        n += 1
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    print(json.dumps({"writes": n, "seconds": time.monotonic() - t0}))


if __name__ == "__main__":
    main()
