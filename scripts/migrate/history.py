#!/usr/bin/env python3
"""Write a realistic MLflow history into a new table, through MLflow's own API.

    .venv/bin/python scripts/migrate/history.py ENDPOINT TABLE OUT.json [--scale N] [--traces]
    .venv-main/bin/python scripts/migrate/history.py ENDPOINT TABLE OUT.json --store main [...]

The table is written by whichever reference store this interpreter has:
mlflow-dynamodbstore 0.1.0 in `.venv` (format v0.1, the default and the
migration's source) or the `main` store in `.venv-main` (`--store main`: the
same history in format main, to compare what users see of identical data;
run it with .venv-main/bin/python). `--store` must name the installed store.

The store creates TABLE (CloudFormation, on ENDPOINT, e.g. the moto_server of
`scripts/emulator.sh run`); right after that, before any entity is written, a
NEW_AND_OLD_IMAGES stream is enabled on it (format v0.1 has none; the
migration's catch-up reads it). Then, for each of N scale units (default 1):

  experiments  5: tags (Unicode keys and values, a key with `#`, `/`, `.`),
               a tag changed, one experiment renamed twice, one deleted
               (after it got a run);
  runs         20 across the experiments: tags, params, metrics with several
               steps (histories, a step logged twice, an extra metric key
               later), statuses FINISHED / FAILED / KILLED / RUNNING, a tag
               deleted, renamed runs (update_run(name=...) and
               set_tag("mlflow.runName", ...), while running), deleted runs, a
               deleted and restored run, a dataset input. Half the finished
               runs end through MlflowClient.set_terminated (run_name=None:
               the 0.1.0 store nulls the name, what its users have), half
               through update_run_info with the run's name (a tracking
               server's UpdateRun with run_name);
  traces       only with --traces: 2, in an experiment of their own
               (`Traces <k>`), through the store (MlflowClient has no call
               that writes a trace without running spans in-process): tags, a
               changed and a deleted tag, metadata, assessments. Off by
               default because 0.1.0 cannot really hold traces: its
               start_trace writes Numbers into `lsi1sk`, `lsi2sk`, `lsi5sk`,
               which its table declares S. DynamoDB rejects that put
               ("Type mismatch for Index Key"), so no 0.1.0 table on AWS has a
               trace; moto accepts it, and then every LSI Query of that
               experiment fails (moto answers 500: it cannot order a Number
               against a String), so 0.1.0's search_runs, and the judge, fail
               in that experiment;
  registry     3 registered models: tags, descriptions, versions (with run
               ids, tags, a description), aliases, a renamed model, a deleted
               tag, a deleted version.

CONFIG: the extra tag pattern `team.*` and a per-experiment pattern `proj*`
are denormalized, run tag and param values are indexed for full-text search
(as a user would set them with the store's CLI), so the derived state the
migration must rebuild exists.

The two stores write the same calls differently (seen by diffing judge.py's
dumps of one history written by each; these are data, not read-side
differences, so the judge keeps them): default artifact locations (0.1.0:
"" and "/<run>/artifacts"; main: "./mlartifacts/<exp>[/<run>/artifacts]");
set_terminated nulls run_name in 0.1.0 only; set_tag("mlflow.runName")
renames the run in main only; delete_experiment marks the experiment's runs
deleted in main only.

Names are deterministic (the scale unit is in each name); ids (ULIDs) and
times are real. OUT.json lists what was written, by label: the store and its
version, the table, `ids` (label -> id: `exp:<name>`, `run:<name>`,
`trace:<n>`, `model:<name>`) and `counts`, for the judge (judge.py).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_var, None)

import logging  # noqa: E402

import boto3  # noqa: E402
from mlflow.entities import (  # noqa: E402
    AssessmentSource, Dataset, DatasetInput, Expectation, Feedback, InputTag, Metric,
    Param, RunStatus, RunTag, TraceInfo, TraceLocation, TraceState,
)
from mlflow.tracking import MlflowClient  # noqa: E402


def installed_store() -> str:
    """The format the installed reference store writes: `v0.1` or `main`."""
    version = importlib.metadata.version("mlflow-dynamodbstore")
    return "v0.1" if version == "0.1.0" else "main"


def now_ms() -> int:
    return int(time.time() * 1000)


def enable_stream(endpoint: str, table: str) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    spec = ddb.describe_table(TableName=table)["Table"].get("StreamSpecification") or {}
    if spec.get("StreamEnabled") and spec.get("StreamViewType") == "NEW_AND_OLD_IMAGES":
        return
    if spec.get("StreamEnabled"):
        raise SystemExit(f"history: {table} already has a {spec.get('StreamViewType')} stream")
    ddb.update_table(TableName=table, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})


class History:
    def __init__(self, client: MlflowClient, store) -> None:
        self.c = client
        self.store = store
        self.ids: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # ---- one scale unit --------------------------------------------------
    def unit(self, k: int, traces: bool) -> None:
        c = self.c
        exps = self.experiments(k)
        self.runs(k, exps)
        if traces:
            self.traces(k)
        self.registry(k)
        # Deleted last: the experiment has a run, as users' deleted ones do.
        c.delete_experiment(exps["scratch"])
        self.count("experiments_deleted")

    def experiments(self, k: int) -> dict[str, str]:
        c = self.c
        spec = {
            "churn": (f"Churn model {k}", {
                "mlflow.note.content": f"Quarterly churn, unit {k}",
                "team.owner": "Ana", "Clé ünï/キー": "Välue Ω", "k#1 é/x.y": "odd key",
                "plain": "Mixed Case"}),
            "fraud": (f"Fraud détection {k}", {"team.owner": "Bo", "domain": "payments"}),
            "reco": (f"Recommandation 推荐 {k}", {"mlflow.note.content": "Товары и услуги",
                                               "priority": "high"}),
            "forecast": (f"Forecast draft {k}", {}),
            "scratch": (f"Scratch {k}", {"temp": "yes"}),
        }
        exps = {}
        for label, (name, tags) in spec.items():
            eid = c.create_experiment(name, tags=tags or None)
            exps[label] = eid
            self.ids[f"exp:{name}"] = eid
            self.count("experiments")
        # One experiment pattern, as the store's CLI would add it.
        self.store._config.set_experiment_denormalize_patterns(exps["churn"], ["proj*"])
        c.set_experiment_tag(exps["churn"], "stage", "Beta")
        c.set_experiment_tag(exps["churn"], "team.owner", "Ana Straße")  # a changed value
        c.set_experiment_tag(exps["fraud"], "ключ", "значение")
        c.rename_experiment(exps["forecast"], f"Forecast v1 {k}")
        c.rename_experiment(exps["forecast"], f"Forecast v2 {k}")
        self.ids[f"exp:Forecast v2 {k}"] = exps["forecast"]
        self.count("experiment_renames", 2)
        return exps

    def runs(self, k: int, exps: dict[str, str]) -> None:
        c = self.c
        # 20 runs: 6 churn, 5 fraud, 4 reco, 4 forecast, 1 scratch.
        layout = ["churn"] * 6 + ["fraud"] * 5 + ["reco"] * 4 + ["forecast"] * 4 + ["scratch"]
        words = ["brave-owl", "calm-fox", "eager-elk", "quiet-lynx", "bold-crane", "swift-hare",
                 "shy-otter", "wise-heron", "keen-wolf", "pale-moth", "dark-ibis", "warm-seal",
                 "cold-newt", "fast-kite", "slow-mole", "tall-yak", "tiny-wren", "wild-boar",
                 "glad-orca", "sly-mink"]
        statuses = ["FINISHED", "FINISHED", "FAILED", "KILLED", "RUNNING"]
        for i, label in enumerate(layout):
            eid = exps[label]
            name = f"{words[i]}-{k}"
            start = now_ms()
            tags = {"mlflow.user": ["ana", "bo", "cy"][i % 3],
                    "mlflow.source.name": "train.py",
                    "project": ["Atlas", "Borealis", "Ça va ünï", "Atlas"][i % 4],
                    "team.owner": ["ana", "bo"][i % 2]}
            if i % 5 == 0:
                tags["k#1 é/x.y"] = "odd key"
            if i % 7 == 0:
                tags["ключ/名前"] = "значение 値"
            run = c.create_run(eid, start_time=start, run_name=name, tags=tags)
            rid = run.info.run_id
            self.ids[f"run:{name}"] = rid
            self.count("runs")
            params = [Param("lr", f"0.0{i % 9 + 1}"), Param("optimizer", ["adam", "sgd"][i % 2]),
                      Param("batch_size", str(32 * (i % 4 + 1)))]
            if i % 3 == 0:
                params.append(Param("note", "Schöne Grüße, 多谢"))
            t = now_ms()
            metrics = []
            for step in range(5):
                metrics.append(Metric("acc", round(0.5 + 0.08 * step + i / 1000, 6), t + step, step))
                metrics.append(Metric("loss", round(2.0 / (step + 1) + i / 100, 6), t + step, step))
            metrics.append(Metric("acc", 0.1 + 0.2, t + 9, 2))  # step 2 again, later, odd float
            metrics.append(Metric("neg/scaled.value", -123456.789e-3 * (i + 1), t, 0))
            c.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("phase", "train")])
            self.count("metric_points", len(metrics))
            c.log_metric(rid, "val_acc", 0.42 + i / 100, timestamp=now_ms(), step=10)
            self.count("metric_points")
            if i % 4 == 1:
                c.log_inputs(rid, datasets=[DatasetInput(
                    Dataset(name=f"customers-{k}", digest=f"d{k:03d}abc", source_type="s3",
                            source=json.dumps({"uri": f"s3://bucket/customers/{k}"}),
                            schema=json.dumps({"mlflow_colspec": [{"name": "age", "type": "long"}]}),
                            profile=json.dumps({"num_rows": 1000 + k})),
                    tags=[InputTag("mlflow.data.context", "training")])])
                self.count("dataset_inputs")
            if i % 3 == 1:
                c.set_tag(rid, "project", "Atlas relaunch")
                c.delete_tag(rid, "mlflow.source.name")
                self.count("run_tag_changes", 2)
            if i % 6 == 2:
                new = f"{name}-renamed"
                c.update_run(rid, name=new)
                self.ids[f"run:{new}"] = rid
                self.count("run_renames")
            if i % 6 == 3:
                new = f"{name}-tagname"
                c.set_tag(rid, "mlflow.runName", new)
                self.ids[f"run:{new}"] = rid
                self.count("run_renames_by_tag")
            status = statuses[i % 5]
            if status != "RUNNING" and i % 2 == 0:
                # MLflow's client in-process (mlflow.end_run with this store):
                # update_run_info(run_name=None); the 0.1.0 store then stores
                # a null run_name, so these runs lose their name in v0.1.
                c.set_terminated(rid, status, end_time=now_ms())
            elif status != "RUNNING":
                # Terminated with the run's name given, as a tracking server's
                # UpdateRun carrying run_name does: the name survives.
                self.store.update_run_info(rid, RunStatus.from_string(status), now_ms(),
                                           c.get_run(rid).info.run_name)
            if i % 8 == 5:
                c.delete_run(rid)
                self.count("runs_deleted")
            if i % 8 == 6:
                c.delete_run(rid)
                c.restore_run(rid)
                self.count("runs_restored")

    def traces(self, k: int) -> None:
        c, store = self.c, self.store
        name = f"Traces {k}"
        eid = c.create_experiment(name, tags={"kind": "traces"})
        self.ids[f"exp:{name}"] = eid
        self.count("experiments")
        src = AssessmentSource(source_type="HUMAN", source_id="ana")
        for n in range(2):
            tid = f"tr-{k:04d}{n:04d}abcdef{n}"
            store.start_trace(TraceInfo(
                trace_id=tid, trace_location=TraceLocation.from_experiment_id(eid),
                request_time=now_ms(), state=TraceState.OK, execution_duration=12 + n,
                tags={"mlflow.traceName": "predict", "color": "Deep Blue", "project": "Atlas"},
                trace_metadata={"mlflow.sourceRun": self.ids[f"run:brave-owl-{k}"]},
            ))
            self.ids[f"trace:{k}:{n}"] = tid
            self.count("traces")
            c.set_trace_tag(tid, "project", "Atlas Borealis")
            c.set_trace_tag(tid, "team.owner", "bo")
            c.delete_trace_tag(tid, "color")
            store.create_assessment(Feedback(name="quality", value="Mostly correct answer",
                                             source=src, trace_id=tid))
            store.create_assessment(Expectation(name="expected", value={"answer": "Paris"},
                                                source=src, trace_id=tid))
            self.count("assessments", 2)

    def registry(self, k: int) -> None:
        c = self.c
        churn = f"churn-classifier-{k}"
        c.create_registered_model(churn, tags={"mlflow.domain": "tabular", "team.owner": "ana",
                                               "étiquette": "Ünïcode"},
                                  description="Predicts churn")
        c.set_registered_model_tag(churn, "temp", "removed below")
        c.delete_registered_model_tag(churn, "temp")
        c.update_registered_model(churn, description="Predicts churn, monthly retrain")
        versions = []
        for n, run_label in enumerate([f"brave-owl-{k}", f"calm-fox-{k}", f"eager-elk-{k}"]):
            mv = c.create_model_version(churn, f"s3://bucket/models/{k}/{n + 1}",
                                        run_id=self.ids[f"run:{run_label}"],
                                        tags={"mlflow.stage.note": "candidate"} if n == 0 else None,
                                        description=f"version {n + 1}")
            versions.append(mv.version)
            self.count("model_versions")
        c.set_model_version_tag(churn, versions[0], "validated", "yes")
        c.set_model_version_tag(churn, versions[1], "team.reviewer", "bo")
        c.update_model_version(churn, versions[1], description="the champion")
        c.set_registered_model_alias(churn, "champion", versions[1])
        c.set_registered_model_alias(churn, "challenger", versions[0])
        c.delete_model_version(churn, versions[2])
        self.count("model_versions_deleted")

        fraud = f"fraud-scorer-{k}"
        c.create_registered_model(fraud, tags={"team.owner": "bo"})
        c.create_model_version(fraud, f"s3://bucket/fraud/{k}/1",
                               run_id=self.ids[f"run:shy-otter-{k}"])
        self.count("model_versions")

        c.create_registered_model(f"Old Name {k}", description="renamed below")
        c.rename_registered_model(f"Old Name {k}", f"Renamed Model {k}")
        self.count("models", 3)
        self.count("model_renames")
        for name in (churn, fraud, f"Renamed Model {k}"):
            self.ids[f"model:{name}"] = name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoint")
    ap.add_argument("table")
    ap.add_argument("out")
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--traces", action="store_true",
                    help="also write traces (see the module doc: 0.1.0 on moto then fails to search runs "
                         "in their experiment)")
    ap.add_argument("--store", choices=["v0.1", "main"], default=None,
                    help="the store expected in this interpreter (default: whichever is installed)")
    a = ap.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    store_format = installed_store()
    if a.store and a.store != store_format:
        raise SystemExit(f"history: --store {a.store}, but this interpreter ({sys.executable}) has the "
                         f"{store_format} store; use .venv/bin/python for v0.1, .venv-main/bin/python for main")
    if a.scale < 1:
        raise SystemExit("history: --scale must be >= 1")
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint)
    try:
        ddb.describe_table(TableName=a.table)
        raise SystemExit(f"history: table {a.table} already exists on {a.endpoint}; give a new name")
    except ddb.exceptions.ResourceNotFoundException:
        pass

    uri = f"dynamodb://{a.endpoint}/{a.table}"
    from mlflow_dynamodbstore.tracking_store import DynamoDBTrackingStore
    # The store deploys and seeds its table; then the stream; then CONFIG;
    # then MLflow's client makes its own store (stores cache CONFIG: the
    # client's must see this one).
    setup = DynamoDBTrackingStore(uri)
    enable_stream(a.endpoint, a.table)
    setup._config.set_fts_trigram_fields(["run_tag_value", "run_param_value"])
    setup._config.set_denormalize_patterns(["mlflow.*", "team.*"])
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    store = client._tracking_client.store
    h = History(client, store)
    started = time.time()
    for k in range(a.scale):
        h.unit(k, a.traces)
    doc = {
        "store": store_format,
        "store_version": importlib.metadata.version("mlflow-dynamodbstore"),
        "mlflow": importlib.metadata.version("mlflow"),
        "table": a.table,
        "scale": a.scale,
        "counts": dict(sorted(h.counts.items())),
        "ids": dict(sorted(h.ids.items())),
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"history: {a.table} ({store_format}): {json.dumps(doc['counts'])} in "
          f"{time.time() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
