//! Whole-table helpers for tests and benchmarks (feature `testkit`), over
//! the [`Store`] port, so they serve the fakes and the DynamoDB store alike: the reference-built table
//! fixture, loading a table into a [`Store`], scanning it back, and a
//! readable difference of two tables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_core::plan::memory::Table;

use crate::Store;

/// The key of a fixture item (panics on an item without `PK`/`SK`: test
/// data only).
pub fn key_of(item: &Item) -> ItemKey {
    match (item.get("PK"), item.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => ItemKey::new(pk, sk),
        _ => panic!("item without a key"),
    }
}

/// The table the `v0.1` reference store wrote in a realistic session (the
/// core's plan fixture `tests/fixtures/plan/reference_v0_1_table.json`).
pub fn reference_table() -> Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mlflow-ddb-core/tests/fixtures/plan/reference_v0_1_table.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let items: Vec<Item> = serde_json::from_slice(&bytes).expect("fixture items");
    items.into_iter().map(|i| (key_of(&i), i)).collect()
}

/// The configuration held by `table`'s CONFIG items.
pub fn config_of(table: &Table) -> Config {
    Config::from_items(
        table
            .values()
            .filter(|i| i.get("PK") == Some(&AttributeValue::S("CONFIG".into()))),
    )
    .expect("config items")
}

/// `table` without any derived state: FTS items removed, tags maps emptied.
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

/// Writes every item of `table` to `store`.
pub async fn load(store: &dyn Store, table: &Table) {
    store
        .batch_write(table.values().cloned().collect(), Vec::new())
        .await
        .expect("load table");
}

/// Items per page of [`scan_all`]: the emulator sorts and walks a table for
/// each 1 MB page, which on a loaded machine can outlast an attempt's
/// timeout every time; small pages keep each request short.
pub const SCAN_PAGE: u32 = 1000;

/// Every item of `store`, by one sequential scan.
pub async fn scan_all(store: &dyn Store) -> BTreeMap<ItemKey, Item> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .scan_segment(0, 1, start, None, Some(SCAN_PAGE))
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

/// Keys only in `left` (usually the expected table), only in `right`, and
/// keys whose items differ; empty when the tables are equal.
pub fn diff(left: &Table, right: &BTreeMap<ItemKey, Item>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in left {
        match right.get(k) {
            None => out.push(format!("only left (expected): {k}")),
            Some(w) if w != v => out.push(format!("differs: {k}")),
            _ => {}
        }
    }
    for k in right.keys() {
        if !left.contains_key(k) {
            out.push(format!("only right (actual): {k}"));
        }
    }
    out
}
