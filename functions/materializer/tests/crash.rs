//! `materializer tail` SIGKILLed at random points and restarted from its
//! checkpoint file, against the local endpoint: the final table equals the
//! table of one uninterrupted tail of the same stream, its derived state is
//! the reference's for the sources, and every record was processed (the
//! checkpoint is at the end of every shard; one more tail reads nothing).
//! Run with `scripts/emulator.sh run -- cargo test -p materializer --test crash`;
//! `CRASH_SEED=<n>` replays the kill points of a failed run (the seed is
//! printed).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use materializer::handler::sequence_number;
use materializer::tail::Checkpoints;
use mlflow_ddb_aws::testkit::{kill_if_running, seed_from_env, unique_name, SplitMix64, TestTable};
use mlflow_ddb_aws::{ShardStart, Store, StreamReader};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use serde_json::Value;

/// Copies of the reference session's experiment: a tail of a few seconds
/// on the emulator.
const COPIES: usize = 8;
/// Kills of the tail on the killed copy, how many must land while it runs,
/// and how many of those after it saved some progress, for the test to mean
/// anything.
const KILLS: usize = 7;
const LANDED_AT_LEAST: usize = 5;
const LANDED_AFTER_PROGRESS_AT_LEAST: usize = 5;
/// Records per batch (a checkpoint save after each).
const BATCH: u32 = 20;
/// The fixture's experiment id (its one non-default experiment).
const EXP_ID: &str = "01m7y1sy3cva228k21dbkxmgca";
fn replace(v: &AttributeValue, from: &str, to: &str) -> AttributeValue {
    match v {
        AttributeValue::S(s) => AttributeValue::S(s.replace(from, to)),
        AttributeValue::M(m) => AttributeValue::M(
            m.iter()
                .map(|(k, v)| (k.replace(from, to), replace(v, from, to)))
                .collect(),
        ),
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(|v| replace(v, from, to)).collect()),
        other => other.clone(),
    }
}

/// The source items of the reference session (no derived state, as the
/// store writes them: META maps empty), its experiment copied `COPIES`
/// times under new ids.
fn sources() -> Vec<Item> {
    let path = root().join("crates/mlflow-ddb-core/tests/fixtures/plan/reference_v0_1_table.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let base: Vec<Item> = serde_json::from_slice(&bytes).expect("fixture items");
    let base: Vec<Item> = base
        .into_iter()
        .filter(|i| !ItemKind::parse_key(v01(), &key_of(i)).is_derived())
        .map(|mut i| {
            if let Some(AttributeValue::M(m)) = i.get_mut("tags") {
                m.clear();
            }
            i
        })
        .collect();
    let mut out = base.clone();
    for n in 1..COPIES {
        let id = format!("{}{n:06}", &EXP_ID[..EXP_ID.len() - 6]);
        for i in &base {
            let k = key_of(i);
            if k.pk.contains(EXP_ID) || k.sk.contains(EXP_ID) {
                let copy: HashMap<String, AttributeValue> = i
                    .iter()
                    .map(|(k, v)| (k.clone(), replace(v, EXP_ID, &id)))
                    .collect();
                out.push(copy.into());
            }
        }
    }
    out
}

/// Writes the sources, CONFIG first, in the same order on every table.
async fn write(store: &dyn Store, sources: &[Item]) {
    let (config, rest): (Vec<Item>, Vec<Item>) = sources
        .iter()
        .cloned()
        .partition(|i| key_of(i).pk == "CONFIG");
    store.batch_write(config, vec![]).await.expect("config");
    store.batch_write(rest, vec![]).await.expect("sources");
}

/// `materializer tail --until-idle` on `table` with checkpoint file `ckpt`,
/// in small batches (many checkpoints, so kills land between and inside
/// them).
fn tail(table: &str, ckpt: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_materializer"));
    c.args(["tail", "--table", table, "--until-idle", "--batch-size"])
        .arg(BATCH.to_string())
        .arg("--checkpoint")
        .arg(ckpt);
    c
}

/// One whole tail; its JSON summary.
fn complete(table: &str, ckpt: &Path) -> Value {
    let out = tail(table, ckpt).output().expect("run materializer");
    assert!(
        out.status.success(),
        "tail failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs a tail, SIGKILLs it `after` its `saves`-th checkpoint save (or at
/// `deadline`); whether it was still running then (a kill that landed
/// mid-tail).
async fn killed(table: &str, ckpt: &Path, saves: u64, after: Duration, deadline: Duration) -> bool {
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let mut child = tail(table, ckpt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn materializer");
    let (clock, mut last, mut seen) = (Instant::now(), read(ckpt), 0);
    while seen < saves && clock.elapsed() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        let now = read(ckpt);
        if now != last {
            (last, seen) = (now, seen + 1);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(after).await;
    kill_if_running(&mut child, "a tail")
}

/// The last sequence number of every shard of `table`'s stream that has
/// records.
async fn stream_ends(table: &TestTable) -> BTreeMap<String, String> {
    let arn = table.stream_arn().expect("a stream");
    let r = StreamReader::new(&table.clients);
    let mut out = BTreeMap::new();
    for shard in r.list_shards(arn).await.expect("shards") {
        let mut it = Some(
            r.shard_iterator(arn, &shard.shard_id, &ShardStart::TrimHorizon)
                .await
                .expect("iterator"),
        );
        while let Some(i) = it.take() {
            let page = r.get_records(arn, &i, Some(1000)).await.expect("records");
            let Some(last) = page.records.last() else {
                break;
            };
            let last = serde_json::to_value(last).expect("record");
            out.insert(
                shard.shard_id.clone(),
                sequence_number(&last).expect("a sequence number"),
            );
            it = page.next_iterator;
        }
    }
    out
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique_name("mat-crash"));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_killed_at_random_points_ends_where_one_uninterrupted_tail_ends() {
    let seed = seed_from_env("CRASH_SEED");
    eprintln!("crash seed {seed} (CRASH_SEED={seed} replays these kill points)");
    let mut rng = SplitMix64(seed);
    let dir = tempdir();
    let (ca, cb) = (dir.join("a.json"), dir.join("b.json"));
    let sources = sources();
    let (a, b) = (
        TestTable::new("v0.1", true).await,
        TestTable::new("v0.1", true).await,
    );
    let (sa, sb): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.store()), Arc::new(b.store()));
    write(&*sa, &sources).await;
    write(&*sb, &sources).await;

    // B: one uninterrupted tail, timed: the kills on A fall inside it.
    let clock = Instant::now();
    let once = complete(&b.name, &cb);
    let took = clock.elapsed();
    let records = once["stats"]["records"].as_u64().unwrap_or(0);
    assert!(records > 1000, "too little work: {once}");
    eprintln!("uninterrupted tail: {took:?}, {records} records");

    // A: killed at random points, each run resuming from the checkpoint
    // the last one saved, then a tail to the end. A point is a random
    // number of batches (checkpoint saves) into the run, plus a random part
    // of a batch's time: the kills fall inside batches and between them,
    // whatever the machine's load, and several land before the stream is
    // read to its end.
    let batch = took * BATCH / u32::try_from(records).unwrap_or(u32::MAX).max(1);
    let (mut landed, mut progressed) = (0, 0);
    let saved = |p: &Path| std::fs::read(p).unwrap_or_default();
    for i in 0..KILLS {
        let saves = 1 + rng.next_u64() % 6;
        let after = rng.between(Duration::ZERO, batch);
        let before = saved(&ca);
        let hit = killed(&a.name, &ca, saves, after, took * 2).await;
        let moved = saved(&ca) != before;
        landed += usize::from(hit);
        progressed += usize::from(hit && moved);
        eprintln!(
            "kill {i} {after:?} after checkpoint save {saves}: running {hit}, checkpoint moved {moved}"
        );
    }
    assert!(
        landed >= LANDED_AT_LEAST && progressed >= LANDED_AFTER_PROGRESS_AT_LEAST,
        "only {landed} of {KILLS} kills landed while the tail ran, {progressed} after it saved progress"
    );
    let last = complete(&a.name, &ca);
    assert_eq!(last["stats"]["failed"], 0, "{last}");
    assert_eq!(last["on_failure_messages"], 0, "{last}");

    // Every record processed: the checkpoint is at the end of every shard,
    // and one more tail from it reads nothing.
    let ckpt = Checkpoints::load(&ca).expect("checkpoint");
    let done: BTreeMap<String, String> = ckpt
        .streams
        .get(a.stream_arn().expect("arn"))
        .expect("this stream in the checkpoint")
        .iter()
        .filter_map(|(shard, c)| c.seq.clone().map(|s| (shard.clone(), s)))
        .collect();
    assert_eq!(
        done,
        stream_ends(&a).await,
        "checkpoint short of the stream's end"
    );
    let again = complete(&a.name, &ca);
    assert_eq!(again["stats"]["records"], 0, "{again}");

    // The same table as the uninterrupted run, item by item, all attributes
    // (these sources delete nothing, so the tail writes no run-dependent
    // value such as a cascade's ttl); its derived state is the reference's.
    let (ta, tb) = (scan_all(&*sa).await, scan_all(&*sb).await);
    let differ: Vec<&ItemKey> = ta
        .keys()
        .chain(tb.keys())
        .filter(|k| ta.get(*k) != tb.get(*k))
        .take(10)
        .collect();
    assert!(
        differ.is_empty(),
        "killed and uninterrupted tails differ at {differ:?}"
    );
    let d = diff(&derived_of(&ta), &oracle(&sources));
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    // The META maps are the derived state, compared above.
    let but_tags = |i: &Item| {
        let mut i = i.clone();
        i.remove("tags");
        i
    };
    for s in &sources {
        assert_eq!(
            ta.get(&key_of(s)).map(but_tags),
            Some(but_tags(s)),
            "source item {} lost or changed",
            key_of(s)
        );
    }
    eprintln!("{landed} of {KILLS} kills landed");
    let _ = std::fs::remove_dir_all(dir);
}
