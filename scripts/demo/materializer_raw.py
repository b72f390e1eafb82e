"""Demo step for the materializer: raw writes, then the materializer derives.

    materializer_raw.py write   enable the table's stream (NEW_AND_OLD_IMAGES) if it
                                has none, then write source items with plain PutItem
                                calls: no tags map entries, no FTS items (what a writer
                                without inline materialization leaves behind)
    materializer_raw.py show    print, per entity written, its tags map entries and FTS items
    materializer_raw.py check   print, per entity written, its tags map entries and
                                FTS items, and fail unless the materializer derived
                                them all
    materializer_raw.py pending write one more run tag item (mlflow.source.name) on the raw
                                run with PutItem: a stream record the materializer has yet to
                                derive (its map entry and tag-value FTS items)
    materializer_raw.py renamed [--check]
                                main only: the name tokens of the run the data set
                                renamed through its mlflow.runName tag, against the
                                tokens of its current name; --check fails unless equal

Entities: one experiment (tags, name), one run (tags, params, name), one trace
(tag), one registered model and its version (tags), with a `#` and non-ASCII
characters in one tag key.
"""

from __future__ import annotations

import sys
import time

import context
from context import aws, fail, say, table

EXP = "EXP#01rawdemo00000000000000e1"
RUN = "R#01rawdemo00000000000000r1"
TRACE = "T#tr-rawdemo-1"
MODEL = "RM#01rawdemo00000000000000m1"
VERSION = "V#00000001"
ODD_KEY = "mlflow.note#ü é"

EMPTY = {"M": {}}


def s(v: str) -> dict:
    return {"S": v}


def tag(pk: str, sk_prefix: str, key: str, value: str) -> dict:
    return {"PK": s(pk), "SK": s(f"{sk_prefix}#TAG#{key}"), "key": s(key), "value": s(value)}


def items() -> list[dict]:
    ttl = str(int(time.time()) + 30 * 86400)
    return [
        {"PK": s(EXP), "SK": s("E#META"), "name": s("Raw writes: churn forecast"), "lifecycle_stage": s("active"),
         "workspace": s("default"), "tags": EMPTY},
        tag(EXP, "E", "mlflow.note.content", "Written with plain PutItem calls"),
        tag(EXP, "E", "team.owner", "ops"),
        {"PK": s(EXP), "SK": s(RUN), "run_name": s("raw forecast run"), "status": s("RUNNING"), "tags": EMPTY},
        tag(EXP, RUN, "mlflow.user", "demo"),
        tag(EXP, RUN, ODD_KEY, "odd key, one map entry"),
        tag(EXP, RUN, "stage", "nightly backfill"),
        {"PK": s(EXP), "SK": s(f"{RUN}#PARAM#optimizer"), "key": s("optimizer"), "value": s("adam warmup")},
        {"PK": s(EXP), "SK": s(TRACE), "state": s("OK"), "ttl": {"N": ttl}, "tags": EMPTY},
        tag(EXP, TRACE, "mlflow.traceName", "predict churn"),
        {"PK": s(MODEL), "SK": s("M#META"), "name": s("raw-churn-model"), "workspace": s("default"), "tags": EMPTY},
        {"PK": s(MODEL), "SK": s("M#TAG#mlflow.domain"), "key": s("mlflow.domain"), "value": s("tabular")},
        {"PK": s(MODEL), "SK": s(VERSION), "status": s("READY"), "tags": EMPTY},
        tag(MODEL, VERSION, "mlflow.stage.note", "candidate"),
    ]


TARGETS = [(EXP, "E#META", "E", EXP[4:]), (EXP, RUN, "R", RUN[2:]), (EXP, TRACE, "T", TRACE[2:]),
           (MODEL, "M#META", "M", MODEL[3:]), (MODEL, VERSION, None, None)]


def write() -> None:
    c = aws("dynamodb")
    desc = c.describe_table(TableName=table())["Table"]
    spec = desc.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled"):
        c.update_table(TableName=table(),
                       StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        say("stream enabled: NEW_AND_OLD_IMAGES")
    elif spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        fail(f"the table's stream is {spec.get('StreamViewType')}; the materializer needs NEW_AND_OLD_IMAGES")
    for it in items():
        c.put_item(TableName=table(), Item=it)
    say(f"{len(items())} source items written with PutItem (experiment, run, trace, model, version)")


def derived() -> list[tuple[str, int, int]]:
    c = aws("dynamodb")
    rows = []
    for pk, sk, t, ident in TARGETS:
        item = c.get_item(TableName=table(), Key={"PK": s(pk), "SK": s(sk)}, ConsistentRead=True).get("Item", {})
        entries = len(item.get("tags", {}).get("M", {}))
        fts = 0
        if t:
            kw = {"TableName": table(), "KeyConditionExpression": "PK = :p AND begins_with(SK, :s)",
                  "ExpressionAttributeValues": {":p": s(pk), ":s": s(f"FTS_REV#{t}#{ident}#")}, "Select": "COUNT"}
            fts = c.query(**kw)["Count"]
        rows.append((f"{pk} / {sk}", entries, fts))
    return rows


def show() -> list[tuple[str, int, int]]:
    rows = derived()
    say(f"{'target':58} {'tags entries':>12} {'FTS_REV items':>13}")
    for name, entries, fts in rows:
        say(f"{name:58} {entries:>12} {fts:>13}")
    return rows


def check() -> None:
    rows = show()
    by = {name.split(" / ")[1]: (e, f) for name, e, f in rows}
    # experiment maps: mlflow.* only in v0.1, every experiment tag (2) in main
    exp_entries = 2 if context.is_main() else 1
    want = {"E#META": (exp_entries, True), RUN: (2, True), TRACE: (1, True), "M#META": (1, True),
            VERSION: (1, False)}
    for sk, (entries, has_fts) in want.items():
        e, f = by[sk]
        if e != entries or (has_fts and f == 0):
            fail(f"{sk}: {e} tags entries and {f} FTS items; expected {entries} entries and FTS items: {has_fts}")
    which = "every experiment tag; mlflow.* for the others" if context.is_main() else "mlflow.* only"
    say(f"every raw target got its tags map entries ({which}) and FTS items")


PENDING = ("mlflow.source.name", "churn_pipeline.py")


def pending() -> None:
    key, value = PENDING
    aws("dynamodb").put_item(TableName=table(), Item=tag(EXP, RUN, key, value))
    say(f"PutItem {EXP} / {RUN}#TAG#{key} = {value!r}: the run's map lacks it until a function derives it")


def run_entries() -> None:
    """One line: the raw run's tags map entries and tag-value FTS items of PENDING's key."""
    c = aws("dynamodb")
    item = c.get_item(TableName=table(), Key={"PK": s(EXP), "SK": s(RUN)}, ConsistentRead=True).get("Item", {})
    entries = sorted(item.get("tags", {}).get("M", {}))
    kw = {"TableName": table(), "KeyConditionExpression": "PK = :p AND begins_with(SK, :s)", "Select": "COUNT",
          "ExpressionAttributeValues": {":p": s(EXP), ":s": s(f"FTS_REV#R#{RUN[2:]}#{PENDING[0]}#")}}
    say(f"{EXP} / {RUN}: tags map {entries}; {c.query(**kw)['Count']} FTS_REV items for {PENDING[0]}")


def renamed(check_tokens: bool) -> None:
    """The run renamed through mlflow.runName (dataset.py, main only): its
    name's W-level FTS tokens against those of its current run_name, computed
    with the main store's own tokenizer."""
    from mlflow_dynamodbstore.dynamodb.fts import tokenize_words

    run = context.load_manifest()["runs"]["lstm"]
    c = aws("dynamodb")
    pk = f"EXP#{run['experiment']}"
    item = c.get_item(TableName=table(), Key={"PK": s(pk), "SK": s(f"R#{run['id']}")}, ConsistentRead=True)["Item"]
    name = item["run_name"]["S"]
    prefix = f"FTS_REV#R#{run['id']}#W#"
    page = c.query(TableName=table(), KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
                   ExpressionAttributeValues={":p": s(pk), ":s": s(prefix)}, ConsistentRead=True)
    have = sorted(i["SK"]["S"][len(prefix):] for i in page["Items"])
    want = sorted(tokenize_words(name))
    state = "right" if have == want else f"wrong: should be {want}"
    say(f"run {run['id']} renamed via mlflow.runName to {name!r}: name tokens (W) {have}, {state}")
    if check_tokens and have != want:
        fail(f"name tokens of R#{run['id']} are {have}, expected {want}")


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "write":
        write()
    elif mode == "show":
        show()
    elif mode == "check":
        check()
    elif mode == "pending":
        pending()
    elif mode == "run-entries":
        run_entries()
    elif mode == "renamed":
        renamed("--check" in sys.argv[2:])
    else:
        fail("usage: materializer_raw.py write|show|check|pending|run-entries|renamed [--check]")


if __name__ == "__main__":
    context.run_main(main)
