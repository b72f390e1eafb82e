//! Shared by the ttl-sweeper tests: a store wrapper that changes the table at
//! chosen moments of a sweep (between its reads and its writes), and helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mlflow_ddb_aws::{AwsError, ExpireReport, ScanPage, Store, UpdateOutcome, WriteStats};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use ttl_sweeper::{Deps, SweepOptions};

/// Writes to apply at one moment.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub puts: Vec<Item>,
    pub deletes: Vec<ItemKey>,
}

/// A [`Store`] that applies [`Change`]s to the inner store just before its
/// n-th `batch_get` (1-based), before its first `expire`, or after its first
/// scan page, then delegates.
pub struct HookStore {
    pub inner: Arc<dyn Store>,
    batch_gets: AtomicUsize,
    before_batch_get: Mutex<HashMap<usize, Change>>,
    before_expire: Mutex<Option<Change>>,
    after_first_scan: Mutex<Option<Change>>,
    /// Keys passed to `expire`, over all calls.
    pub expired_keys: Mutex<Vec<ItemKey>>,
}

impl HookStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            batch_gets: AtomicUsize::new(0),
            before_batch_get: Mutex::new(HashMap::new()),
            before_expire: Mutex::new(None),
            after_first_scan: Mutex::new(None),
            expired_keys: Mutex::new(Vec::new()),
        }
    }
    pub fn before_batch_get(self, n: usize, c: Change) -> Self {
        self.before_batch_get.lock().unwrap().insert(n, c);
        self
    }
    pub fn before_expire(self, c: Change) -> Self {
        *self.before_expire.lock().unwrap() = Some(c);
        self
    }
    pub fn after_first_scan(self, c: Change) -> Self {
        *self.after_first_scan.lock().unwrap() = Some(c);
        self
    }
    async fn apply(&self, c: Option<Change>) {
        if let Some(c) = c {
            self.inner.batch_write(c.puts, c.deletes).await.unwrap();
        }
    }
}

#[async_trait]
impl Store for HookStore {
    async fn get(&self, key: &ItemKey, consistent: bool) -> Result<Option<Item>, AwsError> {
        self.inner.get(key, consistent).await
    }
    async fn batch_get(
        &self,
        keys: &[ItemKey],
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        let n = self.batch_gets.fetch_add(1, Ordering::SeqCst) + 1;
        let c = self.before_batch_get.lock().unwrap().remove(&n);
        self.apply(c).await;
        self.inner.batch_get(keys, consistent, projection).await
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
        self.inner.update_map(key, attr, set, remove).await
    }
    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        self.inner.update_attrs(key, set).await
    }
    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        let c = self.before_expire.lock().unwrap().take();
        self.apply(c).await;
        self.expired_keys
            .lock()
            .unwrap()
            .extend(keys.iter().cloned());
        self.inner.expire(keys, now).await
    }
    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.inner
            .query_prefix(pk, sk_prefix, consistent, projection)
            .await
    }
    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        exclusive_start_key: Option<ItemKey>,
        projection: Option<&[&str]>,
        limit: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        let page = self
            .inner
            .scan_segment(
                segment,
                total_segments,
                exclusive_start_key,
                projection,
                limit,
            )
            .await?;
        let c = self.after_first_scan.lock().unwrap().take();
        self.apply(c).await;
        Ok(page)
    }
}

pub fn deps(store: Arc<dyn Store>, table: &str, defaults: SweepOptions) -> Deps {
    Deps {
        store,
        table: table.to_owned(),
        format: Arc::new(mlflow_ddb_engine::FormatResolver::fixed(TableFormat::V0_1)),
        defaults,
    }
}

pub fn item(pk: &str, sk: &str) -> Item {
    mlflow_ddb_aws::testkit::item(pk, sk, [])
}

pub fn with_ttl(pk: &str, sk: &str, ttl: i64) -> Item {
    mlflow_ddb_aws::testkit::item(pk, sk, [("ttl", mlflow_ddb_aws::testkit::n(ttl))])
}

pub fn key(pk: &str, sk: &str) -> ItemKey {
    ItemKey::new(pk, sk)
}

/// An experiment partition: META (when `meta`), a name FTS pair, and `runs`
/// runs with a META, a param, a metric, a tag and a run-name FTS pair each.
pub fn experiment(id: &str, meta: bool, runs: usize) -> Vec<Item> {
    let pk = format!("EXP#{id}");
    let mut v = Vec::new();
    if meta {
        v.push(item(&pk, "E#META"));
    }
    v.push(item(&pk, &format!("FTS#W#name#E#{id}")));
    v.push(item(&pk, &format!("FTS_REV#E#{id}#W#name")));
    for r in 0..runs {
        let run = format!("r{id}x{r}");
        v.push(item(&pk, &format!("R#{run}")));
        v.extend(run_children(&pk, &run));
    }
    v
}

/// The children and FTS items of run `run` (not its META).
pub fn run_children(pk: &str, run: &str) -> Vec<Item> {
    vec![
        item(pk, &format!("R#{run}#PARAM#lr")),
        item(pk, &format!("R#{run}#METRIC#loss")),
        item(pk, &format!("R#{run}#MHIST#loss#0000000001#1")),
        item(pk, &format!("R#{run}#TAG#mlflow.user")),
        item(pk, &format!("FTS#W#tune#R#{run}")),
        item(pk, &format!("FTS_REV#R#{run}#W#tune")),
    ]
}

/// The `ttl` of an item, if any.
pub fn ttl_of(i: &Item) -> Option<i64> {
    match i.get("ttl") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}
