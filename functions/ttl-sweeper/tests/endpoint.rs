//! ttl-sweeper against the local endpoint (moto): parity with the reference's
//! `cleanup-expired`, safety around live items, the breaker, the checkpoint.
//! Run with `scripts/emulator.sh run -- cargo test -p ttl-sweeper`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use mlflow_ddb_aws::testkit::{self, TestTable};
use mlflow_ddb_aws::{DynamoStore, Store};
use mlflow_ddb_core::item::{Item, ItemKey};
use mlflow_ddb_core::sweep::{checkpoint_key, Category};
use ttl_sweeper::{epoch_seconds, sweep, Budget, NoProgress, Outcome, SweepOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn all_items(store: &dyn Store) -> BTreeMap<ItemKey, Item> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .scan_segment(0, 1, start, None, Some(1000))
            .await
            .unwrap();
        for i in page.items {
            let s = mlflow_ddb_core::sweep::Scanned::from_item(&i).unwrap();
            out.insert(s.key, i);
        }
        match page.last_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

async fn run(store: Arc<dyn Store>, table: &str, opts: SweepOptions, now: i64) -> Outcome {
    let d = deps(store, table, opts.clone());
    sweep(&d, &opts, now, &Budget::default(), Arc::new(NoProgress))
        .await
        .unwrap()
}

fn lenient() -> SweepOptions {
    SweepOptions {
        breaker_fraction: 1.0,
        ..SweepOptions::default()
    }
}

/// Keys of one category in a decision: group META → item keys.
fn category(out: &Outcome, c: Category) -> BTreeMap<ItemKey, BTreeSet<ItemKey>> {
    out.decision
        .groups
        .iter()
        .filter(|g| g.category == c)
        .map(|g| {
            (
                g.meta.clone(),
                g.items.iter().map(|s| s.key.clone()).collect(),
            )
        })
        .collect()
}

/// A reference CLI's dry-run report: `Experiment <id>: <n> orphaned items`
/// lines, by partition.
fn reported_orphans(text: &str) -> BTreeMap<String, usize> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Experiment ")?;
            let (id, n) = rest.split_once(": ")?;
            Some((
                format!("EXP#{id}"),
                n.strip_suffix(" orphaned items")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Our dry run against the reference's report on the fixture's table
/// (`reference_table.py`'s manifest): category 1 is the reference's set
/// (same partitions, every item of each, same counts); category 2 the model
/// whose `M#META` is gone (the references ignore `RM#`); category 3 the
/// deleted run's children and its FTS items in `profile`'s layout, nothing
/// else (returned). Nothing was written.
fn check_dry_run(
    profile: &mlflow_ddb_core::format::Profile,
    dry: &Outcome,
    before: &BTreeMap<ItemKey, Item>,
    manifest: &serde_json::Value,
    reported: &BTreeMap<String, usize>,
) -> BTreeSet<ItemKey> {
    use mlflow_ddb_core::keys::ItemKind;
    let cat1 = category(dry, Category::Experiment);
    let ours: BTreeMap<String, usize> = cat1.iter().map(|(m, i)| (m.pk.clone(), i.len())).collect();
    assert_eq!(&ours, reported);
    for (meta, items) in &cat1 {
        let all: BTreeSet<ItemKey> = before.keys().filter(|k| k.pk == meta.pk).cloned().collect();
        assert_eq!(items, &all, "{}", meta.pk);
    }
    let gone: BTreeSet<String> = manifest["experiments_gone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("EXP#{}", v.as_str().unwrap()))
        .collect();
    assert_eq!(ours.keys().cloned().collect::<BTreeSet<_>>(), gone);

    let cat2 = category(dry, Category::RegisteredModel);
    let model_pk = manifest["models_gone"][0].as_str().unwrap();
    assert_eq!(cat2.len(), 1);
    let (meta, items) = cat2.iter().next().unwrap();
    assert_eq!(meta.pk, model_pk);
    let all: BTreeSet<ItemKey> = before
        .keys()
        .filter(|k| k.pk == model_pk)
        .cloned()
        .collect();
    assert!(!all.is_empty());
    assert_eq!(items, &all);

    let cat3 = category(dry, Category::Run);
    let exp = manifest["runs_gone"][0][0].as_str().unwrap();
    let run_id = manifest["runs_gone"][0][1].as_str().unwrap();
    let pk = format!("EXP#{exp}");
    let want: BTreeSet<ItemKey> = before
        .keys()
        .filter(|k| {
            k.pk == pk
                && (k.sk.starts_with(&format!("R#{run_id}#"))
                    || match ItemKind::parse_key(profile, k) {
                        ItemKind::FtsForward { fts, .. } | ItemKind::FtsReverse { fts, .. } => {
                            fts.entity_id == run_id
                        }
                        _ => false,
                    })
        })
        .cloned()
        .collect();
    assert!(want.len() > 5, "{want:?}");
    assert!(want.iter().any(|k| k.sk.starts_with("FTS#")), "{want:?}");
    assert_eq!(cat3.len(), 1);
    assert_eq!(cat3.get(&key(&pk, &format!("R#{run_id}"))), Some(&want));
    assert_eq!(dry.summary.items_expired, 0);
    want
}

/// The sweep after the dry run: every orphan the dry run saw gets
/// `ttl = now`, every other item is unchanged.
fn check_sweep(
    dry: &Outcome,
    swept: &Outcome,
    before: &BTreeMap<ItemKey, Item>,
    after: &BTreeMap<ItemKey, Item>,
    now: i64,
) -> BTreeSet<ItemKey> {
    let orphans: BTreeSet<ItemKey> = swept
        .decision
        .groups
        .iter()
        .flat_map(|g| g.items.iter().map(|s| s.key.clone()))
        .collect();
    assert_eq!(
        orphans.len() as u64,
        dry.summary.orphans.total_items(),
        "the sweep saw what the dry run saw"
    );
    assert_eq!(after.len(), before.len());
    for (k, item) in after {
        if orphans.contains(k) {
            assert_eq!(ttl_of(item), Some(now), "{k}");
        } else {
            assert_eq!(Some(item), before.get(k), "live item {k} changed");
        }
    }
    assert_eq!(
        swept.summary.items_expired + swept.summary.items_skipped_already_expiring,
        orphans.len() as u64
    );
    assert!(swept.summary.complete);
    orphans
}

#[tokio::test]
async fn parity_with_the_reference_cleanup_expired_and_a_safe_sweep() {
    let clients = testkit::clients().await;
    let table = testkit::unique_name("sweep-parity");
    let py = root().join(".venv/bin/python");
    let out = Command::new(&py)
        .arg(root().join("functions/ttl-sweeper/tests/fixtures/reference_table.py"))
        .arg(&table)
        .output()
        .expect("run the reference fixture (needs the project venv: scripts/venv.sh reference)");
    assert!(
        out.status.success(),
        "fixture failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // What the reference's own dry run reports.
    let reference = Command::new(root().join(".venv/bin/mlflow-dynamodbstore"))
        .args([
            "cleanup-expired",
            "--table",
            &table,
            "--dry-run",
            "--region",
        ])
        .arg(clients.region())
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    assert!(reference.status.success());
    let text = String::from_utf8_lossy(&reference.stdout);
    let reported = reported_orphans(&text);
    assert_eq!(reported.len(), 2, "{text}");

    let store: Arc<dyn Store> = Arc::new(DynamoStore::with_options(
        &clients,
        &table,
        TestTable::store_options(),
    ));
    let before = all_items(&*store).await;
    let dry = run(
        store.clone(),
        &table,
        SweepOptions {
            dry_run: true,
            ..lenient()
        },
        epoch_seconds(),
    )
    .await;

    let deleted_run = check_dry_run(
        mlflow_ddb_core::format::TableFormat::V0_1.profile(),
        &dry,
        &before,
        &manifest,
        &reported,
    );
    assert!(
        !deleted_run.iter().any(|k| k.sk.starts_with("FTS#2#")),
        "{deleted_run:?}"
    );
    assert_eq!(all_items(&*store).await, before, "a dry run wrote");

    // The sweep itself: every orphan gets ttl = now, nothing else changes.
    let now = epoch_seconds();
    let swept = run(store.clone(), &table, lenient(), now).await;
    let after = all_items(&*store).await;
    let orphans = check_sweep(&dry, &swept, &before, &after, now);

    // Again: nothing left to write, every orphan already expiring.
    let again = run(store.clone(), &table, lenient(), now + 5).await;
    assert_eq!(again.summary.items_expired, 0);
    assert_eq!(
        again.summary.items_skipped_already_expiring,
        orphans.len() as u64
    );
    assert_eq!(all_items(&*store).await, after);
}

#[tokio::test]
async fn live_items_are_never_touched() {
    let t = TestTable::new("v0.1", false).await;
    let store: Arc<dyn Store> = Arc::new(t.store());
    let mut items = Vec::new();
    for e in 0..4 {
        items.extend(experiment(&format!("live{e}"), true, 3));
    }
    items.push(item("RM#m1", "M#META"));
    items.push(item("RM#m1", "V#00001"));
    items.push(item("CONFIG", "TTL_POLICY"));
    items.push(item("WORKSPACE#default", "META"));
    // one run whose children carry a later ttl (soft-deleted, not expired yet)
    items.push(with_ttl("EXP#live0", "R#soft", epoch_seconds() + 1000));
    items.push(with_ttl(
        "EXP#live0",
        "R#soft#PARAM#a",
        epoch_seconds() + 1000,
    ));
    store.batch_write(items, vec![]).await.unwrap();
    let before = all_items(&*store).await;
    let out = run(
        store.clone(),
        &t.name,
        SweepOptions::default(),
        epoch_seconds(),
    )
    .await;
    assert_eq!(out.summary.orphans.total_items(), 0, "{:?}", out.summary);
    assert_eq!(out.summary.partitions_scanned, 5);
    assert!(!out.summary.aborted);
    assert_eq!(all_items(&*store).await, before);
}

#[tokio::test]
async fn meta_restored_before_the_recheck_saves_its_items() {
    let t = TestTable::new("v0.1", false).await;
    let inner: Arc<dyn Store> = Arc::new(t.store());
    let mut items = experiment("a", false, 2);
    items.extend(experiment("b", false, 2));
    inner.batch_write(items, vec![]).await.unwrap();
    // batch_get #1 is the read of the METAs the scan did not see (both
    // absent: both orphaned); #2 is the re-check just before expiring. The
    // experiment is restored (its META re-created) in between.
    let hooked = HookStore::new(inner.clone()).before_batch_get(
        2,
        Change {
            puts: vec![item("EXP#a", "E#META")],
            ..Change::default()
        },
    );
    let now = epoch_seconds();
    let out = run(Arc::new(hooked), &t.name, lenient(), now).await;
    assert_eq!(out.summary.orphaned_partitions, 2);
    let a_items = experiment("a", false, 2).len() as u64;
    assert_eq!(out.summary.items_skipped_meta_back, a_items);
    let after = all_items(&*inner).await;
    for (k, i) in &after {
        match k.pk.as_str() {
            "EXP#a" => assert_eq!(ttl_of(i), None, "{k} of the restored experiment expired"),
            "EXP#b" => assert_eq!(ttl_of(i), Some(now), "{k}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_experiment_created_during_the_sweep_is_left_alone_and_nothing_is_recreated() {
    let t = TestTable::new("v0.1", false).await;
    let inner: Arc<dyn Store> = Arc::new(t.store());
    // "new": its children are visible to the scan, its META is written just
    // after (as a stale read would see it); "b" is a real orphan.
    let mut items = experiment("new", false, 1);
    items.extend(experiment("b", false, 1));
    items.extend(experiment("live", true, 1));
    inner.batch_write(items, vec![]).await.unwrap();
    let deleted = key("EXP#b", "R#rbx0#PARAM#lr");
    let hooked = HookStore::new(inner.clone())
        .after_first_scan(Change {
            puts: vec![item("EXP#new", "E#META")],
            ..Change::default()
        })
        .before_expire(Change {
            // an orphan removed by TTL between the re-check and the write
            deletes: vec![deleted.clone()],
            ..Change::default()
        });
    let now = epoch_seconds();
    let out = run(Arc::new(hooked), &t.name, lenient(), now).await;
    assert_eq!(out.summary.orphaned_partitions, 1, "{:?}", out.summary);
    assert_eq!(out.summary.items_skipped_already_expiring, 1);
    let after = all_items(&*inner).await;
    assert!(
        !after.contains_key(&deleted),
        "a deleted orphan was re-created"
    );
    for (k, i) in &after {
        if k.pk == "EXP#b" {
            assert_eq!(ttl_of(i), Some(now), "{k}");
        } else {
            assert_eq!(ttl_of(i), None, "{k} of a live experiment expired");
        }
    }
}

#[tokio::test]
async fn the_breaker_trips_when_most_partitions_look_orphaned() {
    let t = TestTable::new("v0.1", false).await;
    let store: Arc<dyn Store> = Arc::new(t.store());
    let mut items = Vec::new();
    for e in 0..8 {
        items.extend(experiment(&format!("gone{e}"), false, 1));
    }
    for e in 0..2 {
        items.extend(experiment(&format!("live{e}"), true, 1));
    }
    store.batch_write(items, vec![]).await.unwrap();
    let before = all_items(&*store).await;
    let out = run(
        store.clone(),
        &t.name,
        SweepOptions::default(),
        epoch_seconds(),
    )
    .await;
    assert!(out.summary.aborted);
    let reason = out.summary.abort_reason.clone().unwrap();
    assert!(reason.contains("8 of 10 partitions"), "{reason}");
    assert_eq!(out.summary.items_expired, 0);
    assert_eq!(out.summary.orphaned_partitions, 8);
    // Nothing written, not even a checkpoint.
    assert_eq!(all_items(&*store).await, before);
    assert!(store.get(&checkpoint_key(), true).await.unwrap().is_none());
}

#[tokio::test]
async fn an_early_stop_leaves_a_checkpoint_and_the_next_run_finishes_without_expiring_twice() {
    let t = TestTable::new("v0.1", false).await;
    let store: Arc<dyn Store> = Arc::new(t.store());
    let mut items = Vec::new();
    for e in 0..12 {
        items.extend(experiment(&format!("gone{e}"), false, 1));
    }
    for e in 0..40 {
        items.extend(experiment(&format!("live{e}"), true, 1));
    }
    store.batch_write(items, vec![]).await.unwrap();
    let orphans: BTreeSet<ItemKey> = all_items(&*store)
        .await
        .into_keys()
        .filter(|k| k.pk.starts_with("EXP#gone"))
        .collect();
    // moto scans in insertion order, so the first pages hold the orphans
    // only: the breaker (per invocation) would trip on that sample.
    let opts = SweepOptions {
        segments: 3,
        page_limit: Some(25),
        ..lenient()
    };
    let d = deps(store.clone(), &t.name, opts.clone());
    let now1 = epoch_seconds() - 100;
    let first = sweep(
        &d,
        &opts,
        now1,
        &Budget {
            max_pages: Some(4),
            ..Budget::default()
        },
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert!(!first.summary.complete);
    assert!(first.summary.stopped_early.is_some());
    assert!(first.summary.items_expired > 0, "{:?}", first.summary);
    assert!(first.summary.items_expired < orphans.len() as u64);
    assert!(store.get(&checkpoint_key(), true).await.unwrap().is_some());

    let now2 = now1 + 50;
    let second = sweep(&d, &opts, now2, &Budget::default(), Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(second.summary.resumed);
    assert!(second.summary.complete, "{:?}", second.summary);
    assert!(store.get(&checkpoint_key(), true).await.unwrap().is_none());

    // Every orphan expired exactly once: by one run or the other.
    let after = all_items(&*store).await;
    let by_first = orphans
        .iter()
        .filter(|k| ttl_of(&after[*k]) == Some(now1))
        .count() as u64;
    let by_second = orphans
        .iter()
        .filter(|k| ttl_of(&after[*k]) == Some(now2))
        .count() as u64;
    assert_eq!(by_first, first.summary.items_expired);
    assert_eq!(by_second, second.summary.items_expired);
    assert_eq!(by_first + by_second, orphans.len() as u64);
    for (k, i) in &after {
        if !orphans.contains(k) {
            assert_eq!(ttl_of(i), None, "{k}");
        }
    }
}

/// Both directions: the wrong `TABLE_FORMAT` is refused before the scan
/// (nothing written), and `auto` follows the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_table_format_is_refused_and_auto_follows_the_table() {
    use mlflow_ddb_core::format::{FormatSetting, TableFormat};
    use mlflow_ddb_engine::FormatResolver;
    for format in [TableFormat::V0_1, TableFormat::Main] {
        let t = TestTable::new(format.as_str(), false).await;
        let store = Arc::new(t.store());
        let mut items = experiment("gone", false, 1);
        items.extend(experiment("live", true, 1));
        store.batch_write(items, Vec::new()).await.unwrap();
        let before = all_items(&*store).await;
        let now = epoch_seconds();
        let opts = lenient();
        let mut d = deps(store.clone(), &t.name, opts.clone());
        d.format = Arc::new(FormatResolver::detect(
            FormatSetting::Fixed(format.other()),
            store.clone(),
        ));
        let err = sweep(&d, &opts, now, &Budget::default(), Arc::new(NoProgress))
            .await
            .expect_err("the wrong format must be refused");
        let msg = err.to_string();
        assert!(
            msg.contains(format.as_str()) && msg.contains("TABLE_FORMAT"),
            "{msg}"
        );
        assert_eq!(
            all_items(&*store).await,
            before,
            "{format}: nothing written"
        );

        d.format = Arc::new(FormatResolver::detect(FormatSetting::Auto, store.clone()));
        let out = sweep(&d, &opts, now, &Budget::default(), Arc::new(NoProgress))
            .await
            .expect("auto");
        assert_eq!(out.summary.format, Some(format));
        assert!(out.summary.items_expired > 0, "{format}: {:?}", out.summary);
    }
}

// ----- format `main`: the `main` store and its CLI (.venv-main) ------------

#[path = "../../materializer/tests/common/main_store.rs"]
mod main_store;

/// The parity above for format `main`: the same fixture script, run by the
/// `main` store (`.venv-main`: `scripts/venv.sh main`), writes the table
/// through MLflow's client (the store deploys a `main` table: `lsi2sk` N,
/// FTS levels W/3/2, metric history with values in its keys) and deletes
/// META items as TTL would. `main`'s own `ttl cleanup --dry-run` reports the
/// orphaned experiment partitions; our dry run, left to find the format,
/// finds the same partitions with the same items (all of each), plus the
/// orphans `main` ignores (the model partition, the run's children and FTS
/// items); the sweep then expires exactly those, and a second sweep writes
/// nothing.
#[tokio::test]
async fn main_parity_with_the_main_stores_ttl_cleanup_and_a_safe_sweep() {
    use mlflow_ddb_core::format::{FormatSetting, TableFormat};
    use mlflow_ddb_engine::FormatResolver;

    let endpoint = testkit::endpoint();
    let clients = testkit::clients().await;
    let table = testkit::unique_name("sweep-parity-main");
    let out = Command::new(main_store::main_python(&root()))
        .arg(root().join("functions/ttl-sweeper/tests/fixtures/reference_table.py"))
        .arg(&table)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the fixture with the main store");
    assert!(
        out.status.success(),
        "fixture (main store) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // What `main`'s own dry run reports.
    let reference = Command::new(main_store::main_cli(&root()))
        .args(["--name", &table, "--endpoint-url", &endpoint, "--region"])
        .arg(clients.region())
        .args(["ttl", "cleanup", "--dry-run"])
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&reference.stdout);
    assert!(
        reference.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let reported = reported_orphans(&text);
    assert_eq!(reported.len(), 2, "{text}");
    let total: usize = reported.values().sum();
    assert!(
        text.contains(&format!("Dry run: {total} orphaned items found")),
        "{text}"
    );

    let dynamo = Arc::new(DynamoStore::with_options(
        &clients,
        &table,
        TestTable::store_options(),
    ));
    let store: Arc<dyn Store> = dynamo.clone();
    let before = all_items(&*store).await;
    let sweep_with = |opts: SweepOptions, now: i64| {
        let mut d = deps(store.clone(), &table, opts.clone());
        d.format = Arc::new(FormatResolver::detect(FormatSetting::Auto, dynamo.clone()));
        async move {
            sweep(&d, &opts, now, &Budget::default(), Arc::new(NoProgress))
                .await
                .unwrap()
        }
    };
    let dry = sweep_with(
        SweepOptions {
            dry_run: true,
            ..lenient()
        },
        epoch_seconds(),
    )
    .await;
    assert_eq!(dry.summary.format, Some(TableFormat::Main));

    let run = check_dry_run(
        main_store::main_profile(),
        &dry,
        &before,
        &manifest,
        &reported,
    );
    // The run's items in `main`'s layout: bigram tokens, type before token.
    assert!(run.iter().any(|k| k.sk.starts_with("FTS#2#R#")), "{run:?}");
    assert!(run.iter().any(|k| k.sk.contains("#MHIST#")), "{run:?}");
    assert_eq!(all_items(&*store).await, before, "a dry run wrote");

    // The sweep: every orphan gets ttl = now (the later ttl of metric
    // history and of the deleted run's items included), nothing else changes.
    let now = epoch_seconds();
    let swept = sweep_with(lenient(), now).await;
    let after = all_items(&*store).await;
    let orphans = check_sweep(&dry, &swept, &before, &after, now);
    assert!(swept.summary.items_expired > 0);

    let again = sweep_with(lenient(), now + 5).await;
    assert_eq!(again.summary.items_expired, 0);
    assert_eq!(
        again.summary.items_skipped_already_expiring,
        orphans.len() as u64
    );
    assert_eq!(all_items(&*store).await, after);
}
