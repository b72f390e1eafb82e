"""Demo step: the reference store's own searches, through MLflow's client.

Each search has the result count the data set calls for; a different count
fails the step. Searches the reference gets wrong on purpose-built data are
listed with the count it really gives and why (`note`), so a change in the
reference shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import context as ctx


@dataclass
class Search:
    label: str
    call: Callable[[], list[Any]]
    expected: int | str  # a count, or "error" when the call is known to fail
    note: str = ""
    # what the main store gives instead, when it differs: (expected, note)
    main: tuple[int | str, str] | None = None

    def for_format(self) -> "Search":
        if ctx.is_main() and self.main is not None:
            self.expected, self.note = self.main
        return self


def searches(c: Any, m: dict[str, Any]) -> list[Search]:
    from mlflow.entities import ViewType

    ranking = m["experiments"]["ranking"]["id"]
    forecast = m["experiments"]["forecast"]["id"]
    assistant = m["experiments"]["assistant"]["id"]
    runs = m["runs"]
    store = c._tracking_client.store
    lgbm_old, lgbm_new = runs["lgbm"]["old_name"], runs["lgbm"]["name"]

    def runs_in(exps: list[str], flt: str = "", **kw: Any) -> Callable[[], list[Any]]:
        return lambda: c.search_runs(exps, flt, **kw)

    return [
        Search("search_experiments(name LIKE '%ranking%')",
               lambda: c.search_experiments(filter_string="name LIKE '%ranking%'"), 1),
        Search(f"search_experiments(name = '{m['experiments']['ranking']['name']}')",
               lambda: c.search_experiments(filter_string=f"name = '{m['experiments']['ranking']['name']}'"), 1),
        Search("search_experiments(name LIKE '%demande%')",
               lambda: c.search_experiments(filter_string="name LIKE '%demande%'"), 1),
        Search("search_experiments(tags.team.name = 'Supply Chain')",
               lambda: c.search_experiments(filter_string="tags.`team.name` = 'Supply Chain'"), 1,
               main=(0, "main bug: a dotted tag key is read as a nested map path")),
        Search("search_experiments(view ALL)",
               lambda: c.search_experiments(view_type=ViewType.ALL), 4, "Default + 3"),
        Search("search_runs(ranking, tags.mlflow.runName = 'baseline-bm25')",
               runs_in([ranking], "tags.mlflow.runName = 'baseline-bm25'"), 1),
        Search(f"search_runs(ranking, tags.mlflow.runName = '{lgbm_new}')",
               runs_in([ranking], f"tags.mlflow.runName = '{lgbm_new}'"), 0,
               "renamed run: v0.1 does not update the mlflow.runName tag",
               main=(1, "main updates the mlflow.runName tag on a rename")),
        Search(f"search_runs(ranking, tags.mlflow.runName = '{lgbm_old}')",
               runs_in([ranking], f"tags.mlflow.runName = '{lgbm_old}'"), 1, "the stale tag still matches",
               main=(0, "")),
        Search(f"search_runs(ranking, attributes.run_name = '{lgbm_new}')",
               runs_in([ranking], f"attributes.run_name = '{lgbm_new}'"), 1),
        Search("search_runs(ranking, attributes.run_name LIKE '%lightgbm%')",
               runs_in([ranking], "attributes.run_name LIKE '%lightgbm%'"), 1, "FTS on the run name"),
        Search("search_runs(ranking, attributes.run_name LIKE '%lambdarank%')",
               runs_in([ranking], "attributes.run_name LIKE '%lambdarank%'"), 2, "FTS: renamed + tuned run"),
        Search("search_runs(ranking, tags.team.name = 'Search Relevance')",
               runs_in([ranking], "tags.`team.name` = 'Search Relevance'"), 3),
        Search("search_runs(ranking, order_by metrics.ndcg_10 DESC)",
               runs_in([ranking], "", order_by=["metrics.ndcg_10 DESC"]), 3, "RANK items",
               main=(9, "main bug: a run once per RANK item (per logged step)")),
        Search("search_runs(forecast, params.model/type = 'lstm')",
               runs_in([forecast], "params.`model/type` = 'lstm'"), 1),
        Search("search_runs(forecast, attributes.run_name LIKE '%prophet%')",
               runs_in([forecast], "attributes.run_name LIKE '%prophet%'"), 1,
               "found through stale name FTS items although run_name is now null",
               main=(1, "main keeps the name on set_terminated")),
        Search("search_runs(forecast, view DELETED_ONLY)",
               runs_in([forecast], "", run_view_type=ViewType.DELETED_ONLY), 1),
        Search("search_registered_models(name LIKE '%ranker%')",
               lambda: c.search_registered_models(filter_string="name LIKE '%ranker%'"), 1),
        Search(f"search_model_versions(name = '{m['model']['name']}')",
               lambda: c.search_model_versions(f"name = '{m['model']['name']}'"), 2),
        Search("MlflowClient.search_traces(assistant)",
               lambda: c.search_traces(locations=[assistant], include_spans=False), 0,
               "the client passes `locations`; v0.1 reads only `experiment_ids`",
               main=(2, "main reads `locations`")),
        Search("store.search_traces(experiment_ids=[assistant])",
               lambda: store.search_traces(experiment_ids=[assistant])[0], 2,
               "the store's own method, called directly"),
        Search("store.search_traces(assistant, tags.team.name = 'Assistants')",
               lambda: store.search_traces(experiment_ids=[assistant],
                                           filter_string="tags.`team.name` = 'Assistants'")[0], 2),
        Search("search_runs(assistant)", runs_in([assistant]), "error",
               "moto 500: the LSI sort meets the traces' numeric lsi1sk beside E#META's string one",
               main=(0, "no runs; main's trace index keys have the declared types")),
    ] + (main_only(c, m) if ctx.is_main() else [])


def main_only(c: Any, m: dict[str, Any]) -> list[Search]:
    """Searches about what only main does: the run renamed through its mlflow.runName tag."""
    run = m["runs"]["lstm"]
    word = run["name"].split()[1]

    return [
        Search(f"search_runs(forecast, attributes.run_name = '{run['name']}')",
               lambda: c.search_runs([run["experiment"]], f"attributes.run_name = '{run['name']}'"), 1,
               "renamed through tag mlflow.runName: run_name follows"),
        Search(f"search_runs(forecast, attributes.run_name LIKE '%{word}%')",
               lambda: c.search_runs([run["experiment"]], f"attributes.run_name LIKE '%{word}%'"), 1,
               "found by the mlflow.runName tag-value FTS items (run_tag_value on): the name's own are stale"),
    ]


def main() -> None:
    ctx.quiet_mlflow()
    c = ctx.client()
    m = ctx.load_manifest()
    rows: list[tuple[str, str, str]] = []
    wrong: list[str] = []
    for s in (s.for_format() for s in searches(c, m)):
        try:
            got: int | str = len(s.call())
        except Exception as e:  # noqa: BLE001 - the outcome is what we show
            got = "error"
            s.note = s.note or f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
            detail = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
            if s.expected != "error":
                wrong.append(f"{s.label}: {detail}")
        else:
            if got != s.expected:
                wrong.append(f"{s.label}: {got} results, expected {s.expected}")
        mark = "" if got == s.expected else "  <-- UNEXPECTED"
        rows.append((s.label, str(got), (s.note + mark).strip()))
    width = max(len(r[0]) for r in rows)
    cwidth = max(len(r[1]) for r in rows)
    for label, got, note in rows:
        ctx.say(f"{label.ljust(width)}  {got.rjust(cwidth)}  {note}".rstrip())
    if wrong:
        ctx.fail("searches gave unexpected results:\n  " + "\n  ".join(wrong))


if __name__ == "__main__":
    ctx.run_main(main)
