"""Demo step helper for the ttl-sweeper.

    sweeper.py prepare   create an experiment with runs, soft-delete it through
                         MLflow, then delete its E#META as DynamoDB TTL would
                         once the retention is over (moto never expires items)
    sweeper.py verify    after the sweep: every item left in that partition
                         carries ttl <= now, so TTL will remove it too
"""

from __future__ import annotations

import sys
import time

import context as ctx


def partition_items(ddb, table: str, pk: str) -> list[dict]:
    items, kwargs = [], {}
    while True:
        page = ddb.query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **kwargs,
        )
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def prepare() -> None:
    ctx.quiet_mlflow()
    from mlflow.entities import Metric, Param, RunTag

    c = ctx.client()
    table = ctx.table()
    ddb = ctx.aws("dynamodb")
    exp_id = c.create_experiment("old-prototype (to be deleted)", tags={"team.name": "Prototypes"})
    for r in range(2):
        run = c.create_run(exp_id, run_name=f"prototype run {r}", tags={"mlflow.user": "demo"})
        ts = int(time.time() * 1000)
        c.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 1.0 / (s + 1), ts + s, s) for s in range(3)],
            params=[Param("lr", "0.1"), Param("layers", "4")],
            tags=[RunTag("stage", "prototype")],
        )
    pk = f"EXP#{exp_id}"
    c.delete_experiment(exp_id)
    meta = ddb.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": "E#META"}}, ConsistentRead=True)["Item"]
    days = (int(meta["ttl"]["N"]) - time.time()) / 86400
    ctx.say(f"experiment {exp_id} soft-deleted through MLflow: E#META ttl in {days:.0f} days (only E#META gets one)")
    ddb.delete_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": "E#META"}})
    left = partition_items(ddb, table, pk)
    with_ttl = sum(1 for i in left if "ttl" in i)
    ctx.say(f"simulated TTL: E#META deleted; {len(left)} items left under {pk} ({with_ttl} with a ttl): orphans")
    m = ctx.load_manifest()
    m["sweeper"] = {"experiment": exp_id, "orphans": len(left)}
    ctx.save_manifest(m)


def verify() -> None:
    m = ctx.load_manifest()["sweeper"]
    ddb = ctx.aws("dynamodb")
    pk = f"EXP#{m['experiment']}"
    now = time.time()
    left = partition_items(ddb, ctx.table(), pk)
    expiring = [i for i in left if "ttl" in i and int(i["ttl"]["N"]) <= now]
    ctx.say(f"{pk}: {len(expiring)} of {len(left)} items now expire (ttl <= now); TTL removes them next")
    if len(expiring) != len(left) or len(left) != m["orphans"]:
        ctx.fail(f"expected all {m['orphans']} orphans of {pk} expiring, got {len(expiring)} of {len(left)}")


if __name__ == "__main__":
    ctx.run_main({"prepare": prepare, "verify": verify}[sys.argv[1]])
