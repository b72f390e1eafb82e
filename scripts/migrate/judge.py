#!/usr/bin/env python3
"""Dump everything an MLflow user sees of a table, through MLflow's API, as
canonical JSON: two dumps of the same data compare byte for byte.

    .venv/bin/python      scripts/migrate/judge.py ENDPOINT TABLE v0.1 OUT.json [--create-check]
    .venv-main/bin/python scripts/migrate/judge.py ENDPOINT TABLE main OUT.json [--create-check]

FORMAT names the table's format and the store reading it, which must be the
one installed in this interpreter: v0.1 is read by mlflow-dynamodbstore 0.1.0
(.venv), main by the main store (.venv-main). The table must exist and be of
that format (DescribeTable's `lsi2sk` type: S in v0.1, N in main); the
judge never creates a table. The main store is opened with the tracking URI
`dynamodb://ENDPOINT/TABLE?deploy=false` (without it the store deploys its
CloudFormation stack and seeds the table); the 0.1.0 store has no such
option (its parser would take `?deploy=false` as part of the table name)
and only creates what is missing. Either store, when opened, rewrites the
item CONFIG/DENORMALIZE_TAGS with the value it read (its `reconcile`): the
judge writes nothing else, unless --create-check.

The dump (sorted keys; every list sorted; ids as they are, since the
migration keeps them):
  experiments   every one (ViewType.ALL): name, lifecycle_stage,
                artifact_location, creation_time, last_update_time, tags;
  runs          every run of every experiment (ACTIVE_ONLY and DELETED_ONLY):
                run_name, status, lifecycle_stage, start/end time, user_id,
                artifact_uri, tags, params, latest metrics, the full history
                of every metric key, dataset inputs;
  traces        every trace of every experiment: request time, duration,
                state, previews, tags, metadata, assessments;
  models        every registered model: description, tags, aliases, times,
                and its versions (source, status, run_id, run_link, tags,
                description, stage, times);
  searches      the ids a few searches return (experiments by name LIKE /
                ILIKE / tag; runs by tag, param, run name, metric, each with
                ACTIVE_ONLY and with DELETED_ONLY; models by name LIKE /
                ILIKE), as sorted sets (search order among equal sort keys is
                the store's business).

Normalized, because the two stores show the same stored data differently
(found by writing one history with each store, history.py, diffing the two
dumps, and reading both stores' code for each difference: what differs
because the stores *wrote* differently stays, what differs because they
*read* the same items differently is normalized here):
  * numbers: 0.1.0 hands back DynamoDB Decimals (times, steps, statuses);
    written as JSON integers (metric values as floats).
  * run status: 0.1.0 stores the status number update_run_info gets
    (RunStatus.FINISHED == 3) and returns it as is; main returns the name.
    The dump says the name.
  * run_name: main's reader, when the item's run_name is empty or null,
    shows the `mlflow.runName` tag's value instead; 0.1.0 shows null. The dump
    applies main's rule to both (empty is null).
  * the `mlflow.runName` run tag: main writes it itself, equal to run_name,
    on create_run and on every rename; 0.1.0 never writes it. Left out when
    it equals run_name (it says nothing more then); kept when it differs (a
    user's set_tag("mlflow.runName") that 0.1.0 did not sync into run_name).
  * the `mlflow.artifactLocation` trace tag: main's start_trace writes it
    (<experiment artifact_location>/traces/<trace id>/artifacts), 0.1.0 never
    does. Left out when it has that form.
    These two are the only store-added tags the histories showed: neither
    store adds experiment, model or version tags of its own.
  * traces are in practice main's only: 0.1.0 cannot store one on AWS (see
    history.py --traces), on moto its run searches then fail in the trace's
    experiment (the judge stops with that explanation), and its
    get_trace_info returns no assessments.
  * dataset inputs: 0.1.0 writes them but its get_run never returns them;
    for v0.1 the judge reads them from the store's items (Judge.v01_inputs).
  * aliases: 0.1.0 lists none (get_registered_model, model versions); the
    dump asks for a few names one by one (ALIAS_PROBES) on every model, in
    both formats, and keeps a model-level {alias: version} map only.
  * model and version `description`, version `run_link`: 0.1.0 returns "",
    main `or None`s it on read: empty is null.
  * ViewType.ALL for runs: 0.1.0's leaves deleted runs out; the dump lists
    and searches ACTIVE_ONLY and DELETED_ONLY apart.
  * left out: experiment searches whose answer depends on the store's
    search engine, not on the data: a LIKE on non-ASCII text (0.1.0's
    trigram index drops non-ASCII characters, main finds it) and a name LIKE
    among deleted experiments (0.1.0 finds none); a run search on status
    (0.1.0 stores numbers, its `status = 'FAILED'` finds nothing).

--create-check: after the dump, create an experiment and a run with a tag,
a param and a metric through the same store (on the existing table: for main
still with deploy=false), read them back (get, and a search each) and print
`ok`; exit 1 with the mismatch otherwise. Proves the table is writable and
searchable by that store.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
import time
from decimal import Decimal

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_var, None)

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from mlflow.entities import RunStatus, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

PAGE = 1000
LSI2SK_TYPE = {"v0.1": "S", "main": "N"}

# The searches of the dump: fixed filters that match names and values
# history.py writes, so each returns a non-trivial set.
EXPERIMENT_SEARCHES = [
    ("name LIKE '%Churn%'", ViewType.ALL),
    ("name LIKE 'Forecast%'", ViewType.ALL),
    ("name ILIKE '%fraud%'", ViewType.ALL),
    ("name LIKE '%model%'", ViewType.ACTIVE_ONLY),
    ("tags.priority = 'high'", ViewType.ALL),
    ("tags.domain = 'payments'", ViewType.ALL),
]
# Run searches go once with ACTIVE_ONLY and once with DELETED_ONLY, never
# ALL (0.1.0's ALL leaves deleted runs out).
RUN_SEARCHES = [
    "tags.project = 'Atlas relaunch'",
    "tags.project = 'Ça va ünï'",
    "tags.`mlflow.user` = 'cy'",
    "tags.`team.owner` = 'bo'",
    "params.optimizer = 'sgd'",
    "params.lr = '0.03'",
    "params.note = 'Schöne Grüße, 多谢'",
    "attributes.run_name LIKE '%renamed%'",
    "attributes.run_name LIKE 'calm%'",
    "attributes.run_name ILIKE '%OWL%'",
    "metrics.val_acc > 0.5",
    "",
]
# 0.1.0 lists no aliases (get_registered_model and the versions say none);
# it resolves them one by one (get_model_version_by_alias): these names are
# asked for on every model, next to whatever the store lists.
ALIAS_PROBES = ["champion", "challenger", "production", "staging"]
MODEL_SEARCHES = [
    "name LIKE 'churn%'",
    "name LIKE '%Model%'",
    "name ILIKE '%renamed%'",
]


def installed_store() -> str:
    version = importlib.metadata.version("mlflow-dynamodbstore")
    return "v0.1" if version == "0.1.0" else "main"


def tracking_uri(endpoint: str, table: str, fmt: str) -> str:
    uri = f"dynamodb://{endpoint}/{table}"
    return uri + "?deploy=false" if fmt == "main" else uri


def check_table(endpoint: str, table: str, fmt: str) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    try:
        desc = ddb.describe_table(TableName=table)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        raise SystemExit(f"judge: no table {table} on {endpoint}")
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    if types.get("lsi2sk") != LSI2SK_TYPE[fmt]:
        raise SystemExit(f"judge: table {table} declares lsi2sk as {types.get('lsi2sk')}, "
                         f"format {fmt} has {LSI2SK_TYPE[fmt]}: wrong FORMAT for this table")


def num(x):
    """A time, step or count as the JSON integer it is (0.1.0 returns Decimals)."""
    if x is None:
        return None
    if isinstance(x, Decimal) and x != x.to_integral_value():
        return float(x)
    return int(x)


def status_name(s) -> str:
    if isinstance(s, (int, Decimal)):
        return RunStatus.to_string(int(s))
    return str(s)


def run_tags(tags: dict, run_name) -> dict:
    out = dict(tags)
    if "mlflow.runName" in out and out["mlflow.runName"] == run_name:
        del out["mlflow.runName"]
    return out


def trace_tags(tags: dict, trace_id: str) -> dict:
    out = dict(tags)
    if out.get("mlflow.artifactLocation", "").endswith(f"/traces/{trace_id}/artifacts"):
        del out["mlflow.artifactLocation"]
    return out


def pages(call, **kw) -> list:
    """Every result of a paginated MlflowClient search."""
    out, token = [], None
    while True:
        page = call(page_token=token, **kw)
        out.extend(page)
        # 0.1.0's experiment and model searches return a plain list, cut at
        # max_results, with no page token: a full page may hide more.
        token = getattr(page, "token", None)
        if not hasattr(page, "token") and len(page) >= kw["max_results"]:
            raise SystemExit(f"judge: {call.__name__} returned a full page of {len(page)} and no page "
                             f"token (the 0.1.0 store does not paginate it): the dump would be cut")
        if not token:
            return out


class Judge:
    def __init__(self, client: MlflowClient, fmt: str) -> None:
        self.c = client
        self.fmt = fmt
        self.store = client._tracking_client.store

    def experiments(self) -> list:
        exps = pages(self.c.search_experiments, view_type=ViewType.ALL, max_results=PAGE)
        out = []
        for e in exps:
            e = self.c.get_experiment(e.experiment_id)
            out.append({
                "experiment_id": e.experiment_id,
                "name": e.name,
                "lifecycle_stage": e.lifecycle_stage,
                "artifact_location": e.artifact_location,
                "creation_time": num(e.creation_time),
                "last_update_time": num(e.last_update_time),
                "tags": dict(e.tags),
            })
        return sorted(out, key=lambda e: e["experiment_id"])

    def run(self, r) -> dict:
        """One run as search_runs returned it (the same Run as get_run's, for
        both stores: checked on both histories; one call fewer per run)."""
        i, d = r.info, r.data
        run_id = i.run_id
        history = {}
        for key in d.metrics:
            # The store's own call: MlflowClient.get_metric_history expects a
            # paged list, and 0.1.0's store returns a plain list.
            points = self.store.get_metric_history(run_id, key)
            history[key] = sorted([num(m.step), num(m.timestamp), float(m.value)] for m in points)
        if self.fmt == "v0.1":
            inputs = self.v01_inputs(i.experiment_id, run_id)
        else:
            inputs = []
            for di in (r.inputs.dataset_inputs if r.inputs else []):
                ds = di.dataset
                inputs.append({"name": ds.name, "digest": ds.digest, "source_type": ds.source_type,
                               "source": ds.source, "schema": ds.schema, "profile": ds.profile,
                               "tags": {t.key: t.value for t in di.tags}})
        run_name = i.run_name or d.tags.get("mlflow.runName") or None
        return {
            "run_id": i.run_id,
            "experiment_id": i.experiment_id,
            "run_name": run_name,
            "status": status_name(i.status),
            "lifecycle_stage": i.lifecycle_stage,
            "start_time": num(i.start_time),
            "end_time": num(i.end_time),
            "user_id": i.user_id,
            "artifact_uri": i.artifact_uri,
            "tags": run_tags(d.tags, run_name),
            "params": dict(d.params),
            "metrics": {k: float(v) for k, v in d.metrics.items()},
            "metric_history": history,
            "inputs": sorted(inputs, key=lambda x: json.dumps(x, sort_keys=True)),
        }

    def v01_inputs(self, experiment_id: str, run_id: str) -> list:
        """A run's dataset inputs in a v0.1 table. 0.1.0's log_inputs writes
        them (R#<run>#INPUT#<uuid> links, their #ITAG#<key> tags, D#<name>#<digest>
        datasets) but its get_run never reads them (Run.inputs is None), so
        a user of 0.1.0 cannot see them; main shows them. Read here, with
        the store's own table handle and 0.1.0's layout, so that a migration
        that loses them shows in the diff."""
        pk, prefix = f"EXP#{experiment_id}", f"R#{run_id}#INPUT#"
        links, tags = {}, {}
        for item in self.store._table.query(pk=pk, sk_prefix=prefix):
            rest = item["SK"][len(prefix):]
            if "#ITAG#" in rest:
                link, _ = rest.split("#ITAG#", 1)
                tags.setdefault(link, {})[item["key"]] = item["value"]
            else:
                links[rest] = (item["dataset_name"], item["dataset_digest"])
        out = []
        for link, (name, digest) in links.items():
            ds = self.store._table.get_item(pk=pk, sk=f"D#{name}#{digest}") or {}
            out.append({"name": name, "digest": digest, "source_type": ds.get("source_type"),
                        "source": ds.get("source"), "schema": ds.get("schema"), "profile": ds.get("profile"),
                        "tags": tags.get(link, {})})
        return out

    def runs(self, experiment_ids: list) -> list:
        runs = {}
        for eid in experiment_ids:
            # Active and deleted apart: 0.1.0's ViewType.ALL leaves deleted
            # runs out (its DELETED_ONLY finds them).
            for vt in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY):
                try:
                    found = pages(self.c.search_runs, experiment_ids=[eid], filter_string="",
                                  run_view_type=vt, max_results=PAGE)
                except ClientError as e:
                    raise SystemExit(
                        f"judge: search_runs in experiment {eid} failed ({e.response.get('Error', {})}). "
                        "With 0.1.0 on moto this is what a trace in the experiment does (0.1.0 writes "
                        "Number LSI keys into its S-typed indexes; see history.py --traces)")
                runs.update((r.info.run_id, r) for r in found)
        return [self.run(runs[rid]) for rid in sorted(runs)]

    def traces(self, experiment_ids: list) -> list:
        out = []
        for eid in experiment_ids:
            token = None
            while True:
                # The store's own call: MlflowClient.search_traces passes
                # `locations`, which 0.1.0 ignores (it answers nothing).
                infos, token = self.store.search_traces(experiment_ids=[eid], max_results=100,
                                                        page_token=token)
                for t in infos:
                    out.append(self.trace(t.trace_id))
                if not token:
                    break
        return sorted(out, key=lambda t: t["trace_id"])

    def trace(self, trace_id: str) -> dict:
        t = self.store.get_trace_info(trace_id)
        loc = t.trace_location.mlflow_experiment
        assessments = []
        for a in t.assessments or []:
            doc = a.to_dictionary()
            assessments.append(doc)
        return {
            "trace_id": t.trace_id,
            "experiment_id": loc.experiment_id if loc else None,
            "request_time": num(t.request_time),
            "execution_duration": num(t.execution_duration),
            "state": str(t.state.value if hasattr(t.state, "value") else t.state),
            "request_preview": t.request_preview,
            "response_preview": t.response_preview,
            "client_request_id": t.client_request_id,
            "tags": trace_tags(t.tags, t.trace_id),
            "trace_metadata": dict(t.trace_metadata),
            "assessments": sorted(assessments, key=lambda x: x.get("assessment_id", "")),
        }

    def models(self) -> list:
        out = []
        for m in pages(self.c.search_registered_models, max_results=PAGE):
            m = self.c.get_registered_model(m.name)
            quoted = m.name.replace("'", "\\'")
            versions = pages(self.c.search_model_versions, filter_string=f"name = '{quoted}'",
                             max_results=PAGE)
            aliases = {a: str(v) for a, v in (m.aliases or {}).items()}
            for alias in ALIAS_PROBES:
                if alias not in aliases:
                    try:
                        aliases[alias] = str(self.c.get_model_version_by_alias(m.name, alias).version)
                    except MlflowException:
                        pass
            out.append({
                "name": m.name,
                "description": m.description or None,
                "creation_timestamp": num(m.creation_timestamp),
                "last_updated_timestamp": num(m.last_updated_timestamp),
                "tags": dict(m.tags),
                "aliases": aliases,
                "versions": sorted((self.version(m.name, v.version) for v in versions),
                                   key=lambda v: int(v["version"])),
            })
        return sorted(out, key=lambda m: m["name"])

    def version(self, name: str, version) -> dict:
        v = self.c.get_model_version(name, str(version))
        return {
            "version": str(v.version),
            "source": v.source,
            "status": v.status,
            "run_id": v.run_id,
            "run_link": v.run_link or None,
            "description": v.description or None,
            "current_stage": v.current_stage,
            "user_id": v.user_id,
            "creation_timestamp": num(v.creation_timestamp),
            "last_updated_timestamp": num(v.last_updated_timestamp),
            "tags": dict(v.tags),
        }

    def searches(self, experiment_ids: list) -> dict:
        view = {ViewType.ALL: "all", ViewType.ACTIVE_ONLY: "active", ViewType.DELETED_ONLY: "deleted"}
        out = {}
        for f, vt in EXPERIMENT_SEARCHES:
            found = pages(self.c.search_experiments, filter_string=f, view_type=vt, max_results=PAGE)
            out[f"experiments [{view[vt]}] {f}"] = sorted(e.experiment_id for e in found)
        for f in RUN_SEARCHES:
            for vt in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY):
                found = pages(self.c.search_runs, experiment_ids=experiment_ids, filter_string=f,
                              run_view_type=vt, max_results=PAGE)
                out[f"runs [{view[vt]}] {f}"] = sorted(r.info.run_id for r in found)
        for f in MODEL_SEARCHES:
            found = pages(self.c.search_registered_models, filter_string=f, max_results=PAGE)
            out[f"models {f}"] = sorted(m.name for m in found)
        return out

    def dump(self) -> dict:
        exps = self.experiments()
        ids = [e["experiment_id"] for e in exps]
        return {
            "experiments": exps,
            "runs": self.runs(ids),
            "traces": self.traces(ids),
            "models": self.models(),
            "searches": self.searches(ids),
        }

    def create_check(self) -> list:
        """Write a new experiment and run through the store and read them back;
        the list of mismatches (empty: the table takes this store's writes)."""
        c = self.c
        stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"
        name = f"judge create-check {stamp}"
        eid = c.create_experiment(name, tags={"check": "ok"})
        rid = c.create_run(eid, run_name=f"create-check-{stamp}", tags={"check": "ok"}).info.run_id
        c.log_param(rid, "p", "v")
        c.log_metric(rid, "m", 1.5, step=1)
        c.set_tag(rid, "check2", "Ünï ok")
        bad = []

        def want(what, got, expected):
            if got != expected:
                bad.append(f"{what}: got {got!r}, expected {expected!r}")

        e = c.get_experiment(eid)
        want("experiment name", e.name, name)
        want("experiment tag", e.tags.get("check"), "ok")
        by_name = c.get_experiment_by_name(name)
        want("get_experiment_by_name", by_name and by_name.experiment_id, eid)
        r = c.get_run(rid)
        want("run experiment", r.info.experiment_id, eid)
        want("run tag", r.data.tags.get("check"), "ok")
        want("run tag 2", r.data.tags.get("check2"), "Ünï ok")
        want("run param", r.data.params.get("p"), "v")
        want("run metric", r.data.metrics.get("m"), 1.5)
        want("metric history", [(num(m.step), float(m.value)) for m in self.store.get_metric_history(rid, "m")],
             [(1, 1.5)])
        want("search_experiments by name",
             [x.experiment_id for x in c.search_experiments(filter_string=f"name = '{name}'")], [eid])
        want("search_runs by tag", [x.info.run_id for x in c.search_runs([eid], "tags.check = 'ok'")], [rid])
        want("search_runs by param", [x.info.run_id for x in c.search_runs([eid], "params.p = 'v'")], [rid])
        print(f"judge: create-check wrote experiment {eid}, run {rid}", file=sys.stderr)
        return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoint")
    ap.add_argument("table")
    ap.add_argument("format", choices=["v0.1", "main"])
    ap.add_argument("out")
    ap.add_argument("--create-check", action="store_true")
    a = ap.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    have = installed_store()
    if have != a.format:
        raise SystemExit(f"judge: FORMAT {a.format}, but this interpreter ({sys.executable}) has the {have} "
                         f"store; use .venv/bin/python for v0.1, .venv-main/bin/python for main")
    check_table(a.endpoint, a.table, a.format)
    uri = tracking_uri(a.endpoint, a.table, a.format)
    judge = Judge(MlflowClient(tracking_uri=uri, registry_uri=uri), a.format)
    started = time.time()
    doc = judge.dump()
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, sort_keys=True, indent=1)
        f.write("\n")
    print(f"judge: {a.table} ({a.format}): {len(doc['experiments'])} experiments, {len(doc['runs'])} runs, "
          f"{len(doc['traces'])} traces, {len(doc['models'])} models in {time.time() - started:.1f} s "
          f"-> {a.out}", file=sys.stderr)
    if a.create_check:
        bad = judge.create_check()
        if bad:
            print("judge: create-check FAILED:\n  " + "\n  ".join(bad), file=sys.stderr)
            sys.exit(1)
        print("ok")


if __name__ == "__main__":
    main()
