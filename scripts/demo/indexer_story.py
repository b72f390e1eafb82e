"""The indexer's operator story, store side: what the reference store
(mlflow-dynamodbstore 0.1.0, or main with DEMO_FORMAT=main, run from
.venv-main) finds before and after a configuration change.

Every invocation is a fresh process, so a fresh store: the reference caches
its CONFIG per process.

  indexer_story.py seed      --table T        6 runs: tag team.name (3 `risk`), tag note (3 with `zebra`)
  indexer_story.py write-new --table T [-n 2] more runs, all `risk` and `zebra`
  indexer_story.py search    --table T        JSON counts of the two searches
  indexer_story.py say       --table T --label L [--expect RUNS,RISK,ZEBRA]
                                              the same, as one line for the demo; fails on
                                              other counts than expected

The endpoint comes from AWS_ENDPOINT_URL (scripts/emulator.sh sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import context as ctx

EXPERIMENT = "indexer-story"
RISK = "tags.`team.name` = 'risk'"
ZEBRA = "tags.note LIKE '%zebra%'"


def client(table: str):
    os.environ["DEMO_TABLE"] = table
    ctx.quiet_mlflow()
    return ctx.client()


def experiment_id(c) -> str:
    exp = c.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return c.create_experiment(EXPERIMENT)
    return exp.experiment_id


def new_run(c, exp: str, name: str, team: str, note: str) -> str:
    run = c.create_run(exp, run_name=name, tags={"team.name": team, "note": note})
    c.set_terminated(run.info.run_id)
    return run.info.run_id


def seed(c) -> dict:
    exp = experiment_id(c)
    runs = []
    for i in range(6):
        team = "risk" if i < 3 else "growth"
        # zebra on runs 1, 3, 5: two of them outside the risk team
        note = f"striped zebra crossing {i}" if i % 2 else f"plain horse paddock {i}"
        runs.append(new_run(c, exp, f"story-{i}", team, note))
    return {"experiment_id": exp, "runs": runs}


def write_new(c, n: int) -> dict:
    exp = experiment_id(c)
    runs = [new_run(c, exp, f"story-new-{i}", "risk", f"a zebra seen later {i}") for i in range(n)]
    return {"experiment_id": exp, "runs": runs}


def search(c) -> dict:
    exp = experiment_id(c)
    total = len(c.search_runs([exp], "", max_results=1000))
    risk = len(c.search_runs([exp], RISK, max_results=1000))
    zebra = len(c.search_runs([exp], ZEBRA, max_results=1000))
    return {"runs": total, "team_risk": risk, "note_zebra": zebra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["seed", "write-new", "search", "say"])
    ap.add_argument("--table", required=True)
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--label", default="")
    ap.add_argument("--expect", default="")
    a = ap.parse_args()
    c = client(a.table)
    if a.command == "seed":
        out = seed(c)
    elif a.command == "write-new":
        out = write_new(c, a.n)
    elif a.command == "search":
        out = search(c)
    else:
        got = search(c)
        ctx.say(f"{a.label:<44} {got['runs']} runs; {RISK} -> {got['team_risk']}; {ZEBRA} -> {got['note_zebra']}")
        if a.expect:
            want = [int(x) for x in a.expect.split(",")]
            have = [got["runs"], got["team_risk"], got["note_zebra"]]
            if have != want:
                ctx.fail(f"expected runs, risk, zebra = {want}, the reference store gave {have}")
        return
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    ctx.run_main(main)
