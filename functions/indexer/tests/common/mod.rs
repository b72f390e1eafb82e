//! Shared by the indexer's tests and benchmark: reference-built tables of
//! any size and the expected state by the core's plan semantics (loading,
//! scanning and diffing come from the adapter's testkit).
#![allow(dead_code)]

use std::sync::Arc;

use mlflow_ddb_aws::testkit::{config_of, key_of, reference_table};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::plan::memory::{apply, snapshot, Table};
use mlflow_ddb_core::plan::plan_target;

pub fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
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
    mlflow_ddb_aws::testkit::stripped(v01(), table)
}

pub fn deps(store: Arc<dyn Store>) -> indexer::Deps {
    indexer::Deps::new(
        store,
        mlflow_ddb_engine::FormatResolver::fixed(mlflow_ddb_core::format::TableFormat::V0_1),
        indexer::Settings {
            concurrency: 8,
            reserve: std::time::Duration::ZERO,
        },
    )
}
