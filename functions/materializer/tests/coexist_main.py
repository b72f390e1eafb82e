"""Sessions of the `main` store (zeroae/mlflow-dynamodbstore at 3ccbc9e, in
.venv-main) for the `main`-format tests: it writes real MLflow data through
MLflow's own API (MlflowClient on the tracking URI dynamodb://ENDPOINT/TABLE;
the store behind it where the client has no call) into table argv[2], which
the store deploys itself on the endpoint AWS_ENDPOINT_URL. A NEW_AND_OLD_IMAGES
stream is enabled right after the deployment, before the session's CONFIG and
entities are written. The store materializes inline.

argv[1], the session:
  clean     experiments (tags with Unicode keys, a new value, a deleted tag, a
            rename), runs (tags, params, metrics, a deleted tag, terminated),
            a trace (tags, a changed and a deleted tag, assessments), a logged
            model, an evaluation dataset, a registered model (tags, rename) and
            a version: every operation whose inline result is right, so the
            materializer must then cost zero writes.
  run-name  one run renamed through its `mlflow.runName` tag (set_tag) while
            run tag values are indexed: a known bug of `main`. The store sets
            run_name and lsi4sk, but the run's name tokens stay the old
            name's (the new name gets none), and the `mlflow.runName`
            tag-value tokens keep the old value's next to the new ones.
  both      clean, then run-name, in one table.

stdout, JSON (the oracle's own functions, `fts_items_for_text`, give every
FTS item in it; items as {attribute: string}):
  "default_experiment": the FTS items of the seeded experiment 0's name,
      which the store's seed never writes (a gap of the store: every other
      experiment name is indexed; we index this one too);
  "run_name": null, or {"pk", "run", "old_name", "new_name", "old_tag",
      "new_tag"}: the items of the renamed run's old and new name (no field)
      and of its `mlflow.runName` tag's old and new value (field
      `mlflow.runName`).

Avoided on purpose (known gaps of the store, proven elsewhere or above): an
indexed run tag changing value other than through run-name (the store leaves
the old value's tokens; update_run_info(run_name=...) is such a change, since
it rewrites the `mlflow.runName` tag); a tag on the seeded experiment `0` (its
META has no `tags` map and the store's `SET tags.#k` fails).

Run with .venv-main/bin/python (scripts/venv.sh main installs it).
"""
import json
import os
import sys

session, table = sys.argv[1], sys.argv[2]
out_stream = sys.stdout
sys.stdout = sys.stderr  # whatever the libraries print must not corrupt the answer
endpoint = os.environ["AWS_ENDPOINT_URL"]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(var, None)

import boto3
from mlflow.entities import (AssessmentSource, Expectation, Feedback, Metric, Param, RunTag, TraceInfo,
                             TraceLocation, TraceState)
from mlflow.tracking import MlflowClient
from mlflow_dynamodbstore.dynamodb.fts import fts_items_for_text
from mlflow_dynamodbstore.tracking_store import DynamoDBTrackingStore

uri = f"dynamodb://{endpoint}/{table}"
# The store deploys its table (CloudFormation) and seeds it; then the stream,
# then the CONFIG of the session, all before MLflow's client makes its own
# store (a store caches CONFIG: the client's must read this one).
setup = DynamoDBTrackingStore(uri)
boto3.client("dynamodb", endpoint_url=endpoint).update_table(
    TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
setup._config.set_fts_trigram_fields(["run_tag_value", "run_param_value", "trace_tag_value"])
setup._config.set_denormalize_patterns(["mlflow.*", "team.*"])
c = MlflowClient(tracking_uri=uri, registry_uri=uri)
# The store behind the client, for what MlflowClient has no call for
# (per-experiment patterns, start_trace, create_assessment).
store = c._tracking_client.store
assert isinstance(store, DynamoDBTrackingStore), type(store)

assert session in ("clean", "run-name", "both"), session


def fts(pk: str, kind: str, entity: str, field, text: str, workspace=None) -> list:
    return fts_items_for_text(pk=pk, entity_type=kind, entity_id=entity, field=field, text=text,
                              workspace=workspace)


def clean() -> None:
    e = c.create_experiment("Coexist ranking", tags={"mlflow.note.content": "Ranking v1", "team.owner": "Bo",
                                                       "équipe/名前.x": "Données ΣΑΣ İstanbul"})
    store._config.set_experiment_denormalize_patterns(e, ["proj*"])
    c.set_experiment_tag(e, "unrelated", "Copied in main (every experiment tag)")
    c.set_experiment_tag(e, "team.owner", "Ada Straße")  # a new value: the maps follow
    c.set_experiment_tag(e, "temp", "gone soon")
    c.delete_experiment_tag(e, "temp")
    c.rename_experiment(e, "Coexist ranking v2")
    e2 = c.create_experiment("Second bench", tags={"mlflow.note.content": "Other"})

    rid = None
    for n in range(3):
        run = c.create_run(e, start_time=1700000000000 + n, run_name=f"run-{n}",
                           tags={"mlflow.user": "bo", "project": f"Atlas {n}", "ключ/é.x": "odd key"})
        rid = run.info.run_id
        c.log_batch(rid, metrics=[Metric("acc", 0.5 + n / 10, 1700000001000, n)],
                    params=[Param("lr", f"0.0{n + 1}"), Param("optimizer", "adam warmup")],
                    tags=[RunTag("mlflow.source.name", "train.py")])
        c.log_metric(rid, "loss", 1.0 - n / 10, timestamp=1700000002000, step=1)
        c.delete_tag(rid, "mlflow.source.name")
        c.set_terminated(rid, "FINISHED", end_time=1700000005000)
    other = c.create_run(e2, run_name="")
    c.set_tag(other.info.run_id, "team.size", "3")

    tid = "tr-coexist-main-1"
    ti = TraceInfo(trace_id=tid, trace_location=TraceLocation.from_experiment_id(e), request_time=1700000000000,
                   state=TraceState.OK, execution_duration=12,
                   tags={"mlflow.traceName": "predict", "color": "deep blue", "project": "Atlas"})
    store.start_trace(ti)
    c.set_trace_tag(tid, "project", "Atlas Borealis")  # a new value: main diffs trace tag tokens
    c.set_trace_tag(tid, "team.owner", "bo")
    c.delete_trace_tag(tid, "color")
    src = AssessmentSource(source_type="HUMAN", source_id="bo")
    store.create_assessment(Feedback(name="quality", value="Mostly correct answer", source=src, trace_id=tid))
    store.create_assessment(Expectation(name="expected", value={"answer": "Paris", "ok": True}, source=src,
                                        trace_id=tid))

    lm = c.create_logged_model(e, name="ranker", source_run_id=rid, tags={"mlflow.source": "x", "stage": "dev"})
    c.set_logged_model_tags(lm.model_id, {"stage": "prod", "owner/équipe": "bo"})
    c.delete_logged_model_tag(lm.model_id, "mlflow.source")

    ds = store.create_dataset("coexist-dataset", tags={"mlflow.user": "bo", "team": "x"}, experiment_ids=[e])
    store.set_dataset_tags(ds.dataset_id, {"stage": "gold", "équipe": "ü"})
    store.delete_dataset_tag(ds.dataset_id, "team")

    c.create_registered_model("coexist-model", tags={"mlflow.domain": "tabular", "team.é/名": "x"})
    c.set_registered_model_tag("coexist-model", "team.owner", "bo")
    c.set_registered_model_tag("coexist-model", "plain", "not copied")
    mv = c.create_model_version("coexist-model", "s3://b/m", run_id=rid, tags={"mlflow.stage.note": "candidate"})
    c.set_model_version_tag("coexist-model", mv.version, "team.reviewer", "ada")
    c.delete_registered_model_tag("coexist-model", "team.owner")
    c.rename_registered_model("coexist-model", "Coexist Model Renamed")


def run_name() -> dict:
    e = c.create_experiment("Renamed through the tag")
    old, new = "first try", "Second Wind ünïcode"
    rid = c.create_run(e, run_name=old, tags={"mlflow.user": "bo"}).info.run_id
    c.set_tag(rid, "mlflow.runName", new)
    pk = f"EXP#{e}"
    return {"pk": pk, "run": rid,
            "old_name": fts(pk, "R", rid, None, old), "new_name": fts(pk, "R", rid, None, new),
            "old_tag": fts(pk, "R", rid, "mlflow.runName", old),
            "new_tag": fts(pk, "R", rid, "mlflow.runName", new)}


out = {"default_experiment": fts("EXP#0", "E", "0", None, "Default", "default"), "run_name": None}
if session in ("clean", "both"):
    clean()
if session in ("run-name", "both"):
    out["run_name"] = run_name()
json.dump(out, out_stream, ensure_ascii=False)
print("ok", file=sys.stderr)
