"""Demo steps: write a realistic data set through MLflow's own client API.

Two phases, run as separate processes so that each opens a fresh store (the
store caches CONFIG in memory; the shell changes CONFIG between them):

    dataset.py experiments   three experiments with tags, one rename, the
                             EXP#0 and experiment-tag-delete quirks
    dataset.py contents      runs (tags, params, metrics, rename, tag
                             deletes, a soft delete, a terminated run),
                             traces with tags and assessments, a registered
                             model with tags and versions with tags

The ids go to the manifest ($DEMO_STATE/manifest.json) for later steps.
Every write is checked in the table afterwards; a surprise of the reference
store that we depend on knowing about is printed as "quirk:".
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import context as ctx

SYSTEM_TAGS = {
    # what mlflow.start_run() resolves from its context, set here explicitly
    "mlflow.user": "ana.silva",
    "mlflow.source.type": "LOCAL",
    "mlflow.source.name": "pipelines/train_ranker.py",
    "mlflow.source.git.commit": "3f2c9e1d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
}


class Table:
    """Direct reads of the table, to check what the store wrote."""

    def __init__(self) -> None:
        self.name = ctx.table()
        self.client = ctx.aws("dynamodb")

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        r = self.client.get_item(TableName=self.name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)
        return r.get("Item")

    def keys(self, pk: str, prefix: str) -> list[str]:
        out: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**kwargs)
            out += [i["SK"]["S"] for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def model_pk(self, name: str) -> str:
        r = self.client.query(
            TableName=self.name, IndexName="gsi3", KeyConditionExpression="gsi3pk = :p",
            ExpressionAttributeValues={":p": {"S": f"MODEL_NAME#default#{name}"}},
        )
        items = r.get("Items", [])
        if len(items) != 1:
            ctx.fail(f"model {name!r}: {len(items)} items under gsi3")
        return items[0]["PK"]["S"]

    def tags_map(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.get(pk, sk)
        if item is None:
            ctx.fail(f"{pk} / {sk} is missing")
        tags = item.get("tags")
        return None if tags is None else {k: v.get("S") for k, v in tags["M"].items()}


def expect(cond: bool, msg: str) -> None:
    if not cond:
        ctx.fail(msg)


# --------------------------------------------------------------------------
# Phase 1: experiments
# --------------------------------------------------------------------------


def write_experiments() -> None:
    c = ctx.client()
    t = Table()
    m: dict[str, Any] = {"experiments": {}}

    specs = {
        "ranking": (
            "search-ranking",
            {
                "team.name": "Search Relevance",
                "mlflow.note.content": "Learning-to-rank experiments for product search.",
                "project/area": "search",
            },
        ),
        "forecast": (
            "Prévisions de la demande 2026",
            {
                "team.name": "Supply Chain",
                "mlflow.note.content": "Weekly demand forecasts — 需要予測 per region.",
                "région": "Île-de-France",
            },
        ),
        "assistant": (
            "support-assistant traces",
            {"team.name": "Assistants", "mlflow.note.content": "Traces of the support chat assistant."},
        ),
    }
    for role, (name, tags) in specs.items():
        exp_id = c.create_experiment(name, tags=tags)
        m["experiments"][role] = {"id": exp_id, "name": name}
        tm = t.tags_map(f"EXP#{exp_id}", "E#META")
        ctx.say(f"experiment {exp_id} {name!r}: {len(tags)} tags, tags map {sorted(tm or {})}")
        # v0.1 denormalizes the global patterns (mlflow.*); main copies every experiment tag
        want = tags if ctx.is_main() else {k: v for k, v in tags.items() if k.startswith("mlflow.")}
        expect(tm == want, f"tags map of {name}: {tm}")
    if ctx.is_main():
        meta = t.get(f"EXP#{m['experiments']['forecast']['id']}", "E#META") or {}
        lower = {k: v.get("S") for k, v in meta.get("tags_lower", {}).get("M", {}).items()}
        ctx.say(f"main: E#META also carries name_lower {meta.get('name_lower', {}).get('S')!r}, "
                f"name_rev, tags_lower (e.g. région = {lower.get('région')!r}) and tags_lower_rev")

    ranking = m["experiments"]["ranking"]
    new_name = "search-ranking-ltr"
    c.rename_experiment(ranking["id"], new_name)
    ctx.say(f"renamed experiment {ranking['id']}: {ranking['name']!r} -> {new_name!r}")
    m["experiments"]["ranking"]["old_name"] = ranking["name"]
    ranking["name"] = new_name
    expect(c.get_experiment(ranking["id"]).name == new_name, "rename did not take")

    # An experiment tag delete: MLflow's client accepts it; the v0.1 store has
    # no delete_experiment_tag, so AbstractStore's default (a no-op) runs; main has one.
    c.set_experiment_tag(ranking["id"], "mlflow.sharedWith", "search-oncall")
    c.delete_experiment_tag(ranking["id"], "mlflow.sharedWith")
    still = t.get(f"EXP#{ranking['id']}", "E#TAG#mlflow.sharedWith") is not None
    in_map = "mlflow.sharedWith" in (t.tags_map(f"EXP#{ranking['id']}", "E#META") or {})
    if ctx.is_main():
        ctx.say(f"client.delete_experiment_tag(): the tag item {'is still there' if still else 'is gone'} and the "
                f"tags map entry {'is still there' if in_map else 'is gone'} (main has delete_experiment_tag)")
        expect(not still and not in_map, "main's delete_experiment_tag left the tag behind")
    else:
        ctx.say(
            "quirk: client.delete_experiment_tag() returned without error, but the tag item "
            f"{'is still there' if still else 'is gone'} and the tags map entry "
            f"{'is still there' if in_map else 'is gone'} (v0.1 has no delete_experiment_tag; "
            "MLflow's AbstractStore default does nothing)"
        )
    m["experiment_tag_delete_is_noop"] = still

    # The seeded default experiment EXP#0 has no tags map.
    try:
        c.set_experiment_tag("0", "mlflow.note.content", "Scratch space.")
        outcome = "succeeded"
    except Exception as e:  # noqa: BLE001 - we print what the store raised
        outcome = f"failed: {type(e).__name__}: {str(e).splitlines()[0]}"
    wrote_tag = t.get("EXP#0", "E#TAG#mlflow.note.content") is not None
    ctx.say(
        f"quirk: set_experiment_tag('0', 'mlflow.note.content') {outcome}; "
        f"tag item written anyway: {wrote_tag}; EXP#0 tags map: {t.tags_map('EXP#0', 'E#META')}"
    )
    if ctx.is_main():
        # main denormalizes every experiment tag, so any tag on EXP#0 meets the missing map
        try:
            c.set_experiment_tag("0", "team.name", "Platform")
            other = "succeeded"
        except Exception as e:  # noqa: BLE001 - we print what the store raised
            other = f"failed too ({type(e).__name__})"
        ctx.say(f"set_experiment_tag('0', 'team.name') {other}: main copies every experiment tag into the "
                "map, and the seeded EXP#0 has none")
    else:
        c.set_experiment_tag("0", "team.name", "Platform")
        ctx.say("set_experiment_tag('0', 'team.name') (no pattern matches, no map update) succeeded")
    m["exp0_pattern_tag"] = outcome
    ctx.save_manifest(m)


# --------------------------------------------------------------------------
# Phase 2: runs, traces, models
# --------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def write_runs(c: Any, t: Table, m: dict[str, Any]) -> None:
    from mlflow.entities import Metric, Param, ViewType

    ranking = m["experiments"]["ranking"]["id"]
    forecast = m["experiments"]["forecast"]["id"]
    runs: dict[str, dict[str, str]] = {}

    def new_run(role: str, exp_id: str, name: str, tags: dict[str, str], params: dict[str, str],
                metrics: dict[str, list[float]]) -> str:
        all_tags = {**SYSTEM_TAGS, "mlflow.runName": name, **tags}
        run = c.create_run(exp_id, run_name=name, tags=all_tags)
        run_id = run.info.run_id
        ts = now_ms()
        c.log_batch(
            run_id,
            metrics=[Metric(k, v, ts + step, step) for k, vs in metrics.items() for step, v in enumerate(vs)],
            params=[Param(k, v) for k, v in params.items()],
        )
        runs[role] = {"id": run_id, "experiment": exp_id, "name": name}
        ctx.say(f"run {run_id} {name!r} in {exp_id}: {len(all_tags)} tags, {len(params)} params, "
                f"{sum(len(v) for v in metrics.values())} metric points")
        return run_id

    bm25 = new_run(
        "bm25", ranking, "baseline-bm25",
        {"team.name": "Search Relevance", "data/split": "holdout-2025", "mlflow.note.content": "BM25 baseline"},
        {"retriever": "bm25", "bm25.k1": "1.2", "bm25.b": "0.75"},
        {"ndcg_10": [0.412], "mrr": [0.377]},
    )
    lgbm = new_run(
        "lgbm", ranking, "lgbm-lambdarank",
        {"team.name": "Search Relevance", "data/split": "holdout-2025", "feature_set/version": "v7"},
        {"learning_rate": "0.05", "num_leaves": "63", "objective": "lambdarank"},
        {"ndcg_10": [0.431, 0.458, 0.471, 0.479, 0.482], "mrr": [0.401, 0.415, 0.422, 0.425, 0.426]},
    )
    new_run(
        "tuned", ranking, "lgbm-lambdarank-tuned",
        {"team.name": "Search Relevance", "mlflow.parentRunId": lgbm, "備考/レビュー": "最適化済み、本番候補",
         "é.clé/niveau": "élevé"},
        {"learning_rate": "0.03", "num_leaves": "127", "objective": "lambdarank", "optimizer/trials": "40"},
        {"ndcg_10": [0.474, 0.489, 0.494], "mrr": [0.421, 0.431, 0.433]},
    )
    prophet = new_run(
        "prophet", forecast, "prophet-baseline",
        {"team.name": "Supply Chain", "région": "Île-de-France"},
        {"model/type": "prophet", "seasonality.weekly": "true"},
        {"mape": [0.142], "rmse": [311.5]},
    )
    new_run(
        "lstm", forecast, "lstm 週次モデル",
        {"team.name": "Supply Chain", "région": "Auvergne-Rhône-Alpes"},
        {"model/type": "lstm", "hidden_units": "128"},
        {"mape": [0.171, 0.133, 0.121], "rmse": [402.0, 298.2, 276.9]},
    )
    scratch = new_run("scratch", forecast, "scratch-debug", {"team.name": "Supply Chain"}, {"debug": "true"}, {})

    # rename (client.update_run -> store.update_run_info)
    c.update_run(lgbm, name="lambdarank lightgbm v2")
    runs["lgbm"]["old_name"], runs["lgbm"]["name"] = runs["lgbm"]["name"], "lambdarank lightgbm v2"
    ctx.say(f"renamed run {lgbm}: 'lgbm-lambdarank' -> 'lambdarank lightgbm v2'")
    tm = t.tags_map(f"EXP#{ranking}", f"R#{lgbm}") or {}
    item = t.get(f"EXP#{ranking}", f"R#{lgbm}") or {}
    if ctx.is_main():
        ctx.say(f"after the rename, tag mlflow.runName is {tm.get('mlflow.runName')!r} (main updates the tag too) "
                f"and `status` is {item.get('status', {}).get('S')!r}")
        expect(tm.get("mlflow.runName") == "lambdarank lightgbm v2", f"mlflow.runName not synced: {tm}")
    else:
        ctx.say(f"quirk: after the rename, tag mlflow.runName is still {tm.get('mlflow.runName')!r} "
                f"(no sync in v0.1) and `status` was rewritten as {item.get('status')} "
                "(update_run passes RunStatus as a number)")

    if ctx.is_main():
        rename_by_tag(c, t, runs["lstm"])

    # tag deletes: a plain tag, and one in the tags map (mlflow.*)
    c.set_tag(bm25, "tmp.debug", "1")
    c.delete_tag(bm25, "tmp.debug")
    c.delete_tag(bm25, "mlflow.note.content")
    tm = t.tags_map(f"EXP#{ranking}", f"R#{bm25}") or {}
    expect("mlflow.note.content" not in tm, "deleted mlflow.note.content still in the run's tags map")
    expect(t.get(f"EXP#{ranking}", f"R#{bm25}#TAG#tmp.debug") is None, "deleted tag item still there")
    ctx.say(f"deleted run tags tmp.debug and mlflow.note.content of {bm25}; map now has {len(tm)} entries")

    # a tag value change: with run_tag_value FTS on, v0.1 adds the new tokens
    # and keeps the old ones
    c.set_tag(bm25, "data/split", "holdout-2026")
    toks = sorted(sk.rsplit("#", 1)[1] for sk in t.keys(f"EXP#{ranking}", f"FTS_REV#R#{bm25}#data/split#W#"))
    ctx.say(f"quirk: after data/split 'holdout-2025' -> 'holdout-2026' the run's W tokens for that tag "
            f"are {toks} (the old value's tokens stay)")

    # a soft delete (ttl on the run and its children) and a terminated run
    c.delete_run(scratch)
    item = t.get(f"EXP#{forecast}", f"R#{scratch}") or {}
    expect("ttl" in item, "soft-deleted run has no ttl")
    ctx.say(f"soft-deleted run {scratch} (ttl {item['ttl']['N']})")
    deleted = c.search_runs([forecast], "", run_view_type=ViewType.DELETED_ONLY)
    expect([r.info.run_id for r in deleted] == [scratch], f"deleted runs: {deleted}")

    c.set_terminated(prophet)  # what mlflow.end_run() calls
    item = t.get(f"EXP#{forecast}", f"R#{prophet}") or {}
    shown = {k: item[k] for k in ("status", "run_name", "lsi4sk") if k in item}
    if ctx.is_main():
        ctx.say(f"set_terminated({prophet}) (what mlflow.end_run() calls) left {shown}: main keeps the name")
    else:
        ctx.say(f"quirk: set_terminated({prophet}) (what mlflow.end_run() calls) left {shown}: it passes "
                "run_name=None, the store writes it, and an empty lsi4sk (real DynamoDB rejects an empty "
                "index key)")
    runs["prophet"]["terminated_name"] = str(item.get("run_name"))
    m["runs"] = runs

    # the per-experiment pattern team.* is configured for the ranking
    # experiment only: its runs carry team.name in their map, forecast's do not
    tm = t.tags_map(f"EXP#{ranking}", f"R#{lgbm}") or {}
    expect(tm.get("team.name") == "Search Relevance", f"ranking run map lacks team.name: {tm}")
    tm = t.tags_map(f"EXP#{forecast}", f"R#{prophet}") or {}
    expect("team.name" not in tm, f"forecast run map has team.name: {tm}")
    ctx.say("team.name is in the tags map of runs of the ranking experiment (pattern team.*), "
            "not in those of the forecast experiment")


def name_tokens(t: Table, pk: str, run_id: str) -> list[str]:
    """The W-level FTS tokens of a run's name (reverse items without a field)."""
    prefix = f"FTS_REV#R#{run_id}#W#"
    return sorted(sk[len(prefix):] for sk in t.keys(pk, prefix))


def rename_by_tag(c: Any, t: Table, run: dict[str, str]) -> None:
    """main only: rename a run by setting its mlflow.runName tag. main syncs
    run_name and lsi4sk from the tag but keeps the old name's FTS items and
    writes none for the new name (a bug of main); the materializer step
    shows the correct tokens."""
    pk = f"EXP#{run['experiment']}"
    new_name = "weekly seq2seq forecaster"
    before = name_tokens(t, pk, run["id"])
    c.set_tag(run["id"], "mlflow.runName", new_name)
    item = t.get(pk, f"R#{run['id']}") or {}
    synced = {k: item[k]["S"] for k in ("run_name", "lsi4sk") if k in item}
    expect(synced == {"run_name": new_name, "lsi4sk": new_name}, f"run_name/lsi4sk not synced: {synced}")
    after = name_tokens(t, pk, run["id"])
    ctx.say(f"set_tag({run['id']}, 'mlflow.runName', {new_name!r}): run_name and lsi4sk follow the tag")
    ctx.say(f"main bug: the run's name tokens (W level) are still {after} (before: {before}): the old "
            f"name's stay, the new name's are missing; the materializer step writes the right ones")
    run["old_name"], run["name"] = run["name"], new_name
    run["renamed_by_tag"] = "yes"


class CapturedWarnings(logging.Handler):
    """Collects what MLflow's trace exporter logs instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


def write_traces(c: Any, t: Table, m: dict[str, Any]) -> None:
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType, SpanType

    exp_id = m["experiments"]["assistant"]["id"]
    exporter_log = logging.getLogger("mlflow.tracing.export")
    captured = CapturedWarnings()
    exporter_log.addHandler(captured)
    exporter_log.propagate = False

    questions = [
        ("How do I reset my password?", "Open Settings → Account → Reset password.", "c-1042"),
        ("Can I change the delivery address after ordering?", "Yes, until the parcel ships.", "c-1043"),
    ]
    traces: list[str] = []
    for question, answer, conversation in questions:
        root = c.start_trace(
            "answer-question", span_type=SpanType.CHAIN, inputs={"question": question},
            tags={"team.name": "Assistants", "env": "staging", "conversation/id": conversation},
            experiment_id=exp_id,
        )
        child = c.start_span("retrieve-docs", trace_id=root.trace_id, parent_id=root.span_id,
                             span_type=SpanType.RETRIEVER, inputs={"query": question})
        c.end_span(root.trace_id, child.span_id, outputs={"docs": ["kb/123", "kb/456"]})
        c.end_trace(root.trace_id, outputs={"answer": answer})
        traces.append(root.trace_id)
    mlflow.flush_trace_async_logging()

    for tid in traces:
        meta = t.get(f"EXP#{exp_id}", f"T#{tid}")
        expect(meta is not None, f"trace {tid} was not written (exporter said: {captured.messages})")
        ctx.say(f"trace {tid}: {len(t.keys(f'EXP#{exp_id}', f'T#{tid}#TAG#'))} tag items, "
                f"tags map {sorted((t.tags_map(f'EXP#{exp_id}', f'T#{tid}') or {}))}")
    if captured.messages:
        first = captured.messages[0].splitlines()[0]
        ctx.say(f"quirk: MLflow's exporter logged {len(captured.messages)} warning(s), e.g. {first!r}: "
                "the store's start_trace() returns no mlflow.artifactLocation tag, so span upload "
                "fails; trace info and tags are stored, spans are not (v0.1 reads spans from X-Ray)")
    meta = t.get(f"EXP#{exp_id}", f"T#{traces[0]}") or {}
    numeric = {k: next(iter(v)) for k, v in meta.items() if k.startswith("lsi") and "S" not in v}
    if ctx.is_main():
        shown = {k: next(iter(meta[k].values())) for k in ("lsi1sk", "lsi2sk") if k in meta}
        ctx.say(f"trace META index keys {shown}: lsi2sk is a number, as the main table declares it; "
                "lsi1sk a zero-padded string")
        expect(list(numeric) == ["lsi2sk"], f"trace META numeric index keys: {numeric}")
    else:
        ctx.say(f"quirk: trace META index keys {numeric} are numbers, the table declares them S: moto "
                "stores them; real DynamoDB would reject the put (index key type mismatch), so v0.1 "
                "cannot record traces there")

    t1, t2 = traces
    c.set_trace_tag(t1, "review.status", "needs-review")
    c.set_trace_tag(t1, "mlflow.trace.session", "sess-7781")
    c.delete_trace_tag(t1, "env")
    expect(t.get(f"EXP#{exp_id}", f"T#{t1}#TAG#env") is None, "deleted trace tag still there")
    ctx.say(f"trace {t1}: set review.status and mlflow.trace.session, deleted env")

    fb = mlflow.log_feedback(
        trace_id=t1, name="helpfulness", value="helpful and accurate answer",
        rationale="Cites the right help-center article.",
        source=AssessmentSource(AssessmentSourceType.HUMAN, "reviewer@example.com"),
    )
    ex = mlflow.log_expectation(
        trace_id=t2, name="expected_answer", value="Delivery address changes are possible until shipping.",
        source=AssessmentSource(AssessmentSourceType.HUMAN, "reviewer@example.com"),
    )
    for tid, a in ((t1, fb), (t2, ex)):
        fts = t.keys(f"EXP#{exp_id}", f"FTS_REV#T#{tid}#assess_{a.assessment_id}#")
        expect(bool(fts), f"assessment {a.assessment_id} has no FTS items")
        ctx.say(f"assessment {a.assessment_id} ({a.name}) on {tid}: {len(fts)} reverse FTS items")
    m["traces"] = {"experiment": exp_id, "ids": traces, "assessments": [fb.assessment_id, ex.assessment_id]}
    m["trace_exporter_warnings"] = captured.messages


def write_registry(c: Any, t: Table, m: dict[str, Any]) -> None:
    name = "search-ranker"
    model = c.create_registered_model(
        name, description="LTR model behind product search.",
        tags={"team.name": "Search Relevance", "mlflow.domain": "search", "tmp.owner": "ana.silva"},
    )
    runs = m["runs"]
    v1 = c.create_model_version(
        name, source=f"runs:/{runs['lgbm']['id']}/model", run_id=runs["lgbm"]["id"],
        tags={"mlflow.validation.status": "passed", "deploy/stage": "canary", "評価": "良好"},
    )
    v2 = c.create_model_version(
        name, source=f"runs:/{runs['tuned']['id']}/model", run_id=runs["tuned"]["id"],
        tags={"mlflow.validation.status": "pending"},
    )
    c.set_model_version_tag(name, v1.version, "mlflow.approvedBy", "lead@example.com")
    c.delete_registered_model_tag(name, "tmp.owner")
    c.set_registered_model_alias(name, "champion", v1.version)
    pk = t.model_pk(name)
    model_map = t.tags_map(pk, "M#META") or {}
    expect(model_map == {"mlflow.domain": "search"}, f"model tags map: {model_map}")
    ver_sk = f"V#{int(v1.version):08d}"
    ver_map = t.tags_map(pk, ver_sk) or {}
    expect(set(ver_map) == {"mlflow.validation.status", "mlflow.approvedBy"}, f"version tags map: {ver_map}")
    ctx.say(f"registered model {name!r} ({pk}): {len(c.get_registered_model(name).tags)} tags, "
            f"tags map {sorted(model_map)}; deleted tag tmp.owner")
    ctx.say(f"versions {v1.version} and {v2.version}; {ver_sk} has {len(c.get_model_version(name, v1.version).tags)} "
            f"tags, tags map {sorted(ver_map)}; alias champion -> {v1.version}")
    m["model"] = {"name": model.name, "pk": pk, "versions": [v1.version, v2.version]}


def write_contents() -> None:
    c = ctx.client()
    t = Table()
    m = ctx.load_manifest()
    if "experiments" not in m:
        ctx.fail("no experiments in the manifest: run the experiments phase first")
    write_runs(c, t, m)
    ctx.save_manifest(m)
    write_traces(c, t, m)
    ctx.save_manifest(m)
    write_registry(c, t, m)
    ctx.save_manifest(m)


def main() -> None:
    ctx.quiet_mlflow()
    phases = {"experiments": write_experiments, "contents": write_contents}
    if len(sys.argv) != 2 or sys.argv[1] not in phases:
        ctx.fail(f"usage: dataset.py {'|'.join(phases)}")
    phases[sys.argv[1]]()


if __name__ == "__main__":
    ctx.run_main(main)
