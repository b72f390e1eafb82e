#!/usr/bin/env python3
"""Pair the two dumps of workload.py into the migration fixtures.

    python normalize.py V01_DUMP MAIN_DUMP OUT_DIR

Every id the v0.1 run generated (listed under `ids` by label) is replaced,
wherever it occurs (keys, values, map keys), by the id the main run
generated for the same label; times need nothing (the workload's clock is
fake, both runs saw the same instants). Writes OUT_DIR/v0_1.json and
OUT_DIR/main.json: the store's version, the table's declared attribute
types, the labelled ids (main's) and the items, one per line, sorted by key.
"""

import json
import sys


def main() -> None:
    v01_path, main_path, out_dir = sys.argv[1:4]
    v01 = json.load(open(v01_path, encoding="utf-8"))
    mn = json.load(open(main_path, encoding="utf-8"))
    if set(v01["ids"]) != set(mn["ids"]):
        raise SystemExit(f"normalize: id labels differ: {sorted(set(v01['ids']) ^ set(mn['ids']))}")
    ids = {v01["ids"][k]: mn["ids"][k] for k in v01["ids"]}

    def sub(x):
        if isinstance(x, str):
            for a, b in ids.items():
                x = x.replace(a, b)
            return x
        if isinstance(x, dict):
            return {sub(k): sub(v) for k, v in x.items()}
        if isinstance(x, list):
            return [sub(i) for i in x]
        return x

    v01 = dict(v01, ids=mn["ids"], items=sub(v01["items"]))
    for name, doc in (("v0_1", v01), ("main", mn)):
        items = sorted(doc["items"], key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
        head = {k: doc[k] for k in ("store", "mlflow", "attribute_definitions", "ids")}
        lines = [json.dumps(i, ensure_ascii=False, sort_keys=True) for i in items]
        with open(f"{out_dir}/{name}.json", "w", encoding="utf-8") as f:
            f.write("{\n")
            for k, v in head.items():
                f.write(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False, sort_keys=True)},\n")
            f.write('"items": [\n' + ",\n".join(lines) + "\n]}\n")
        print(f"normalize: {name}.json, {len(items)} items", file=sys.stderr)


if __name__ == "__main__":
    main()
