//! Oracle: source items written raw (no derived items), the stream tailed;
//! the derived state must equal what the reference package's own functions
//! produce for those sources (tests/oracle.py), and a second pass over the
//! whole stream must cost zero writes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use mlflow_ddb_aws::testkit::{item, s, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::item::{AttributeValue, Item};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_engine::MeteredStore;

fn reference_sources() -> Vec<Item> {
    let path = root().join("crates/mlflow-ddb-core/tests/fixtures/plan/reference_v0_1_table.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let items: Vec<Item> = serde_json::from_slice(&bytes).expect("fixture items");
    items
        .into_iter()
        .filter(|i| !ItemKind::parse_key(v01(), &key_of(i)).is_derived())
        .map(|mut i| {
            // The store creates META items with an empty map; what it copies
            // into it is derived.
            if let Some(AttributeValue::M(m)) = i.get_mut("tags") {
                m.clear();
            }
            i
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_source_writes_are_materialized_exactly_as_the_reference_would() {
    let table = TestTable::new("v0.1", true).await;
    let store: Arc<dyn Store> = Arc::new(table.store());

    let mut sources = reference_sources();
    // Beyond the session: the seeded default experiment (no `tags` map) gets
    // a tag that the global patterns denormalize (the map-creation path),
    // and a model version tag with `#` and Unicode in its key.
    let model_pk = sources
        .iter()
        .map(key_of)
        .find(|k| k.sk == "M#META")
        .expect("a model")
        .pk;
    sources.push(item(
        "EXP#0",
        "E#TAG#mlflow.note.content",
        [
            ("key", s("mlflow.note.content")),
            ("value", s("the default one")),
        ],
    ));
    sources.push(item(
        &model_pk,
        "V#00000001#TAG#mlflow.x#y é",
        [("key", s("mlflow.x#y é")), ("value", s("v"))],
    ));
    assert!(sources.iter().any(|i| key_of(i)
        == mlflow_ddb_core::item::ItemKey::new("EXP#0", "E#META")
        && i.get("tags").is_none()));

    let (config, rest): (Vec<Item>, Vec<Item>) = sources
        .iter()
        .cloned()
        .partition(|i| key_of(i).pk == "CONFIG");
    store
        .batch_write(config, vec![])
        .await
        .expect("write config");
    store
        .batch_write(rest, vec![])
        .await
        .expect("write sources");

    let deps = deps(store.clone(), None, None);
    let summary = run_tail(&deps, &table, &tail_options(&table, None)).await;
    // Our own writes come back through the stream and are skipped.
    assert!(
        summary.stats.records as usize > sources.len(),
        "{summary:?}"
    );
    assert!(
        summary.stats.skipped.get("own-write").copied().unwrap_or(0) > 0,
        "{summary:?}"
    );
    assert_eq!(summary.stats.failed, 0);
    assert!(summary.stats.writes > 0);

    let actual = derived_of(&scan_all(&*store).await);
    let expected = oracle(&sources);
    assert!(
        expected.maps.len() >= 5 && expected.fts.len() > 100,
        "{:?}",
        expected.maps.keys()
    );
    let d = diff(&actual, &expected);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));

    // Every stream record again (replay of the whole stream): zero writes.
    let metered = Arc::new(MeteredStore::new(store.clone()));
    let deps = common::deps(metered.clone(), None, None);
    let again = run_tail(&deps, &table, &tail_options(&table, None)).await;
    assert!(again.stats.records >= summary.stats.records, "{again:?}");
    assert_eq!(metered.counts().writes(), 0, "{:?}", metered.counts());
    assert_eq!(again.stats.writes, 0);
    let counts: HashMap<&str, u64> = HashMap::from([
        ("noop", again.stats.noop_targets),
        ("targets", again.stats.targets),
    ]);
    assert_eq!(counts["noop"], counts["targets"], "{again:?}");
}
