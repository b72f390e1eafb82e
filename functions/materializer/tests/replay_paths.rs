//! The on-failure destination path on the local endpoint: `tail` gives up a
//! batch after its retries (persistent throttling) and sends Lambda's
//! metadata-only message to the DLQ; `replay` reads the records back from
//! the stream and materializes them. A range no longer in the stream stays
//! on the queue with a message telling the operator to run the indexer.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use materializer::envelope::{on_failure_message, BatchInfo, DlqMessage};
use materializer::replay::replay_queue;
use mlflow_ddb_aws::testkit::{self, item, s, unique_name, Fault, TestTable};
use mlflow_ddb_aws::{MemoryQueue, Queue, ShardStart, SqsQueue, Store, StreamReader};
use mlflow_ddb_core::item::AttributeValue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_given_up_by_the_event_source_is_replayed_from_the_stream() {
    let table = TestTable::new("v0.1", true).await;
    let direct: Arc<dyn Store> = Arc::new(table.store());
    let mut items = Vec::new();
    for e in 0..3 {
        let pk = format!("EXP#of{e}");
        items.push(item(
            &pk,
            "E#META",
            [
                ("name", s(format!("on failure {e}"))),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ));
        for t in 0..4 {
            let key = format!("mlflow.t{t}");
            items.push(item(
                &pk,
                &format!("E#TAG#{key}"),
                [("key", s(key.clone())), ("value", s("v"))],
            ));
        }
    }
    direct.batch_write(items, vec![]).await.expect("writes");

    // Every Query throttled, for good: the handler cannot finish any batch.
    let (proxy, via) = testkit::proxied().await;
    proxy.inject(
        "DynamoDB_20120810.Query",
        usize::MAX / 2,
        Fault::throttling(),
    );
    let faulty: Arc<dyn Store> = Arc::new(table.store_via(&via, TestTable::store_options()));
    let dlq = Arc::new(
        SqsQueue::create(&table.clients, &unique_name("dlq"))
            .await
            .expect("queue"),
    );

    let d = deps(faulty, Some(dlq.clone() as Arc<dyn Queue>), None);
    let mut opts = tail_options(&table, Some(dlq.clone() as Arc<dyn Queue>));
    opts.max_retries = 1;
    opts.bisect = false;
    let summary = run_tail(&d, &table, &opts).await;
    assert!(summary.on_failure_messages >= 1, "{summary:?}");
    assert_eq!(summary.stats.writes, 0);
    assert_eq!(
        dlq.depth().await.expect("depth"),
        summary.on_failure_messages
    );

    // Replay through the normal path reads the records back from the stream.
    let rdeps = deps(
        direct.clone(),
        Some(dlq.clone() as Arc<dyn Queue>),
        Some(StreamReader::new(&table.clients)),
    );
    let r = replay_queue(&rdeps, &*dlq, 100, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!(
        (r.replayed, r.kept),
        (summary.on_failure_messages, 0),
        "{r:?}"
    );
    assert!(r.stats.records >= 15, "{r:?}");
    let all = scan_all(&*direct).await;
    for e in 0..3 {
        let meta = all
            .get(&mlflow_ddb_core::item::ItemKey::new(
                format!("EXP#of{e}"),
                "E#META",
            ))
            .expect("meta");
        let Some(AttributeValue::M(m)) = meta.get("tags") else {
            panic!("no map")
        };
        assert_eq!(m.len(), 4, "EXP#of{e}");
    }
    assert_eq!(dlq.depth().await.expect("depth"), 0);

    // A range that cannot be read back (here: a stream that does not exist;
    // moto answers HTTP 500 where AWS says ResourceNotFoundException, see the
    // unit test of `read_error`): the message stays on the queue.
    let gone = BatchInfo {
        shard_id: "shardId-00000000000000000000-gone".into(),
        start_sequence_number: "100".into(),
        end_sequence_number: "200".into(),
        stream_arn: format!("{}-gone", table.stream_arn().expect("arn")),
        batch_size: Some(2),
    };
    let body = on_failure_message(&gone, "RetryAttemptsExhausted", "arn:test").to_string();
    assert!(matches!(DlqMessage::parse(&body), DlqMessage::BatchInfo(_)));
    dlq.send(&body, &BTreeMap::new()).await.expect("send");
    let r = replay_queue(&rdeps, &*dlq, 10, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!((r.replayed, r.kept), (0, 1), "{r:?}");
    assert!(
        r.kept_reasons[0].starts_with("reading the stream"),
        "{:?}",
        r.kept_reasons
    );
}

/// AWS answers a read past the stream's 24 h with
/// `TrimmedDataAccessException` (moto cannot: it keeps everything); the
/// proxy answers that for the real shard of a real stream. The message stays
/// on the queue, its reason tells the operator to run the indexer, and a
/// later replay (the stream readable again) materializes the range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_range_stays_on_the_queue_and_names_the_indexer() {
    let table = TestTable::new("v0.1", true).await;
    let direct: Arc<dyn Store> = Arc::new(table.store());
    let pk = "EXP#trim";
    direct
        .batch_write(
            vec![
                item(
                    pk,
                    "E#META",
                    [
                        ("name", s("trimmed")),
                        ("tags", AttributeValue::M(Default::default())),
                    ],
                ),
                item(
                    pk,
                    "E#TAG#mlflow.t",
                    [("key", s("mlflow.t")), ("value", s("v"))],
                ),
            ],
            vec![],
        )
        .await
        .expect("writes");

    // The range as the event source mapping would report it: the real shard
    // and the sequence numbers of the two records.
    let reader = StreamReader::new(&table.clients);
    let arn = table.stream_arn().expect("arn").to_owned();
    let shard = reader.list_shards(&arn).await.expect("shards")[0].clone();
    let it = reader
        .shard_iterator(&arn, &shard.shard_id, &ShardStart::TrimHorizon)
        .await
        .expect("iterator");
    let page = reader
        .get_records(&arn, &it, Some(100))
        .await
        .expect("read");
    let seqs: Vec<String> = page
        .records
        .iter()
        .filter_map(|r| r.change.sequence_number.clone())
        .collect();
    assert_eq!(seqs.len(), 2, "{seqs:?}");
    let info = BatchInfo {
        shard_id: shard.shard_id.clone(),
        start_sequence_number: seqs[0].clone(),
        end_sequence_number: seqs[1].clone(),
        stream_arn: arn.clone(),
        batch_size: Some(2),
    };
    let dlq = Arc::new(MemoryQueue::new());
    dlq.send(
        &on_failure_message(&info, "RetryAttemptsExhausted", "arn:test").to_string(),
        &BTreeMap::new(),
    )
    .await
    .expect("send");

    let (proxy, via) = testkit::proxied().await;
    proxy.inject(
        "DynamoDBStreams_20120810.GetShardIterator",
        1,
        Fault::dynamodb(
            400,
            "TrimmedDataAccessException",
            "Requested data is beyond the trim horizon",
        ),
    );
    let rdeps = deps(direct.clone(), None, Some(StreamReader::new(&via)));
    let r = replay_queue(&rdeps, &*dlq, 10, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!((r.replayed, r.kept), (0, 1), "{r:?}");
    assert_eq!(proxy.pending_faults(), 0);
    let why = &r.kept_reasons[0];
    assert!(
        why.contains("no longer in the stream") && why.contains("run the indexer"),
        "{why}"
    );
    assert!(
        why.contains(&seqs[0]) && why.contains(&shard.shard_id),
        "{why}"
    );
    let kept = dlq.messages();
    assert_eq!(kept.len(), 1);

    // Readable again: the kept message, visible again (here: on a fresh
    // in-memory queue, which has no visibility timeout), is replayed.
    let again = MemoryQueue::new();
    again
        .send(&kept[0].body, &BTreeMap::new())
        .await
        .expect("send");
    let r = replay_queue(&rdeps, &again, 10, Duration::from_secs(30))
        .await
        .expect("replay");
    assert_eq!((r.replayed, r.kept), (1, 0), "{r:?}");
    let all = scan_all(&*direct).await;
    let meta = all
        .get(&mlflow_ddb_core::item::ItemKey::new(pk, "E#META"))
        .expect("meta");
    assert!(
        matches!(meta.get("tags"), Some(AttributeValue::M(m)) if m.contains_key("mlflow.t")),
        "{meta:?}"
    );
}
