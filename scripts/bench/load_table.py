"""Load a benchmark table for the ttl-sweeper bench: the reference store
provisions it (CloudFormation in moto, seed items), then items shaped like the
reference's are bulk-written with boto3's batch_writer (BatchWriteItem).

Each experiment partition: E#META, E#NAME_REV, name FTS items (forward and
reverse), 2 runs with META, 2 params, 1 metric, 1 tag, 1 trace with 2 items
(ttl 30 days ahead, as traces get at creation). The first ORPHANED partitions
have no E#META, as after DynamoDB TTL deleted it.

Usage: load_table.py TABLE PARTITIONS ORPHANED     (AWS_ENDPOINT_URL set)
Prints: items=<n> partitions=<n> orphaned=<n> orphan_items=<n>
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def partition(i: int, orphaned: bool, now_s: int) -> list[dict]:
    exp = f"01bench{i:07d}"
    pk = f"EXP#{exp}"
    name = f"exp{i}"
    items: list[dict] = []
    if not orphaned:
        items.append({"PK": pk, "SK": "E#META", "name": name, "lifecycle_stage": "active",
                      "artifact_location": f"s3://bucket/{exp}", "creation_time": now_s * 1000,
                      "lsi1sk": f"active#{exp}", "gsi2pk": "EXPERIMENTS#default#active", "gsi2sk": name})
    items.append({"PK": pk, "SK": "E#NAME_REV", "name_rev": name[::-1]})
    tokens = sorted({("W", name)} | {("3", name[j:j + 3]) for j in range(len(name) - 2)})
    for level, tok in tokens:
        items.append({"PK": pk, "SK": f"FTS#{level}#{tok}#E#{exp}", "gsi2pk": "FTS_NAMES#default",
                      "gsi2sk": f"{level}#{tok}#E#{exp}"})
        items.append({"PK": pk, "SK": f"FTS_REV#E#{exp}#{level}#{tok}"})
    for r in range(2):
        run = f"{exp}r{r}"
        items.append({"PK": pk, "SK": f"R#{run}", "run_name": f"run {r}", "status": "FINISHED",
                      "lifecycle_stage": "active", "start_time": now_s * 1000, "tags": {"mlflow.user": "ann"}})
        items.append({"PK": pk, "SK": f"R#{run}#PARAM#lr", "key": "lr", "value": "0.01"})
        items.append({"PK": pk, "SK": f"R#{run}#PARAM#optimizer", "key": "optimizer", "value": "adam"})
        items.append({"PK": pk, "SK": f"R#{run}#METRIC#loss", "key": "loss", "value": "0.25", "step": 10})
        items.append({"PK": pk, "SK": f"R#{run}#TAG#mlflow.user", "key": "mlflow.user", "value": "ann"})
    trace = f"tr-{exp}"
    ttl = now_s + 30 * 86400
    items.append({"PK": pk, "SK": f"T#{trace}", "state": "OK", "ttl": ttl})
    items.append({"PK": pk, "SK": f"T#{trace}#TAG#mlflow.traceName", "key": "mlflow.traceName", "value": "chat", "ttl": ttl})
    return items


def main() -> None:
    import boto3
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    table, partitions, orphaned = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    uri = f"dynamodb://{endpoint}/{table}"
    mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()  # provisions
    ddb = boto3.resource("dynamodb", region_name=region).Table(table)
    now_s = int(time.time())
    n = orphan_items = 0
    with ddb.batch_writer() as w:
        for i in range(partitions):
            items = partition(i, i < orphaned, now_s)
            for item in items:
                w.put_item(Item=item)
            n += len(items)
            if i < orphaned:
                orphan_items += len(items)
    print(f"items={n} partitions={partitions} orphaned={orphaned} orphan_items={orphan_items}")


if __name__ == "__main__":
    main()
