"""Demo step: let the reference store provision its table, then show what it made.

Opening an MlflowClient on `dynamodb://<endpoint>/<table>` makes the store
(the `mlflow.tracking_store` entry point `dynamodb`) create its
CloudFormation stack (`mlflow-dynamodbstore-<table>` in v0.1, `<table>` in
main) and seed its items.
"""

from __future__ import annotations

import context as ctx
import tablestats


def main() -> None:
    ctx.quiet_mlflow()
    import mlflow

    table = ctx.table()
    ctx.say(f"mlflow {mlflow.__version__}; tracking and registry URI {ctx.tracking_uri()}")
    client = ctx.client()
    # The first call instantiates both stores; each runs ensure_stack_exists().
    experiments = client.search_experiments()
    client.search_registered_models()
    store = client._tracking_client.store
    ctx.say(f"tracking store: {type(store).__module__}.{type(store).__name__}")

    cfn = ctx.aws("cloudformation")
    stack_name = ctx.stack_name()
    stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    if not stacks or stacks[0]["StackStatus"] != "CREATE_COMPLETE":
        ctx.fail(f"stack {stack_name} is not CREATE_COMPLETE: {stacks}")
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    ctx.say(
        f"stack {stack_name}: {stacks[0]['StackStatus']}, resources: "
        + ", ".join(f"{r['LogicalResourceId']} ({r['ResourceType']})" for r in resources)
    )

    ddb = ctx.aws("dynamodb")
    desc = ddb.describe_table(TableName=table)["Table"]
    keys = "/".join(k["AttributeName"] for k in desc["KeySchema"])
    lsis = [i["IndexName"] for i in desc.get("LocalSecondaryIndexes", [])]
    gsis = [i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])]
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    stream = desc.get("StreamSpecification", {}).get("StreamViewType", "none")
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    pitr_status = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    ctx.say(f"table {table}: key {keys}, LSIs {','.join(lsis)}, GSIs {','.join(gsis)}")
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    if ctx.is_main():
        numeric = sorted(k for k, v in types.items() if v != "S")
        ctx.say(f"  key attributes declared N: {', '.join(numeric)}; the other {len(types) - len(numeric)} S "
                "(v0.1 declares all S: DescribeTable's lsi2sk type is how the suite tells the formats apart)")
    if ctx.is_main() != (types.get("lsi2sk") == "N"):
        ctx.fail(f"lsi2sk is {types.get('lsi2sk')}, not what format {ctx.table_format()} declares")
    ctx.say(f"  billing {billing}, stream {stream}")
    ttl_attr = f" on {ttl['AttributeName']}" if "AttributeName" in ttl else ""
    ctx.say(f"  TTL {ttl.get('TimeToLiveStatus')}{ttl_attr}, PITR {pitr_status}")
    if ttl.get("TimeToLiveStatus") != "ENABLED" or pitr_status != "ENABLED":
        ctx.say("  note: the stack's template asks for TTL on `ttl` and PITR on; moto's CloudFormation "
                "ignores both (moto never expires items anyway)")
    if len(lsis) != 5 or len(gsis) != 5 or keys != "PK/SK":
        ctx.fail(f"unexpected table shape: key {keys}, LSIs {lsis}, GSIs {gsis}")

    items = tablestats.scan(table, ddb)
    ctx.say(f"seed items ({len(items)}):")
    for item in sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"])):
        attrs = {k: tablestats.plain(v) for k, v in item.items() if k not in ("PK", "SK") and k[:3] not in ("gsi", "lsi")}
        shown = ", ".join(
            f"{k}={v!r}" for k, v in sorted(attrs.items()) if k not in ("creation_time", "last_update_time")
        )
        ctx.say(f"  {item['PK']['S']} / {item['SK']['S']}: {shown}")
    ctx.say(f"experiments visible through MLflow: {[e.name for e in experiments]}")


if __name__ == "__main__":
    ctx.run_main(main)
