#!/usr/bin/env python3
"""One deterministic MLflow workload, written by whichever reference store is
installed in this interpreter's venv, then the table dumped (DynamoDB JSON).

Run it once with the v0.1 store (.venv) and once with the main store
(.venv-main), each against its own table; `scripts/migrate/gen_fixtures.sh`
does both and normalizes the pair (`normalize.py`) into
crates/mlflow-ddb-core/tests/fixtures/migrate/.

    python workload.py ENDPOINT TABLE OUT.json

The clock is fake: before each step the workload sets it to a fixed instant,
so both stores see the same times (creation times, ttl, ULID timestamps).
ULIDs stay random: OUT.json also holds `ids`, a label per generated id
(experiment and model by name, run by name, assessment by order), which is
how normalize.py maps one store's ids onto the other's.
"""

from __future__ import annotations

import json
import os
import sys
import time

# ---- fake clock, installed before MLflow or the store import `time` --------
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


class Clock:
    now = T0

    @classmethod
    def step(cls, n: int) -> None:
        """Set the clock to step `n` (one second apart)."""
        cls.now = T0 + n


time.time = lambda: Clock.now  # type: ignore[assignment]
time.time_ns = lambda: int(Clock.now * 1_000_000_000)  # type: ignore[assignment]

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
})
for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN",
            "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(var, None)

import importlib.metadata  # noqa: E402

import boto3  # noqa: E402
from mlflow.entities import (  # noqa: E402
    AssessmentSource, Expectation, Feedback, Metric, Param, RunStatus, RunTag,
    TraceInfo, TraceLocation, TraceState,
)
from mlflow.tracking import MlflowClient  # noqa: E402

MS = 1000


def ms(step: int) -> int:
    return int((T0 + step) * MS)


def main() -> None:
    endpoint, table_name, out = sys.argv[1:4]
    uri = f"dynamodb://{endpoint}/{table_name}"
    ids: dict[str, str] = {}
    step = 0

    def tick() -> int:
        nonlocal step
        step += 1
        Clock.step(step)
        return step

    tick()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()  # the store deploys its table on first use
    store = client._tracking_client.store

    # Index every opt-in field, one extra global pattern and one experiment
    # pattern, so that maps and FTS items of every kind exist.
    tick()
    store._config.set_fts_trigram_fields(["run_tag_value", "run_param_value", "trace_tag_value"])
    tick()
    store._config.set_denormalize_patterns(["mlflow.*", "team.*"])
    # The registry store caches its own copy of the patterns when it is
    # made: make it after they are set.
    registry = client._get_registry_client().store

    # ---- experiments --------------------------------------------------------
    tick()
    e1 = client.create_experiment(
        "Churn Model / v2",
        artifact_location="s3://bucket/churn",
        tags={"mlflow.note.content": "Quarterly churn", "team.owner": "Ana",
              "Clé ünï/キー": "Välue Ω", "plain": "Mixed Case"},
    )
    ids["exp:churn"] = e1
    tick()
    store._config.set_experiment_denormalize_patterns(e1, ["proj*"])
    tick()
    client.set_experiment_tag(e1, "stage", "Beta")
    tick()
    client.rename_experiment(e1, "Churn Model v3")
    tick()
    e2 = client.create_experiment("Fraud detection")
    ids["exp:fraud"] = e2
    tick()
    e3 = client.create_experiment("Old scratch")
    ids["exp:scratch"] = e3
    tick()
    client.delete_experiment(e3)

    # ---- runs ---------------------------------------------------------------
    def run(exp: str, name: str, **kw):
        s = tick()
        r = client.create_run(exp, start_time=ms(s), run_name=name, **kw)
        ids[f"run:{name}"] = r.info.run_id
        return r.info.run_id

    r1 = run(e1, "brave-owl", tags={"mlflow.user": "ana", "project": "Atlas launch",
                                    "k#1 é/x.y": "odd key", "team.owner": "ana"})
    tick()
    client.log_batch(
        r1,
        metrics=[Metric("acc", v, ms(step) + i, i) for i, v in enumerate([0.5, 0.75, 0.9])]
        + [Metric("loss", 1.25, ms(step), 0), Metric("loss", 0.5, ms(step) + 1, 1)],
        params=[Param("lr", "0.01"), Param("optimizer", "Adam warmup")],
        tags=[RunTag("mlflow.source.name", "train.py")],
    )
    tick()
    client.log_metric(r1, "acc", 0.95, timestamp=ms(step), step=3)
    tick()
    client.set_tag(r1, "project", "Atlas relaunch")
    tick()
    client.delete_tag(r1, "mlflow.source.name")
    tick()
    client.set_terminated(r1, "FINISHED", end_time=ms(step))

    r2 = run(e1, "calm-fox", tags={"team.owner": "bo"})
    tick()
    client.log_param(r2, "lr", "0.1")
    tick()
    client.log_metric(r2, "acc", 0.6, timestamp=ms(step), step=0)
    tick()
    client.update_run(r2, name="calm-fox-2")

    r3 = run(e1, "doomed-elk")
    tick()
    client.log_metric(r3, "acc", 0.1, timestamp=ms(step), step=0)
    tick()
    client.delete_run(r3)

    r4 = run(e2, "fraud-base", tags={"mlflow.user": "cy"})
    tick()
    client.log_metric(r4, "auc", 0.8, timestamp=ms(step), step=0)
    tick()
    client.set_terminated(r4, "FAILED", end_time=ms(step))
    tick()
    store.update_run_info(r4, RunStatus.FAILED, ms(step), "")  # empty name
    ids.setdefault("run:fraud-base", r4)

    # ---- traces (through the store: MlflowClient starts spans in-process) ---
    tick()
    store.start_trace(TraceInfo(
        trace_id="tr-0123abcd", trace_location=TraceLocation.from_experiment_id(e1),
        request_time=ms(step), state=TraceState.OK, execution_duration=12,
        tags={"mlflow.traceName": "predict", "color": "Deep Blue"},
        trace_metadata={"mlflow.sourceRun": r1},
    ))
    tick()
    store.set_trace_tag("tr-0123abcd", "project", "Atlas")
    tick()
    store.delete_trace_tag("tr-0123abcd", "color")
    src = AssessmentSource(source_type="HUMAN", source_id="ana")
    tick()
    a1 = store.create_assessment(Feedback(name="quality", value="Mostly correct answer",
                                          source=src, trace_id="tr-0123abcd"))
    ids["assess:1"] = a1.assessment_id
    tick()
    a2 = store.create_assessment(Expectation(name="expected", value={"answer": "Paris"},
                                             source=src, trace_id="tr-0123abcd"))
    ids["assess:2"] = a2.assessment_id

    # ---- model registry -----------------------------------------------------
    tick()
    client.create_registered_model("churn-classifier", tags={"mlflow.domain": "tabular",
                                                             "team.owner": "ana"},
                                   description="Predicts churn")
    tick()
    client.set_registered_model_tag("churn-classifier", "note", "not copied")
    tick()
    v1 = client.create_model_version("churn-classifier", "s3://bucket/m/1", run_id=r1,
                                     tags={"mlflow.stage.note": "candidate"})
    tick()
    v2 = client.create_model_version("churn-classifier", "s3://bucket/m/2", run_id=r2,
                                     tags={"team.reviewer": "bo"})
    tick()
    client.set_model_version_tag("churn-classifier", v1.version, "validated", "yes")
    tick()
    client.set_registered_model_alias("churn-classifier", "champion", v2.version)
    tick()
    client.create_registered_model("Old Name")
    tick()
    client.rename_registered_model("Old Name", "Renamed Model")
    for name in ("churn-classifier", "Renamed Model"):
        ids[f"model:{name}"] = registry._resolve_model_ulid(name)

    # ---- dump -----------------------------------------------------------------
    c = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    items = []
    kw = {"TableName": table_name}
    while True:
        resp = c.scan(**kw)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            break
        kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    items.sort(key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
    desc = c.describe_table(TableName=table_name)["Table"]
    doc = {
        "store": importlib.metadata.version("mlflow-dynamodbstore"),
        "mlflow": importlib.metadata.version("mlflow"),
        "attribute_definitions": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in desc["AttributeDefinitions"]),
        "ids": ids,
        "items": items,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, sort_keys=True, indent=1)
    print(f"workload: {len(items)} items from store {doc['store']}", file=sys.stderr)


if __name__ == "__main__":
    main()
