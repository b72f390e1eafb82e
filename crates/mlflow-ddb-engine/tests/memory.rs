//! The engine on the in-memory store: it executes exactly the core's plan
//! semantics, reads in batches, and writes nothing when nothing is wrong.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mlflow_ddb_core::item::{AttributeValue, ItemKey};
use mlflow_ddb_core::plan::memory::Table;
use mlflow_ddb_engine::*;
use mlflow_ddb_ports::testkit::{config_of, diff, reference_table, stripped};
use mlflow_ddb_ports::{MemoryStore, Store};

fn store_of(table: &Table) -> MemoryStore {
    MemoryStore::with_items(table.values().cloned())
}

async fn run(store: &dyn Store, table: &Table, mode: Mode) -> Vec<TargetOutcome> {
    let p = v01();
    let config = load_config(store).await.expect("config");
    assert_eq!(config, config_of(table));
    reconcile_targets(store, p, &config, &targets(p, &config, table), mode, 4).await
}

fn reports(outcomes: &[TargetOutcome]) -> Vec<&TargetReport> {
    outcomes
        .iter()
        .map(|o| o.result.as_ref().unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[tokio::test]
async fn stripped_reference_table_is_rebuilt_like_the_core_plans() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let bare = stripped(p, &reference);
    let store = store_of(&bare);

    let outcomes = run(&store, &bare, Mode::Apply).await;
    let expected = reconciled(p, &config, &bare);
    assert_eq!(diff(&expected, &store.snapshot()), Vec::<String>::new());
    // ... which is the reference's own table, its known gaps fixed.
    assert_eq!(
        diff(&reconciled(p, &config, &reference), &store.snapshot()),
        Vec::<String>::new()
    );
    let rs = reports(&outcomes);
    assert!(rs.iter().any(|r| !r.noop && r.writes > 0));
    let puts: usize = rs.iter().map(|r| r.fts_puts).sum();
    assert_eq!(
        puts,
        188 + 12 - 2,
        "reference FTS items + EXP#0's - the stale token pair"
    );

    // Second run: reads only.
    let before = store.counters();
    let again = run(&store, &bare, Mode::Apply).await;
    assert!(reports(&again).iter().all(|r| r.noop && r.writes == 0));
    let after = store.counters();
    assert_eq!(
        (after.batch_write, after.update_map),
        (before.batch_write, before.update_map)
    );
    // One batch read for all 6 targets.
    assert_eq!(after.batch_get - before.batch_get, 1);
}

#[tokio::test]
async fn verify_and_dry_run_report_without_writing() {
    let p = v01();
    let reference = reference_table();
    let bare = stripped(p, &reference);
    let store = store_of(&bare);
    let before = store.snapshot();
    for mode in [Mode::Verify, Mode::DryRun] {
        let outcomes = run(&store, &bare, mode).await;
        let rs = reports(&outcomes);
        let missing_entries: usize = rs.iter().map(|r| r.drift.missing_map_entries.len()).sum();
        assert!(missing_entries > 0);
        let writes: u32 = rs.iter().map(|r| r.writes).sum();
        match mode {
            Mode::Verify => assert_eq!(writes, 0),
            _ => assert!(writes > 0),
        }
        assert_eq!(store.snapshot(), before, "{mode:?} wrote");
    }
    let c = store.counters();
    assert_eq!((c.batch_write, c.update_map), (0, 0));
}

#[tokio::test]
async fn missing_targets_duplicates_and_non_targets() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let store = store_of(&reference);
    let gone = ItemKey::new("EXP#999", "R#nosuchrun");
    let not_a_target = ItemKey::new("EXP#0", "RANK#x");
    let exp0 = ItemKey::new("EXP#0", "E#META");
    let targets = vec![
        gone.clone(),
        exp0.clone(),
        gone.clone(),
        not_a_target.clone(),
    ];
    let outcomes = reconcile_targets(&store, p, &config, &targets, Mode::Apply, 2).await;
    let keys: Vec<&ItemKey> = outcomes.iter().map(|o| &o.target).collect();
    assert_eq!(keys, vec![&gone, &exp0, &not_a_target]);
    let rs = reports(&outcomes);
    assert!(rs[0].target_missing && rs[0].noop && rs[0].writes == 0);
    assert!(!rs[1].noop && rs[1].fts_puts == 12 && rs[1].writes == 1);
    assert!(!rs[2].target_missing && rs[2].noop);
    assert!(
        store.get(&gone, true).await.expect("get").is_none(),
        "target re-created"
    );
}

#[tokio::test]
async fn a_target_deleted_between_read_and_write_is_not_recreated() {
    // The map update reports TargetMissing: FTS puts are skipped.
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let bare = stripped(p, &reference);
    let run = targets(p, &config, &bare)
        .into_iter()
        .find(|k| k.sk.starts_with("R#"))
        .expect("a run");
    let store = Arc::new(store_of(&bare));
    let racing = Hooked {
        inner: store.clone(),
        delete_after_read: Some(run.clone()),
        refuse_puts_in: None,
    };
    let outcomes = reconcile_targets(
        &racing,
        p,
        &config,
        std::slice::from_ref(&run),
        Mode::Apply,
        1,
    )
    .await;
    let r = reports(&outcomes)[0].clone();
    assert!(r.target_missing, "{r:?}");
    assert!(r.map_updates == 1 && r.fts_puts > 0);
    let left: Vec<ItemKey> = store
        .snapshot()
        .into_keys()
        .filter(|k| k.pk == run.pk && k.sk.contains(&run.sk[2..]) && k.sk.starts_with("FTS"))
        .collect();
    assert_eq!(left, Vec::<ItemKey>::new());
    assert!(!store.snapshot().contains_key(&run));
}

/// The in-memory store with faults: deletes `delete_after_read` right after
/// the target read; refuses (permanently) any batch write that puts an item
/// whose sort key contains `refuse_puts_in`.
struct Hooked {
    inner: Arc<MemoryStore>,
    delete_after_read: Option<ItemKey>,
    refuse_puts_in: Option<String>,
}

#[async_trait::async_trait]
impl Store for Hooked {
    async fn get(
        &self,
        k: &ItemKey,
        c: bool,
    ) -> Result<Option<mlflow_ddb_core::item::Item>, mlflow_ddb_ports::AwsError> {
        self.inner.get(k, c).await
    }
    async fn batch_get(
        &self,
        k: &[ItemKey],
        c: bool,
        p: Option<&[&str]>,
    ) -> Result<Vec<mlflow_ddb_core::item::Item>, mlflow_ddb_ports::AwsError> {
        let r = self.inner.batch_get(k, c, p).await;
        if let Some(victim) = &self.delete_after_read {
            self.inner.delete(victim);
        }
        r
    }
    async fn batch_write(
        &self,
        p: Vec<mlflow_ddb_core::item::Item>,
        d: Vec<ItemKey>,
    ) -> Result<mlflow_ddb_ports::WriteStats, mlflow_ddb_ports::AwsError> {
        if let Some(bad) = &self.refuse_puts_in {
            let hit = p.iter().any(
                |i| matches!(i.get("SK"), Some(AttributeValue::S(sk)) if sk.contains(bad.as_str())),
            );
            if hit {
                return Err(mlflow_ddb_ports::AwsError::Invalid {
                    op: "BatchWriteItem",
                    key: None,
                    reason: "refused by the test".into(),
                });
            }
        }
        self.inner.batch_write(p, d).await
    }
    async fn update_map(
        &self,
        k: &ItemKey,
        a: &str,
        s: &std::collections::BTreeMap<String, AttributeValue>,
        r: &[String],
    ) -> Result<mlflow_ddb_ports::UpdateOutcome, mlflow_ddb_ports::AwsError> {
        self.inner.update_map(k, a, s, r).await
    }
    async fn update_attrs(
        &self,
        k: &ItemKey,
        s: &std::collections::BTreeMap<String, AttributeValue>,
    ) -> Result<mlflow_ddb_ports::UpdateOutcome, mlflow_ddb_ports::AwsError> {
        self.inner.update_attrs(k, s).await
    }
    async fn expire(
        &self,
        k: &[ItemKey],
        n: i64,
    ) -> Result<mlflow_ddb_ports::ExpireReport, mlflow_ddb_ports::AwsError> {
        self.inner.expire(k, n).await
    }
    async fn query_prefix(
        &self,
        pk: &str,
        p: &str,
        c: bool,
        pr: Option<&[&str]>,
    ) -> Result<Vec<mlflow_ddb_core::item::Item>, mlflow_ddb_ports::AwsError> {
        self.inner.query_prefix(pk, p, c, pr).await
    }
    async fn scan_segment(
        &self,
        s: u32,
        t: u32,
        e: Option<ItemKey>,
        p: Option<&[&str]>,
        l: Option<u32>,
    ) -> Result<mlflow_ddb_ports::ScanPage, mlflow_ddb_ports::AwsError> {
        self.inner.scan_segment(s, t, e, p, l).await
    }
}

#[tokio::test]
async fn many_targets_are_read_100_per_batch() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let store = store_of(&reference);
    let keys: Vec<ItemKey> = (0..250)
        .map(|i| ItemKey::new("EXP#1", format!("R#run{i}")))
        .collect();
    let outcomes = reconcile_targets(&store, p, &config, &keys, Mode::Verify, 8).await;
    assert_eq!(outcomes.len(), 250);
    assert!(reports(&outcomes).iter().all(|r| r.target_missing));
    assert_eq!(store.counters().batch_get, 3);
    assert_eq!(
        store.counters().query,
        0,
        "a missing target needs no queries"
    );
}

#[tokio::test]
async fn metered_store_counts_what_the_engine_sends() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let inner = Arc::new(store_of(&stripped(p, &reference)));
    let metered = MeteredStore::new(inner.clone());
    let ts = targets(p, &config, &reference);
    let outcomes = reconcile_targets(&metered, p, &config, &ts, Mode::Apply, 3).await;
    let writes: u64 = reports(&outcomes).iter().map(|r| u64::from(r.writes)).sum();
    let c = metered.counts();
    assert_eq!(c.writes(), writes);
    assert_eq!(c.batch_get, 1);
    assert_eq!(c.query, u64::from(inner.counters().query));
    assert_eq!(c.update, u64::from(inner.counters().update_map));
}

#[tokio::test]
async fn config_cache_expires_and_invalidates() {
    let reference = reference_table();
    let store = store_of(&reference);
    let cache = ConfigCache::new(Duration::from_secs(3600));
    assert_eq!(cache.ttl(), MAX_CONFIG_TTL, "capped at 60 s");
    let t0 = Instant::now();
    let c1 = cache.load(&store, t0).await.expect("load");
    assert_eq!(*c1, config_of(&reference));
    assert_eq!(store.counters().query, 1);
    cache
        .load(&store, t0 + Duration::from_secs(59))
        .await
        .expect("cached");
    assert_eq!(store.counters().query, 1, "served from the cache");
    // Change CONFIG: visible after the TTL, or at once after invalidate().
    store.put(mlflow_ddb_ports::build::item(
        "CONFIG",
        "FTS_TRIGRAM_FIELDS",
        [("fields", AttributeValue::L(vec![]))],
    ));
    let c2 = cache
        .load(&store, t0 + Duration::from_secs(60))
        .await
        .expect("reload");
    assert_eq!(store.counters().query, 2);
    assert_ne!(*c1, *c2);
    cache
        .load(&store, t0 + Duration::from_secs(61))
        .await
        .expect("cached");
    assert_eq!(store.counters().query, 2);
    cache.invalidate();
    cache
        .load(&store, t0 + Duration::from_secs(62))
        .await
        .expect("reload");
    assert_eq!(store.counters().query, 3);
    assert!(
        cache.get(t0).is_none(),
        "an instant before the load is not fresh"
    );
}

#[tokio::test]
async fn malformed_config_is_a_permanent_error() {
    let store = MemoryStore::new();
    store.put(mlflow_ddb_ports::build::item(
        "CONFIG",
        "DENORMALIZE_TAGS",
        [("patterns", AttributeValue::S("mlflow.*".into()))],
    ));
    let e = load_config(&store).await.expect_err("malformed");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("CONFIG/DENORMALIZE_TAGS"), "{e}");
}

#[tokio::test]
async fn fts_writes_of_many_targets_share_requests() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let bare = stripped(p, &reference);
    let store = store_of(&bare);
    let ts = targets(p, &config, &reference);
    let outcomes = reconcile_targets(&store, p, &config, &ts, Mode::Apply, 4).await;
    let rs = reports(&outcomes);
    let items: usize = rs.iter().map(|r| r.fts_puts + r.fts_deletes).sum();
    let with_fts = rs.iter().filter(|r| r.fts_puts + r.fts_deletes > 0).count();
    assert!(
        with_fts > 1 && items > 25,
        "{with_fts} targets, {items} items"
    );
    // Pooled: one request per 25 items of the whole batch, not per target.
    assert_eq!(
        store.counters().batch_write as usize,
        items.div_ceil(ITEMS_PER_BATCH_WRITE)
    );
    assert_eq!(
        diff(&reconciled(p, &config, &bare), &store.snapshot()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_refused_pooled_write_fails_only_the_target_it_is_about() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let bare = stripped(p, &reference);
    let ts = targets(p, &config, &reference);
    let run = ts
        .iter()
        .find(|k| k.sk.starts_with("R#"))
        .expect("a run")
        .clone();
    let run_id = run.sk[2..].to_owned();
    let store = Arc::new(store_of(&bare));
    let hooked = Hooked {
        inner: store.clone(),
        delete_after_read: None,
        refuse_puts_in: Some(run_id.clone()),
    };
    let outcomes = reconcile_targets(&hooked, p, &config, &ts, Mode::Apply, 4).await;
    for o in &outcomes {
        if o.target == run {
            let e = o.result.as_ref().expect_err("the refused target fails");
            assert!(!e.is_transient(), "{e}");
        } else {
            assert!(o.result.is_ok(), "{}: {:?}", o.target, o.result);
        }
    }
    // Everything but the refused run's FTS items is in place.
    let got = store.snapshot();
    let missing: Vec<ItemKey> = reconciled(p, &config, &bare)
        .keys()
        .filter(|k| !got.contains_key(*k))
        .cloned()
        .collect();
    assert!(!missing.is_empty());
    assert!(
        missing
            .iter()
            .all(|k| k.sk.starts_with("FTS") && k.sk.contains(&run_id)),
        "{missing:?}"
    );
}
