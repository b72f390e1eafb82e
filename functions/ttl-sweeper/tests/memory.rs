//! The handler on the in-memory store: event options, categories, deadline.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use mlflow_ddb_aws::{MemoryStore, Store};
use mlflow_ddb_core::sweep::{checkpoint_key, Checkpoint};
use serde_json::json;
use ttl_sweeper::{handle, sweep, Budget, NoProgress, SweepOptions};

fn table() -> Vec<mlflow_ddb_core::item::Item> {
    let mut items = Vec::new();
    for e in 0..8 {
        items.extend(experiment(&format!("live{e}"), true, 2));
    }
    items.extend(experiment("gone", false, 1));
    // a model whose M#META is gone, and a live one
    items.push(item("RM#dead", "M#TAG#owner"));
    items.push(item("RM#dead", "V#00001"));
    items.push(item("RM#ok", "M#META"));
    // a run whose META is gone in a live experiment
    items.extend(run_children("EXP#live0", "lost"));
    // an orphan already expiring
    items.push(with_ttl("EXP#gone", "T#tr-1", 5));
    items.push(item("CONFIG", "TTL_POLICY"));
    items
}

#[tokio::test]
async fn event_options_apply_and_categories_are_reported() {
    let store = Arc::new(MemoryStore::with_items(table()));
    let d = deps(store.clone(), "mem", SweepOptions::default());
    let before = store.snapshot();
    let s = handle(&d, &json!({"dry_run": true, "segments": 3}), None)
        .await
        .unwrap();
    assert!(s.dry_run && s.complete && !s.aborted);
    assert_eq!(s.total_segments, 3);
    assert_eq!(s.partitions_scanned, 11);
    assert_eq!(
        (s.orphans.experiment.groups, s.orphans.experiment.items),
        (1, 10)
    );
    assert_eq!(
        (
            s.orphans.registered_model.groups,
            s.orphans.registered_model.items
        ),
        (1, 2)
    );
    assert_eq!((s.orphans.run.groups, s.orphans.run.items), (1, 6));
    assert_eq!(store.snapshot(), before, "a dry run wrote");

    let s = handle(&d, &json!({"detail": {}}), None).await.unwrap();
    assert_eq!(s.items_expired, 17);
    assert_eq!(s.items_skipped_already_expiring, 1);
    assert!(s.complete);
    assert!(store.get(&checkpoint_key(), true).await.unwrap().is_none());
    // The orphan that already expired keeps its earlier ttl.
    let snap = store.snapshot();
    assert_eq!(ttl_of(&snap[&key("EXP#gone", "T#tr-1")]), Some(5));
    assert!(ttl_of(&snap[&key("RM#dead", "V#00001")]).is_some());
    assert_eq!(
        ttl_of(&snap[&key("EXP#live1", "R#rlive1x0#PARAM#lr")]),
        None
    );
}

#[tokio::test]
async fn the_breaker_fraction_comes_from_the_event() {
    let store = Arc::new(MemoryStore::with_items(table()));
    let d = deps(store.clone(), "mem", SweepOptions::default());
    // 2 of 11 partitions orphaned: 0.18; a fraction of 0.1 trips.
    let s = handle(&d, &json!({"breaker_fraction": 0.1}), None)
        .await
        .unwrap();
    assert!(s.aborted, "{s:?}");
    assert_eq!(s.items_expired, 0);
}

#[tokio::test]
async fn a_passed_deadline_stops_before_scanning_and_keeps_the_checkpoint_at_the_start() {
    let store = Arc::new(MemoryStore::with_items(table()));
    let d = deps(store.clone(), "mem", SweepOptions::default());
    let before = store.snapshot();
    let opts = SweepOptions::default();
    let out = sweep(
        &d,
        &opts,
        1_000,
        &Budget {
            deadline: Some(Instant::now()),
            ..Budget::default()
        },
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(out.summary.pages_scanned, 0);
    assert!(!out.summary.complete);
    assert_eq!(
        out.summary.stopped_early.as_deref(),
        Some("deadline approaching")
    );
    let cp = store.get(&checkpoint_key(), true).await.unwrap().unwrap();
    let cp = Checkpoint::from_item(&cp).unwrap();
    assert!(!cp.is_resumed());
    assert_eq!(cp.invocations, 1);
    let mut after = store.snapshot();
    after.remove(&checkpoint_key());
    assert_eq!(after, before);
}
