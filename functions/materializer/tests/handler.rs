//! The handler on the in-memory store: what a batch acknowledges, what it
//! dead-letters, where it stops, and that bad input never panics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use materializer::envelope::{DlqMessage, ENVELOPE_VERSION};
use materializer::handler::{Deps, Settings};
use materializer::lambda::{handle_json, HandlerError, MetricsSink};
use mlflow_ddb_aws::testkit::{item, n, s};
use mlflow_ddb_aws::{
    AwsError, ExpireReport, Failure, MemoryQueue, MemoryStore, Queue, QueueMessage, ScanPage,
    Store, UpdateOutcome, WriteStats,
};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_engine::ConfigCache;
use serde_json::{json, Value};

// ---------------------------------------------------------------- fixtures

fn ddb_json(item: &Item) -> Value {
    serde_json::to_value(item).expect("item json")
}

/// A Lambda-shaped stream record.
fn record(seq: &str, event: &str, new: Option<&Item>, old: Option<&Item>) -> Value {
    let img = new.or(old).expect("an image");
    let key = json!({"PK": ddb_json(img)["PK"], "SK": ddb_json(img)["SK"]});
    let mut d = json!({"Keys": key, "SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES",
                       "ApproximateCreationDateTime": 1_700_000_000});
    if let Some(n) = new {
        d["NewImage"] = ddb_json(n);
    }
    if let Some(o) = old {
        d["OldImage"] = ddb_json(o);
    }
    json!({"eventID": seq, "eventName": event, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": d})
}

fn insert(seq: &str, i: &Item) -> Value {
    record(seq, "INSERT", Some(i), None)
}

fn exp_meta(e: &str, name: &str) -> Item {
    item(
        e,
        "E#META",
        [
            ("name", s(name)),
            ("tags", AttributeValue::M(HashMap::new())),
        ],
    )
}

fn exp_tag(e: &str, key: &str, value: &str) -> Item {
    let sk = format!("E#TAG#{key}");
    let mut i = item(e, &sk, [("value", s(value))]);
    i.insert("key".into(), s(key));
    i
}

fn event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

fn settings() -> Settings {
    Settings {
        deadline_margin: Duration::from_millis(50),
        chunk_units: 2,
        ..Settings::default()
    }
}

fn deps(store: Arc<dyn Store>, dlq: Option<Arc<dyn Queue>>) -> Deps {
    Deps {
        store,
        dlq,
        streams: None,
        format: mlflow_ddb_engine::FormatResolver::fixed(TableFormat::V0_1),
        config: ConfigCache::default(),
        settings: settings(),
        migrate: None,
    }
}

fn tags_of(store: &MemoryStore, pk: &str, sk: &str) -> BTreeMap<String, AttributeValue> {
    match store
        .snapshot()
        .get(&ItemKey::new(pk, sk))
        .and_then(|i| i.get("tags").cloned())
    {
        Some(AttributeValue::M(m)) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn failures(resp: &Value) -> Vec<String> {
    resp["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("a string identifier")
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------- flaky store

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fail {
    Throttle,
    TooLarge,
    TypeMismatch,
}

/// A [`MemoryStore`] whose reads/writes on one partition fail `times` times.
struct Flaky {
    inner: Arc<MemoryStore>,
    pk: String,
    op: &'static str,
    times: Mutex<usize>,
    fail: Fail,
}

impl Flaky {
    fn new(inner: Arc<MemoryStore>, op: &'static str, pk: &str, times: usize, fail: Fail) -> Self {
        Flaky {
            inner,
            pk: pk.into(),
            op,
            times: Mutex::new(times),
            fail,
        }
    }
    fn check(&self, op: &'static str, pk: &str) -> Result<(), AwsError> {
        let mut t = self.times.lock().unwrap();
        if op != self.op || pk != self.pk || *t == 0 {
            return Ok(());
        }
        *t -= 1;
        let (code, message, status) = match self.fail {
            Fail::Throttle => ("ProvisionedThroughputExceededException", "slow down", 400),
            Fail::TooLarge => (
                "ValidationException",
                "Item size has exceeded the maximum allowed size",
                400,
            ),
            Fail::TypeMismatch => (
                "ValidationException",
                "One or more parameter values were invalid: Type mismatch for Index Key lsi2sk Expected: S Actual: N IndexName: lsi2",
                400,
            ),
        };
        Err(AwsError::Request {
            op,
            key: None,
            failure: Box::new(Failure::Service {
                code: code.into(),
                message: message.into(),
                status: Some(status),
            }),
            source: None,
        })
    }
}

#[async_trait]
impl Store for Flaky {
    async fn get(&self, key: &ItemKey, c: bool) -> Result<Option<Item>, AwsError> {
        self.check("get", &key.pk)?;
        self.inner.get(key, c).await
    }
    async fn batch_get(
        &self,
        keys: &[ItemKey],
        c: bool,
        p: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.inner.batch_get(keys, c, p).await
    }
    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError> {
        self.inner.batch_write(puts, deletes).await
    }
    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        self.check("update", &key.pk)?;
        self.inner.update_map(key, attr, set, remove).await
    }
    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        self.check("update", &key.pk)?;
        self.inner.update_attrs(key, set).await
    }
    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        self.inner.expire(keys, now).await
    }
    async fn query_prefix(
        &self,
        pk: &str,
        p: &str,
        c: bool,
        proj: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.check("query", pk)?;
        self.inner.query_prefix(pk, p, c, proj).await
    }
    async fn scan_segment(
        &self,
        a: u32,
        b: u32,
        k: Option<ItemKey>,
        p: Option<&[&str]>,
        l: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        self.inner.scan_segment(a, b, k, p, l).await
    }
}

/// A queue whose sends fail.
struct DeadQueue;

#[async_trait]
impl Queue for DeadQueue {
    async fn send(&self, _: &str, _: &BTreeMap<String, String>) -> Result<String, AwsError> {
        Err(AwsError::Request {
            op: "SendMessage",
            key: None,
            failure: Box::new(Failure::Service {
                code: "InternalError".into(),
                message: "x".into(),
                status: Some(500),
            }),
            source: None,
        })
    }
    async fn receive(&self, _: u32, _: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
    async fn depth(&self) -> Result<u64, AwsError> {
        Ok(0)
    }
}

fn base_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::with_items([
        exp_meta("EXP#1", "one"),
        exp_meta("EXP#2", "two"),
        exp_meta("EXP#3", "three"),
        exp_tag("EXP#1", "mlflow.a", "1"),
        exp_tag("EXP#2", "mlflow.b", "2"),
        exp_tag("EXP#3", "mlflow.c", "3"),
    ]))
}

fn tag_records() -> Vec<Value> {
    vec![
        insert("100", &exp_tag("EXP#1", "mlflow.a", "1")),
        insert("200", &exp_tag("EXP#2", "mlflow.b", "2")),
        insert("300", &exp_tag("EXP#3", "mlflow.c", "3")),
    ]
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn a_clean_batch_materializes_every_tag_and_reports_no_failure() {
    let mem = base_store();
    let d = deps(mem.clone(), None);
    let resp = handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        tags_of(&mem, "EXP#1", "E#META").get("mlflow.a"),
        Some(&s("1"))
    );
    assert_eq!(
        tags_of(&mem, "EXP#3", "E#META").get("mlflow.c"),
        Some(&s("3"))
    );
}

#[tokio::test]
async fn a_persistent_transient_failure_reports_that_record_and_stops_there() {
    let mem = base_store();
    // EXP#2's reads are throttled more often than the handler retries.
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "query",
        "EXP#2",
        1000,
        Fail::Throttle,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let mut d = deps(flaky, Some(queue.clone()));
    d.settings.chunk_units = 1;
    let resp = handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), vec!["200".to_owned()]);
    assert_eq!(
        tags_of(&mem, "EXP#1", "E#META").get("mlflow.a"),
        Some(&s("1"))
    );
    // Later records are not processed in this invocation, nor dead-lettered.
    assert!(tags_of(&mem, "EXP#3", "E#META").is_empty());
    assert!(queue.messages().is_empty());
}

/// The handler adds no retry of its own (the adapter's one policy retried
/// each request; an in-memory store has none): a transient failure cuts the
/// batch at its record, and Lambda's resend finds it cleared.
#[tokio::test]
async fn a_transient_failure_cuts_the_batch_and_the_resend_clears_it() {
    let mem = base_store();
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        2,
        Fail::Throttle,
    ));
    let d = deps(flaky, None);
    for attempt in 1..=2 {
        let resp = handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
            .await
            .unwrap();
        assert_eq!(
            failures(&resp).len(),
            1,
            "invocation {attempt}: cut, not retried in the function"
        );
    }
    let resp = handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        tags_of(&mem, "EXP#2", "E#META").get("mlflow.b"),
        Some(&s("2"))
    );
}

/// A write refused for an index-key type mismatch means the table under
/// the name is not in the format read at start: the format is read again,
/// and the record is retried (never dead-lettered as poison).
#[tokio::test]
async fn a_type_mismatch_rereads_the_format_and_retries_instead_of_dead_lettering() {
    let mem = base_store();
    mem.declare_format(TableFormat::V0_1);
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        1000,
        Fail::TypeMismatch,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let mut d = deps(flaky, Some(queue.clone()));
    d.format = mlflow_ddb_engine::FormatResolver::detect(
        mlflow_ddb_core::format::FormatSetting::Auto,
        mem.clone(),
    );
    assert_eq!(d.format.resolve().await.unwrap().format, TableFormat::V0_1);
    // The table is swapped for a main one under the same name.
    mem.declare_format(TableFormat::Main);
    let records = tag_records();
    let resp = handle_json(&d, event(records.clone()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(
        failures(&resp),
        vec!["200".to_owned()],
        "retried from the refused record"
    );
    assert!(queue.messages().is_empty(), "nothing dead-lettered");
    assert_eq!(d.format.resolve().await.unwrap().format, TableFormat::Main);
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dlq_with_the_full_record_and_the_rest_goes_on() {
    let mem = base_store();
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        1000,
        Fail::TooLarge,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(flaky, Some(queue.clone()));
    let records = tag_records();
    let resp = handle_json(&d, event(records.clone()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        tags_of(&mem, "EXP#3", "E#META").get("mlflow.c"),
        Some(&s("3"))
    );
    let msgs = queue.messages();
    assert_eq!(msgs.len(), 1);
    let DlqMessage::Envelope(env) = DlqMessage::parse(&msgs[0].body) else {
        panic!("not an envelope")
    };
    assert_eq!(env.version, ENVELOPE_VERSION);
    assert_eq!(env.record, records[1]);
    assert_eq!(env.error.kind, "too-large");
    assert_eq!(env.attempts, 1);
    assert_eq!(env.function.name, "materializer");
    assert!(env.first_failure.ends_with('Z'), "{}", env.first_failure);
    assert_eq!(
        msgs[0].attributes.get("sequenceNumber").map(String::as_str),
        Some("200")
    );
}

#[tokio::test]
async fn a_failed_dlq_send_makes_the_record_transient() {
    let mem = base_store();
    let d = deps(mem.clone(), Some(Arc::new(DeadQueue)));
    let mut records = tag_records();
    records.insert(
        1,
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "150"}}),
    );
    let resp = handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), vec!["150".to_owned()]);
}

#[tokio::test]
async fn without_any_sequence_number_to_report_the_invocation_fails() {
    let mem = base_store();
    let d = deps(mem, Some(Arc::new(DeadQueue)));
    let records = vec![
        json!({"eventName": "INSERT"}),
        insert("200", &exp_tag("EXP#2", "mlflow.b", "2")),
    ];
    let err = handle_json(&d, event(records.clone()), deadline(), MetricsSink::Off)
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Unidentifiable(0)));
    // A record without one after a record with one: the earlier one is reported.
    let records = vec![
        insert("100", &exp_tag("EXP#1", "mlflow.a", "1")),
        json!({"eventName": "INSERT"}),
    ];
    let resp = handle_json(
        &deps(base_store(), Some(Arc::new(DeadQueue))),
        event(records),
        deadline(),
        MetricsSink::Off,
    )
    .await
    .unwrap();
    assert_eq!(failures(&resp), vec!["100".to_owned()]);
}

#[tokio::test]
async fn bad_input_is_dead_lettered_or_skipped_with_a_reason_never_a_panic() {
    let mem = base_store();
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(mem.clone(), Some(queue.clone()));
    let big = "x".repeat(400 * 1024);
    let odd_key = "team#1 é/ü.ß 🚀";
    // Level-triggered: the records are triggers, the store holds the truth.
    mem.put(exp_tag("EXP#1", "mlflow.big", &big));
    mem.put(exp_tag("EXP#1", &format!("mlflow.{odd_key}"), "odd"));
    let records = vec![
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1"}}), // missing Keys
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "2", "Keys": {"PK": {"N": "1"}, "SK": {"S": "x"}}}}), // wrong type
        json!({"eventName": "UPSERT", "dynamodb": {"SequenceNumber": "3", "Keys": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#META"}}}}),
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "4", "Keys": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#TAG#k"}},
               "NewImage": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#TAG#k"}, "value": {"Q": "?"}}}}), // malformed image
        insert("5", &exp_tag("EXP#1", "mlflow.big", &big)), // a 400 KB item
        insert("6", &exp_tag("EXP#1", &format!("mlflow.{odd_key}"), "odd")), // `#` and Unicode
        json!("not an object"),
        insert("8", &item("EXP#1", "R#r1#METRIC#acc", [("value", n(1))])), // irrelevant
        insert("9", &item("EXP#1", "FTS#W#one#E#1", [])),                  // our own write
    ];
    let resp = handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let kinds: Vec<String> = queue
        .messages()
        .iter()
        .map(|m| match DlqMessage::parse(&m.body) {
            DlqMessage::Envelope(e) => format!(
                "{}:{}",
                e.record["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap_or("-"),
                e.error.kind
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "1:undecodable",
            "2:undecodable",
            "3:undecodable",
            "4:undecodable",
            "-:undecodable"
        ]
    );
    // The memory store has no size limit: the big value is copied (DynamoDB's
    // refusal is the `too-large` path above); the odd key is one map key.
    let tags = tags_of(&mem, "EXP#1", "E#META");
    assert_eq!(tags.get(&format!("mlflow.{odd_key}")), Some(&s("odd")));
    assert!(tags.contains_key("mlflow.big"));
}

#[tokio::test]
async fn a_config_change_in_the_batch_applies_at_once() {
    let mem = base_store();
    let d = deps(mem.clone(), None);
    // Warm the cache with the default patterns.
    handle_json(
        &d,
        event(vec![insert("1", &exp_tag("EXP#1", "mlflow.a", "1"))]),
        deadline(),
        MetricsSink::Off,
    )
    .await
    .unwrap();
    let cfg = item(
        "CONFIG",
        "DENORMALIZE_TAGS",
        [(
            "patterns",
            AttributeValue::L(vec![s("mlflow.*"), s("team.*")]),
        )],
    );
    mem.put(cfg.clone());
    mem.put(exp_tag("EXP#2", "team.x", "t"));
    let records = vec![
        insert("2", &cfg),
        insert("3", &exp_tag("EXP#2", "team.x", "t")),
    ];
    handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(
        tags_of(&mem, "EXP#2", "E#META").get("team.x"),
        Some(&s("t"))
    );
}

#[tokio::test]
async fn a_ttl_removal_of_an_experiment_expires_its_partition_without_lengthening_or_resurrecting()
{
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let meta = exp_meta("EXP#9", "gone");
    let mem = Arc::new(MemoryStore::with_items([
        item("EXP#9", "R#r1", [("run_name", s("x"))]),
        item("EXP#9", "R#r2", [("ttl", n(1000))]),
        item("EXP#9", "R#r3", [("ttl", n(now + 86_400))]),
    ]));
    let d = deps(mem.clone(), None);
    let mut rec = record("1", "REMOVE", None, Some(&meta));
    rec["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    handle_json(&d, event(vec![rec.clone()]), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    let snap = mem.snapshot();
    let ttl = |sk: &str| {
        snap.get(&ItemKey::new("EXP#9", sk))
            .and_then(|i| i.get("ttl").cloned())
    };
    let AttributeValue::N(t1) = ttl("R#r1").expect("ttl set") else {
        panic!()
    };
    assert!((t1.parse::<i64>().unwrap() - now).abs() < 60);
    assert_eq!(
        ttl("R#r2"),
        Some(n(1000)),
        "an earlier ttl is never lengthened"
    );
    let AttributeValue::N(t3) = ttl("R#r3").expect("ttl") else {
        panic!()
    };
    assert!(
        t3.parse::<i64>().unwrap() < now + 86_400,
        "a later ttl is brought forward"
    );
    assert!(
        !snap.contains_key(&ItemKey::new("EXP#9", "E#META")),
        "never resurrected"
    );
    // A user's delete of E#META (not the TTL service) cascades nothing.
    let mem2 = Arc::new(MemoryStore::with_items([item("EXP#8", "R#r1", [])]));
    let mut user = record("1", "REMOVE", None, Some(&exp_meta("EXP#8", "x")));
    user["userIdentity"] = Value::Null;
    handle_json(
        &deps(mem2.clone(), None),
        event(vec![user]),
        deadline(),
        MetricsSink::Off,
    )
    .await
    .unwrap();
    assert!(mem2.snapshot().values().all(|i| i.get("ttl").is_none()));
}

#[tokio::test]
async fn sqs_replay_restores_dead_letters_and_an_old_message_never_overwrites_newer_state() {
    let mem = base_store();
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        1,
        Fail::TooLarge,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(flaky.clone(), Some(queue.clone()));
    handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert!(tags_of(&mem, "EXP#2", "E#META").is_empty());
    let msgs = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(msgs.len(), 1);

    // Meanwhile the tag changed: the old message must not bring "2" back.
    mem.put(exp_tag("EXP#2", "mlflow.b", "newer"));
    let sqs = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": msgs[0].body},
                                 {"messageId": "m-2", "eventSource": "aws:sqs", "body": "garbage"}]});
    let resp = handle_json(&d, sqs.clone(), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(
        failures(&resp),
        vec!["m-2".to_owned()],
        "unknown messages stay"
    );
    assert_eq!(
        tags_of(&mem, "EXP#2", "E#META").get("mlflow.b"),
        Some(&s("newer"))
    );
    // Twice: nothing changes.
    let before = mem.snapshot();
    handle_json(&d, sqs, deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(mem.snapshot(), before);
    // The tag is deleted; its old message replays as a removal.
    mem.delete(&ItemKey::new("EXP#2", "E#TAG#mlflow.b"));
    let sqs =
        json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": msgs[0].body}]});
    handle_json(&d, sqs, deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert!(tags_of(&mem, "EXP#2", "E#META").is_empty());
}

#[tokio::test]
async fn a_replay_that_fails_again_keeps_its_message() {
    let mem = base_store();
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        2,
        Fail::TooLarge,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(flaky, Some(queue.clone()));
    handle_json(&d, event(tag_records()), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    let body = queue
        .receive(1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0)
        .body;
    let sqs = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": body}]});
    let resp = handle_json(&d, sqs.clone(), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), vec!["m-1".to_owned()]);
    assert!(
        queue.messages().len() == 1,
        "no second dead letter for a replay"
    );
    let resp = handle_json(&d, sqs, deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        tags_of(&mem, "EXP#2", "E#META").get("mlflow.b"),
        Some(&s("2"))
    );
}

/// A record too large for SQS is dead-lettered without its images; its
/// replay reads the item anyway, so it must not be refused for the images
/// its view type promised (it once was: undecodable, kept for ever).
#[tokio::test]
async fn a_dead_letter_truncated_to_fit_sqs_replays() {
    let mem = base_store();
    let big = "x".repeat(300 * 1024);
    mem.put(exp_tag("EXP#2", "mlflow.big", &big));
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        1,
        Fail::TooLarge,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(flaky, Some(queue.clone()));
    let records = vec![insert("200", &exp_tag("EXP#2", "mlflow.big", &big))];
    handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    let body = queue
        .receive(1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0)
        .body;
    let DlqMessage::Envelope(env) = DlqMessage::parse(&body) else {
        panic!("not an envelope")
    };
    assert!(env.truncated && env.record["dynamodb"].get("NewImage").is_none());
    // The store took the write this time.
    let sqs = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": body}]});
    let resp = handle_json(&d, sqs, deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    assert_eq!(
        tags_of(&mem, "EXP#2", "E#META").get("mlflow.big"),
        Some(&s(big))
    );
}

#[tokio::test]
async fn records_failing_on_the_same_target_share_one_dead_letter() {
    let mem = base_store();
    mem.put(exp_tag("EXP#2", "mlflow.z", "z"));
    let flaky = Arc::new(Flaky::new(
        mem.clone(),
        "update",
        "EXP#2",
        1000,
        Fail::TooLarge,
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(flaky, Some(queue.clone()));
    let mut records = tag_records();
    records.push(insert("400", &exp_tag("EXP#2", "mlflow.z", "z")));
    let resp = handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let msgs = queue.messages();
    assert_eq!(msgs.len(), 1);
    let DlqMessage::Envelope(env) = DlqMessage::parse(&msgs[0].body) else {
        panic!("not an envelope")
    };
    assert_eq!(env.record["dynamodb"]["SequenceNumber"], "200");
    assert_eq!(env.covers, vec!["400".to_owned()]);
}

#[tokio::test]
async fn a_malformed_config_dead_letters_what_needs_it_and_skips_the_rest() {
    let mem = base_store();
    // `patterns` must be a list: a string is refused, never guessed.
    mem.put(item(
        "CONFIG",
        "DENORMALIZE_TAGS",
        [("patterns", s("mlflow.*"))],
    ));
    let queue = Arc::new(MemoryQueue::new());
    let d = deps(mem.clone(), Some(queue.clone()));
    let records = vec![
        insert("1", &exp_tag("EXP#1", "mlflow.a", "1")),
        insert("2", &item("EXP#1", "R#r1#METRIC#acc", [("value", n(1))])),
    ];
    let resp = handle_json(&d, event(records), deadline(), MetricsSink::Off)
        .await
        .unwrap();
    assert_eq!(failures(&resp), Vec::<String>::new());
    let kinds: Vec<String> = queue
        .messages()
        .iter()
        .map(|m| match DlqMessage::parse(&m.body) {
            DlqMessage::Envelope(e) => e.error.kind,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["config"]);
    assert!(
        tags_of(&mem, "EXP#1", "E#META").is_empty(),
        "nothing planned on a guess"
    );
}
