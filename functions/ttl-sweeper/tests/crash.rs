//! `ttl-sweeper` SIGKILLed at random points and restarted, against the local
//! endpoint: the final table equals the table of one uninterrupted sweep of
//! the same data, and every `ttl` is written once, by the run that expired
//! its item, and never moved afterwards.
//! Run with `scripts/emulator.sh run -- cargo test -p ttl-sweeper --test crash`;
//! `CRASH_SEED=<n>` replays the kill points of a failed run (the seed is
//! printed).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mlflow_ddb_aws::testkit::{self, kill_if_running, seed_from_env, SplitMix64, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::item::{Item, ItemKey};
use mlflow_ddb_core::sweep::checkpoint_key;
use ttl_sweeper::epoch_seconds;

/// Kills of the sweep on the killed copy, how many must land while it runs,
/// and how many of those after some of its writes, for the test to mean
/// anything.
const KILLS: usize = 8;
const LANDED_AT_LEAST: usize = 4;
const LANDED_WRITING_AT_LEAST: usize = 2;
fn sweeper(table: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ttl-sweeper"));
    c.args(["--table", table, "--json", "--breaker-fraction", "1"]);
    c
}

/// How long a dry run takes: the scan and the reads, without the expiry.
fn dry_run(table: &str) -> Duration {
    let clock = Instant::now();
    let out = sweeper(table)
        .arg("--dry-run")
        .output()
        .expect("run ttl-sweeper");
    assert!(out.status.success(), "dry run failed ({})", out.status);
    clock.elapsed()
}

/// Where a kill falls: a time into the run (most of them during the scan),
/// or a time after the scan ended, which the sweep marks by logging its
/// first orphan group (the expiry starts then). Timing the second kind from
/// that line, not from the start, keeps the kills inside the expiry however
/// long the scan takes on a loaded machine.
#[derive(Debug, Clone, Copy)]
enum Kill {
    Scanning(Duration),
    Expiring(Duration),
}

/// Runs the sweep and SIGKILLs it at `kill`; whether it was still running
/// then (a kill that landed mid-sweep).
async fn killed(table: &str, kill: Kill) -> bool {
    let mut child = sweeper(table)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ttl-sweeper");
    let stderr = child.stderr.take().expect("piped stderr");
    let (scanned, expiring) = tokio::sync::oneshot::channel();
    // Read to the end so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut scanned = Some(scanned);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(" orphans pk=") {
                if let Some(tx) = scanned.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    match kill {
        Kill::Scanning(after) => tokio::time::sleep(after).await,
        // No orphan line: the run found nothing and ended.
        Kill::Expiring(after) => {
            if expiring.await.is_ok() {
                tokio::time::sleep(after).await
            }
        }
    }
    kill_if_running(&mut child, "a sweep")
}

/// One whole sweep; its JSON summary.
fn complete(table: &str) -> serde_json::Value {
    let out = sweeper(table).output().expect("run ttl-sweeper");
    assert!(
        out.status.success(),
        "ttl-sweeper failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

async fn all_items(store: &dyn Store) -> BTreeMap<ItemKey, Item> {
    testkit::scan_all(store).await
}

/// A table with work for a sweep of a few seconds on the emulator: live
/// experiments (one with a soft-deleted run whose ttl is later), deleted
/// experiments (category 1), runs deleted in live experiments (category 3),
/// a deleted model (category 2); orphans that are already expiring (an
/// earlier ttl: left alone) and orphans with a later ttl (brought forward).
fn seed_items(now: i64) -> Vec<Item> {
    let mut items = Vec::new();
    for e in 0..30 {
        items.extend(experiment(&format!("live{e}"), true, 2));
    }
    items.push(with_ttl("EXP#live0", "R#soft", now + 100_000));
    items.push(with_ttl("EXP#live0", "R#soft#PARAM#a", now + 100_000));
    for e in 0..16 {
        let mut gone = experiment(&format!("gone{e}"), false, 8);
        if e % 5 == 0 {
            // Already expiring: the sweep must not touch these.
            for i in gone.iter_mut().step_by(3) {
                i.insert("ttl".into(), mlflow_ddb_aws::testkit::n(now - 3600));
            }
        }
        if e % 7 == 0 {
            // A later ttl than the sweep's now: brought forward.
            for i in gone.iter_mut().skip(1).step_by(4) {
                i.insert("ttl".into(), mlflow_ddb_aws::testkit::n(now + 100_000));
            }
        }
        items.extend(gone);
    }
    for e in 0..10 {
        let pk = format!("EXP#live{e}");
        items.extend(run_children(&pk, &format!("deleted{e}")));
    }
    items.push(item("RM#gone", "V#00001"));
    items.push(item("RM#gone", "V#00002"));
    items.push(item("RM#kept", "M#META"));
    items.push(item("RM#kept", "V#00001"));
    items
}

/// Every item of `after` but the sweeper's checkpoint against `seed`: the
/// same keys, the same attributes but `ttl`. Where `ttl` differs from the
/// seed, `first` must hold the value it was first set to (or it is set now,
/// to the now of a run that started at or after `started` and ended by
/// `ended`, epoch seconds): a ttl is written once, to its run's now, never
/// later than it was, and never moved again. Returns how many ttls were set
/// since the last check.
fn check_ttls(
    seed: &BTreeMap<ItemKey, Item>,
    after: &BTreeMap<ItemKey, Item>,
    first: &mut BTreeMap<ItemKey, i64>,
    (started, ended): (i64, i64),
) -> usize {
    let mut set_now = 0;
    let keys: Vec<&ItemKey> = after.keys().filter(|k| **k != checkpoint_key()).collect();
    assert_eq!(
        keys.len(),
        seed.len(),
        "items were created or deleted: {:?}",
        after
            .keys()
            .filter(|k| !seed.contains_key(k))
            .take(5)
            .collect::<Vec<_>>()
    );
    for k in keys {
        let (was, is) = (&seed[k], &after[k]);
        let strip = |i: &Item| {
            let mut i = i.clone();
            i.remove("ttl");
            i
        };
        assert_eq!(strip(was), strip(is), "{k}: an attribute but ttl changed");
        let (t0, t1) = (ttl_of(was), ttl_of(is));
        if t0 == t1 {
            assert!(
                !first.contains_key(k),
                "{k}: its ttl went back to the seed's"
            );
            continue;
        }
        let t1 = t1.unwrap_or_else(|| panic!("{k}: its ttl was removed"));
        match first.get(k) {
            Some(t) => assert_eq!(*t, t1, "{k}: a ttl written twice"),
            None => {
                assert!(
                    (started..=ended).contains(&t1),
                    "{k}: ttl {t1} is not the now of the run of {started}..={ended}"
                );
                assert!(t0.is_none_or(|t0| t1 < t0), "{k}: ttl moved later");
                first.insert(k.clone(), t1);
                set_now += 1;
            }
        }
    }
    set_now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_killed_at_random_points_expires_what_one_uninterrupted_sweep_expires() {
    let seed = seed_from_env("CRASH_SEED");
    eprintln!("crash seed {seed} (CRASH_SEED={seed} replays these kill points)");
    let mut rng = SplitMix64(seed);
    let now = epoch_seconds();
    let items = seed_items(now);
    let (a, b) = (
        TestTable::new("v0.1", false).await,
        TestTable::new("v0.1", false).await,
    );
    let (sa, sb): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.store()), Arc::new(b.store()));
    sa.batch_write(items.clone(), vec![]).await.expect("load A");
    sb.batch_write(items, vec![]).await.expect("load B");
    let seeded = all_items(&*sa).await;
    assert_eq!(seeded, all_items(&*sb).await, "the copies differ");

    // B: one uninterrupted sweep, timed, and a dry run before it (the
    // scan and the reads alone): how long the expiry takes for each second
    // of scan, whatever the machine's load.
    let b_scan = dry_run(&b.name);
    let (b_started, clock) = (epoch_seconds(), Instant::now());
    let summary_b = complete(&b.name);
    let took = clock.elapsed();
    let b_window = (b_started, epoch_seconds());
    let after_b = all_items(&*sb).await;
    let mut first_b = BTreeMap::new();
    let expired_b = check_ttls(&seeded, &after_b, &mut first_b, b_window);
    assert!(expired_b > 500, "too little work: {summary_b}");
    assert_eq!(summary_b["items_expired"], expired_b as u64, "{summary_b}");
    eprintln!("uninterrupted sweep: {took:?}, {expired_b} ttls set");

    // A: killed at random points, each run's writes checked against the
    // table before it, then a sweep to the end. What a killed sweep expired
    // stays expired, so each run has less to write than the one before. A
    // quarter of the kills fall in the scan (timed by a dry run on A, at the
    // load of the kills); the rest fall after the scan, at most a sixteenth
    // of B's expiry into it at the fastest expiry rate seen so far, so that
    // every kill finds work left.
    let scan = dry_run(&a.name);
    let share = expired_b as f64 / 16.0;
    let mut rate = expired_b as f64 / took.saturating_sub(b_scan).as_secs_f64().max(0.5) * 2.0;
    let mut first_a = BTreeMap::new();
    let (mut landed, mut writing) = (0, 0);
    let mut previous = epoch_seconds();
    for i in 0..KILLS {
        let kill = if rng.next_u64() % 4 == 0 {
            Kill::Scanning(rng.between(Duration::ZERO, scan * 4 / 5))
        } else {
            Kill::Expiring(rng.between(Duration::ZERO, Duration::from_secs_f64(share / rate)))
        };
        let started = epoch_seconds();
        let hit = killed(&a.name, kill).await;
        // A write the killed run had in flight may land after the table
        // is read here: it is seen after the next run, with this run's now.
        let set = check_ttls(
            &seeded,
            &all_items(&*sa).await,
            &mut first_a,
            (previous, epoch_seconds()),
        );
        previous = started;
        landed += usize::from(hit);
        writing += usize::from(hit && set > 0);
        if let Kill::Expiring(after) = kill {
            if hit && after > Duration::from_millis(100) {
                rate = rate.max(set as f64 / after.as_secs_f64());
            }
        }
        eprintln!("kill {i} at {kill:?}: running {hit}, {set} ttls set");
    }
    assert!(
        landed >= LANDED_AT_LEAST && writing >= LANDED_WRITING_AT_LEAST,
        "only {landed} of {KILLS} kills landed while the sweep ran, {writing} after it wrote (dry run {scan:?})"
    );
    let summary_a = complete(&a.name);
    let after_a = all_items(&*sa).await;
    check_ttls(&seeded, &after_a, &mut first_a, (previous, epoch_seconds()));
    assert_eq!(summary_a["complete"], true, "{summary_a}");

    // The same items expired as by the uninterrupted sweep; the ttl values
    // are each run's own clock (checked above), so only which items got one
    // is compared. Every other attribute, and every item left alone, is
    // equal (check_ttls compared both tables with the seed).
    let expired =
        |m: &BTreeMap<ItemKey, i64>| m.keys().cloned().collect::<std::collections::BTreeSet<_>>();
    let (ea, eb) = (expired(&first_a), expired(&first_b));
    assert_eq!(
        ea.symmetric_difference(&eb).take(10).collect::<Vec<_>>(),
        Vec::<&ItemKey>::new(),
        "killed and uninterrupted sweeps expired different items"
    );
    assert!(!after_a.contains_key(&checkpoint_key()) && !after_b.contains_key(&checkpoint_key()));
    eprintln!(
        "{landed} of {KILLS} kills landed; {} of {} ttls set before the last run",
        first_a.len() - summary_a["items_expired"].as_u64().unwrap_or(0) as usize,
        first_a.len()
    );
}
