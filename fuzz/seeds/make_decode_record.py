#!/usr/bin/env python3
"""Regenerate the seed corpus of the `decode_record` fuzz target from the core's stream
fixtures (crates/mlflow-ddb-core/tests/fixtures/events/), stdlib only:

    python3 fuzz/seeds/make_decode_record.py

Written to fuzz/seeds/decode_record/, one JSON file per seed:
- every record of handcrafted.json (TTL removals, view types, malformed records), without
  its `_expect` annotation, and the whole handcrafted event (the `{"Records": [...]}` path);
- one record per shape of reference_v0_1_session.json (what the v0.1 reference store wrote:
  event name, item family, and for FTS items their level and entity), which keeps every
  kind of item the store writes while leaving out hundreds of near-copies.
Both the stable harness (functions/materializer/tests/fuzz_records.rs, in `make test`) and
`cargo fuzz` read this directory.
"""
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "crates/mlflow-ddb-core/tests/fixtures/events"
OUT = Path(__file__).resolve().parent / "decode_record"


def shape(record):
    """What makes a session record different from the others, for the decoder and the planner."""
    ddb = record.get("dynamodb", {})
    pk = ddb["Keys"]["PK"]["S"].split("#")[0]
    sk = ddb["Keys"]["SK"]["S"]
    fts = re.match(r"^(FTS_REV|FTS)#", sk)
    if fts:
        parts = sk.split("#")
        if fts.group(1) == "FTS":
            # FTS#<level>#<token>#<entity>#<id>[#<field>]
            family = ("FTS", parts[1] == "W", parts[3], len(parts) > 5)
        else:
            # FTS_REV#<entity>#<id>[#<field>]#<level>#<token>
            family = ("FTS_REV", parts[-2] == "W", parts[1], len(parts) > 5)
    else:
        family = re.sub(r"\d+", "<n>", re.sub(r"[0-9a-z]{26}", "<id>", sk))
    return (record.get("eventName"), pk, family, tuple(sorted(ddb.get("NewImage", {}))))


def write(name, value):
    (OUT / name).write_text(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    handcrafted = json.loads((EVENTS / "handcrafted.json").read_text())["Records"]
    plain = []
    for i, record in enumerate(handcrafted):
        record = {k: v for k, v in record.items() if k != "_expect"}
        plain.append(record)
        write(f"handcrafted-{i:02}.json", record)
    write("event-handcrafted.json", {"Records": plain})

    session = json.loads((EVENTS / "reference_v0_1_session.json").read_text())["Records"]
    seen = set()
    for i, record in enumerate(session):
        s = shape(record)
        if s in seen:
            continue
        seen.add(s)
        write(f"session-{i:03}.json", record)
    print(f"{len(list(OUT.iterdir()))} seeds in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
