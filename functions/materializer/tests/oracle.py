"""The oracle of the materializer's tests: the derived state the v0.1
reference package's own functions produce for a set of source items.

stdin:  a JSON array of items (DynamoDB JSON, e.g. {"PK": {"S": "EXP#1"}, ...}),
        sources only: META, tag, param, assessment and CONFIG items.
stdout: {"maps": {"<PK>\\u0000<SK>": {tag key: value}}, "fts": [items]}, values and
        items in DynamoDB JSON.

Only the reference's functions decide: `ConfigReader.should_denormalize` /
`should_trigram` (over a table stand-in that serves the given CONFIG items),
`fts.fts_items_for_text`, and `DynamoDBTrackingStore._assessment_fts_text`
(on `Assessment.from_dictionary`). This file wires them to the items; it
copies none of their logic.

Run with the project venv: .venv/bin/python functions/materializer/tests/oracle.py
"""
import json
import sys

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from mlflow.entities import Assessment
from mlflow_dynamodbstore.dynamodb.config import ConfigReader
from mlflow_dynamodbstore.dynamodb.fts import fts_items_for_text
from mlflow_dynamodbstore.tracking_store import DynamoDBTrackingStore

des, ser = TypeDeserializer(), TypeSerializer()


def plain(item):
    return {k: des.deserialize(v) for k, v in item.items()}


def ddb(value):
    return ser.serialize(value)


class ConfigTable:
    """The one method ConfigReader calls to read CONFIG items."""

    def __init__(self, items):
        self.items = {(i["PK"], i["SK"]): i for i in items if i["PK"] == "CONFIG"}

    def get_item(self, pk, sk, **_):
        return self.items.get((pk, sk))


items = [plain(i) for i in json.load(sys.stdin)]
config = ConfigReader(ConfigTable(items))
by_key = {(i["PK"], i["SK"]): i for i in items}

maps = {}
fts = []


def tag_target(pk, sk):
    """(target SK, experiment id or None, trigram field type or None) of a tag item."""
    if pk.startswith("EXP#"):
        exp = pk[len("EXP#"):]
        if sk.startswith("E#TAG#"):
            return "E#META", sk[len("E#TAG#"):], None, None
        for prefix, field in (("R#", "run_tag_value"), ("T#", "trace_tag_value")):
            if sk.startswith(prefix) and "#TAG#" in sk:
                entity, key = sk.split("#TAG#", 1)
                return entity, key, exp, field
    if pk.startswith("RM#"):
        if sk.startswith("M#TAG#"):
            return "M#META", sk[len("M#TAG#"):], None, None
        if sk.startswith("V#") and "#TAG#" in sk:
            entity, key = sk.split("#TAG#", 1)
            return entity, key, None, None
    return None


def ttl_of(pk, sk):
    t = by_key.get((pk, sk), {}).get("ttl")
    return int(t) if t is not None else None


for it in items:
    pk, sk = it["PK"], it["SK"]
    if pk == "CONFIG":
        continue
    hit = tag_target(pk, sk)
    if hit is not None:
        target_sk, key, exp, field = hit
        if (pk, target_sk) not in by_key:
            continue
        if config.should_denormalize(exp, key):
            maps.setdefault(f"{pk}\u0000{target_sk}", {})[key] = ddb(it["value"])
        if field and config.should_trigram(field) and it.get("value"):
            kind = target_sk[0]
            out = fts_items_for_text(pk=pk, entity_type=kind, entity_id=target_sk[2:], field=key, text=it["value"])
            ttl = ttl_of(pk, target_sk) if kind == "T" else None
            for f in out:
                if ttl is not None:
                    f["ttl"] = ttl
            fts.extend(out)
        continue
    if sk == "E#META" and pk.startswith("EXP#"):
        fts.extend(fts_items_for_text(pk=pk, entity_type="E", entity_id=pk[4:], field=None,
                                      text=it["name"], workspace=it.get("workspace", "default")))
    elif sk == "M#META" and pk.startswith("RM#"):
        fts.extend(fts_items_for_text(pk=pk, entity_type="M", entity_id=pk[3:], field=None,
                                      text=it["name"], workspace=it.get("workspace", "default")))
    elif pk.startswith("EXP#") and sk.startswith("R#") and sk.count("#") == 1:
        if it.get("run_name"):
            fts.extend(fts_items_for_text(pk=pk, entity_type="R", entity_id=sk[2:], field=None, text=it["run_name"]))
    elif pk.startswith("EXP#") and sk.startswith("R#") and "#PARAM#" in sk:
        run, key = sk.split("#PARAM#", 1)
        if (pk, run) in by_key and config.should_trigram("run_param_value") and it.get("value"):
            fts.extend(fts_items_for_text(pk=pk, entity_type="R", entity_id=run[2:], field=key, text=it["value"]))
    elif pk.startswith("EXP#") and sk.startswith("T#") and "#ASSESS#" in sk:
        trace, aid = sk.split("#ASSESS#", 1)
        if (pk, trace) not in by_key:
            continue
        text = DynamoDBTrackingStore._assessment_fts_text(Assessment.from_dictionary(it["data"]))
        if text:
            out = fts_items_for_text(pk=pk, entity_type="T", entity_id=trace[2:], field=f"assess_{aid}", text=text)
            ttl = ttl_of(pk, trace)
            for f in out:
                if ttl is not None:
                    f["ttl"] = ttl
            fts.extend(out)

json.dump({"maps": maps, "fts": [{k: ddb(v) for k, v in f.items()} for f in fts]}, sys.stdout)
