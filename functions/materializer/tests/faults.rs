//! Faults on the local endpoint: throttling and 5xx injected (the testkit's
//! fault proxy) all through a run of more than 10,000 stream records, plus a
//! few permanent errors. Nothing is lost: every target ends right; the
//! poisoned records reach the DLQ with their full content while the rest of
//! their batches is processed, and `replay` restores them.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use materializer::envelope::DlqMessage;
use materializer::replay::{handle_dlq_message, replay_queue};
use mlflow_ddb_aws::testkit::{self, item, s, unique_name, Fault, TestTable};
use mlflow_ddb_aws::{Queue, SqsQueue, Store, StoreOptions};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_engine::{load_config, reconcile_targets, Mode};

// Few targets with many tags: moto answers a Query in about a second on a
// 10,000-item table, so the run's cost is its number of targets.
const EXPERIMENTS: usize = 20;
const TAGS: usize = 500;

fn sources() -> Vec<Item> {
    let mut out = Vec::new();
    for e in 0..EXPERIMENTS {
        let pk = format!("EXP#f{e:04}");
        out.push(item(
            &pk,
            "E#META",
            [
                ("name", s(format!("fault run {e}"))),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ));
        for t in 0..TAGS {
            let key = format!("mlflow.k{t:02}");
            out.push(item(
                &pk,
                &format!("E#TAG#{key}"),
                [("key", s(key.clone())), ("value", s(format!("v{e}-{t}")))],
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_under_faults_lose_nothing() {
    let table = TestTable::new("v0.1", true).await;
    let direct: Arc<dyn Store> = Arc::new(table.store());
    let items = sources();
    assert!(items.len() > 10_000);
    for chunk in items.chunks(1000) {
        direct
            .batch_write(chunk.to_vec(), vec![])
            .await
            .expect("raw writes");
    }

    let (proxy, via) = testkit::proxied().await;
    let faulty: Arc<dyn Store> = Arc::new(table.store_via(
        &via,
        StoreOptions {
            ..TestTable::store_options()
        },
    ));
    let dlq = Arc::new(
        SqsQueue::create(&table.clients, &unique_name("dlq"))
            .await
            .expect("queue"),
    );

    // Three permanent errors (an item over 400 KB, as DynamoDB words it).
    proxy.inject(
        "DynamoDB_20120810.UpdateItem",
        3,
        Fault::dynamodb(
            400,
            "ValidationException",
            "Item size has exceeded the maximum allowed size",
        ),
    );
    // Transient faults all through the run: 30 % of every data-plane
    // request answered with throttling, 500 or 503 (seeded: CRASH_SEED /
    // FAULT_SEED repeat a run).
    let seed = testkit::seed_from_env("FAULT_SEED");
    let faults = vec![
        Fault::throttling(),
        Fault::server_error(500),
        Fault::server_error(503),
    ];
    for op in [
        "Query",
        "UpdateItem",
        "BatchWriteItem",
        "BatchGetItem",
        "GetItem",
        "PutItem",
    ] {
        proxy.inject_rate(
            &format!("DynamoDB_20120810.{op}"),
            0.3,
            faults.clone(),
            seed,
        );
    }

    let deps = deps(faulty.clone(), Some(dlq.clone() as Arc<dyn Queue>), None);
    let mut opts = tail_options(&table, Some(dlq.clone() as Arc<dyn Queue>));
    opts.max_retries = 10;
    opts.batch_size = 1000;
    let summary = run_tail(&deps, &table, &opts).await;
    proxy.clear_rates();
    let gate = faulty.gate_stats().expect("a DynamoDB store");
    let logical = gate.attempts - gate.retries;
    eprintln!(
        "tail under 30 % faults (seed {seed}): {summary:?}; gate {gate:?}; attempts per logical request {:.3}",
        gate.attempts as f64 / logical.max(1) as f64,
    );

    assert!(summary.stats.records as usize >= items.len(), "{summary:?}");
    assert_eq!(
        summary.on_failure_messages, 0,
        "no batch given up: {summary:?}"
    );
    // About 30 % of the attempts met a fault (each a transient failure).
    assert!(
        gate.transient >= 20 && gate.transient * 100 >= gate.attempts * 15,
        "faults all through the run: {gate:?}"
    );
    assert!(gate.retries >= gate.transient - gate.exhausted, "{gate:?}");
    assert!(summary.stats.retries > 0, "{summary:?}");
    // One dead letter per poisoned target, covering its other records.
    let sends = summary.stats.dlq_sends;
    assert!((1..=3).contains(&sends), "{summary:?}");
    assert!(
        summary
            .stats
            .skipped
            .get("covered-by-dead-letter")
            .copied()
            .unwrap_or(0)
            > 0,
        "{summary:?}"
    );

    // The poisoned records are in the DLQ with their full content.
    let depth = dlq.depth().await.expect("depth");
    assert_eq!(depth, sends);
    let peek = dlq
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    for m in &peek {
        let DlqMessage::Envelope(env) = DlqMessage::parse(&m.body) else {
            panic!("not an envelope: {}", m.body)
        };
        assert_eq!(env.error.kind, "too-large");
        assert!(
            env.record["dynamodb"]["NewImage"]["PK"]["S"].is_string(),
            "full record kept"
        );
        assert!(env.record["dynamodb"]["SequenceNumber"].is_string());
        assert!(!env.truncated);
    }

    // Meanwhile the poisoned targets lack some entries; the others are right.
    let config = load_config(&*direct).await.expect("config");
    let targets: Vec<ItemKey> = (0..EXPERIMENTS)
        .map(|e| ItemKey::new(format!("EXP#f{e:04}"), "E#META"))
        .collect();
    let drifting = |outcomes: Vec<mlflow_ddb_engine::TargetOutcome>| -> Vec<ItemKey> {
        outcomes
            .into_iter()
            .filter(|o| !o.result.as_ref().expect("verify").noop)
            .map(|o| o.target)
            .collect()
    };
    let before =
        drifting(reconcile_targets(&*direct, v01(), &config, &targets, Mode::Verify, 8).await);
    assert!(!before.is_empty() && before.len() <= 3, "{before:?}");
    // A target poisoned in one batch may be repaired by a later one.
    assert!(before.len() as u64 <= sends, "{before:?}");

    // Replay restores them: the messages received above through the SQS
    // event path (as the DLQ event source would), the rest from a terminal
    // (`materializer replay`).
    let rdeps = common::deps(direct.clone(), Some(dlq.clone() as Arc<dyn Queue>), None);
    let mut replayed = 0;
    for m in &peek {
        let r = handle_dlq_message(&rdeps, &m.body, Instant::now() + Duration::from_secs(30)).await;
        assert!(r.done, "{:?}", r.reason);
        dlq.delete(&m.receipt_handle).await.expect("delete");
        replayed += 1;
    }
    let r = replay_queue(&rdeps, &*dlq, 10_000, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!(r.kept, 0, "{r:?}");
    replayed += r.replayed;
    assert_eq!(replayed, sends);
    assert_eq!(dlq.depth().await.expect("depth"), 0);
    let after =
        drifting(reconcile_targets(&*direct, v01(), &config, &targets, Mode::Verify, 8).await);
    assert!(after.is_empty(), "{after:?}");
    let all = scan_all(&*direct).await;
    for t in &targets {
        let Some(AttributeValue::M(m)) = all.get(t).and_then(|i| i.get("tags")) else {
            panic!("{t}")
        };
        assert_eq!(m.len(), TAGS, "{t}");
    }
}
