//! Fuzzing on stable, in `make test`: the committed seed corpus
//! (`fuzz/seeds/decode_record/`, made from the core's stream fixtures by
//! `fuzz/seeds/make_decode_record.py`) and mutations of it, for a bounded
//! time, through
//!
//! - the core's decoders, with the claims of `fuzz/checks/decode_record.rs`
//!   (the `cargo fuzz` target checks the same ones, on nightly);
//! - the materializer's handler, on the in-memory store and queue: a
//!   Lambda event is parsed from bytes as the runtime does, then given to
//!   the handler exactly as in production. Every record is acknowledged
//!   (processed, skipped, or dead-lettered with its content); the handler
//!   dead-letters as undecodable exactly the records the pure planner finds
//!   undecodable; nothing is cut (the memory store never fails
//!   transiently); the targets named are right afterwards; a dead letter
//!   fed back as an SQS event never panics.
//!
//! Reproducible: the PRNG is seeded from `FUZZ_SEED` (else from the clock,
//! printed first); `FUZZ_SECONDS` sets each test's budget (default 20). A
//! failure writes its input under `target/tmp/fuzz-crashes/` and names the
//! file; `FUZZ_INPUT=<file>` runs that one input alone. Once fixed, copy it
//! into `fuzz/seeds/decode_record/` as a regression seed.

#[path = "../../../fuzz/checks/decode_record.rs"]
mod decode_record;

use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use materializer::envelope::DlqMessage;
use materializer::handler::{plan_records, Deps, Settings};
use materializer::lambda::{handle_json, stream_batch, HandlerError, MetricsSink};
use mlflow_ddb_aws::testkit::{
    config_of, key_of, reference_table, seed_from_env, stripped, SplitMix64,
};
use mlflow_ddb_aws::{MemoryQueue, MemoryStore, Queue};
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::Item;
use mlflow_ddb_core::plan::memory::Table;
use mlflow_ddb_engine::{reconcile_targets, ConfigCache, FormatResolver, Mode};
use serde_json::{json, Value};

// ------------------------------------------------------------ the run

/// The name, PRNG seed and time budget of one fuzzing test.
struct Run {
    name: &'static str,
    seed: u64,
    budget: Duration,
}

impl Run {
    fn new(name: &'static str) -> Run {
        let seed = seed_from_env("FUZZ_SEED");
        let secs = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(20.0);
        // Straight to stderr, past the test harness's capture: the seed is
        // known even if the process dies (a stack overflow is no panic).
        let _ = writeln!(
            std::io::stderr(),
            "fuzz {name}: FUZZ_SEED={seed} FUZZ_SECONDS={secs}"
        );
        Run {
            name,
            seed,
            budget: Duration::from_secs_f64(secs.max(0.0)),
        }
    }

    /// Save `input` and fail, naming the file and how to run it again.
    fn fail(&self, iteration: u64, input: &[u8], why: &str) -> ! {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
        let path = dir.join(format!("{}-{}-{iteration}.json", self.name, self.seed));
        let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
        let saved = match saved {
            Ok(()) => format!("input saved to {}", path.display()),
            Err(e) => format!("input could not be saved to {}: {e}", path.display()),
        };
        panic!(
            "fuzz {}: {why}\n  {saved}\n  again: FUZZ_INPUT={} cargo test -p materializer --test fuzz_records {}\n  \
             or the whole run: FUZZ_SEED={} (iteration {iteration})",
            self.name,
            path.display(),
            self.name,
            self.seed
        );
    }
}

/// The message of a caught panic.
fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/decode_record")
}

/// Every seed file's bytes, in file name order.
fn seeds() -> Vec<Vec<u8>> {
    let dir = seeds_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 50,
        "{}: {} seeds; run fuzz/seeds/make_decode_record.py",
        dir.display(),
        paths.len()
    );
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// `FUZZ_INPUT`, when set: the one input to run.
fn replayed_input() -> Option<Vec<u8>> {
    let path = std::env::var("FUZZ_INPUT").ok()?;
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("FUZZ_INPUT={path}: {e}")))
}

// -------------------------------------------------------------- the PRNG

// ----------------------------------------------------------- mutations

/// Tokens of the stream record format and values that break parsers,
/// spliced in as bytes.
const TOKENS: &[&str] = &[
    "\"S\"",
    "\"N\"",
    "\"B\"",
    "\"M\"",
    "\"L\"",
    "\"SS\"",
    "\"NS\"",
    "\"BS\"",
    "\"NULL\"",
    "\"BOOL\"",
    "\"Keys\"",
    "\"NewImage\"",
    "\"OldImage\"",
    "\"SequenceNumber\"",
    "\"StreamViewType\"",
    "\"eventName\"",
    "\"dynamodb\"",
    "\"userIdentity\"",
    "\"Records\"",
    "\"INSERT\"",
    "\"MODIFY\"",
    "\"REMOVE\"",
    "\"KEYS_ONLY\"",
    "\"NEW_AND_OLD_IMAGES\"",
    "\"Service\"",
    "\"dynamodb.amazonaws.com\"",
    "\"PK\"",
    "\"SK\"",
    "\"aws:sqs\"",
    "E#META",
    "#TAG#",
    "#PARAM#",
    "FTS#W#",
    "FTS_REV#",
    "CONFIG",
    "EXP#",
    "R#",
    "T#",
    "M#META",
    "#ASSESS#",
    "mlflow.runName",
    "null",
    "true",
    "false",
    "[]",
    "{}",
    "[[[[",
    "{\"M\":{\"M\":",
    "-0",
    "1e308",
    "-1e308",
    "5e-324",
    "1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "0.000001e-400",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udbff\\udfff\"",
    "\"\\u202e\"",
    "é",
    "🚀",
    "İ",
    "\u{212A}",
    "\u{FEFF}",
    "\u{10FFFF}",
    ",",
    ":",
    "\"",
    "\\",
];

/// Strings that have bitten text handling somewhere.
const ODD: &[&str] = &[
    "",
    "\u{0}",
    "é",
    "e\u{301}",
    "\u{202E}evil",
    "🚀",
    "\u{FEFF}",
    "\u{FFFF}",
    "\u{10FFFF}",
    "İ",
    "\u{212A}",
    "ß",
    "ﬁ",
    "Σσς",
    "#",
    "##",
    "E#META",
    "R#r1#TAG#mlflow.runName",
    "FTS#W#a#E#1",
    "CONFIG",
    "DENORMALIZE_TAGS",
    "mlflow.runName",
    "team.*",
    "*",
    "[",
    "\\",
    "%s",
    "NaN",
    "-0",
    "1e400",
    " ",
    "\t\n",
];

const TYPE_TAGS: &[&str] = &[
    "S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M", "Q",
];

fn odd_string(rng: &mut SplitMix64) -> String {
    let mut s = String::new();
    for _ in 0..=rng.below(4) {
        let odd = rng.pick(ODD);
        s.push_str(odd);
    }
    if rng.one_in(8) {
        let unit = *rng.pick(&["a", "é", "🚀", "# ", "word "]);
        s.push_str(&unit.repeat(rng.below(2_000)));
    }
    s
}

fn random_number(rng: &mut SplitMix64) -> Value {
    match rng.below(6) {
        0 => json!(i64::MIN),
        1 => json!(u64::MAX),
        2 => json!(f64::MAX),
        3 => json!(-0.0),
        4 => json!(5e-324),
        _ => json!(rng.next_u64() as i64),
    }
}

/// A random value: DynamoDB-typed most of the time, raw JSON otherwise.
fn random_value(rng: &mut SplitMix64, depth: usize) -> Value {
    let leaf = depth >= 4;
    match rng.below(if leaf { 8 } else { 12 }) {
        0 => json!({"S": odd_string(rng)}),
        1 => {
            json!({"N": rng.pick(&["1", "-0", "1e400", "NaN", "0x10", "", "99999999999999999999999999999999999999999"])})
        }
        2 => json!({"B": rng.pick(&["", "AAAA", "not base64!", "=", "////"])}),
        3 => json!({"BOOL": rng.one_in(2)}),
        4 => json!({"NULL": rng.one_in(2)}),
        5 => Value::Null,
        6 => random_number(rng),
        7 => Value::String(odd_string(rng)),
        8 => json!({"SS": (0..rng.below(3)).map(|_| odd_string(rng)).collect::<Vec<_>>()}),
        9 => {
            json!({"L": (0..rng.below(3)).map(|_| random_value(rng, depth + 1)).collect::<Vec<_>>()})
        }
        10 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(3) {
                m.insert(odd_string(rng), random_value(rng, depth + 1));
            }
            json!({"M": m})
        }
        _ => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
    }
}

/// A random node of `v`, as a JSON pointer: a random descent that stops
/// at a leaf, or at a container one time in four.
fn random_pointer(rng: &mut SplitMix64, v: &Value) -> String {
    let mut at = String::new();
    let mut node = v;
    loop {
        let next = match node {
            Value::Object(m) if !m.is_empty() && !rng.one_in(4) => {
                let (k, c) = m.iter().nth(rng.below(m.len())).expect("in range");
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                c
            }
            Value::Array(a) if !a.is_empty() && !rng.one_in(4) => {
                let i = rng.below(a.len());
                at.push_str(&format!("/{i}"));
                &a[i]
            }
            _ => return at,
        };
        node = next;
    }
}

/// One structural mutation of a record (or event) in place; `donors` are
/// other inputs to graft from.
fn mutate_value(rng: &mut SplitMix64, v: &mut Value, donors: &[Value]) {
    let at = random_pointer(rng, v);
    let donor_node = |rng: &mut SplitMix64| {
        let d = rng.pick(donors);
        let p = random_pointer(rng, d);
        d.pointer(&p).cloned().unwrap_or(Value::Null)
    };
    let fresh = match rng.below(10) {
        0 | 1 => random_value(rng, 0),
        2 => donor_node(rng),
        3 => Value::String(odd_string(rng)),
        4 => {
            // Deep nesting, sometimes past serde_json's limit of 128.
            let mut n = v.pointer(&at).cloned().unwrap_or(Value::Null);
            for _ in 0..rng.below(70) {
                n = if rng.one_in(2) {
                    json!({"M": {"a": n}})
                } else {
                    json!({"L": [n]})
                };
            }
            n
        }
        _ => Value::Null,
    };
    let Some(node) = v.pointer_mut(&at) else {
        return;
    };
    match rng.below(10) {
        0..=4 if !fresh.is_null() || rng.one_in(3) => *node = fresh,
        5 => {
            // Swap a type tag (`{"S": x}` → `{"N": x}`, or one we do not know).
            if let Value::Object(m) = node {
                if let Some(k) = m.keys().next().cloned() {
                    if let Some(x) = m.remove(&k) {
                        m.insert(rng.pick(TYPE_TAGS).to_string(), x);
                    }
                }
            }
        }
        6 => {
            if let Value::Object(m) = node {
                let keys: Vec<String> = m.keys().cloned().collect();
                if !keys.is_empty() {
                    m.remove(rng.pick(&keys));
                }
            }
        }
        7 => {
            if let Value::Object(m) = node {
                let key = match rng.below(3) {
                    0 => odd_string(rng),
                    _ => rng.pick(TOKENS).trim_matches('"').to_owned(),
                };
                m.insert(key, random_value(rng, 1));
            }
        }
        8 => {
            if let Value::Array(a) = node {
                if !a.is_empty() {
                    let i = rng.below(a.len());
                    if rng.one_in(2) {
                        a.remove(i);
                    } else {
                        let x = a[i].clone();
                        a.push(x);
                    }
                }
            }
        }
        _ => {
            if let Value::String(s) = node {
                *s = match rng.below(3) {
                    0 => odd_string(rng),
                    1 => format!("{s}{}", odd_string(rng)),
                    _ => rng.pick(TOKENS).trim_matches('"').to_owned(),
                };
            }
        }
    }
}

/// One byte-level mutation in place; `donors` are other inputs to splice.
fn mutate_bytes(rng: &mut SplitMix64, b: &mut Vec<u8>, donors: &[Vec<u8>]) {
    let len = b.len();
    let at = rng.below(len + 1);
    match rng.below(9) {
        0 if len > 0 => b[at.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => b[at.min(len - 1)] = *rng.pick(b"\0\xff\"\\{}[],:0-e"),
        2 => b.truncate(at),
        3 => {
            let end = (at + rng.below(64)).min(len);
            b.drain(at..end);
        }
        4 => {
            let junk: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next_u64() as u8).collect();
            b.splice(at..at, junk);
        }
        5 if len > 0 => {
            let start = rng.below(len);
            let end = (start + rng.below(256)).min(len);
            let piece = b[start..end].to_vec();
            b.splice(at..at, piece);
        }
        6 => {
            let d = rng.pick(donors);
            let from = rng.below(d.len() + 1);
            b.truncate(at);
            b.extend_from_slice(&d[from..]);
        }
        _ => {
            let t = rng.pick(TOKENS).as_bytes();
            b.splice(at..at, t.iter().copied());
        }
    }
}

/// Mutants of a random seed: its JSON mutated (when it is JSON, most of
/// the time), then byte-level mutants of that (cheap: most inputs are
/// these).
fn mutants(
    rng: &mut SplitMix64,
    seeds: &[Vec<u8>],
    parsed: &[Option<Value>],
    donors: &[Value],
) -> Vec<Vec<u8>> {
    let i = rng.below(seeds.len());
    let base = match &parsed[i] {
        Some(v) if !rng.one_in(4) => {
            let mut v = v.clone();
            for _ in 0..=rng.below(4) {
                mutate_value(rng, &mut v, donors);
            }
            serde_json::to_vec(&v).expect("a Value serializes")
        }
        _ => seeds[i].clone(),
    };
    let mut out = vec![base];
    for _ in 0..4 {
        let mut b = out[0].clone();
        for _ in 0..=rng.below(4) {
            mutate_bytes(rng, &mut b, seeds);
        }
        b.truncate(1 << 20);
        out.push(b);
    }
    out
}

// ------------------------------------------------- the decoder's claims

#[test]
fn decoder_claims_hold_for_seeds_and_mutants() {
    let run = Run::new("decoder_claims_hold_for_seeds_and_mutants");
    let check = |i: u64, input: &[u8]| {
        if let Err(e) = catch_unwind(|| decode_record::check(input)) {
            run.fail(i, input, &panic_message(e));
        }
    };
    if let Some(input) = replayed_input() {
        check(0, &input);
        return;
    }
    let seeds = seeds();
    let parsed: Vec<Option<Value>> = seeds
        .iter()
        .map(|b| serde_json::from_slice(b).ok())
        .collect();
    let donors: Vec<Value> = parsed.iter().flatten().cloned().collect();
    for (i, s) in seeds.iter().enumerate() {
        check(i as u64, s);
    }
    let mut rng = SplitMix64(run.seed);
    let start = Instant::now();
    let mut n = seeds.len() as u64;
    while start.elapsed() < run.budget {
        for input in mutants(&mut rng, &seeds, &parsed, &donors) {
            check(n, &input);
            n += 1;
        }
    }
    eprintln!(
        "fuzz {}: {n} inputs in {:.1} s ({} seeds)",
        run.name,
        start.elapsed().as_secs_f64(),
        seeds.len()
    );
}

// ------------------------------------------------- the handler's claims

/// A table for one format: the fixture a store of that format wrote,
/// without its derived state (so that batches write), and its CONFIG.
struct Fixture {
    format: TableFormat,
    table: Table,
    config: Config,
    /// Lambda-shaped records of the table's own items: they name targets
    /// that exist, so reconciliation has real work.
    records: Vec<Value>,
}

impl Fixture {
    fn new(format: TableFormat) -> Fixture {
        let full = match format {
            TableFormat::V0_1 => reference_table(),
            TableFormat::Main => {
                let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../crates/mlflow-ddb-core/tests/fixtures/migrate/main.json");
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let v: Value = serde_json::from_slice(&bytes).expect("the main fixture");
                let items: Vec<Item> =
                    serde_json::from_value(v["items"].clone()).expect("its items");
                items.into_iter().map(|i| (key_of(&i), i)).collect()
            }
        };
        let config = config_of(&full);
        let table = stripped(format.profile(), &full);
        let records = table
            .values()
            .enumerate()
            .map(|(i, item)| {
                let image = serde_json::to_value(item).expect("an item serializes");
                let keys = json!({"PK": image["PK"], "SK": image["SK"]});
                let (event, d) = match i % 3 {
                    0 => ("INSERT", json!({"Keys": keys, "NewImage": image})),
                    1 => (
                        "MODIFY",
                        json!({"Keys": keys, "NewImage": image, "OldImage": image}),
                    ),
                    _ => ("REMOVE", json!({"Keys": keys, "OldImage": image})),
                };
                let mut d = d;
                d["SequenceNumber"] = json!(format!("9{i:020}"));
                d["StreamViewType"] = json!("NEW_AND_OLD_IMAGES");
                json!({"eventID": i.to_string(), "eventName": event, "eventSource": "aws:dynamodb",
                       "awsRegion": "us-east-1", "dynamodb": d})
            })
            .collect();
        Fixture {
            format,
            table,
            config,
            records,
        }
    }

    fn deps(&self) -> (Deps, Arc<MemoryStore>, Arc<MemoryQueue>) {
        let store = Arc::new(MemoryStore::with_items(self.table.values().cloned()));
        store.declare_format(self.format);
        let queue = Arc::new(MemoryQueue::new());
        let deps = Deps {
            store: store.clone(),
            dlq: Some(queue.clone() as Arc<dyn Queue>),
            streams: None,
            format: FormatResolver::fixed(self.format),
            config: ConfigCache::default(),
            settings: Settings {
                deadline_margin: Duration::from_millis(10),
                ..Settings::default()
            },
            migrate: None,
        };
        (deps, store, queue)
    }
}

/// The records of a seed: itself, or those of its `Records` array.
fn records_of(v: &Value) -> Vec<Value> {
    match v.get("Records").and_then(Value::as_array) {
        Some(rs) => rs.clone(),
        None => vec![v.clone()],
    }
}

/// A batch: pristine and mutated records of the seeds and of the fixture.
fn batch(rng: &mut SplitMix64, pool: &[Value], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut records = Vec::new();
    for _ in 0..=rng.below(8) {
        let mut r = rng.pick(pool).clone();
        if !rng.one_in(3) {
            for _ in 0..=rng.below(3) {
                mutate_value(rng, &mut r, pool);
            }
        }
        records.push(r);
    }
    let mut bytes = serde_json::to_vec(&json!({ "Records": records })).expect("serializes");
    if rng.one_in(8) {
        mutate_bytes(rng, &mut bytes, seeds);
    }
    bytes
}

/// What the handler did over a run, and dead letters to feed back.
#[derive(Default)]
struct Tally {
    records: u64,
    writes: u64,
    dead_letters: u64,
    undecodable: u64,
    verified: u64,
    replays: Vec<String>,
}

/// What must hold after the handler took `event` (parsed from bytes as the
/// Lambda runtime does): `Err` says what does not.
async fn handler_claims(fx: &Fixture, event: &Value, tally: &mut Tally) -> Result<(), String> {
    let (deps, store, queue) = fx.deps();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sqs = event["Records"][0]["eventSource"] == "aws:sqs";
    let records = match event.get("Records") {
        None => Some(Vec::new()),
        Some(r) => r.as_array().cloned(),
    };
    let Some(records) = records else {
        // Not a Lambda event: refused as a whole before anything is read
        // (the Lambda runtime reports the invocation as failed).
        return match handle_json(&deps, event.clone(), deadline, MetricsSink::Off).await {
            Err(HandlerError::Event(_)) => Ok(()),
            other => Err(format!(
                "an event whose Records is not an array got {other:?}"
            )),
        };
    };
    if sqs || records.is_empty() {
        // Not a stream batch: the SQS path (replays), or nothing to do.
        return match handle_json(&deps, event.clone(), deadline, MetricsSink::Off).await {
            Ok(r) if r["batchItemFailures"].is_array() => Ok(()),
            other => Err(format!("a non-stream event got {other:?}")),
        };
    }
    let (response, stats) = stream_batch(&deps, &records, deadline).await;
    let response = response.map_err(|e| format!("the invocation failed: {e}"))?;
    if !response.batch_item_failures.is_empty() {
        return Err(format!("the batch was cut: {response:?} ({stats:?})"));
    }
    let n = records.len() as u64;
    if stats.records != n || stats.acknowledged != n || stats.failed != 0 {
        return Err(format!("{n} records, not all acknowledged: {stats:?}"));
    }

    // Every dead letter is one record of the batch, whole (or without its
    // images when too large for SQS); the undecodable ones are exactly
    // those the pure planner finds undecodable.
    let messages = queue.messages();
    if messages.len() as u64 != stats.dlq_sends {
        return Err(format!(
            "{} messages for {} DLQ sends",
            messages.len(),
            stats.dlq_sends
        ));
    }
    let mut unmatched: Vec<&Value> = records.iter().collect();
    let mut undecodable: Vec<Value> = Vec::new();
    let mut other_failures = 0;
    for m in &messages {
        let DlqMessage::Envelope(env) = DlqMessage::parse(&m.body) else {
            return Err(format!("a dead letter that is no envelope: {}", m.body));
        };
        let same = |r: &&Value| {
            if env.truncated {
                let mut r = (*r).clone();
                if let Some(d) = r.get_mut("dynamodb").and_then(Value::as_object_mut) {
                    d.remove("NewImage");
                    d.remove("OldImage");
                }
                r == env.record || env.record.is_null()
            } else {
                **r == env.record
            }
        };
        let Some(i) = unmatched.iter().position(same) else {
            return Err(format!(
                "a dead letter of no record of the batch: {}",
                m.body
            ));
        };
        unmatched.swap_remove(i);
        if env.error.kind == "undecodable" {
            undecodable.push(env.record.clone());
        } else {
            other_failures += 1;
            tally.replays.push(m.body.clone());
        }
    }
    let profile = fx.format.profile();
    let expected: Vec<&Value> = records
        .iter()
        .filter(|r| plan_records(profile, &fx.config, std::slice::from_ref(*r)).poison == 1)
        .collect();
    let plan = plan_records(profile, &fx.config, &records);
    if expected.len() != undecodable.len() || plan.poison != expected.len() {
        return Err(format!(
            "{} records undecodable alone, {} in the batch, {} dead-lettered as undecodable",
            expected.len(),
            plan.poison,
            undecodable.len()
        ));
    }
    tally
        .replays
        .extend(messages.iter().take(1).map(|m| m.body.clone()));
    tally.records += n;
    tally.writes += stats.writes;
    tally.dead_letters += stats.dlq_sends;
    tally.undecodable += undecodable.len() as u64;

    // Level-triggered: every target the batch names is right now, unless
    // one of its writes failed for good (a dead letter says so).
    if other_failures == 0 && !plan.targets.is_empty() {
        let outcomes =
            reconcile_targets(&*store, profile, &fx.config, &plan.targets, Mode::Verify, 4).await;
        tally.verified += outcomes.len() as u64;
        for o in outcomes {
            match o.result {
                Ok(r) if r.noop || r.target_missing => {}
                Ok(r) => return Err(format!("{} left wrong after the batch: {r:?}", o.target)),
                Err(e) => return Err(format!("{}: verify failed: {e}", o.target)),
            }
        }
    }
    Ok(())
}

/// Parse `input` as the Lambda runtime does and check [`handler_claims`];
/// false when it is no JSON (the handler never sees it).
fn run_handler(
    run: &Run,
    rt: &tokio::runtime::Runtime,
    i: u64,
    fx: &Fixture,
    input: &[u8],
    tally: &mut Tally,
) -> bool {
    let Ok(event) = serde_json::from_slice::<Value>(input) else {
        return false;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(handler_claims(fx, &event, tally))
    }));
    match outcome {
        Ok(Ok(())) => true,
        Ok(Err(why)) => run.fail(i, input, &format!("{:?} table: {why}", fx.format)),
        Err(e) => run.fail(
            i,
            input,
            &format!("{:?} table: {}", fx.format, panic_message(e)),
        ),
    }
}

#[test]
fn handler_accounts_for_every_record_of_seeds_and_mutants() {
    let run = Run::new("handler_accounts_for_every_record_of_seeds_and_mutants");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let fixtures = [
        Fixture::new(TableFormat::V0_1),
        Fixture::new(TableFormat::Main),
    ];
    let mut tally = Tally::default();
    if let Some(input) = replayed_input() {
        for fx in &fixtures {
            run_handler(&run, &rt, 0, fx, &input, &mut tally);
        }
        return;
    }
    let seeds = seeds();
    let mut pool: Vec<Value> = seeds
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .flat_map(|v| records_of(&v))
        .collect();
    let seed_records = pool.len();

    // Every seed as a batch of its own, in both formats.
    let mut n = 0u64;
    for s in &seeds {
        let event = match serde_json::from_slice::<Value>(s) {
            Ok(v) if v.get("Records").is_some() => s.clone(),
            Ok(v) => serde_json::to_vec(&json!({ "Records": [v] })).expect("serializes"),
            Err(_) => continue,
        };
        for fx in &fixtures {
            run_handler(&run, &rt, n, fx, &event, &mut tally);
            n += 1;
        }
    }

    let mut rng = SplitMix64(run.seed);
    let start = Instant::now();
    let (mut batches, mut sqs) = (0u64, 0u64);
    while start.elapsed() < run.budget {
        let fx = rng.pick(&fixtures);
        pool.truncate(seed_records);
        pool.extend(fx.records.iter().cloned());
        let input = if !tally.replays.is_empty() && rng.one_in(16) {
            // A dead letter back through the DLQ's event source.
            sqs += 1;
            let body = tally.replays.swap_remove(rng.below(tally.replays.len()));
            let mut m =
                json!({"messageId": format!("m{n}"), "eventSource": "aws:sqs", "body": body});
            if rng.one_in(2) {
                mutate_value(&mut rng, &mut m, &pool);
            }
            serde_json::to_vec(&json!({ "Records": [m] })).expect("serializes")
        } else {
            batch(&mut rng, &pool, &seeds)
        };
        tally.replays.truncate(64);
        batches += u64::from(run_handler(&run, &rt, n, fx, &input, &mut tally));
        n += 1;
    }
    eprintln!(
        "fuzz {}: {n} inputs in {:.1} s: {batches} batches handled ({sqs} through the DLQ's event \
         source), {} stream records, {} writes, {} dead letters ({} undecodable), {} targets verified",
        run.name,
        start.elapsed().as_secs_f64(),
        tally.records,
        tally.writes,
        tally.dead_letters,
        tally.undecodable,
        tally.verified
    );
}
