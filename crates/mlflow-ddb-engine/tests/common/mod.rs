//! Shared by the engine's tests: the reference-built table fixture and the
//! expected state computed with the core's in-memory plan semantics.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::memory::{apply, snapshot, Table};
use mlflow_ddb_core::plan::{plan_target, reads_for};

pub fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}

pub fn key_of(item: &Item) -> ItemKey {
    match (item.get("PK"), item.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => ItemKey::new(pk, sk),
        _ => panic!("item without a key"),
    }
}

/// The table the `v0.1` reference store wrote in a realistic session
/// (core's plan fixture).
pub fn reference_table() -> Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mlflow-ddb-core/tests/fixtures/plan/reference_v0_1_table.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let items: Vec<Item> = serde_json::from_slice(&bytes).expect("fixture items");
    items.into_iter().map(|i| (key_of(&i), i)).collect()
}

pub fn config_of(table: &Table) -> Config {
    Config::from_items(
        table
            .values()
            .filter(|i| i.get("PK") == Some(&AttributeValue::S("CONFIG".into()))),
    )
    .expect("config items")
}

/// Every key of `table` that is a target in this format.
pub fn targets(profile: &Profile, config: &Config, table: &Table) -> Vec<ItemKey> {
    table
        .keys()
        .filter(|k| {
            ItemKind::parse_key(profile, k).relevance() == Relevance::Target
                && reads_for(profile, config, k).is_some()
        })
        .cloned()
        .collect()
}

/// `table` with every target planned and applied by the core's semantics.
pub fn reconciled(profile: &Profile, config: &Config, table: &Table) -> Table {
    let mut out = table.clone();
    for t in targets(profile, config, table) {
        let plan = plan_target(profile, config, &snapshot(profile, config, &out, &t));
        apply(&mut out, &plan);
    }
    out
}

/// The reference table without any derived state: FTS items removed, tag
/// maps emptied.
pub fn stripped(profile: &Profile, table: &Table) -> Table {
    table
        .iter()
        .filter(|(k, _)| !ItemKind::parse_key(profile, k).is_derived())
        .map(|(k, i)| {
            let mut i = i.clone();
            if let Some(AttributeValue::M(m)) = i.get_mut("tags") {
                m.clear();
            }
            (k.clone(), i)
        })
        .collect()
}

/// Keys present in one table and not the other, and keys whose items differ.
pub fn diff(a: &Table, b: &BTreeMap<ItemKey, Item>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("only left: {k}")),
            Some(w) if w != v => out.push(format!("differs: {k}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("only right: {k}"));
        }
    }
    out
}
