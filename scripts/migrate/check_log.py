#!/usr/bin/env python3
"""Check that every write hot_writer.py logged is visible, with its final
value, through a store: after a migration, through the main store on the
migrated table.

    .venv-main/bin/python scripts/migrate/check_log.py ENDPOINT TABLE LOG.json
    .venv/bin/python      scripts/migrate/check_log.py ENDPOINT TABLE LOG.json   (the v0.1 source itself)

The store is the one installed in this interpreter: main (.venv-main) opens
the existing table with `dynamodb://ENDPOINT/TABLE?deploy=false` (it never
deploys or seeds it); 0.1.0 (.venv) with `dynamodb://ENDPOINT/TABLE`, to
check the log against the source (a check of the writer itself). TABLE
must exist. Reads only, through MLflowClient (get_run, get_experiment, the
store's get_metric_history), apart from the CONFIG/DENORMALIZE_TAGS rewrite
each store makes when opened.

The log's writes are folded per (entity, field) in order: the last value
counts (`tag:<key>` null: the tag must be absent), and every logged point of
`metric:<key>` must be in the metric's history. A field whose last event is
a write that raised (LOG.json's `errors`) is not checked (counted as
`uncertain`).

stdout, JSON: {"checked", "missing", "uncertain", "runs", "experiments",
"examples": the first 20 mismatches {kind, id, field, expected, got}};
exit status 1 when anything is missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_var, None)

import boto3  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

MISSING = object()


def fold(doc: dict) -> tuple[dict, int]:
    """{(kind, id, field): expected} from the log, in order; metric fields
    hold the list of points. Also the number of uncertain fields."""
    events = [(e["seq"], 0, e) for e in doc["log"]] + [(e["seq"], 1, e) for e in doc.get("errors", [])]
    expected: dict = {}
    uncertain: set = set()
    for _, is_error, e in sorted(events, key=lambda x: (x[0], x[1])):
        if is_error:
            if e.get("id") is not None:
                for field in e["fields"]:
                    uncertain.add((e["kind"], e["id"], field))
            continue
        key = (e["kind"], e["id"], e["field"])
        if e["field"].startswith("metric:"):
            expected.setdefault(key, []).append(e["value"])
            continue  # a failed later point leaves the logged ones to check
        uncertain.discard(key)
        expected[key] = e["value"]
    for key in uncertain:
        if not key[2].startswith("metric:"):
            expected.pop(key, None)
    return expected, len(uncertain)


def same_point(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and math.isclose(a[2], b[2], rel_tol=1e-12, abs_tol=0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoint")
    ap.add_argument("table")
    ap.add_argument("log")
    a = ap.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    doc = json.load(open(a.log, encoding="utf-8"))
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint)
    try:
        ddb.describe_table(TableName=a.table)
    except ddb.exceptions.ResourceNotFoundException:
        raise SystemExit(f"check_log: no table {a.table} on {a.endpoint}")
    v01 = importlib.metadata.version("mlflow-dynamodbstore") == "0.1.0"
    uri = f"dynamodb://{a.endpoint}/{a.table}" + ("" if v01 else "?deploy=false")
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    store = c._tracking_client.store

    expected, uncertain = fold(doc)
    runs: dict = {}
    exps: dict = {}
    histories: dict = {}

    def run(rid):
        if rid not in runs:
            try:
                runs[rid] = c.get_run(rid)
            except MlflowException:
                runs[rid] = None
        return runs[rid]

    def experiment(eid):
        if eid not in exps:
            try:
                exps[eid] = c.get_experiment(eid)
            except MlflowException:
                exps[eid] = None
        return exps[eid]

    def history(rid, key):
        if (rid, key) not in histories:
            histories[(rid, key)] = [[int(m.step), int(m.timestamp), float(m.value)]
                                     for m in store.get_metric_history(rid, key)]
        return histories[(rid, key)]

    checked, bad = 0, []
    for (kind, id_, field), want in sorted(expected.items(), key=lambda x: (x[0][0], x[0][1], x[0][2])):
        if kind == "run":
            r = run(id_)
            if r is None:
                got = MISSING
            elif field == "exists":
                got = r.info.experiment_id
            elif field == "run_name":
                got = r.info.run_name
            elif field == "lifecycle_stage":
                got = r.info.lifecycle_stage
            elif field.startswith("tag:"):
                got = r.data.tags.get(field[4:])
            elif field.startswith("param:"):
                got = r.data.params.get(field[6:])
            elif field.startswith("metric:"):
                points = history(id_, field[7:])
                for point in want:
                    checked += 1
                    if not any(same_point(point, p) for p in points):
                        bad.append({"kind": kind, "id": id_, "field": field, "expected": point,
                                    "got": "not in the history"})
                continue
            else:
                raise SystemExit(f"check_log: unknown run field {field!r} in {a.log}")
        elif kind == "experiment":
            e = experiment(id_)
            if e is None:
                got = MISSING
            elif field == "exists":
                got = True
            elif field == "name":
                got = e.name
            elif field.startswith("tag:"):
                got = e.tags.get(field[4:])
            else:
                raise SystemExit(f"check_log: unknown experiment field {field!r} in {a.log}")
        else:
            raise SystemExit(f"check_log: unknown kind {kind!r} in {a.log}")
        checked += 1
        if got is MISSING or got != want:
            bad.append({"kind": kind, "id": id_, "field": field, "expected": want,
                        "got": f"no such {kind}" if got is MISSING else got})
    summary = {"checked": checked, "missing": len(bad), "uncertain": uncertain,
               "runs": len(runs), "experiments": len(exps), "examples": bad[:20]}
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=1)
    print()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
