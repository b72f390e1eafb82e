//! `indexer backfill` SIGKILLed at random points and restarted, against the
//! local endpoint: the final table equals the table of one uninterrupted
//! backfill of the same data (and the core's reconciled state), and
//! `indexer verify` is clean.
//! Run with `scripts/emulator.sh run -- cargo test -p indexer --test crash`;
//! `CRASH_SEED=<n>` replays the kill points of a failed run (the seed is
//! printed).

mod common;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mlflow_ddb_aws::testkit::{
    diff, kill_if_running, load, scan_all, seed_from_env, SplitMix64, TestTable,
};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::item::ItemKey;
use serde_json::Value;

/// Copies of the reference experiment: a backfill of a few seconds on the
/// emulator.
const COPIES: usize = 8;
/// Kills of the backfill on the killed copy, and how many must land while
/// it runs for the test to mean anything.
const KILLS: usize = 6;
const LANDED_AT_LEAST: usize = 4;
/// `indexer <mode>` on `table`: small pages and a few segments, so a kill
/// lands between many writes.
fn indexer(mode: &str, table: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_indexer"));
    c.args([
        mode,
        "--table",
        table,
        "--segments",
        "3",
        "--page-size",
        "25",
        "--json",
    ]);
    c
}

fn summary(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} ({}): {e}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// One whole backfill; its JSON summary.
fn backfill(table: &str) -> Value {
    let out = indexer("backfill", table).output().expect("run indexer");
    let s = summary(&out, "backfill");
    assert!(out.status.success(), "backfill failed: {s}");
    s
}

/// Runs a backfill, SIGKILLs it after `after`; whether it was still running
/// then (a kill that landed mid-backfill).
async fn killed(table: &str, after: Duration) -> bool {
    let mut child = indexer("backfill", table)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn indexer");
    tokio::time::sleep(after).await;
    kill_if_running(&mut child, "a backfill")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_at_random_points_ends_where_one_uninterrupted_backfill_ends() {
    let seed = seed_from_env("CRASH_SEED");
    eprintln!("crash seed {seed} (CRASH_SEED={seed} replays these kill points)");
    let mut rng = SplitMix64(seed);
    let bare = stripped(&reference_table_x(COPIES));
    let expected = reconciled(&bare);
    let (a, b) = (
        TestTable::new("v0.1", false).await,
        TestTable::new("v0.1", false).await,
    );
    let (sa, sb): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.store()), Arc::new(b.store()));
    load(&*sa, &bare).await;
    load(&*sb, &bare).await;
    assert_eq!(diff(&bare, &scan_all(&*sa).await), Vec::<String>::new());

    // B: one uninterrupted backfill, timed: the kills on A fall inside it.
    let clock = Instant::now();
    let once = backfill(&b.name);
    let took = clock.elapsed();
    let writes = once["counts"]["writes"].as_u64().unwrap_or(0);
    assert!(writes > 50, "too little work: {once}");
    eprintln!("uninterrupted backfill: {took:?}, {writes} write requests");

    // A: killed at random points (every run starts the walk afresh: the CLI
    // keeps no checkpoint), then a backfill to the end. Targets already
    // repaired cost reads only, so a later run is shorter: the kills fall
    // inside the time of a dry run on A (reads only, timed just before the
    // kills, at their load), which every run takes at least.
    let clock = Instant::now();
    let dry = indexer("backfill", &a.name)
        .arg("--dry-run")
        .output()
        .expect("run indexer");
    assert!(
        dry.status.success(),
        "dry run: {}",
        summary(&dry, "dry run")
    );
    let reads = clock.elapsed();
    let mut landed = 0;
    for i in 0..KILLS {
        let after = rng.between(reads / 20, reads * 9 / 10);
        let hit = killed(&a.name, after).await;
        landed += usize::from(hit);
        eprintln!("kill {i} after {after:?}: running {hit}");
    }
    assert!(
        landed >= LANDED_AT_LEAST,
        "only {landed} of {KILLS} kills landed while the backfill ran"
    );
    let mid = scan_all(&*sa).await;
    assert_ne!(
        diff(&bare, &mid),
        Vec::<String>::new(),
        "the killed backfills wrote nothing: the kills all landed before any write"
    );
    let last = backfill(&a.name);
    assert_eq!(last["done"], true, "{last}");

    // The same table as the uninterrupted run, item by item (all
    // attributes: the backfill writes nothing run-dependent), and as the
    // core's reconciliation of the source items: every source item is
    // kept unchanged, every derived item is there, nothing else.
    let (ta, tb) = (scan_all(&*sa).await, scan_all(&*sb).await);
    let differ: Vec<&ItemKey> = ta
        .keys()
        .chain(tb.keys())
        .filter(|k| ta.get(*k) != tb.get(*k))
        .take(10)
        .collect();
    assert!(
        differ.is_empty(),
        "killed and uninterrupted backfills differ at {differ:?}"
    );
    assert_eq!(diff(&expected, &ta), Vec::<String>::new());

    let out = indexer("verify", &a.name).output().expect("run indexer");
    let v = summary(&out, "verify");
    assert_eq!(out.status.code(), Some(0), "verify after the kills: {v}");
    eprintln!("{landed} of {KILLS} kills landed");
}
