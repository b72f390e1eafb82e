//! Shared helpers of the materializer's integration tests (local endpoint).
#![allow(dead_code)]

pub mod main_store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use materializer::handler::{Deps, Settings};
use materializer::lambda::MetricsSink;
use materializer::tail::{tail, TailOptions, TailSummary};
use mlflow_ddb_aws::testkit::TestTable;
pub use mlflow_ddb_aws::testkit::{key_of, scan_all};
use mlflow_ddb_aws::{Queue, Store, StreamReader};
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_engine::ConfigCache;
use serde_json::Value;

pub fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}

/// Settings for tests: a short deadline margin.
pub fn settings() -> Settings {
    Settings {
        deadline_margin: Duration::from_millis(200),
        ..Settings::default()
    }
}

pub fn deps(
    store: Arc<dyn Store>,
    dlq: Option<Arc<dyn Queue>>,
    streams: Option<StreamReader>,
) -> Deps {
    Deps {
        store,
        dlq,
        streams,
        format: mlflow_ddb_engine::FormatResolver::fixed(
            mlflow_ddb_core::format::TableFormat::V0_1,
        ),
        config: ConfigCache::default(),
        settings: settings(),
        migrate: None,
    }
}

pub fn tail_options(table: &TestTable, dlq: Option<Arc<dyn Queue>>) -> TailOptions {
    TailOptions {
        stream_arn: table.stream_arn().expect("a stream").to_owned(),
        batch_size: 100,
        until_idle: true,
        idle_grace: Duration::ZERO,
        max_elapsed: None,
        checkpoint: None,
        max_retries: 3,
        bisect: true,
        invocation_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        on_failure: dlq,
        function_arn: "test:materializer".into(),
        metrics: MetricsSink::Off,
    }
}

pub async fn run_tail(deps: &Deps, table: &TestTable, opts: &TailOptions) -> TailSummary {
    let reader = StreamReader::new(&table.clients);
    match tail(deps, &reader, opts).await {
        Ok(s) => s,
        Err(e) => panic!("tail: {e}"),
    }
}

/// The derived state of a table: `tags` maps of every item that has one
/// (non-empty), and the FTS items.
#[derive(Debug, Default, PartialEq)]
pub struct Derived {
    pub maps: BTreeMap<ItemKey, BTreeMap<String, AttributeValue>>,
    pub fts: BTreeMap<ItemKey, Item>,
}

pub fn derived_of(table: &BTreeMap<ItemKey, Item>) -> Derived {
    let mut d = Derived::default();
    for (k, i) in table {
        if ItemKind::parse_key(v01(), k).is_derived() {
            d.fts.insert(k.clone(), i.clone());
        } else if let Some(AttributeValue::M(m)) = i.get("tags") {
            if !m.is_empty() {
                d.maps.insert(
                    k.clone(),
                    m.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
                );
            }
        }
    }
    d
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run scripts/venv.sh reference",
        p.display()
    );
    p
}

/// The reference package's derived state for `sources` (tests/oracle.py).
pub fn oracle(sources: &[Item]) -> Derived {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python())
        .arg(root().join("functions/materializer/tests/oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the oracle");
    let input = serde_json::to_vec(sources).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("oracle");
    assert!(
        out.status.success(),
        "oracle failed (scripts/venv.sh reference installs what it needs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oracle output");
    let mut d = Derived::default();
    for (k, m) in v["maps"].as_object().expect("maps") {
        let (pk, sk) = k.split_once('\u{0}').expect("key");
        let map: BTreeMap<String, AttributeValue> =
            serde_json::from_value(m.clone()).expect("map values");
        d.maps.insert(ItemKey::new(pk, sk), map);
    }
    for f in v["fts"].as_array().expect("fts") {
        let item: Item = serde_json::from_value(f.clone()).expect("fts item");
        d.fts.insert(key_of(&item), item);
    }
    d
}

/// Keys differing between two derived states, for a readable failure.
pub fn diff(a: &Derived, b: &Derived) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&ItemKey> = a.maps.keys().chain(b.maps.keys()).collect();
    for k in keys {
        if a.maps.get(k) != b.maps.get(k) {
            out.push(format!(
                "map {k}: {:?} != {:?}",
                a.maps.get(k).map(|m| m.keys().collect::<Vec<_>>()),
                b.maps.get(k).map(|m| m.keys().collect::<Vec<_>>())
            ));
        }
    }
    let keys: BTreeSet<&ItemKey> = a.fts.keys().chain(b.fts.keys()).collect();
    for k in keys {
        if a.fts.get(k) != b.fts.get(k) {
            out.push(format!(
                "fts {k}: {} / {}",
                a.fts.contains_key(k),
                b.fts.contains_key(k)
            ));
        }
    }
    out
}

/// A table made by someone else (a store session) on the endpoint, as a
/// [`TestTable`]; it must have a stream.
pub async fn existing_table(name: &str) -> TestTable {
    let clients = mlflow_ddb_aws::testkit::clients().await;
    let summary = mlflow_ddb_aws::describe_table(&clients.ddb, name)
        .await
        .expect("describe");
    assert!(summary.stream_arn.is_some(), "no stream on {name}");
    TestTable {
        name: name.to_owned(),
        clients,
        summary,
    }
}

/// Deps whose format is read from the table (`TABLE_FORMAT=auto`, the
/// default) through `probe`.
pub fn deps_auto(store: Arc<dyn Store>, probe: Arc<mlflow_ddb_aws::DynamoStore>) -> Deps {
    let mut d = deps(store, None, None);
    d.format = mlflow_ddb_engine::FormatResolver::detect(
        mlflow_ddb_core::format::FormatSetting::Auto,
        probe,
    );
    d
}
