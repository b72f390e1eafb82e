#!/usr/bin/env python3
"""The cost model of docs/cost-model.md: requests, capacity units, wall time and Lambda GB-seconds
of indexer verify, indexer backfill, ttl-sweeper and migrate copy, for a table of the benchmark's
shape (scripts/bench/load_table.py), from DynamoDB's published limits and a per-request latency.

    scripts/costmodel.py                                  # the table for 1M, 10M, 100M items
    scripts/costmodel.py --segments 64 --map-width 40 --latency-ms 6
    scripts/costmodel.py --tool verify --items 1000000 --latency-ms 2 --segments 8 --json

With --items (or a single --tool) and --json it prints one prediction as JSON: what
tools/costmodel compares with its measured run. --cores K: the segments share one process with K
cores' worth of CPU (the harness, the CLI); without it each segment is its own Lambda invocation (the
Step Functions Map, at most --map-width at once) and the table's throughput bounds the run
(--table-rru/--table-wru). Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass


# ---------------------------------------------------------------- DynamoDB's published limits
PAGE_BYTES = 1 << 20          # Scan/Query: 1 MB of items read per page (whole items, before projection)
BATCH_WRITE = 25              # BatchWriteItem: 25 put/delete requests (16 MB)
BATCH_GET = 100               # BatchGetItem: 100 keys (16 MB)
BATCH_STATEMENT = 25          # BatchExecuteStatement (PartiQL): 25 statements
RCU_BYTES = 4096              # a read unit: 4 KB strongly consistent (half a unit eventually consistent);
                              # a write unit: 1 KB (every item here is < 1 KB: 1 WCU per item written)
ON_DEMAND_INITIAL_RRU, ON_DEMAND_INITIAL_WRU = 12000, 4000   # a new on-demand table, per second
TABLE_QUOTA_RRU = TABLE_QUOTA_WRU = 40000          # default per-table on-demand quota, per second
LAMBDA_TIMEOUT_S = 900                             # Lambda's largest timeout
LAMBDA_MB_PER_VCPU = 1769                          # Lambda: one full vCPU at 1,769 MB

# ---------------------------------------------------------------- this suite's settings
RESERVE_S = 5                 # indexer RESERVE_SECONDS (default)
SWEEPER_RESERVE_S = 10        # ttl-sweeper Budget.reserve; its scan may use half the invocation
SWEEPER_MAX_CONCURRENCY = 64
EXPIRE_UNIT_KEYS, EXPIRE_UNIT_METAS = 500, 100      # ttl-sweeper expiry batches

# Queries per target (mlflow_ddb_core::plan::reads_for, v0.1, default CONFIG): the tag items'
# prefix, plus a run's params when indexed (not by default), a trace's assessments, and the
# reverse FTS items.
QUERIES = {"experiment": 2, "run": 2, "trace": 3}

# CPU time per scanned item, at 1 vCPU: tools/costmodel's one-segment runs without latency on
# 1,292,244 items (release build, this 2-core machine, shared). It includes the memory store's own
# work, which on AWS the SDK's parsing of the answers replaces: an estimate of the same order.
CPU_US_PER_ITEM = {"verify": 10.3, "backfill": 11.1, "sweeper": 10.8, "copy": 20.9}

TOOLS = ("verify", "backfill", "sweeper", "copy")


# ---------------------------------------------------------------- the table
@dataclass
class Table:
    items: int
    bytes: int
    partitions: int
    orphaned: int
    fts_items: float        # derived FTS items in the table (not copied by a migration)
    orphan_items: float     # items in the orphaned partitions
    runs: int = 2
    traces: int = 1

    @property
    def live(self) -> int:
        return self.partitions - self.orphaned

    @property
    def targets(self) -> int:
        # E#META of each live partition, every run, every trace (all are targets in v0.1).
        return self.live + self.partitions * (self.runs + self.traces)

    @property
    def queries(self) -> int:
        return (self.live * QUERIES["experiment"]
                + self.partitions * (self.runs * QUERIES["run"] + self.traces * QUERIES["trace"]))


# A correct table of load_table.py's shape, after `indexer backfill` has added the derived items
# load_table.py leaves out (runs' and traces' FTS items, tags maps): per partition, as measured by
# tools/costmodel on 1,000,000 items (load_table.py's own items are 28; the rest are derived).
CORRECT_ITEMS_PER_PARTITION = 35.4
CORRECT_FTS_PER_PARTITION = 21.4
CORRECT_BYTES_PER_ITEM = 76.4


def table_for(items: int, orphan_fraction: float = 0.01) -> Table:
    """A correct table of load_table.py's shape holding about `items` items."""
    p = max(1, round(items / CORRECT_ITEMS_PER_PARTITION))
    o = round(p * orphan_fraction)
    return Table(items, round(items * CORRECT_BYTES_PER_ITEM), p, o,
                 p * CORRECT_FTS_PER_PARTITION, o * (CORRECT_ITEMS_PER_PARTITION - 1))


# ---------------------------------------------------------------- the model
@dataclass
class Params:
    segments: int
    concurrency: int
    latency_s: float
    item_latency_s: float
    cpu_s_per_item: float
    cores: float | None        # None: each segment is a Lambda invocation
    memory_mb: int
    map_width: int
    drift_targets: int = 0
    drift_fts_items: int = 0
    table_rru: float = TABLE_QUOTA_RRU
    table_wru: float = TABLE_QUOTA_WRU


def waves(n: float, width: int) -> float:
    return math.ceil(n / max(1, width)) if n > 0 else 0


def pages_per_segment(t: Table, s: int) -> tuple[int, float]:
    """(pages of one segment, items per full page): a page ends once 1 MB of whole items is read."""
    avg = t.bytes / t.items
    per_page = math.floor(PAGE_BYTES / avg) + 1
    return math.ceil(t.items / s / per_page), per_page


def chunks(targets: float, c: int) -> tuple[float, float]:
    """(BatchGetItem requests, waves of jobs) of reconcile_targets over `targets` targets."""
    full = math.floor(targets / BATCH_GET)
    rem = targets - full * BATCH_GET
    gets = full + (1 if rem > 0 else 0)
    return gets, full * waves(BATCH_GET, c) + waves(rem, c)


def binomial(n: int, q: float):
    """(k, P(k)) of Binomial(n, q)."""
    for k in range(n + 1):
        yield k, math.comb(n, k) * q**k * (1 - q) ** (n - k)


def expected_groups(n: int, q: float, f: float) -> float:
    """Expected BatchWriteItem requests of a chunk of n targets, each drifted with probability q
    and then missing f FTS items."""
    return sum(pk * math.ceil(k * f / BATCH_WRITE) for k, pk in binomial(n, q))


def groups_wait(n: int, q: float, f: float, c: int) -> float:
    """Expected waves of those requests, `c` in flight."""
    return sum(pk * waves(math.ceil(k * f / BATCH_WRITE), c) for k, pk in binomial(n, q))


def predict(tool: str, t: Table, p: Params) -> dict:
    s, c, L, Li = p.segments, p.concurrency, p.latency_s, p.item_latency_s
    pages, per_page = pages_per_segment(t, s)
    items_seg = t.items / s
    last_page = items_seg - (pages - 1) * per_page
    req = dict(scan=0, batch_get=0, query=0, get=0, batch_write=0, update=0, expire=0)
    rcu = wcu = 0.0
    seg_wait = 0.0                     # one segment's time waiting on requests
    scan_rcu = 0.5 * (t.bytes / RCU_BYTES + s * pages)   # eventually consistent, per page rounded up
    if tool in ("verify", "backfill"):
        req["scan"] = s * pages
        req["query"] = t.queries + s              # + the CONFIG Query of each invocation
        tpi = t.targets / t.items                  # targets per scanned item
        drift_share = p.drift_targets / t.targets if t.targets else 0.0
        fts_per_drifted = p.drift_fts_items / p.drift_targets if p.drift_targets else 0.0
        seg_wait += L                              # CONFIG
        gets_seg = writes_seg = 0.0
        for n_items, n_pages in ((per_page, pages - 1), (last_page, 1)):
            tp = n_items * tpi
            gets, wv = chunks(tp, c)
            page_wait = L + Li * n_items + gets * L + wv * L
            page_writes = 0.0
            if tool == "backfill" and p.drift_targets:
                # FTS items of a chunk's targets pooled in BatchWriteItem requests of 25,
                # `concurrency` at once, after the chunk's jobs; drifted targets scattered at
                # random: a chunk of n targets holds Binomial(n, D/T) of them.
                for chunk_targets in [BATCH_GET] * math.floor(tp / BATCH_GET) + [round(tp % BATCH_GET)]:
                    groups = expected_groups(chunk_targets, drift_share, fts_per_drifted)
                    page_writes += groups
                    page_wait += groups_wait(chunk_targets, drift_share, fts_per_drifted, c) * (L + Li * BATCH_WRITE)
            seg_wait += n_pages * page_wait
            gets_seg += n_pages * gets
            writes_seg += n_pages * page_writes
        req["batch_get"] = round(s * gets_seg)
        req["batch_write"] = round(s * writes_seg)
        rcu = scan_rcu + t.targets * 1.0 + t.queries * 1.0 + s  # consistent: 1 per target key, 1 per Query
        wcu = p.drift_fts_items * 1.0 if tool == "backfill" else 0.0
    elif tool == "sweeper":
        cs = min(c, SWEEPER_MAX_CONCURRENCY)
        orphan_items = t.orphan_items
        k = orphan_items / t.orphaned if t.orphaned else 0.0
        per_batch = max(1, min(EXPIRE_UNIT_METAS, math.floor(EXPIRE_UNIT_KEYS / k))) if k else 1
        batches = math.ceil(t.orphaned / per_batch) if t.orphaned else 0
        last = t.orphaned - (batches - 1) * per_batch if batches else 0
        expire_full = math.ceil(per_batch * k / BATCH_STATEMENT)
        expire_last = math.ceil(last * k / BATCH_STATEMENT)
        expire = (batches - 1) * expire_full + expire_last if batches else 0
        meta_gets = math.ceil(t.orphaned / BATCH_GET)
        req.update(get=1, scan=s * pages, batch_get=meta_gets + batches, expire=expire, batch_write=1)
        expire_per_batch = expire_full
        segment_scan = pages * L + Li * items_seg
        seg_wait = (L + waves(s, cs) * segment_scan + waves(meta_gets, cs) * L
                    + waves(batches, cs) * (L + expire_per_batch * L) + L)
        rcu = scan_rcu + 1 + meta_gets * 0 + t.orphaned * 2   # META keys read twice (check, re-check)
        wcu = orphan_items + 1
    elif tool == "copy":
        copy_share = (t.items - t.fts_items) / t.items    # every item but the derived FTS items
        cond_share = t.runs * t.partitions / t.items      # main's mlflow.runName tag item, put if absent
        seg_wait += L
        bw_seg = cond_seg = 0.0
        for n_items, n_pages in ((per_page, pages - 1), (last_page, 1)):
            bw = math.ceil(n_items * copy_share / BATCH_WRITE)
            cp = n_items * cond_share
            seg_wait += n_pages * (L + Li * n_items + bw * (L + Li * BATCH_WRITE) + cp * L)
            bw_seg += n_pages * bw
            cond_seg += n_pages * cp
        req.update(scan=s * pages, query=s, batch_write=round(s * bw_seg), update=round(s * cond_seg))
        rcu = scan_rcu + s
        wcu = t.items * copy_share + s * cond_seg
    else:
        raise ValueError(tool)
    req["total"] = sum(req.values())

    cpu_total = t.items * p.cpu_s_per_item
    if tool == "sweeper":
        latency_only = seg_wait
        if p.cores:
            wall = max(seg_wait + cpu_total / s, cpu_total / (p.cores if s > 1 else 1.0))
        else:
            wall = seg_wait + cpu_total / min(1.0, p.memory_mb / LAMBDA_MB_PER_VCPU)
        invocations = math.ceil(wall / (LAMBDA_TIMEOUT_S - SWEEPER_RESERVE_S) * 2) if not p.cores else 1
        gb_s = wall * p.memory_mb / 1024
    else:
        latency_only = seg_wait
        if p.cores:
            # One process: a segment's waits plus its own CPU time (its critical path), unless
            # the run's CPU time on the cores it gets is longer.
            wall = max(seg_wait + cpu_total / s, cpu_total / (p.cores if s > 1 else 1.0))
            invocations = s
            gb_s = 0.0
        else:
            vcpu = min(1.0, p.memory_mb / LAMBDA_MB_PER_VCPU)
            seg_wall = seg_wait + cpu_total / s / vcpu
            per_inv = LAMBDA_TIMEOUT_S - RESERVE_S
            inv_seg = max(1, math.ceil(seg_wall / per_inv))
            invocations = s * inv_seg
            width = min(p.map_width, s)
            wall = waves(s, width) * seg_wall
            gb_s = s * seg_wall * p.memory_mb / 1024
    throttled = None
    if not p.cores and p.table_rru:
        # The table's throughput: no run is faster than its capacity units allow.
        floor = max(rcu / p.table_rru, wcu / p.table_wru)
        if floor > wall:
            # every invocation runs that much longer (the adapter's gate slows them down)
            gb_s *= floor / wall
            throttled, wall = round(floor, 1), floor
    return {
        "tool": tool,
        "items": t.items,
        "segments": s,
        "pages_per_segment": pages,
        "items_per_page": per_page,
        "requests": req,
        "rcu": round(rcu, 1),
        "wcu": round(wcu, 1),
        "wall_s": round(wall, 3),
        "wall_s_latency_only": round(latency_only, 3),
        "invocations": invocations,
        "gb_s": round(gb_s, 1),
        "throughput_bound_s": throttled,
        "rcu_per_s": round(rcu / wall, 1) if wall else None,
        "wcu_per_s": round(wcu / wall, 1) if wall else None,
    }


# ---------------------------------------------------------------- command line
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", choices=TOOLS)
    ap.add_argument("--items", type=int, help="table items (default: 1M, 10M and 100M)")
    ap.add_argument("--bytes", type=int, help="table bytes by DynamoDB's size rules (default: from the shape)")
    ap.add_argument("--partitions", type=int, help="experiment partitions (default: from the shape)")
    ap.add_argument("--orphaned", type=int, help="orphaned partitions (default: 1%%)")
    ap.add_argument("--orphan-items", type=float, help="items in the orphaned partitions")
    ap.add_argument("--fts-items", type=float, help="FTS items in the table (derived: not copied)")
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=16, help="indexer CONCURRENCY; sweeper requests in flight")
    ap.add_argument("--latency-ms", type=float, default=6.0, help="round trip of one request")
    ap.add_argument("--item-latency-us", type=float, default=0.0, help="added per item returned or written")
    ap.add_argument("--cpu-us-per-item", type=float, help="CPU per scanned item at 1 vCPU (default: measured)")
    ap.add_argument("--cores", type=float, help="segments share one process with this many cores' worth of CPU (not Lambda)")
    ap.add_argument("--memory-mb", type=int, default=512, help="Lambda memory (infra/lib/ops-stack.ts: 512)")
    ap.add_argument("--map-width", type=int, default=4, help="Step Functions Map maxConcurrency (infra default 4)")
    ap.add_argument("--drift-targets", type=int, default=0, help="backfill: targets missing FTS items")
    ap.add_argument("--drift-fts-items", type=int, default=0, help="backfill: FTS items missing in all")
    ap.add_argument("--table-rru", type=float, default=TABLE_QUOTA_RRU,
                    help=f"read units/s the table gives (default quota {TABLE_QUOTA_RRU:,}; "
                         f"a new on-demand table {ON_DEMAND_INITIAL_RRU:,})")
    ap.add_argument("--table-wru", type=float, default=TABLE_QUOTA_WRU, help=f"write units/s (a new on-demand table {ON_DEMAND_INITIAL_WRU:,})")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    def table(items: int) -> Table:
        t = table_for(items)
        if a.partitions:
            t.partitions = a.partitions
        if a.bytes:
            t.bytes = a.bytes
        if a.orphaned is not None:
            t.orphaned = a.orphaned
            t.orphan_items = a.orphaned * (CORRECT_ITEMS_PER_PARTITION - 1)
        if a.orphan_items is not None:
            t.orphan_items = a.orphan_items
        if a.fts_items is not None:
            t.fts_items = a.fts_items
        return t

    def params(tool: str) -> Params:
        cpu = a.cpu_us_per_item if a.cpu_us_per_item is not None else CPU_US_PER_ITEM[tool]
        return Params(a.segments, a.concurrency, a.latency_ms / 1000, a.item_latency_us / 1e6, cpu / 1e6,
                      a.cores, a.memory_mb, a.map_width, a.drift_targets, a.drift_fts_items,
                      a.table_rru, a.table_wru)

    if a.json and a.items and a.tool:
        print(json.dumps(predict(a.tool, table(a.items), params(a.tool))))
        return
    sizes = [a.items] if a.items else [1_000_000, 10_000_000, 100_000_000]
    tools = [a.tool] if a.tool else list(TOOLS)
    rows = [predict(tool, table(n), params(tool)) for n in sizes for tool in tools]
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    where = f"{a.cores} cores, one process" if a.cores else f"Lambda {a.memory_mb} MB, Map width {a.map_width}"
    print(f"segments {a.segments}, concurrency {a.concurrency}, round trip {a.latency_ms} ms, {where}")
    hdr = f"{'items':>11} {'tool':8} {'scan':>7} {'bget':>8} {'query':>10} {'bwrite':>8} {'update':>8} " \
          f"{'expire':>7} {'RCU':>12} {'WCU':>11} {'wall s':>9} {'inv':>5} {'GB-s':>8}"
    print(hdr)
    for r in rows:
        q = r["requests"]
        print(f"{r['items']:>11,} {r['tool']:8} {q['scan']:>7,} {q['batch_get']:>8,} {q['query']:>10,} "
              f"{q['batch_write']:>8,} {q['update']:>8,} {q['expire']:>7,} {r['rcu']:>12,.0f} {r['wcu']:>11,.0f} "
              f"{r['wall_s']:>9,.1f}{'*' if r['throughput_bound_s'] else ' '}{r['invocations']:>5} {r['gb_s']:>8,.1f}")
    print("* bound by the table's throughput (--table-rru/--table-wru), not by segments or latency")


if __name__ == "__main__":
    main()
