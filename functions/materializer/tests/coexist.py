"""Co-existence session: the v0.1 reference store writes real MLflow data
through MLflow's own API into table argv[1] (provisioned by the store on the
endpoint AWS_ENDPOINT_URL), with a NEW_AND_OLD_IMAGES stream enabled before
any entity is written. The store materializes inline, so every target it
touches is already right; the materializer's test counts its writes.

Avoided on purpose (known reference gaps, see the core's plan tests): an
indexed run tag changing value (the store leaves the stale token).
"""
import os
import sys

import boto3

table = sys.argv[1]
from mlflow.entities import (AssessmentSource, ExperimentTag, Expectation, Feedback, Metric, Param,
                             RunStatus, RunTag, TraceInfo, TraceLocation, TraceState)
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow_dynamodbstore.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.tracking_store import DynamoDBTrackingStore

uri = f"dynamodb://{os.environ.get('AWS_REGION', 'us-east-1')}/{table}"
s = DynamoDBTrackingStore(uri)
c = boto3.client("dynamodb")
c.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
s._config.set_fts_trigram_fields(["run_tag_value", "run_param_value", "trace_tag_value"])
s._config.set_denormalize_patterns(["mlflow.*", "team.*"])

e = s.create_experiment("Coexist ranking", tags=[ExperimentTag("mlflow.note.content", "Ranking v1"),
                                                   ExperimentTag("team.owner", "bo")])
s._config.set_experiment_denormalize_patterns(e, ["proj*"])
s.set_experiment_tag(e, ExperimentTag("unrelated", "not copied"))
s.rename_experiment(e, "Coexist ranking v2")
for n in range(3):
    r = s.create_run(e, "bo", 1700000000000 + n, [RunTag("mlflow.user", "bo"), RunTag("project", f"Atlas {n}"),
                                                  RunTag("k#é/x.y", "odd key")], f"run-{n}")
    rid = r.info.run_id
    s.log_batch(rid, [Metric("acc", 0.5 + n / 10, 1700000001000, n)],
                [Param("lr", f"0.0{n + 1}"), Param("optimizer", "adam warmup")],
                [RunTag("mlflow.source.name", "train.py")])
    s.delete_tag(rid, "mlflow.source.name")
    s.update_run_info(rid, RunStatus.FINISHED, 1700000005000, f"run-{n}-done")
tid = "tr-coexist-1"
ti = TraceInfo(trace_id=tid, trace_location=TraceLocation.from_experiment_id(e), request_time=1700000000000,
               state=TraceState.OK, execution_duration=12, tags={"mlflow.traceName": "predict", "color": "deep blue"})
s.start_trace(ti)
s.set_trace_tag(tid, "project", "Atlas")
src = AssessmentSource(source_type="HUMAN", source_id="bo")
s.create_assessment(Feedback(name="quality", value="Mostly correct answer", source=src, trace_id=tid))
s.create_assessment(Expectation(name="expected", value={"answer": "Paris", "ok": True}, source=src, trace_id=tid))
s.delete_trace_tag(tid, "color")
reg = DynamoDBRegistryStore(uri)
reg.create_registered_model("coexist-model", tags=[RegisteredModelTag("mlflow.domain", "tabular")])
reg.set_registered_model_tag("coexist-model", RegisteredModelTag("team.owner", "bo"))
reg.create_model_version("coexist-model", "s3://b/m", run_id=rid,
                         tags=[ModelVersionTag("mlflow.stage.note", "candidate")])
reg.delete_registered_model_tag("coexist-model", "team.owner")
print("ok", file=sys.stderr)
