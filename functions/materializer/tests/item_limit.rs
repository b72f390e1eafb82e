//! DynamoDB's 400 KB item limit, for real, on the local endpoint: no fault
//! injected, the emulator itself refuses the write.
//!
//! Which writes moto (5.2) refuses for size, checked by hand against
//! `moto_server`: PutItem and BatchWriteItem puts over ~405,000 bytes
//! (`Item size has exceeded the maximum allowed size`), and UpdateItem
//! whose *top-level* `SET` makes the item larger
//! (`Item size to update has exceeded the maximum allowed size`). It does
//! not check a `SET` of a nested path: `SET tags.#k = :v`, the way the
//! materializer writes a tag map entry, grows an item past 400 KB without
//! complaint (DynamoDB would refuse it). So a tag map overflowing is not
//! testable here; the derived write that moto does refuse is `main`'s
//! run-name sync, two top-level attributes (`run_name`, `lsi4sk`) copied
//! from the run's `mlflow.runName` tag. A tag value of 340,000 bytes (under
//! the 350,000 bytes above which the `main` store moves a value to S3, so
//! the store writes it inline) is a valid 340 KB item, and makes the run's
//! item about 680 KB. (DynamoDB would refuse that update for a second
//! reason too: `lsi4sk` is an index sort key, at most 1,024 bytes. Either
//! way it is a permanent refusal, which is what the test is about.)
//!
//! Moto also applies a multi-attribute `SET` partly when it refuses it
//! (DynamoDB applies none of it): the test asserts nothing about that
//! intermediate state, only that the next correct event repairs the run.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use materializer::envelope::{DlqMessage, MAX_ENVELOPE_BYTES};
use materializer::replay::handle_dlq_message;
use mlflow_ddb_aws::testkit::{item, s, unique_name, TestTable};
use mlflow_ddb_aws::{Queue, SqsQueue, Store};
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_engine::{load_config, reconcile_targets, FormatResolver, Mode};

const PK: &str = "EXP#limit";
/// Characters of the long run name: a valid item of ~340 KB.
const LONG: usize = 340_000;

fn main_profile() -> &'static Profile {
    Profile::of(TableFormat::Main)
}

fn run(id: &str, name: &str) -> Item {
    item(
        PK,
        &format!("R#{id}"),
        [
            ("run_name", s(name)),
            ("tags", AttributeValue::M(Default::default())),
        ],
    )
}

fn run_tag(id: &str, key: &str, value: &str) -> Item {
    item(
        PK,
        &format!("R#{id}#TAG#{key}"),
        [("key", s(key)), ("value", s(value))],
    )
}

fn exp_tag(key: &str, value: &str) -> Item {
    item(
        PK,
        &format!("E#TAG#{key}"),
        [("key", s(key)), ("value", s(value))],
    )
}

/// A long name as a user might paste it: words, so that its tokens are few.
fn long_name() -> String {
    let words = "Harbor sweep notes for the nightly retrain of the churn model ";
    words.repeat(LONG / words.len() + 1)[..LONG].to_owned()
}

fn target(id: &str) -> ItemKey {
    ItemKey::new(PK, format!("R#{id}"))
}

/// The targets among `targets` whose derived state is not right, by the
/// engine's own plan (`Mode::Verify`: reads only).
async fn drifting(store: &dyn Store, targets: &[ItemKey]) -> Vec<ItemKey> {
    let config = load_config(store).await.expect("config");
    reconcile_targets(store, main_profile(), &config, targets, Mode::Verify, 4)
        .await
        .into_iter()
        .filter(|o| !o.result.as_ref().expect("verify").noop)
        .map(|o| o.target)
        .collect()
}

fn attr<'a>(all: &'a BTreeMap<ItemKey, Item>, key: &ItemKey, name: &str) -> Option<&'a str> {
    match all.get(key).and_then(|i| i.get(name)) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// FTS items about run `id`.
fn fts_of(all: &BTreeMap<ItemKey, Item>, id: &str) -> usize {
    all.keys()
        .filter(|k| ItemKind::parse_key(main_profile(), k).is_derived() && k.sk.contains(id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_name_over_the_item_limit_is_refused_dead_lettered_and_repaired_by_the_next_rename() {
    let table = TestTable::new("main", true).await;
    let store: Arc<dyn Store> = Arc::new(table.store());
    let dlq = Arc::new(
        SqsQueue::create(&table.clients, &unique_name("dlq"))
            .await
            .expect("queue"),
    );
    let mut d = deps(store.clone(), Some(dlq.clone() as Arc<dyn Queue>), None);
    d.format = FormatResolver::fixed(TableFormat::Main);
    // One request at a time: moto numbers stream records by the length of
    // its list when a write lands, without a lock, so two writes landing at
    // once can share a sequence number; its shard iterator then hands the
    // last record out again and again, and `tail` never goes idle (seen
    // once in ~30 runs). Nothing here depends on concurrency.
    d.settings.concurrency = 1;
    let mut opts = tail_options(&table, Some(dlq.clone() as Arc<dyn Queue>));
    let dir = std::env::temp_dir().join(unique_name("item-limit"));
    opts.checkpoint = Some(dir.join("tail.json"));
    let put = |items: Vec<Item>| {
        let store = store.clone();
        async move {
            for i in items {
                // One request each: the stream keeps the order written.
                store.batch_write(vec![i], vec![]).await.expect("write");
            }
        }
    };

    // An experiment and two runs, materialized.
    put(vec![
        item(
            PK,
            "E#META",
            [
                ("name", s("Item limits")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ),
        run("small", "first try"),
        run_tag("small", "mlflow.runName", "Quiet Harbor"),
        run("big", "before"),
        run_tag("big", "mlflow.user", "ada"),
    ])
    .await;
    let first = run_tail(&d, &table, &opts).await;
    assert_eq!(first.stats.dlq_sends, 0, "{first:?}");
    let targets = [
        ItemKey::new(PK, "E#META"),
        target("small"),
        target("big"),
        target("other"),
    ];
    assert_eq!(drifting(&*store, &targets).await, Vec::<ItemKey>::new());

    // One batch: the 340 KB name on `big`, among other users' changes.
    let long = long_name();
    put(vec![
        run_tag("big", "mlflow.runName", &long),
        run_tag("small", "mlflow.user", "grace"),
        exp_tag("mlflow.note.content", "kept"),
        run("other", "third"),
        run_tag("other", "mlflow.runName", "Copper Lantern"),
    ])
    .await;
    let all = scan_all(&*store).await;
    let tag_key = ItemKey::new(PK, "R#big#TAG#mlflow.runName");
    assert_eq!(
        attr(&all, &tag_key, "value").map(str::len),
        Some(LONG),
        "the emulator took the 340 KB tag item"
    );
    let batch = run_tail(&d, &table, &opts).await;
    // The five writes, and the derived writes of both runs of `tail` (own
    // writes, skipped).
    assert!(batch.stats.records >= 5, "{batch:?}");
    assert_eq!(batch.stats.dlq_sends, 1, "{batch:?}");
    assert_eq!(batch.stats.failed, 0, "{batch:?}");
    assert_eq!(batch.on_failure_messages, 0, "{batch:?}");

    // Refused by the endpoint, reported: the record, in the DLQ, as an
    // envelope that fits SQS (its images dropped: the replay reads the
    // item anyway), naming the key and never the value.
    let messages = dlq
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(messages.len(), 1);
    let body = &messages[0].body;
    assert!(body.len() <= MAX_ENVELOPE_BYTES, "{}", body.len());
    let DlqMessage::Envelope(env) = DlqMessage::parse(body) else {
        panic!("not an envelope: {body}")
    };
    assert_eq!(env.error.kind, "too-large", "{:?}", env.error);
    assert!(
        env.error.message.contains("R#big"),
        "the error names the key: {:?}",
        env.error
    );
    assert!(!body.contains("Harbor sweep"), "no tag value in the DLQ");
    assert!(env.truncated);
    assert_eq!(
        env.record["dynamodb"]["Keys"]["SK"]["S"],
        "R#big#TAG#mlflow.runName"
    );
    assert!(env.record["dynamodb"]["SequenceNumber"].is_string());

    // Nothing else of the batch is lost: every other target is right; the
    // refused run keeps its name (DynamoDB applied nothing of the update).
    assert_eq!(drifting(&*store, &targets).await, vec![target("big")]);
    let all = scan_all(&*store).await;
    assert_eq!(attr(&all, &target("big"), "run_name"), Some("before"));
    assert_eq!(
        attr(&all, &target("other"), "run_name"),
        Some("Copper Lantern")
    );
    assert_eq!(
        attr(&all, &target("other"), "lsi4sk"),
        Some("copper lantern")
    );
    assert!(fts_of(&all, "other") > 0);
    assert_eq!(
        attr(&all, &tag_key, "value").map(str::len),
        Some(LONG),
        "the source is never touched"
    );

    // A replay meanwhile fails the same way: the message is kept for a
    // human, not lost and not looping.
    let rdeps = {
        let mut r = deps(store.clone(), Some(dlq.clone() as Arc<dyn Queue>), None);
        r.format = FormatResolver::fixed(TableFormat::Main);
        r
    };
    let again = handle_dlq_message(&rdeps, body, Instant::now() + Duration::from_secs(30)).await;
    assert!(!again.done, "{:?}", again.reason);
    assert!(
        again
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("too-large"),
        "{:?}",
        again.reason
    );

    // The user renames the run: the next event repairs all of it.
    put(vec![run_tag("big", "mlflow.runName", "Short Again")]).await;
    let fix = run_tail(&d, &table, &opts).await;
    assert_eq!(fix.stats.dlq_sends, 0, "{fix:?}");
    assert_eq!(drifting(&*store, &targets).await, Vec::<ItemKey>::new());
    let all = scan_all(&*store).await;
    assert_eq!(attr(&all, &target("big"), "run_name"), Some("Short Again"));
    assert_eq!(attr(&all, &target("big"), "lsi4sk"), Some("short again"));
    assert!(fts_of(&all, "big") > 0);

    // And the kept message, replayed now, is done: nothing left to do.
    let done = handle_dlq_message(&rdeps, body, Instant::now() + Duration::from_secs(30)).await;
    assert!(done.done, "{:?}", done.reason);
    dlq.delete(&messages[0].receipt_handle)
        .await
        .expect("delete");
    assert_eq!(dlq.depth().await.expect("depth"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
