//! Shared by the indexer's tests and benchmark: reference-built tables of
//! any size, loading, scanning, and the expected state by the core's plan
//! semantics.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use mlflow_ddb_aws::Store;
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_core::plan::memory::{apply, snapshot, Table};
use mlflow_ddb_core::plan::plan_target;

pub fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}

pub fn key_of(item: &Item) -> ItemKey {
    match (item.get("PK"), item.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => ItemKey::new(pk, sk),
        _ => panic!("item without a key"),
    }
}

/// The session table the `v0.1` reference store wrote (core's fixture).
pub fn reference_table() -> Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/mlflow-ddb-core/tests/fixtures/plan/reference_v0_1_table.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let items: Vec<Item> = serde_json::from_slice(&bytes).expect("fixture items");
    items.into_iter().map(|i| (key_of(&i), i)).collect()
}

/// The fixture's experiment id (its one non-default experiment).
const EXP_ID: &str = "01m7y1sy3cva228k21dbkxmgca";

fn replace(v: &AttributeValue, from: &str, to: &str) -> AttributeValue {
    match v {
        AttributeValue::S(s) => AttributeValue::S(s.replace(from, to)),
        AttributeValue::M(m) => AttributeValue::M(
            m.iter()
                .map(|(k, v)| (k.replace(from, to), replace(v, from, to)))
                .collect(),
        ),
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(|v| replace(v, from, to)).collect()),
        other => other.clone(),
    }
}

/// The reference table with its experiment partition (and that
/// experiment's CONFIG item) copied `copies` times under new experiment
/// ids: a reference-built table of any size.
pub fn reference_table_x(copies: usize) -> Table {
    let base = reference_table();
    let mut out = base.clone();
    for n in 1..copies {
        let id = format!("{}{n:06}", &EXP_ID[..EXP_ID.len() - 6]);
        for item in base.values() {
            if !key_of(item).pk.contains(EXP_ID) && !key_of(item).sk.contains(EXP_ID) {
                continue;
            }
            let copy: Item = item
                .iter()
                .map(|(k, v)| (k.clone(), replace(v, EXP_ID, &id)))
                .collect::<std::collections::HashMap<_, _>>()
                .into();
            out.insert(key_of(&copy), copy);
        }
    }
    out
}

pub fn config_of(table: &Table) -> Config {
    Config::from_items(
        table
            .values()
            .filter(|i| i.get("PK") == Some(&AttributeValue::S("CONFIG".into()))),
    )
    .expect("config items")
}

/// `table` reconciled target by target with the core's semantics.
pub fn reconciled(table: &Table) -> Table {
    let p = v01();
    let config = config_of(table);
    let mut out = table.clone();
    let targets: Vec<ItemKey> = table
        .keys()
        .filter_map(|k| indexer::target_of(p, &config, k))
        .collect();
    for t in targets {
        let plan = plan_target(p, &config, &snapshot(p, &config, &out, &t));
        apply(&mut out, &plan);
    }
    out
}

/// Without any derived state: FTS items removed, tags maps emptied.
pub fn stripped(table: &Table) -> Table {
    table
        .iter()
        .filter(|(k, _)| !ItemKind::parse_key(v01(), k).is_derived())
        .map(|(k, i)| {
            let mut i = i.clone();
            if let Some(AttributeValue::M(m)) = i.get_mut("tags") {
                m.clear();
            }
            (k.clone(), i)
        })
        .collect()
}

pub async fn load(store: &dyn Store, table: &Table) {
    store
        .batch_write(table.values().cloned().collect(), Vec::new())
        .await
        .expect("load table");
}

pub async fn scan_all(store: &dyn Store) -> BTreeMap<ItemKey, Item> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .scan_segment(0, 1, start, None, None)
            .await
            .expect("scan");
        for i in page.items {
            out.insert(key_of(&i), i);
        }
        match page.last_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

/// Keys only in one side, and keys whose items differ.
pub fn diff(a: &Table, b: &BTreeMap<ItemKey, Item>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("only expected: {k}")),
            Some(w) if w != v => out.push(format!("differs: {k}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("only actual: {k}"));
        }
    }
    out
}

pub fn deps(store: Arc<dyn Store>) -> indexer::Deps {
    indexer::Deps::new(
        store,
        v01(),
        indexer::Settings {
            concurrency: 8,
            reserve: std::time::Duration::ZERO,
        },
    )
}
