//! Oracle for format `main`, with the `main` store itself (.venv-main:
//! `scripts/venv.sh main`): the store writes a session through MLflow's API
//! (tests/coexist_main.py `both`); its table without any derived state
//! (FTS items, the `tags` / `tags_lower` / `tags_lower_rev` maps, the runs'
//! `run_name` / `lsi4sk` that `main` syncs from the `mlflow.runName` tag) is
//! written raw to a fresh `main` table; the materializer tails that table's
//! stream. What it derives must be the store's table exactly, item for item,
//! except where the store is known to be wrong and we write the correct
//! state: the run renamed through its `mlflow.runName` tag (its new name's
//! tokens, not the old name's nor the tag's old value's) and the seeded
//! experiment's name (indexed; the store's seed indexes nothing).

mod common;

use std::sync::Arc;

use common::main_store::{main_derived, run_session, strip_main, table_diff, MAIN_MAPS};
use common::*;
use mlflow_ddb_aws::testkit::{unique_name, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, Item};
use mlflow_ddb_engine::MeteredStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_writes_are_materialized_exactly_as_the_main_store_wrote_them() {
    let name = unique_name("oracle-main");
    let session = run_session(&root(), "both", &name);
    let written = scan_all(&existing_table(&name).await.store()).await;
    let case = session.run_name.as_ref().expect("the renamed run");
    case.assert_store_bug(&written);
    let expected = session.corrected(&written);

    let raw = strip_main(&written);
    let stripped = main_derived(&raw);
    assert!(stripped.fts.is_empty() && stripped.map_entries.is_empty());
    assert!(stripped.run_names.is_empty(), "{:?}", stripped.run_names);
    let want = main_derived(&expected);
    assert!(want.fts.len() > 1000, "{}", want.fts.len());
    for m in MAIN_MAPS {
        assert!(want.map_entries.iter().any(|(_, a, _)| *a == m), "{m}");
    }
    assert!(want.run_names.len() >= 10, "{:?}", want.run_names);

    let t = TestTable::new(TableFormat::Main.as_str(), true).await;
    let inner = Arc::new(t.store());
    let (config, rest): (Vec<Item>, Vec<Item>) = raw
        .values()
        .cloned()
        .partition(|i| i.get("PK") == Some(&AttributeValue::S("CONFIG".into())));
    inner.batch_write(config, vec![]).await.expect("config");
    inner.batch_write(rest, vec![]).await.expect("sources");

    let deps = deps_auto(inner.clone(), inner.clone());
    let summary = run_tail(&deps, &t, &tail_options(&t, None)).await;
    assert_eq!(summary.format, Some(TableFormat::Main), "{summary:?}");
    assert_eq!(summary.stats.failed, 0, "{summary:?}");
    assert!(summary.stats.writes > 0);

    let actual = scan_all(&*inner).await;
    let d = table_diff(&expected, &actual);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));

    // Every stream record again: zero writes.
    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps_auto(metered.clone(), inner.clone());
    let again = run_tail(&deps, &t, &tail_options(&t, None)).await;
    assert!(again.stats.records >= summary.stats.records, "{again:?}");
    assert_eq!(metered.counts().writes(), 0, "{:?}", metered.counts());
    assert_eq!(again.stats.noop_targets, again.stats.targets, "{again:?}");
}
