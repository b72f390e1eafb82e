//! Co-existence: the reference store writes real MLflow data through MLflow's
//! API (tests/coexist.py) and materializes inline; the materializer then
//! processes the whole stream. Its derived state must equal the store's,
//! and it must send zero write requests (every target is already right).
//!
//! The same for format `main`, with the `main` store itself
//! (tests/coexist_main.py in .venv-main: `scripts/venv.sh main`), and its
//! one known bug on this path, where we write the correct state instead.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::main_store::{main_derived, run_session, table_diff};
use common::*;
use mlflow_ddb_aws::testkit::{clients, unique_name, TestTable};
use mlflow_ddb_aws::{describe_table, Store};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_engine::MeteredStore;

/// The materializer read at least `min_targets` targets, found every one
/// already right, and sent no write request: the store had materialized all
/// of it inline.
fn assert_every_target_already_right(
    tail: &materializer::tail::TailSummary,
    metered: &MeteredStore,
    min_targets: u64,
) {
    assert!(tail.stats.targets >= min_targets, "{tail:?}");
    assert_eq!(tail.stats.failed, 0, "{tail:?}");
    assert_eq!(
        metered.counts().writes(),
        0,
        "write requests: {:?}; {tail:?}",
        metered.counts()
    );
    assert_eq!(tail.stats.noop_targets, tail.stats.targets, "{tail:?}");
    assert!(metered.counts().reads() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_writes_cost_zero_materializer_writes() {
    let name = unique_name("coexist");
    let out = Command::new(python())
        .arg(root().join("functions/materializer/tests/coexist.py"))
        .arg(&name)
        .env("MLFLOW_LOGGING_LEVEL", "WARNING")
        .output()
        .expect("run the reference session");
    assert!(
        out.status.success(),
        "reference session failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clients = clients().await;
    let summary = describe_table(&clients.ddb, &name).await.expect("describe");
    assert!(summary.stream_arn.is_some(), "no stream on {name}");
    let table = TestTable {
        name: name.clone(),
        clients,
        summary,
    };
    let inner: Arc<dyn Store> = Arc::new(table.store());
    let before = scan_all(&*inner).await;

    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps(metered.clone(), None, None);
    let tail = run_tail(&deps, &table, &tail_options(&table, None)).await;

    // The session touched experiments, runs, a trace, a model and its version.
    assert_every_target_already_right(&tail, &metered, 7);

    // And the derived state is the store's, untouched.
    let after = scan_all(&*inner).await;
    assert_eq!(derived_of(&before), derived_of(&after));
    assert!(!derived_of(&after).fts.is_empty());
}

// ----- format `main`: the `main` store itself (.venv-main) -----------------

/// The `main` store writes a session through MLflow's API (experiments with
/// Unicode tag keys, a new tag value, a deleted tag and a rename; runs with
/// tags, params, metrics; a trace with tags and assessments; a logged model;
/// an evaluation dataset; a registered model, renamed, and a version) and
/// materializes inline. The materializer, left to find the format itself,
/// then processes the whole stream: every target is already right, so it
/// costs zero writes, and the table is unchanged item for item (the `tags`,
/// `tags_lower`, `tags_lower_rev` maps, FTS items and run names included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_store_writes_cost_zero_materializer_writes() {
    let name = unique_name("coexist-main");
    let session = run_session(&root(), "clean", &name);
    assert!(session.run_name.is_none());
    let table = existing_table(&name).await;
    let inner = Arc::new(table.store());
    let before = scan_all(&*inner).await;

    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps_auto(metered.clone(), inner.clone());
    let tail = run_tail(&deps, &table, &tail_options(&table, None)).await;

    assert_eq!(tail.format, Some(TableFormat::Main), "{tail:?}");
    // Experiments (2), runs (4), the trace, the logged model, the dataset,
    // the registered model and its version.
    assert_every_target_already_right(&tail, &metered, 11);

    let after = scan_all(&*inner).await;
    let d = table_diff(&before, &after);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    // What the session exercised is there to compare.
    let derived = main_derived(&after);
    for (what, m) in [
        ("experiment", "tags_lower"),
        ("experiment", "tags_lower_rev"),
        ("logged model", "tags"),
        ("dataset", "tags"),
    ] {
        let sk_start = match what {
            "experiment" => "E#META",
            "logged model" => "LM#",
            _ => "DS#META",
        };
        assert!(
            derived
                .map_entries
                .iter()
                .any(|(k, a, _)| *a == m && k.sk.starts_with(sk_start)),
            "no {what} {m} entries: {:?}",
            derived.map_entries
        );
    }
    assert!(derived
        .map_entries
        .iter()
        .any(|(_, a, k)| *a == "tags_lower" && k == "équipe/名前.x"));
    assert!(derived.fts.iter().any(|k| k.sk.starts_with("FTS#2#")));
    assert!(derived.fts.iter().any(|k| k.sk.ends_with("#artifact_uri")));
}

/// A known bug of `main` itself (contract §7): renaming a run through its
/// `mlflow.runName` tag syncs `run_name` and `lsi4sk`, but leaves the old
/// name's FTS tokens and adds none for the new name; with run tag values
/// indexed, the tag's old value's tokens also stay next to the new ones.
/// The materializer writes the correct state, not the store's: exactly the
/// run's stale tokens go, exactly the new name's missing tokens come (the
/// items the store's own `fts_items_for_text` gives), nothing else changes,
/// and a replay then costs zero writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_rename_through_run_name_tag_is_corrected_not_copied() {
    let name = unique_name("coexist-main-rn");
    let session = run_session(&root(), "run-name", &name);
    let case = session.run_name.as_ref().expect("the renamed run");
    let table = existing_table(&name).await;
    let inner = Arc::new(table.store());
    let before = scan_all(&*inner).await;
    case.assert_store_bug(&before);

    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps_auto(metered.clone(), inner.clone());
    let tail = run_tail(&deps, &table, &tail_options(&table, None)).await;
    assert_eq!(tail.format, Some(TableFormat::Main), "{tail:?}");
    assert_eq!(tail.stats.failed, 0, "{tail:?}");
    // One target needed work: the renamed run.
    assert_eq!(
        tail.stats.targets - tail.stats.noop_targets,
        1,
        "only the renamed run is written: {tail:?}"
    );
    assert!(metered.counts().writes() > 0);

    let after = scan_all(&*inner).await;
    let expected = session.run_name_corrected(&before);
    let d = table_diff(&expected, &after);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    // Precisely: the difference from the store's table is the stale and the
    // missing tokens of that run, nothing else.
    let gone: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let came: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        gone.into_iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        case.stale()
    );
    assert_eq!(
        came.into_iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        case.missing()
    );
    assert!(before
        .iter()
        .all(|(k, v)| !after.contains_key(k) || after[k] == *v));

    // The whole stream again: nothing left to do.
    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps_auto(metered.clone(), inner.clone());
    let again = run_tail(&deps, &table, &tail_options(&table, None)).await;
    assert_eq!(metered.counts().writes(), 0, "{again:?}");
    assert_eq!(scan_all(&*inner).await, after);
}
