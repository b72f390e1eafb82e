//! The indexer against the local endpoint (moto), on reference-built
//! tables: drift injection (verify reports exactly what was broken,
//! backfill repairs exactly that, a second backfill writes nothing) and
//! continuations (a forced short deadline; resuming reaches the state of one
//! long run, writing as much and no more).
//! Run with `scripts/emulator.sh run -- cargo test -p indexer`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use common::*;
use indexer::*;
use mlflow_ddb_aws::testkit::{diff, load, scan_all, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::format::{FtsEntityType, FtsLevel};
use mlflow_ddb_core::fts::FtsTarget;
use mlflow_ddb_core::item::{AttributeValue, ItemKey};
use mlflow_ddb_core::plan::memory::Table;
use serde_json::json;

async fn walk(store: Arc<dyn Store>, mode: WalkMode, segments: u32) -> Summary {
    drive(
        Arc::new(deps(store)),
        &DriveOptions {
            examples: 100_000,
            ..DriveOptions::new(mode, segments)
        },
    )
    .await
    .expect("drive")
}

/// The target that an FTS entity's items belong to.
fn entity_target(pk: &str, entity: FtsEntityType, id: &str) -> ItemKey {
    let sk = match entity {
        FtsEntityType::E => "E#META".to_owned(),
        FtsEntityType::M => "M#META".to_owned(),
        FtsEntityType::R => format!("R#{id}"),
        FtsEntityType::T => format!("T#{id}"),
    };
    ItemKey::new(pk, sk)
}

/// What was broken, in the report's terms.
#[derive(Default, Debug)]
struct Injected {
    missing_entries: BTreeSet<String>,
    wrong_values: BTreeSet<String>,
    stale_entries: BTreeSet<String>,
    missing_fts: BTreeMap<ItemKey, u64>,
    extra_fts: BTreeMap<ItemKey, u64>,
}

fn examples(s: &Summary, c: Category) -> BTreeSet<String> {
    s.drift
        .categories
        .get(&c)
        .map(|r| r.examples.iter().cloned().collect())
        .unwrap_or_default()
}

fn per_target(m: &BTreeMap<ItemKey, u64>) -> BTreeSet<String> {
    m.iter().map(|(t, n)| format!("{t} ×{n}")).collect()
}

#[tokio::test]
async fn injected_drift_is_reported_and_repaired_exactly() {
    let p = v01();
    let correct: Table = reconciled(&reference_table_x(4));
    let t = TestTable::new("v0.1", false).await;
    let store: Arc<dyn Store> = Arc::new(t.store());
    load(&*store, &correct).await;
    assert!(walk(store.clone(), WalkMode::Verify, 2).await.clean());

    let seed = fastrand::u64(..);
    eprintln!("drift injection seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut inj = Injected::default();
    let mut deletes = Vec::new();
    let mut puts = Vec::new();

    // 1. Delete FTS token pairs (forward + reverse).
    let reverse: Vec<&ItemKey> = correct
        .keys()
        .filter(|k| k.sk.starts_with("FTS_REV#"))
        .collect();
    let mut picked = BTreeSet::new();
    while picked.len() < 7 {
        picked.insert(reverse[rng.usize(..reverse.len())].clone());
    }
    for rev in &picked {
        let fts = p.parse_reverse_sk(&rev.sk).expect("reverse key");
        let forward = p.forward_sk(
            fts.level,
            &fts.token,
            fts.entity_type,
            &fts.entity_id,
            fts.field.as_deref(),
        );
        deletes.push(rev.clone());
        deletes.push(ItemKey::new(rev.pk.clone(), forward));
        let target = entity_target(&rev.pk, fts.entity_type, &fts.entity_id);
        *inj.missing_fts.entry(target).or_default() += 2;
    }
    // 2. Extra token pairs on experiment names.
    let experiments: Vec<ItemKey> = correct
        .keys()
        .filter(|k| k.sk == "E#META")
        .cloned()
        .collect();
    for e in experiments.iter().take(3) {
        let id = e.pk.trim_start_matches("EXP#");
        let target = FtsTarget::new(&e.pk, FtsEntityType::E, id, None);
        puts.extend(target.item_pair(p, FtsLevel::Three, "qqz"));
        *inj.extra_fts.entry(e.clone()).or_default() += 2;
    }
    store.batch_write(puts, deletes).await.expect("inject FTS");

    // 3. Map entries: delete, corrupt, add a stale one.
    let mut entries: Vec<(ItemKey, String)> = correct
        .iter()
        .filter_map(|(k, i)| match i.get("tags") {
            Some(AttributeValue::M(m)) => Some((k, m)),
            _ => None,
        })
        .flat_map(|(k, m)| m.keys().map(move |key| (k.clone(), key.clone())))
        .filter(|(_, key)| {
            ["mlflow.", "team.", "proj"]
                .iter()
                .any(|p| key.starts_with(p))
        })
        .collect();
    rng.shuffle(&mut entries);
    assert!(entries.len() >= 6, "{entries:?}");
    for (i, (target, key)) in entries.iter().take(6).enumerate() {
        let label = format!("{target} tags[{key}]");
        if i < 3 {
            store
                .update_map(target, "tags", &BTreeMap::new(), std::slice::from_ref(key))
                .await
                .expect("remove entry");
            inj.missing_entries.insert(label);
        } else {
            let set = BTreeMap::from([(key.clone(), AttributeValue::S("corrupted".into()))]);
            store
                .update_map(target, "tags", &set, &[])
                .await
                .expect("corrupt entry");
            inj.wrong_values.insert(label);
        }
    }
    for (target, _) in entries.iter().skip(6).take(2) {
        let set = BTreeMap::from([("mlflow.ghost".to_owned(), AttributeValue::S("x".into()))]);
        store
            .update_map(target, "tags", &set, &[])
            .await
            .expect("stale entry");
        inj.stale_entries
            .insert(format!("{target} tags[mlflow.ghost]"));
    }

    // verify reports exactly that.
    let v = walk(store.clone(), WalkMode::Verify, 3).await;
    assert_eq!(
        examples(&v, Category::MissingMapEntries),
        inj.missing_entries
    );
    assert_eq!(examples(&v, Category::WrongMapValues), inj.wrong_values);
    assert_eq!(examples(&v, Category::StaleMapEntries), inj.stale_entries);
    assert_eq!(
        examples(&v, Category::MissingFtsItems),
        per_target(&inj.missing_fts)
    );
    assert_eq!(
        examples(&v, Category::ExtraFtsItems),
        per_target(&inj.extra_fts)
    );
    assert_eq!(v.drift.count(Category::MissingFtsItems), 14);
    assert_eq!(v.drift.count(Category::ExtraFtsItems), 6);
    assert_eq!(v.drift.count(Category::MissingMapEntries), 3);
    assert_eq!(v.drift.count(Category::WrongMapValues), 3);
    assert_eq!(v.drift.count(Category::Errors), 0);
    assert_eq!(v.counts.writes, 0);

    // backfill repairs exactly that: the table is the correct one again.
    let b = walk(store.clone(), WalkMode::Backfill, 3).await;
    assert_eq!(b.counts.fts_puts, 14);
    assert_eq!(b.counts.fts_deletes, 6);
    assert_eq!(b.counts.errors, 0);
    assert_eq!(
        diff(&correct, &scan_all(&*store).await),
        Vec::<String>::new()
    );

    // And a second backfill writes nothing.
    let again = walk(store.clone(), WalkMode::Backfill, 2).await;
    assert_eq!(again.counts.writes, 0);
    assert!(again.clean(), "{:?}", again.drift);
}

#[tokio::test]
async fn continuations_reach_the_state_of_one_long_run() {
    let bare = stripped(&reference_table_x(3));

    let a = TestTable::new("v0.1", false).await;
    let one: Arc<dyn Store> = Arc::new(a.store());
    load(&*one, &bare).await;
    let single = walk(one.clone(), WalkMode::Backfill, 1).await;
    assert_eq!(single.counts.invocations, 1);

    let b = TestTable::new("v0.1", false).await;
    let resumed: Arc<dyn Store> = Arc::new(b.store());
    load(&*resumed, &bare).await;
    let deps = deps(resumed.clone());
    let (mut maps, mut puts, mut deletes, mut invocations, mut scanned) = (0, 0, 0, 0, 0);
    for segment in 0..3 {
        let mut payload = json!({
            "mode": "backfill", "segment": segment, "total_segments": 3,
            "start_key": null, "dry_run": false, "page_size": 10
        });
        loop {
            // The deadline has passed: each invocation does one page and
            // returns a continuation, as if its Lambda were about to time out.
            let out = handle_event(&deps, payload, Instant::now(), "indexer", "test", false)
                .await
                .expect("invocation");
            invocations += 1;
            let state: SegmentState = serde_json::from_value(out.clone()).expect("state");
            if state.done {
                maps += state.counts.map_updates;
                puts += state.counts.fts_puts;
                deletes += state.counts.fts_deletes;
                scanned += state.counts.items_scanned;
                break;
            }
            payload = out;
        }
    }
    assert!(invocations >= bare.len() as u64 / 10, "{invocations}");
    // FTS items written during the walk sort after E#META in their
    // partition, so later pages meet some of them too.
    assert!(scanned >= bare.len() as u64, "{scanned}");
    let expected = reconciled(&bare);
    assert_eq!(
        diff(&expected, &scan_all(&*resumed).await),
        Vec::<String>::new()
    );
    assert_eq!(
        diff(&expected, &scan_all(&*one).await),
        Vec::<String>::new()
    );
    // No target was repaired twice: as many map updates and FTS writes as
    // the single run (request counts differ: FTS writes are pooled per page).
    assert_eq!(
        (maps, puts, deletes),
        (
            single.counts.map_updates,
            single.counts.fts_puts,
            single.counts.fts_deletes
        )
    );
    assert_eq!(walk(resumed, WalkMode::Backfill, 2).await.counts.writes, 0);
}
