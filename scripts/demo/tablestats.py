"""Count what an mlflow-dynamodbstore table holds, by kind.

One full scan, then counts that later demo steps print before and after they
run (materializer, sweeper, indexer):

- items per kind (the SK shape: `E#META`, `R#<run>#TAG#<key>`, `FTS#...`);
- per META kind (experiment, run, trace, model, version): how many carry a
  `tags` map, how many entries those maps hold, and how they compare with the
  tag items and the CONFIG patterns (`fnmatch`, global + experiment), i.e.
  what a correct materializer must have written;
- FTS forward and reverse items per entity type (E/M/R/T) and level, the
  pairs that lack their other half, and the table format the keys reveal
  (`v0.1`: token before the type letter; `main`: type letter first);
- index key attributes that are not strings, or empty strings (the table
  declares all of them S; real DynamoDB rejects such writes, moto accepts them);
- items carrying a `ttl`, per kind.

Usage (endpoint and region come from the environment, AWS_ENDPOINT_URL etc.):
    tablestats.py TABLE [--sample] [--save FILE] [--compare FILE]
As a module:
    stats = collect(scan(table))          # or collect(items) for any items
    print(render(stats)); print(render_compare(before, stats))
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

# Item = one item in the low-level wire format: {"PK": {"S": "..."}, ...}
Item = dict[str, dict[str, Any]]

META_KINDS = ("experiment", "run", "trace", "model", "version")
INDEX_KEY_ATTRS = tuple(f"lsi{i}sk" for i in range(1, 6)) + tuple(
    f"gsi{i}{part}" for i in range(1, 6) for part in ("pk", "sk")
)
FTS_TYPES = ("E", "M", "R", "T")
ALWAYS_PATTERN = "mlflow.*"


def table_format() -> str:
    """The format the figures are judged by (DEMO_FORMAT, as the demo sets it):
    `v0.1` declares every index key S and denormalizes experiment tags by the
    global patterns; `main` declares lsi2sk N and copies every experiment tag."""
    import os

    return os.environ.get("DEMO_FORMAT") or "v0.1"


def declared_type(attr: str, fmt: str) -> str:
    return "N" if fmt == "main" and attr == "lsi2sk" else "S"


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def scan(table: str, client: Any = None) -> list[Item]:
    """All items of `table`, strongly consistent, in the wire format."""
    if client is None:
        import os

        import boto3

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        client = boto3.client("dynamodb", region_name=region)
    items: list[Item] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plain(value: dict[str, Any]) -> Any:
    """A wire-format attribute value as plain Python (numbers stay strings)."""
    ((tag, inner),) = value.items()
    if tag == "M":
        return {k: plain(v) for k, v in inner.items()}
    if tag == "L":
        return [plain(v) for v in inner]
    if tag in ("SS", "NS"):
        return sorted(inner)
    if tag == "NULL":
        return None
    return inner


def _s(item: Item, name: str) -> str | None:
    value = item.get(name)
    if value is None or "S" not in value:
        return None
    return value["S"]


# --------------------------------------------------------------------------
# Classifying keys
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What an item is, from its key alone."""

    label: str  # short name, e.g. "run tag"
    shape: str  # the SK shape, e.g. "R#<run>#TAG#<key>"
    entity: tuple[str, str] | None = None  # (META kind, entity SK) the item belongs to
    tag_key: str | None = None  # for tag items: the tag key


_RUN_CHILD = {
    "TAG": ("run tag", "R#<run>#TAG#<key>"),
    "PARAM": ("run param", "R#<run>#PARAM#<key>"),
    "METRIC": ("run metric (latest)", "R#<run>#METRIC#<key>"),
    "MHIST": ("run metric history", "R#<run>#MHIST#<key>#<step>#<ts>"),
    "LM": ("run logged model", "R#<run>#LM#..."),
}
_TRACE_CHILD = {
    "TAG": ("trace tag", "T#<trace>#TAG#<key>"),
    "RMETA": ("trace metadata", "T#<trace>#RMETA#<key>"),
    "ASSESS": ("trace assessment", "T#<trace>#ASSESS#<id>"),
    "CLIENTPTR": ("trace client pointer", "T#<trace>#CLIENTPTR"),
    "SPANS": ("trace span cache", "T#<trace>#SPANS"),
}


def classify(pk: str, sk: str) -> Kind:
    """The kind of the item with key (pk, sk)."""
    if pk == "CONFIG":
        if sk.startswith("DENORMALIZE_TAGS#EXP#"):
            return Kind("config", "CONFIG/DENORMALIZE_TAGS#EXP#<exp>")
        return Kind("config", f"CONFIG/{sk}")
    if pk.startswith("WORKSPACE#"):
        return Kind("workspace", "WORKSPACE#<ws>/META")
    if pk.startswith("USER#"):
        return Kind("auth user item", "USER#<user>/" + sk.split("#", 1)[0])
    if sk.startswith("FTS_REV#"):
        return Kind("fts reverse", "FTS_REV#...")
    if sk.startswith("FTS#"):
        return Kind("fts forward", "FTS#...")
    if pk.startswith("EXP#"):
        return _classify_experiment_partition(sk)
    if pk.startswith("RM#"):
        return _classify_model_partition(sk)
    return Kind("other", f"{pk.split('#', 1)[0]}/{sk.split('#', 1)[0]}")


def _classify_experiment_partition(sk: str) -> Kind:
    if sk == "E#META":
        return Kind("experiment", "E#META", ("experiment", sk))
    if sk == "E#NAME_REV":
        return Kind("experiment name-rev", "E#NAME_REV")
    if sk.startswith("E#TAG#"):
        return Kind("experiment tag", "E#TAG#<key>", ("experiment", "E#META"), sk[6:])
    for prefix, meta_kind, children, own in (
        ("R#", "run", _RUN_CHILD, ("run", "R#<run>")),
        ("T#", "trace", _TRACE_CHILD, ("trace", "T#<trace>")),
    ):
        if not sk.startswith(prefix):
            continue
        entity_id, _, rest = sk[len(prefix) :].partition("#")
        meta_sk = prefix + entity_id
        if not rest:
            return Kind(own[0], own[1], (meta_kind, meta_sk))
        child, _, tail = rest.partition("#")
        if child == "TAG":
            label, shape = children["TAG"]
            return Kind(label, shape, (meta_kind, meta_sk), tail)
        if meta_kind == "run" and child == "INPUT":
            if "#ITAG#" in tail:
                return Kind("run input tag", "R#<run>#INPUT#<id>#ITAG#<key>")
            return Kind("run input", "R#<run>#INPUT#<id>")
        if child in children:
            label, shape = children[child]
            return Kind(label, shape)
        return Kind(f"{meta_kind} child (other)", f"{prefix}<id>#{child}#...")
    if sk.startswith("RANK#m#"):
        return Kind("rank (metric)", "RANK#m#<key>#<inv>#<run>")
    if sk.startswith("RANK#p#"):
        return Kind("rank (param)", "RANK#p#<key>#<value>#<run>")
    if sk.startswith("DLINK#"):
        return Kind("dataset link", "DLINK#<name>#<digest>#R#<run>")
    if sk.startswith("D#"):
        return Kind("dataset", "D#<name>#<digest>")
    return Kind("experiment child (other)", sk.split("#", 1)[0] + "#...")


def _classify_model_partition(sk: str) -> Kind:
    if sk == "M#META":
        return Kind("model", "M#META", ("model", sk))
    if sk == "M#NAME_REV":
        return Kind("model name-rev", "M#NAME_REV")
    if sk.startswith("M#TAG#"):
        return Kind("model tag", "M#TAG#<key>", ("model", "M#META"), sk[6:])
    if sk.startswith("M#ALIAS#"):
        return Kind("model alias", "M#ALIAS#<alias>")
    if sk.startswith("V#"):
        version, _, rest = sk[2:].partition("#")
        if not rest:
            return Kind("version", "V#<ver>", ("version", sk))
        if rest.startswith("TAG#"):
            return Kind("version tag", "V#<ver>#TAG#<key>", ("version", "V#" + version), rest[4:])
        return Kind("version child (other)", "V#<ver>#...")
    return Kind("model child (other)", sk.split("#", 1)[0] + "#...")


# --------------------------------------------------------------------------
# FTS keys
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FtsKey:
    direction: str  # "forward" | "reverse"
    fmt: str  # "v0.1" | "main" (forward keys only; reverse keys look alike)
    level: str
    token: str
    etype: str
    entity_id: str
    field: str | None

    def pair_id(self) -> tuple[str, str, str, str, str | None]:
        return (self.level, self.token, self.etype, self.entity_id, self.field)


def parse_fts(sk: str) -> FtsKey | None:
    """Parse a forward (either format) or reverse FTS sort key."""
    if sk.startswith("FTS_REV#"):
        # FTS_REV#<t>#<id>[#<field>]#<level>#<token>; the field may hold '#',
        # tokens and levels never do.
        head, level, token = sk[len("FTS_REV#") :].rsplit("#", 2)
        etype, _, rest = head.partition("#")
        entity_id, _, fld = rest.partition("#")
        return FtsKey("reverse", "", level, token, etype, entity_id, fld or None)
    if sk.startswith("FTS#"):
        parts = sk[len("FTS#") :].split("#", 3)
        if len(parts) < 4:
            return None
        level, a, b, rest = parts
        if a.isupper():  # main: FTS#<l>#<T>#<tok>#<id>[#<f>]
            fmt, etype, token = "main", a, b
        else:  # v0.1: FTS#<l>#<tok>#<T>#<id>[#<f>]
            fmt, token, etype = "v0.1", a, b
        entity_id, _, fld = rest.partition("#")
        return FtsKey("forward", fmt, level, token, etype, entity_id, fld or None)
    return None


# --------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------


@dataclass
class TagMapStats:
    items: int = 0  # META items of this kind
    with_map: int = 0  # ... that carry a `tags` map
    entries: int = 0  # entries in those maps
    expected: int = 0  # entries the tag items + CONFIG patterns call for
    missing: int = 0  # expected, absent from the map (or no map)
    differ: int = 0  # present with another value
    extra: int = 0  # in the map, not expected (no tag item, or no pattern)


@dataclass
class Stats:
    total: int = 0
    kinds: Counter = field(default_factory=Counter)  # (label, shape) -> n
    tag_maps: dict[str, TagMapStats] = field(
        default_factory=lambda: {k: TagMapStats() for k in META_KINDS}
    )
    fts: Counter = field(default_factory=Counter)  # (direction, etype, level) -> n
    fts_field: Counter = field(default_factory=Counter)  # (direction, etype, level) -> n with field
    fts_unpaired: Counter = field(default_factory=Counter)  # direction -> n without the other half
    fts_formats: Counter = field(default_factory=Counter)  # format -> forward items
    fts_gsi2: Counter = field(default_factory=Counter)  # etype -> forward items with gsi2pk
    bad_index_keys: Counter = field(default_factory=Counter)  # (attr, type, kind label) -> n
    ttl: Counter = field(default_factory=Counter)  # kind label -> items with ttl
    samples: dict[str, Any] = field(default_factory=dict)

    def flat(self) -> dict[str, int]:
        """Every figure under a stable name, for saving and comparing."""
        out: dict[str, int] = {"items/total": self.total}
        for (label, shape), n in self.kinds.items():
            out[f"items/{shape} ({label})"] = n
        for kind, t in self.tag_maps.items():
            for name in ("items", "with_map", "entries", "expected", "missing", "differ", "extra"):
                out[f"tagmap/{kind}/{name}"] = getattr(t, name)
        for (direction, etype, level), n in self.fts.items():
            out[f"fts/{direction}/{etype}/{level}"] = n
        for direction, n in self.fts_unpaired.items():
            out[f"fts/unpaired/{direction}"] = n
        for (attr, typ, label), n in self.bad_index_keys.items():
            out[f"badkey/{attr}:{typ}/{label}"] = n
        for label, n in self.ttl.items():
            out[f"ttl/{label}"] = n
        return out


def _patterns(items_by_key: dict[tuple[str, str], Item]) -> tuple[list[str], dict[str, list[str]]]:
    """Global and per-experiment denormalize patterns, as the store reads them."""
    glob: list[str] = []
    per_exp: dict[str, list[str]] = {}
    for (pk, sk), item in items_by_key.items():
        if pk != "CONFIG" or not sk.startswith("DENORMALIZE_TAGS"):
            continue
        pats = [p for p in (plain(item["patterns"]) if "patterns" in item else []) if isinstance(p, str)]
        if sk == "DENORMALIZE_TAGS":
            glob = pats
        elif sk.startswith("DENORMALIZE_TAGS#EXP#"):
            per_exp[sk[len("DENORMALIZE_TAGS#EXP#") :]] = pats
    if ALWAYS_PATTERN not in glob:
        glob = [ALWAYS_PATTERN, *glob]
    return glob, per_exp


def collect(items: Iterable[Item], fmt: str | None = None) -> Stats:
    """Count everything `render` prints, judged by table format `fmt`."""
    fmt = fmt or table_format()
    st = Stats()
    by_key: dict[tuple[str, str], Item] = {}
    for item in items:
        pk, sk = _s(item, "PK"), _s(item, "SK")
        if pk is None or sk is None:
            continue
        by_key[(pk, sk)] = item
    glob, per_exp = _patterns(by_key)

    # entity (pk, meta sk) -> {tag key: value} from tag items
    tag_items: dict[tuple[str, str], dict[str, str]] = {}
    metas: dict[tuple[str, str], tuple[str, Item]] = {}
    fwd_ids: set = set()
    rev_ids: set = set()
    fts_examples: dict[tuple[str, str], str] = {}

    for (pk, sk), item in by_key.items():
        st.total += 1
        kind = classify(pk, sk)
        st.kinds[(kind.label, kind.shape)] += 1
        if "ttl" in item:
            st.ttl[kind.label] += 1
        for attr in INDEX_KEY_ATTRS:
            value = item.get(attr)
            if value is None:
                continue
            (typ,) = value.keys()
            if typ != declared_type(attr, fmt):
                st.bad_index_keys[(attr, typ, kind.label)] += 1
            elif typ == "S" and value["S"] == "":
                st.bad_index_keys[(attr, "empty S", kind.label)] += 1
        if kind.entity is not None:
            meta_kind, meta_sk = kind.entity
            if kind.tag_key is None:
                metas[(pk, meta_sk)] = (meta_kind, item)
            else:
                value = _s(item, "value")
                tag_items.setdefault((pk, meta_sk), {})[kind.tag_key] = value if value is not None else ""
        fts = parse_fts(sk)
        if fts is not None:
            st.fts[(fts.direction, fts.etype, fts.level)] += 1
            if fts.field is not None:
                st.fts_field[(fts.direction, fts.etype, fts.level)] += 1
            if fts.direction == "forward":
                st.fts_formats[fts.fmt] += 1
                if "gsi2pk" in item:
                    st.fts_gsi2[fts.etype] += 1
                fwd_ids.add((pk, fts.pair_id()))
            else:
                rev_ids.add((pk, fts.pair_id()))
            fts_examples.setdefault((fts.direction, fts.etype + ("+field" if fts.field else "")), sk)

    st.fts_unpaired["forward"] = len(fwd_ids - rev_ids)
    st.fts_unpaired["reverse"] = len(rev_ids - fwd_ids)

    best_run: tuple[int, str, dict] | None = None
    for (pk, meta_sk), (meta_kind, item) in metas.items():
        t = st.tag_maps[meta_kind]
        t.items += 1
        tags_attr = item.get("tags")
        tag_map: dict[str, Any] | None = plain(tags_attr) if tags_attr and "M" in tags_attr else None
        if tag_map is not None:
            t.with_map += 1
            t.entries += len(tag_map)
        exp_id = pk[len("EXP#") :] if pk.startswith("EXP#") else None
        patterns = glob
        if meta_kind in ("run", "trace") and exp_id is not None:
            patterns = glob + [p for p in per_exp.get(exp_id, []) if p not in glob]
        expected = {
            k: v
            for k, v in tag_items.get((pk, meta_sk), {}).items()
            # main copies every experiment tag into the map
            if (fmt == "main" and meta_kind == "experiment") or any(fnmatch.fnmatch(k, p) for p in patterns)
        }
        have = tag_map or {}
        t.expected += len(expected)
        t.missing += sum(1 for k in expected if k not in have)
        t.differ += sum(1 for k, v in expected.items() if k in have and have[k] != v)
        t.extra += sum(1 for k in have if k not in expected)
        if meta_kind == "run" and tag_map is not None:
            cand = (len(tag_map), f"{pk} / {meta_sk}", tag_map)
            if best_run is None or cand[0] > best_run[0]:
                best_run = cand

    st.samples["fts"] = [fts_examples[k] for k in sorted(fts_examples)]
    if best_run is not None:
        st.samples["run_tags"] = {"key": best_run[1], "tags": best_run[2]}
    return st


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[Any]], indent: str = "  ") -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: list[str]) -> str:
        out = []
        for i, c in enumerate(r):
            # first column left-aligned, figures right-aligned
            out.append(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
        return indent + "  ".join(out).rstrip()

    return "\n".join([line(cells[0])] + [line(r) for r in cells[1:]])


def render(st: Stats, sample: bool = False, fmt: str | None = None) -> str:
    main = (fmt or table_format()) == "main"
    out: list[str] = [f"items in table: {st.total}", "", "items per kind:"]
    rows = [[shape, label, n] for (label, shape), n in sorted(st.kinds.items(), key=lambda kv: kv[0][1])]
    out.append(_table(["sort key shape", "kind", "items"], rows))

    out += ["", "tag maps on META items (expected = tag items matching the CONFIG patterns"
            + ("; for experiments every tag, as main writes):" if main else "):")]
    rows = []
    for kind in META_KINDS:
        t = st.tag_maps[kind]
        rows.append([kind, t.items, t.with_map, t.entries, t.expected, t.missing, t.differ, t.extra])
    out.append(
        _table(["META kind", "items", "with map", "entries", "expected", "missing", "differ", "extra"], rows)
    )

    out += ["", "FTS items per entity type and level:"]
    rows = []
    for etype in FTS_TYPES + tuple(sorted({k[1] for k in st.fts} - set(FTS_TYPES))):
        levels = sorted({k[2] for k in st.fts if k[1] == etype})
        for level in levels or ["-"]:
            f = st.fts.get(("forward", etype, level), 0)
            r = st.fts.get(("reverse", etype, level), 0)
            ff = st.fts_field.get(("forward", etype, level), 0)
            rows.append([f"{etype}  level {level}", f, r, ff])
    out.append(_table(["type / level", "forward", "reverse", "fwd with field"], rows))
    formats = ", ".join(f"{fmt}: {n}" for fmt, n in sorted(st.fts_formats.items())) or "none"
    gsi2 = ", ".join(f"{t}: {n}" for t, n in sorted(st.fts_gsi2.items())) or "none"
    out.append(f"  forward key format: {formats}")
    out.append(f"  forward items with gsi2pk (FTS_NAMES): {gsi2}")
    out.append(
        f"  unpaired: {st.fts_unpaired['forward']} forward without reverse, "
        f"{st.fts_unpaired['reverse']} reverse without forward"
    )

    out += ["", "items with ttl:"]
    if st.ttl:
        out.append(_table(["kind", "items"], [[k, n] for k, n in sorted(st.ttl.items())]))
    else:
        out.append("  none")

    if main:
        out += ["", "index key attributes real DynamoDB would reject (lsi2sk is declared N, the others S; "
                "no S may be empty):"]
    else:
        out += ["", "index key attributes real DynamoDB would reject (all are declared S; none may be empty):"]
    if st.bad_index_keys:
        rows = [[f"{attr} ({typ})", label, n] for (attr, typ, label), n in sorted(st.bad_index_keys.items())]
        out.append(_table(["attribute (type)", "kind", "items"], rows))
    else:
        out.append("  none")

    if sample:
        out += ["", "sample FTS sort keys (one per direction and type):"]
        out += [f"  {sk}" for sk in st.samples.get("fts", [])] or ["  none"]
        run = st.samples.get("run_tags")
        if run:
            out += ["", f"sample run tags map ({run['key']}):"]
            width = max(len(k) for k in run["tags"]) if run["tags"] else 0
            out += [f"  {k.ljust(width)} = {v!r}" for k, v in sorted(run["tags"].items())]
    return "\n".join(out)


def render_compare(before: dict[str, int], after: dict[str, int], only_changed: bool = True) -> str:
    """Before / after / delta for every figure of `Stats.flat()`."""
    rows = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, 0), after.get(name, 0)
        if only_changed and a == b:
            continue
        rows.append([name, b, a, f"{a - b:+d}"])
    if not rows:
        return "  no change"
    return _table(["figure", "before", "after", "delta"], rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("table")
    ap.add_argument("--sample", action="store_true", help="also print sample keys and one run's tags map")
    ap.add_argument("--save", metavar="FILE", help="write the figures as JSON (for a later --compare)")
    ap.add_argument("--compare", metavar="FILE", help="print the change since the figures saved in FILE")
    args = ap.parse_args(argv)
    st = collect(scan(args.table))
    if args.compare:
        with open(args.compare, encoding="utf-8") as f:
            before = json.load(f)
        print(render_compare(before, st.flat()))
    else:
        print(render(st, sample=args.sample))
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(st.flat(), f, indent=1, sort_keys=True, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
