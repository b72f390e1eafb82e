//! Property: any source-write sequence, its stream delivered with random
//! batch splits, duplicates, redeliveries of old records and DLQ-style
//! replays, converges to the same table as a clean, in-order run.
//! (In memory: the claim is about the handler's logic, not the transport.)
//! Both table formats; in `main` the writer behaves as `main`'s store does
//! (a run's name and its `mlflow.runName` tag are written together). The
//! noisy run also interleaves the records of different items arbitrarily,
//! keeping each item's own order, as the event source mapping does with a
//! ParallelizationFactor above 1 (per-item order is all a stream promises).
//!
//! An experiment is deleted the way MLflow data goes: by the TTL service
//! (which makes the materializer expire the rest of its partition), and its
//! id is never used again. The tables compared are the live items (without
//! a `ttl`): derived items written for a target before it went are expired
//! with it, and DynamoDB deletes them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use materializer::envelope::{Envelope, EnvelopeError, FunctionId, ENVELOPE_VERSION};
use materializer::handler::{Deps, Settings};
use materializer::lambda::{handle_json, MetricsSink};
use mlflow_ddb_aws::testkit::{item, s};
use mlflow_ddb_aws::{MemoryStore, Store};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_engine::ConfigCache;
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
enum Op {
    /// Create or rename an experiment (its other attributes kept).
    ExpName(usize, usize),
    DeleteExp(usize),
    ExpTag(usize, usize, usize),
    DeleteExpTag(usize, usize),
    RunName(usize),
    RunTag(usize, usize),
    DeleteRunTag(usize),
    RunParam(usize, usize),
    DeleteRunParam(usize),
}

const NAMES: [&str; 3] = ["alpha beta", "gamma", "Delta run"];
const KEYS: [&str; 5] = [
    "mlflow.a",
    "mlflow.b#é",
    "team.x",
    "other",
    "mlflow.runName",
];
const VALUES: [&str; 3] = ["v1", "two words", ""];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..3usize).prop_map(|(e, n)| Op::ExpName(e, n)),
        (0..2usize).prop_map(Op::DeleteExp),
        (0..2usize, 0..5usize, 0..3usize).prop_map(|(e, k, v)| Op::ExpTag(e, k, v)),
        (0..2usize, 0..5usize).prop_map(|(e, k)| Op::DeleteExpTag(e, k)),
        (0..3usize).prop_map(Op::RunName),
        (0..5usize, 0..3usize).prop_map(|(k, v)| Op::RunTag(k, v)),
        (0..5usize).prop_map(Op::DeleteRunTag),
        (0..4usize, 0..3usize).prop_map(|(k, v)| Op::RunParam(k, v)),
        (0..4usize).prop_map(Op::DeleteRunParam),
    ]
}

fn exp(e: usize) -> String {
    format!("EXP#{}", e + 1)
}

fn tag(pk: &str, sk: &str, key: &str, value: &str) -> Item {
    item(pk, sk, [("key", s(key)), ("value", s(value))])
}

/// The table and its stream, as the writer produces them.
struct Writer {
    format: TableFormat,
    table: Arc<MemoryStore>,
    stream: Vec<Value>,
    deleted: std::collections::HashSet<usize>,
}

impl Writer {
    fn new(format: TableFormat) -> Self {
        let config = [
            item(
                "CONFIG",
                "FTS_TRIGRAM_FIELDS",
                [(
                    "fields",
                    AttributeValue::L(vec![s("run_tag_value"), s("run_param_value")]),
                )],
            ),
            item(
                "CONFIG",
                "DENORMALIZE_TAGS",
                [("patterns", AttributeValue::L(vec![s("mlflow.*")]))],
            ),
        ];
        let mut w = Writer {
            format,
            table: Arc::new(MemoryStore::new()),
            stream: Vec::new(),
            deleted: Default::default(),
        };
        for c in config {
            w.put(c);
        }
        // Like the store, META items are created with an empty `tags` map.
        w.put(item(
            "EXP#1",
            "R#r1",
            [
                ("run_name", s("first run")),
                ("tags", AttributeValue::M(HashMap::new())),
            ],
        ));
        w
    }

    fn record(&mut self, key: &ItemKey, old: Option<Item>, new: Option<Item>) {
        self.record_by(key, old, new, false)
    }

    fn record_by(
        &mut self,
        key: &ItemKey,
        old: Option<Item>,
        new: Option<Item>,
        ttl_service: bool,
    ) {
        let event = match (&old, &new) {
            (None, Some(_)) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
            (None, None) => return,
        };
        let seq = format!("{:020}", self.stream.len() + 1);
        let mut d = json!({"Keys": {"PK": {"S": key.pk}, "SK": {"S": key.sk}}, "SequenceNumber": seq,
                           "StreamViewType": "NEW_AND_OLD_IMAGES"});
        if let Some(n) = new {
            d["NewImage"] = serde_json::to_value(n).unwrap();
        }
        if let Some(o) = old {
            d["OldImage"] = serde_json::to_value(o).unwrap();
        }
        let mut r = json!({"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": d});
        if ttl_service {
            r["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        }
        self.stream.push(r);
    }

    fn put(&mut self, i: Item) {
        let key = ItemKey::new(
            match i.get("PK") {
                Some(AttributeValue::S(v)) => v.clone(),
                _ => unreachable!(),
            },
            match i.get("SK") {
                Some(AttributeValue::S(v)) => v.clone(),
                _ => unreachable!(),
            },
        );
        let old = self.table.snapshot().get(&key).cloned();
        self.table.put(i.clone());
        self.record(&key, old, Some(i));
    }

    fn delete(&mut self, pk: &str, sk: &str) {
        let key = ItemKey::new(pk, sk);
        let old = self.table.delete(&key);
        self.record(&key, old, None);
    }

    /// The TTL service deleting an item.
    fn expire(&mut self, pk: &str, sk: &str) {
        let key = ItemKey::new(pk, sk);
        let old = self.table.delete(&key);
        self.record_by(&key, old, None, true);
    }

    /// Update some attributes of an item, keeping the others (UpdateItem).
    fn update(&mut self, pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) {
        let key = ItemKey::new(pk, sk);
        let mut i = self
            .table
            .snapshot()
            .get(&key)
            .cloned()
            .unwrap_or_else(|| self.new_meta(pk, sk));
        for (k, v) in attrs {
            i.insert((*k).to_owned(), v.clone());
        }
        self.put(i);
    }

    /// A META item as the store creates it: empty maps (main's experiments
    /// also get `tags_lower` and `tags_lower_rev`).
    fn new_meta(&self, pk: &str, sk: &str) -> Item {
        let empty = || AttributeValue::M(HashMap::new());
        let mut i = item(pk, sk, [("tags", empty())]);
        if self.format == TableFormat::Main && sk == "E#META" {
            i.insert("tags_lower".into(), empty());
            i.insert("tags_lower_rev".into(), empty());
        }
        i
    }

    fn rename_run(&mut self, name: &str) {
        let lower = name.to_lowercase();
        self.update(
            "EXP#1",
            "R#r1",
            &[("run_name", s(name)), ("lsi4sk", s(&lower))],
        );
    }

    fn apply(&mut self, op: &Op) {
        let e = match *op {
            Op::ExpName(e, _) | Op::DeleteExp(e) | Op::ExpTag(e, _, _) | Op::DeleteExpTag(e, _) => {
                e
            }
            _ => 0, // the run lives in EXP#1
        };
        if self.deleted.contains(&e) {
            return;
        }
        match *op {
            Op::ExpName(e, n) => self.update(&exp(e), "E#META", &[("name", s(NAMES[n]))]),
            Op::DeleteExp(e) => {
                self.deleted.insert(e);
                self.expire(&exp(e), "E#META")
            }
            Op::ExpTag(e, k, v) => self.put(tag(
                &exp(e),
                &format!("E#TAG#{}", KEYS[k]),
                KEYS[k],
                VALUES[v],
            )),
            Op::DeleteExpTag(e, k) => self.delete(&exp(e), &format!("E#TAG#{}", KEYS[k])),
            Op::RunName(n) if self.format == TableFormat::Main => {
                // main's update_run_info: name and lsi4sk, then the tag.
                self.rename_run(NAMES[n]);
                self.put(tag(
                    "EXP#1",
                    "R#r1#TAG#mlflow.runName",
                    "mlflow.runName",
                    NAMES[n],
                ));
            }
            Op::RunName(n) => self.update("EXP#1", "R#r1", &[("run_name", s(NAMES[n]))]),
            Op::RunTag(k, v) => {
                self.put(tag(
                    "EXP#1",
                    &format!("R#r1#TAG#{}", KEYS[k]),
                    KEYS[k],
                    VALUES[v],
                ));
                // main's _write_run_tag syncs the name from a non-empty tag.
                if self.format == TableFormat::Main
                    && KEYS[k] == "mlflow.runName"
                    && !VALUES[v].is_empty()
                {
                    self.rename_run(VALUES[v]);
                }
            }
            Op::DeleteRunTag(k) => self.delete("EXP#1", &format!("R#r1#TAG#{}", KEYS[k])),
            Op::RunParam(k, v) => self.put(tag(
                "EXP#1",
                &format!("R#r1#PARAM#{}", KEYS[k]),
                KEYS[k],
                VALUES[v],
            )),
            Op::DeleteRunParam(k) => self.delete("EXP#1", &format!("R#r1#PARAM#{}", KEYS[k])),
        }
    }
}

fn deps(store: Arc<dyn Store>, format: TableFormat) -> Deps {
    Deps {
        store,
        dlq: None,
        streams: None,
        format: mlflow_ddb_engine::FormatResolver::fixed(format),
        config: ConfigCache::default(),
        settings: Settings::default(),
        migrate: None,
    }
}

fn envelope(record: &Value) -> String {
    Envelope {
        version: ENVELOPE_VERSION.into(),
        record: record.clone(),
        error: EnvelopeError {
            kind: "store".into(),
            message: "test".into(),
        },
        attempts: 1,
        first_failure: "2026-01-01T00:00:00.000Z".into(),
        function: FunctionId {
            name: "materializer".into(),
            version: "1".into(),
        },
        truncated: false,
        covers: Vec::new(),
    }
    .to_body()
}

/// How the noisy run delivers the records of one segment.
#[derive(Debug, Clone)]
struct Delivery {
    /// Batch sizes (cycled).
    splits: Vec<usize>,
    /// Indices (mod records so far) of records delivered again after the batch.
    redeliver: Vec<usize>,
    /// Indices (mod records so far) replayed as DLQ envelopes.
    replay: Vec<usize>,
    /// Seed of the interleaving of different items' records.
    interleave: u64,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        prop::collection::vec(1..6usize, 1..4),
        prop::collection::vec(any::<usize>(), 0..3),
        prop::collection::vec(any::<usize>(), 0..2),
        any::<u64>(),
    )
        .prop_map(|(splits, redeliver, replay, interleave)| Delivery {
            splits,
            redeliver,
            replay,
            interleave,
        })
}

/// `records` reordered at random across items, each item's records still
/// in their stream order.
fn interleave(records: &[Value], seed: u64) -> Vec<Value> {
    let key = |r: &Value| r["dynamodb"]["Keys"].to_string();
    let mut queues: Vec<(String, std::collections::VecDeque<Value>)> = Vec::new();
    for r in records {
        let k = key(r);
        match queues.iter_mut().find(|(q, _)| *q == k) {
            Some((_, q)) => q.push_back(r.clone()),
            None => queues.push((k, std::collections::VecDeque::from([r.clone()]))),
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(records.len());
    while !queues.is_empty() {
        let i = rng.usize(..queues.len());
        if let Some(r) = queues[i].1.pop_front() {
            out.push(r);
        }
        if queues[i].1.is_empty() {
            queues.swap_remove(i);
        }
    }
    out
}

#[test]
fn interleaving_keeps_each_items_order() {
    let rec = |k: &str, n: u32| json!({"dynamodb": {"Keys": {"SK": {"S": k}}}, "n": n});
    let records: Vec<Value> = (0..40)
        .map(|n| rec(["a", "b", "c"][n as usize % 3], n))
        .collect();
    let mut seen_other_order = false;
    for seed in 0..20 {
        let out = interleave(&records, seed);
        assert_eq!(out.len(), records.len());
        for k in ["a", "b", "c"] {
            let ns: Vec<u64> = out
                .iter()
                .filter(|r| r["dynamodb"]["Keys"]["SK"]["S"] == k)
                .map(|r| r["n"].as_u64().unwrap_or(0))
                .collect();
            assert!(ns.windows(2).all(|w| w[0] < w[1]), "{k}: {ns:?}");
        }
        seen_other_order |= out != records;
    }
    assert!(seen_other_order, "never reordered");
}

async fn deliver(d: &Deps, records: &[Value]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let resp = handle_json(d, json!({"Records": records}), deadline, MetricsSink::Off)
        .await
        .expect("handled");
    assert_eq!(resp["batchItemFailures"], json!([]), "no failure in memory");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn noisy_delivery_converges_to_the_clean_run(
        format in prop_oneof![Just(TableFormat::V0_1), Just(TableFormat::Main)],
        segments in prop::collection::vec((prop::collection::vec(op(), 1..8), delivery()), 1..5)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // Clean: every write, then the stream once, in order, one batch.
            let mut clean = Writer::new(format);
            for (ops, _) in &segments {
                for o in ops { clean.apply(o); }
            }
            let stream = clean.stream.clone();
            deliver(&deps(clean.table.clone(), format), &stream).await;

            // Noisy: writes and deliveries interleaved; random batch splits,
            // duplicates, old records again, DLQ replays.
            let mut noisy = Writer::new(format);
            let d = deps(noisy.table.clone(), format);
            let mut done = 0;
            for (ops, how) in &segments {
                for o in ops { noisy.apply(o); }
                let pending = interleave(&noisy.stream[done..], how.interleave);
                done = noisy.stream.len();
                let mut at = 0;
                let mut i = 0;
                while at < pending.len() {
                    let n = how.splits[i % how.splits.len()].min(pending.len() - at);
                    let mut batch = pending[at..at + n].to_vec();
                    batch.extend(batch.clone().into_iter().take(1)); // a duplicate
                    deliver(&d, &batch).await;
                    at += n;
                    i += 1;
                }
                let old: Vec<Value> = how.redeliver.iter().map(|r| noisy.stream[r % done].clone()).collect();
                if !old.is_empty() { deliver(&d, &old).await; }
                for r in &how.replay {
                    let body = envelope(&noisy.stream[r % done]);
                    let sqs = json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": body}]});
                    let resp = handle_json(&d, sqs, Instant::now() + Duration::from_secs(30), MetricsSink::Off).await.unwrap();
                    assert_eq!(resp["batchItemFailures"], json!([]));
                }
            }
            let live = |t: &MemoryStore| -> std::collections::BTreeMap<ItemKey, Item> {
                t.snapshot().into_iter().filter(|(_, i)| i.get("ttl").is_none()).collect()
            };
            let (a, b) = (live(&clean.table), live(&noisy.table));
            assert_eq!(a.len(), b.len());
            for (k, v) in &a {
                assert_eq!(Some(v), b.get(k), "{k}");
            }
        });
    }
}
