#!/usr/bin/env python3
"""Keep writing to a live v0.1 table through the 0.1.0 store, as users do
while the migration copies it; log every write and the value it leaves.

    .venv/bin/python scripts/migrate/hot_writer.py ENDPOINT TABLE LOG.json --seconds S [--rate R] [--seed N]

TABLE must exist and be of format v0.1 (history.py makes one); the writer
never creates it. For S seconds it makes about R writes a second (default 20;
when the store is slower than that, as fast as it goes: LOG.json says the
rate reached), each through MLflow's API (MlflowClient) on the tracking URI
dynamodb://ENDPOINT/TABLE, chosen by a seeded random generator (--seed,
default 1; the same seed makes the same sequence of choices on the same
table, times and new ids aside):

  new runs in existing active experiments (tags, a param, a metric),
  tag sets and changes and deletions on active runs (the history's and its own),
  run renames, params, metric points (new keys and new steps),
  run deletes and restores,
  now and then a new experiment, its rename and its tags.

Names it creates start with `hot<seed>-`: running twice on one table needs
another --seed (experiment names are unique).

Renames go through the store's update_run_info with the run's status and
name, not MlflowClient.update_run: on 0.1.0 the client's call fails for a
finished run (0.1.0 returns the status as a Decimal, which
RunStatus.from_string refuses) and set_terminated would null the name.

LOG.json: {"table", "seed", "seconds", "rate", "started_ms", "finished_ms",
"writes": N, "achieved_rate", "log": [...], "errors": [...]}. Each entry of
`log` is one write as acknowledged by the store: {"seq", "t_ms", "took_ms", "op",
"kind" ("run" | "experiment"), "id", "field", "value"}, where `value` is
what the field must read after that write: fields `exists` (a run: its
experiment id; an experiment: true), `run_name`, `lifecycle_stage`, `name`,
`tag:<key>` (null: deleted), `param:<key>`, and `metric:<key>` (value
[step, timestamp, value], one point of the history; every logged point must
be there). A write that raised is in `errors` instead, and the fields it
touched are marked uncertain (a later successful write to the same field
makes it certain again). check_log.py reads this file back through a store.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import random
import signal
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_var, None)

import boto3  # noqa: E402
from mlflow.entities import RunStatus, ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

# Relative weights of the operations.
OPS = {
    "create_run": 10,
    "set_tag": 20,
    "delete_tag": 8,
    "rename_run": 8,
    "log_metric": 25,
    "log_param": 6,
    "delete_run": 5,
    "restore_run": 5,
    "create_experiment": 2,
    "rename_experiment": 3,
    "set_experiment_tag": 3,
}
TAG_KEYS = ["hot.phase", "project", "stage ü", "team.owner", "k#2 é/x.y"]
METRIC_KEYS = ["acc", "loss", "hot_metric", "val/ünï"]


def now_ms() -> int:
    return int(time.time() * 1000)


def status_int(s) -> int:
    if isinstance(s, str):
        return RunStatus.from_string(s)
    return int(s)


class Writer:
    def __init__(self, client: MlflowClient, seed: int) -> None:
        self.c = client
        self.store = client._tracking_client.store
        self.seed = seed
        self.rng = random.Random(seed)
        self.log: list[dict] = []
        self.errors: list[dict] = []
        self.n = 0
        # What the writer knows of each entity, to pick valid operations.
        self.experiments: dict[str, dict] = {}  # id -> {"name", "mine"}
        # id -> {"exp", "status", "end_time", "name", "deleted", "tags", "params", "steps"}
        self.runs: dict[str, dict] = {}

    def load(self) -> None:
        """The active experiments and runs already in the table."""
        exps = self.c.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000)
        for e in sorted(exps, key=lambda e: e.experiment_id):
            self.experiments[e.experiment_id] = {"name": e.name, "mine": False}
        for eid in sorted(self.experiments):
            token = None
            while True:
                page = self.c.search_runs([eid], "", ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
                for r in page:
                    self.runs[r.info.run_id] = {
                        "exp": eid, "status": status_int(r.info.status),
                        "end_time": None if r.info.end_time is None else int(r.info.end_time),
                        "name": r.info.run_name, "deleted": False, "tags": dict(r.data.tags),
                        "params": set(r.data.params), "steps": {k: 100 for k in r.data.metrics}}
                token = page.token
                if not token:
                    break
        if not self.experiments:
            raise SystemExit("hot_writer: the table has no active experiment")

    def pick(self, pool):
        pool = sorted(pool)
        return self.rng.choice(pool) if pool else None

    def active_runs(self):
        return [r for r, s in self.runs.items() if not s["deleted"]]

    def step(self) -> None:
        """One write, chosen at random among those possible now: logged when
        the store acknowledges it, put in `errors` when it raises."""
        self.n += 1
        op, kind, id_, changes, call, after = self.plan()
        began = time.monotonic()
        try:
            result = call()
        except Exception as e:  # noqa: BLE001 - any failure is logged, the writer goes on
            self.errors.append({"seq": self.n, "t_ms": now_ms(), "op": op, "kind": kind, "id": id_,
                                "fields": sorted(changes), "error": f"{type(e).__name__}: {e}"[:500]})
            return
        if id_ is None:  # a create: the store chose the id
            id_ = result
            changes = {"exists": changes.pop("exists"), **changes}
        after(id_)
        t, took = now_ms(), round((time.monotonic() - began) * 1000)
        for field, value in changes.items():
            self.log.append({"seq": self.n, "t_ms": t, "took_ms": took, "op": op, "kind": kind, "id": id_,
                             "field": field, "value": value})

    def plan(self):
        """(op, kind, id or None for a create, {field: value after}, the call,
        what to note in the writer's own model once the call succeeded)."""
        n, rng, c = self.n, self.rng, self.c
        p = f"hot{self.seed}"
        ops, weights = zip(*OPS.items())
        op = rng.choices(ops, weights)[0]
        active = self.active_runs()
        deleted = sorted(r for r, s in self.runs.items() if s["deleted"])
        mine_exps = sorted(e for e, s in self.experiments.items() if s["mine"])
        tagged = [r for r in active if self.runs[r]["tags"]]
        if op in ("set_tag", "rename_run", "log_metric", "log_param", "delete_run") and not active:
            op = "create_run"
        if op == "delete_tag" and not tagged:
            op = "set_tag" if active else "create_run"
        if op == "restore_run" and not deleted:
            op = "delete_run" if active else "create_run"
        if op in ("rename_experiment", "set_experiment_tag") and not mine_exps:
            op = "create_experiment"

        if op == "create_run":
            eid = self.pick(self.experiments)
            name = f"{p}-run-{n}"
            tags = {"mlflow.user": rng.choice(["ana", "bo", "cy"]), "hot.phase": "created"}

            def after(rid):
                self.runs[rid] = {"exp": eid, "status": RunStatus.RUNNING, "end_time": None, "name": name,
                                  "deleted": False, "tags": dict(tags), "params": set(), "steps": {}}
            return (op, "run", None,
                    {"exists": eid, "run_name": name, "lifecycle_stage": "active",
                     **{f"tag:{k}": v for k, v in tags.items()}},
                    lambda: c.create_run(eid, run_name=name, tags=tags).info.run_id, after)
        if op == "set_tag":
            rid = self.pick(active)
            key, value = rng.choice(TAG_KEYS), f"value {n} ✓"
            return (op, "run", rid, {f"tag:{key}": value}, lambda: c.set_tag(rid, key, value),
                    lambda _: self.runs[rid]["tags"].__setitem__(key, value))
        if op == "delete_tag":
            rid = self.pick(tagged)
            key = rng.choice(sorted(self.runs[rid]["tags"]))
            return (op, "run", rid, {f"tag:{key}": None}, lambda: c.delete_tag(rid, key),
                    lambda _: self.runs[rid]["tags"].pop(key))
        if op == "rename_run":
            rid = self.pick(active)
            s = self.runs[rid]
            name = f"{p}-renamed-{n}"
            return (op, "run", rid, {"run_name": name},
                    lambda: self.store.update_run_info(rid, s["status"], s["end_time"], name),
                    lambda _: s.__setitem__("name", name))
        if op == "log_metric":
            rid = self.pick(active)
            key = rng.choice(METRIC_KEYS)
            step = self.runs[rid]["steps"].get(key, 100) + 1
            value, ts = round(rng.uniform(-1, 1), 6), now_ms()
            return (op, "run", rid, {f"metric:{key}": [step, ts, value]},
                    lambda: c.log_metric(rid, key, value, timestamp=ts, step=step),
                    lambda _: self.runs[rid]["steps"].__setitem__(key, step))
        if op == "log_param":
            rid = self.pick(active)
            key, value = f"{p}_param_{n}", f"p{n} Grüße"
            return (op, "run", rid, {f"param:{key}": value}, lambda: c.log_param(rid, key, value),
                    lambda _: self.runs[rid]["params"].add(key))
        if op == "delete_run":
            rid = self.pick(active)
            return (op, "run", rid, {"lifecycle_stage": "deleted"}, lambda: c.delete_run(rid),
                    lambda _: self.runs[rid].__setitem__("deleted", True))
        if op == "restore_run":
            rid = self.pick(deleted)
            return (op, "run", rid, {"lifecycle_stage": "active"}, lambda: c.restore_run(rid),
                    lambda _: self.runs[rid].__setitem__("deleted", False))
        if op == "create_experiment":
            name = f"{p}-experiment-{n}"
            return (op, "experiment", None, {"exists": True, "name": name, "tag:hot": "yes"},
                    lambda: c.create_experiment(name, tags={"hot": "yes"}),
                    lambda eid: self.experiments.__setitem__(eid, {"name": name, "mine": True}))
        if op == "rename_experiment":
            eid = self.pick(mine_exps)
            name = f"{p}-experiment-renamed-{n}"
            return (op, "experiment", eid, {"name": name}, lambda: c.rename_experiment(eid, name),
                    lambda _: self.experiments[eid].__setitem__("name", name))
        assert op == "set_experiment_tag", op
        eid = self.pick(mine_exps)
        value = f"tag {n} Ω"
        return (op, "experiment", eid, {"tag:hot.note": value},
                lambda: c.set_experiment_tag(eid, "hot.note", value), lambda _: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoint")
    ap.add_argument("table")
    ap.add_argument("log")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    version = importlib.metadata.version("mlflow-dynamodbstore")
    if version != "0.1.0":
        raise SystemExit(f"hot_writer: writes through mlflow-dynamodbstore 0.1.0, this interpreter "
                         f"({sys.executable}) has {version}: use .venv/bin/python")
    if a.seconds <= 0 or a.rate <= 0:
        raise SystemExit("hot_writer: --seconds and --rate must be > 0")
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint)
    try:
        desc = ddb.describe_table(TableName=a.table)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        raise SystemExit(f"hot_writer: no table {a.table} on {a.endpoint} (history.py makes one)")
    types = {d["AttributeName"]: d["AttributeType"] for d in desc["AttributeDefinitions"]}
    if types.get("lsi2sk") != "S":
        raise SystemExit(f"hot_writer: {a.table} is not a v0.1 table (lsi2sk is {types.get('lsi2sk')}, not S)")

    uri = f"dynamodb://{a.endpoint}/{a.table}"
    w = Writer(MlflowClient(tracking_uri=uri, registry_uri=uri), a.seed)
    w.load()
    stop = {"now": False}

    def on_signal(signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.time()
    deadline = started + a.seconds
    i = 0
    while not stop["now"]:
        due = started + i / a.rate
        now = time.time()
        if due >= deadline or now >= deadline:
            break
        if due > now:
            time.sleep(due - now)
        w.step()
        i += 1
    finished = time.time()
    doc = {
        "table": a.table,
        "store_version": version,
        "seed": a.seed,
        "seconds": a.seconds,
        "rate": a.rate,
        "started_ms": int(started * 1000),
        "finished_ms": int(finished * 1000),
        "writes": w.n,
        "achieved_rate": round(w.n / max(finished - started, 1e-9), 2),
        "log": w.log,
        "errors": w.errors,
    }
    with open(a.log, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"hot_writer: {w.n} writes ({len(w.log)} logged fields, {len(w.errors)} errors) in "
          f"{finished - started:.1f} s, {doc['achieved_rate']}/s (asked {a.rate}/s) -> {a.log}", file=sys.stderr)


if __name__ == "__main__":
    main()
