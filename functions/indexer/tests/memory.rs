//! The walk on the in-memory store: targets, verify, backfill, idempotence,
//! continuations, bad payloads.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use indexer::*;
use mlflow_ddb_aws::testkit::{config_of, diff, reference_table};
use mlflow_ddb_aws::MemoryStore;
use mlflow_ddb_core::item::ItemKey;
use serde_json::json;

fn check_target(pk: &str, sk: &str, expected: bool) {
    let table = reference_table();
    let config = config_of(&table);
    let key = ItemKey::new(pk, sk);
    assert_eq!(target_of(v01(), &config, &key).is_some(), expected, "{key}");
}

#[test]
fn targets_are_the_meta_items_with_derived_state() {
    for (pk, sk, expected) in [
        ("EXP#1", "E#META", true),
        ("EXP#1", "R#r1", true),
        ("EXP#1", "T#tr-1", true),
        ("RM#m1", "M#META", true),
        ("RM#m1", "V#00000001", true),
        ("EXP#1", "R#r1#TAG#team.name", false),
        ("EXP#1", "R#r1#PARAM#lr", false),
        ("EXP#1", "T#tr-1#ASSESS#a1", false),
        ("EXP#1", "FTS#3#abc#R#r1", false),
        ("EXP#1", "FTS_REV#R#r1#W#abc", false),
        ("EXP#1", "R#r1#METRIC#acc", false),
        ("EXP#1", "E#NAME_REV", false),
        ("CONFIG", "DENORMALIZE_TAGS", false),
        ("WORKSPACE#default", "META", false),
    ] {
        check_target(pk, sk, expected);
    }
}

async fn walk(store: &Arc<MemoryStore>, mode: WalkMode, segments: u32) -> Summary {
    let deps = Arc::new(deps(store.clone()));
    drive(
        deps,
        &DriveOptions {
            examples: 1000,
            ..DriveOptions::new(mode, segments)
        },
    )
    .await
    .expect("drive")
}

#[tokio::test]
async fn verify_backfill_verify_on_a_stripped_reference_table() {
    let reference = reference_table_x(3);
    let bare = stripped(&reference);
    let store = Arc::new(MemoryStore::with_items(bare.values().cloned()));

    let before = walk(&store, WalkMode::Verify, 2).await;
    assert!(before.done && !before.clean());
    assert_eq!(before.counts.items_scanned, bare.len() as u64);
    assert_eq!(before.counts.writes, 0);
    assert_eq!(store.snapshot(), bare, "verify wrote");
    // Every targeted experiment, run, trace, model and version has drift.
    assert_eq!(before.counts.targets, 3 * 3 + 1 + 2);

    let fix = walk(&store, WalkMode::Backfill, 3).await;
    assert_eq!(
        diff(&reconciled(&bare), &store.snapshot()),
        Vec::<String>::new()
    );
    assert_eq!(
        fix.counts.fts_puts,
        before.drift.count(Category::MissingFtsItems)
    );
    assert_eq!(
        fix.counts.map_updates,
        3 * 3 + 2, // the experiment, run and trace of 3 copies; the model and its version
    );

    let again = walk(&store, WalkMode::Backfill, 1).await;
    assert_eq!(again.counts.writes, 0);
    assert!(walk(&store, WalkMode::Verify, 4).await.clean());
}

#[tokio::test]
async fn continuations_reach_the_same_state_as_one_run() {
    let bare = stripped(&reference_table_x(2));
    let one = Arc::new(MemoryStore::with_items(bare.values().cloned()));
    let single = walk(&one, WalkMode::Backfill, 1).await;

    let resumed = Arc::new(MemoryStore::with_items(bare.values().cloned()));
    let deps = deps(resumed.clone());
    let mut written = (0, 0, 0);
    let mut invocations = 0;
    for segment in 0..2 {
        let mut payload = json!({
            "mode": "backfill", "segment": segment, "total_segments": 2, "page_size": 5
        });
        loop {
            // A deadline already passed: one page per invocation.
            let out = handle_event(&deps, payload, Instant::now(), "indexer", "test", false)
                .await
                .expect("invocation");
            invocations += 1;
            let state: SegmentState = serde_json::from_value(out.clone()).expect("state");
            assert_eq!(state.counts.invocations, state.counts.pages);
            if state.done {
                written.0 += state.counts.map_updates;
                written.1 += state.counts.fts_puts;
                written.2 += state.counts.fts_deletes;
                break;
            }
            assert!(state.start_key.is_some());
            payload = out;
        }
    }
    assert!(invocations > 10, "{invocations}");
    assert_eq!(resumed.snapshot(), one.snapshot());
    // Nothing written twice (request counts differ: FTS writes are pooled per page).
    let c = &single.counts;
    assert_eq!(written, (c.map_updates, c.fts_puts, c.fts_deletes));
}

#[tokio::test]
async fn bad_payloads_are_refused() {
    let deps = deps(Arc::new(MemoryStore::new()));
    for payload in [
        json!({"mode": "repair"}),
        json!({"mode": "verify", "segment": 2, "total_segments": 2}),
        json!({"mode": "verify", "total_segments": 0}),
        json!({"segment": 0}),
    ] {
        let e = handle_event(
            &deps,
            payload.clone(),
            Instant::now(),
            "indexer",
            "test",
            false,
        )
        .await
        .expect_err("refused");
        assert!(matches!(e, IndexerError::Request(_)), "{payload}: {e}");
        assert!(!e.is_transient());
    }
}
