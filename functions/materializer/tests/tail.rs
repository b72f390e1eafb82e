//! `tail` resumes from its checkpoint file: a second run reads nothing
//! already done, a later write is read on the next run. A time limit stops
//! it and its summary says so. Its bisection narrows a failure down to the
//! failing records.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use materializer::envelope::{BatchInfo, DlqMessage};
use materializer::replay::replay_queue;
use mlflow_ddb_aws::testkit::{self, item, s, unique_name, Fault, TestTable};
use mlflow_ddb_aws::{MemoryQueue, Queue, Store, StreamReader};
use mlflow_ddb_core::item::{AttributeValue, ItemKey};

/// An experiment's `E#META` with an empty `tags` map.
fn meta(pk: &str) -> mlflow_ddb_core::item::Item {
    item(
        pk,
        "E#META",
        [
            ("name", s(pk)),
            ("tags", AttributeValue::M(Default::default())),
        ],
    )
}

/// A tag item of the experiment `pk`.
fn tag(pk: &str, key: &str) -> mlflow_ddb_core::item::Item {
    item(
        pk,
        &format!("E#TAG#{key}"),
        [("key", s(key)), ("value", s("v"))],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_from_its_checkpoint() {
    let table = TestTable::new("v0.1", true).await;
    let store: Arc<dyn Store> = Arc::new(table.store());
    store
        .batch_write(vec![meta("EXP#ck"), tag("EXP#ck", "mlflow.a")], vec![])
        .await
        .expect("writes");

    let path = std::env::temp_dir()
        .join(unique_name("ckpt"))
        .join("tail.json");
    let d = deps(store.clone(), None, None);
    let mut opts = tail_options(&table, None);
    opts.checkpoint = Some(path.clone());
    let first = run_tail(&d, &table, &opts).await;
    assert!(first.stats.records >= 2, "{first:?}");
    let saved = std::fs::read_to_string(&path).expect("checkpoint written");
    assert!(saved.contains(table.stream_arn().expect("arn")), "{saved}");

    let again = run_tail(&d, &table, &opts).await;
    assert_eq!(again.stats.records, 0, "{again:?}");

    store
        .batch_write(vec![tag("EXP#ck", "mlflow.b")], vec![])
        .await
        .expect("write");
    let next = run_tail(&d, &table, &opts).await;
    assert!(
        next.stats.records >= 1 && next.stats.writes >= 1,
        "{next:?}"
    );
    let all = scan_all(&*store).await;
    let Some(AttributeValue::M(m)) = all
        .get(&mlflow_ddb_core::item::ItemKey::new("EXP#ck", "E#META"))
        .and_then(|i| i.get("tags"))
    else {
        panic!("no map")
    };
    assert_eq!(m.len(), 2);
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

/// `--max-seconds`: a tail that would follow the stream for ever
/// (`until_idle` off) stops at its limit, after it carried what was there,
/// and its summary says it stopped at the limit (`caught_up` false), where
/// `--until-idle` says it caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_limit_stops_a_follow_and_the_summary_says_so() {
    let table = TestTable::new("v0.1", true).await;
    let store: Arc<dyn Store> = Arc::new(table.store());
    store
        .batch_write(vec![meta("EXP#lim"), tag("EXP#lim", "mlflow.note")], vec![])
        .await
        .expect("writes");
    let d = deps(store.clone(), None, None);

    let mut follow = tail_options(&table, None);
    follow.until_idle = false;
    follow.max_elapsed = Some(Duration::from_secs(2));
    let limited = run_tail(&d, &table, &follow).await;
    assert!(!limited.caught_up, "stopped at the limit: {limited:?}");
    assert!(
        limited.stats.records >= 2 && limited.stats.writes >= 1,
        "what was there is carried before the limit: {limited:?}"
    );
    let all = scan_all(&*store).await;
    let Some(AttributeValue::M(m)) = all
        .get(&ItemKey::new("EXP#lim", "E#META"))
        .and_then(|i| i.get("tags"))
    else {
        panic!("no map")
    };
    assert!(m.contains_key("mlflow.note"), "{m:?}");

    let idle = run_tail(&d, &table, &tail_options(&table, None)).await;
    assert!(idle.caught_up, "until idle: {idle:?}");
}

/// The event source mapping's bisection, emulated by `tail`: one target that
/// can never be written (its UpdateItem always throttled) costs only its
/// own records, which go to the on-failure destination in small ranges; the
/// records around them are materialized; replaying the ranges later (the
/// fault gone) restores everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bisection_isolates_a_failing_target_and_replay_restores_it() {
    let table = TestTable::new("v0.1", true).await;
    let direct: Arc<dyn Store> = Arc::new(table.store());
    let experiments = 8;
    let mut items = Vec::new();
    for e in 0..experiments {
        let pk = format!("EXP#bi{e}");
        items.push(item(
            &pk,
            "E#META",
            [
                ("name", s(format!("bisected {e}"))),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ));
        items.push(item(
            &pk,
            "E#TAG#mlflow.note",
            [("key", s("mlflow.note")), ("value", s("v"))],
        ));
    }
    direct.batch_write(items, vec![]).await.expect("writes");

    let (proxy, via) = testkit::proxied().await;
    proxy.inject_where(
        "DynamoDB_20120810.UpdateItem",
        "EXP#bi3",
        usize::MAX / 2,
        Fault::throttling(),
    );
    let faulty: Arc<dyn Store> = Arc::new(table.store_via(&via, TestTable::store_options()));
    let dest = Arc::new(MemoryQueue::new());

    let d = deps(faulty, None, None);
    let mut opts = tail_options(&table, Some(dest.clone() as Arc<dyn Queue>));
    opts.max_retries = 3;
    opts.bisect = true;
    let summary = run_tail(&d, &table, &opts).await;
    assert!(summary.bisections >= 1, "{summary:?}");
    assert!(summary.on_failure_messages >= 1, "{summary:?}");

    let ranges: Vec<BatchInfo> = dest
        .messages()
        .iter()
        .map(|m| match DlqMessage::parse(&m.body) {
            DlqMessage::BatchInfo(b) => b,
            other => panic!("not an on-failure message: {other:?}"),
        })
        .collect();
    let given_up: u64 = ranges.iter().map(|b| b.batch_size.unwrap_or(0)).sum();
    // Without bisection the whole rest of the batch (from EXP#bi3's first
    // record on, 11 or more records) would have been given up.
    assert!(
        (2..=6).contains(&given_up),
        "{given_up} records: {ranges:?}"
    );

    let tagged = |all: &std::collections::BTreeMap<ItemKey, _>| -> Vec<usize> {
        (0..experiments)
            .filter(|e| {
                let meta: Option<&mlflow_ddb_core::item::Item> =
                    all.get(&ItemKey::new(format!("EXP#bi{e}"), "E#META"));
                matches!(meta.and_then(|m| m.get("tags")), Some(AttributeValue::M(m)) if !m.is_empty())
            })
            .collect()
    };
    let before = tagged(&scan_all(&*direct).await);
    assert!(!before.contains(&3), "{before:?}");
    assert!(before.len() >= experiments - 3, "{before:?}");

    // The fault is gone: replaying the ranges (read back from the stream)
    // materializes what was given up.
    let rdeps = deps(
        direct.clone(),
        None,
        Some(StreamReader::new(&table.clients)),
    );
    let r = replay_queue(&rdeps, &*dest, 100, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!((r.replayed, r.kept), (ranges.len() as u64, 0), "{r:?}");
    assert_eq!(
        tagged(&scan_all(&*direct).await),
        (0..experiments).collect::<Vec<_>>()
    );
}
