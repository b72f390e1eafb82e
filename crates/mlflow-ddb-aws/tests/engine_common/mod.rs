//! For the engine's endpoint test (`engine_endpoint.rs`): the expected state computed with the core's
//! in-memory plan semantics; the table fixture and whole-table helpers come
//! from the adapter's testkit.
#![allow(dead_code)]

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::memory::{apply, snapshot, Table};
use mlflow_ddb_core::plan::{plan_target, reads_for};

pub fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
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
