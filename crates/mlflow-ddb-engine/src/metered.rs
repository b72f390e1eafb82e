//! A [`Store`] wrapper that counts requests, for reports, metrics and the
//! benchmarks' "requests per item".
//!
//! Counts are requests as the adapter sends them where the adapter tells
//! (BatchWriteItem: [`WriteStats::requests`], retries included) and
//! otherwise estimated from the call: BatchGetItem one per 100 distinct keys
//! (unprocessed-key retries not seen), Query and Scan one per call (a Query
//! answer over 1 MB takes more pages), UpdateItem as
//! [`reconcile`](crate::reconcile) counts them.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_ports::{AwsError, ExpireReport, ScanPage, Store, UpdateOutcome, WriteStats};

/// Request counts seen by a [`MeteredStore`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    pub get: u64,
    pub batch_get: u64,
    pub query: u64,
    pub scan: u64,
    pub batch_write: u64,
    pub update: u64,
    pub expire: u64,
    /// Items returned by scans (the denominator of "requests per item").
    pub scanned_items: u64,
}

impl RequestCounts {
    pub fn reads(&self) -> u64 {
        self.get + self.batch_get + self.query + self.scan
    }
    pub fn writes(&self) -> u64 {
        self.batch_write + self.update + self.expire
    }
    pub fn total(&self) -> u64 {
        self.reads() + self.writes()
    }
}

#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    batch_get: AtomicU64,
    query: AtomicU64,
    scan: AtomicU64,
    batch_write: AtomicU64,
    update: AtomicU64,
    expire: AtomicU64,
    scanned_items: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Counts the requests made through it; otherwise the inner store.
#[derive(Clone)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for MeteredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredStore")
            .field("counts", &self.counts())
            .finish()
    }
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far (all clones share them).
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            get: l(&c.get),
            batch_get: l(&c.batch_get),
            query: l(&c.query),
            scan: l(&c.scan),
            batch_write: l(&c.batch_write),
            update: l(&c.update),
            expire: l(&c.expire),
            scanned_items: l(&c.scanned_items),
        }
    }
}

#[async_trait]
impl Store for MeteredStore {
    fn gate_stats(&self) -> Option<mlflow_ddb_ports::GateStats> {
        self.inner.gate_stats()
    }

    async fn get(&self, key: &ItemKey, consistent: bool) -> Result<Option<Item>, AwsError> {
        add(&self.counters.get, 1);
        self.inner.get(key, consistent).await
    }

    async fn batch_get(
        &self,
        keys: &[ItemKey],
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        let distinct = keys.iter().collect::<HashSet<_>>().len();
        add(&self.counters.batch_get, distinct.div_ceil(100) as u64);
        self.inner.batch_get(keys, consistent, projection).await
    }

    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError> {
        let estimate = (puts.len() + deletes.len()).div_ceil(25) as u64;
        let r = self.inner.batch_write(puts, deletes).await;
        add(
            &self.counters.batch_write,
            r.as_ref().map_or(estimate, |s| u64::from(s.requests)),
        );
        r
    }

    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        let r = self.inner.update_map(key, attr, set, remove).await;
        let n = match &r {
            Ok(UpdateOutcome::Nothing) => 0,
            Ok(UpdateOutcome::AppliedAfterCreatingMap) => 3,
            Ok(UpdateOutcome::MapAbsent) => 2,
            _ => 1,
        };
        add(&self.counters.update, n);
        r
    }

    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        let r = self.inner.update_attrs(key, set).await;
        let n = u64::from(!matches!(r, Ok(UpdateOutcome::Nothing)));
        add(&self.counters.update, n);
        r
    }

    async fn put_if_absent(
        &self,
        item: &Item,
        or_if: Option<(&str, &AttributeValue)>,
    ) -> Result<bool, AwsError> {
        add(&self.counters.update, 1);
        self.inner.put_if_absent(item, or_if).await
    }

    async fn raise_number(
        &self,
        key: &ItemKey,
        attr: &str,
        at_least: u64,
    ) -> Result<UpdateOutcome, AwsError> {
        add(&self.counters.update, 1);
        self.inner.raise_number(key, attr, at_least).await
    }

    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        let r = self.inner.expire(keys, now).await;
        add(
            &self.counters.expire,
            r.as_ref()
                .map_or(keys.len() as u64, |rep| u64::from(rep.requests)),
        );
        r
    }

    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        add(&self.counters.query, 1);
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
        add(&self.counters.scan, 1);
        let r = self
            .inner
            .scan_segment(
                segment,
                total_segments,
                exclusive_start_key,
                projection,
                limit,
            )
            .await;
        if let Ok(page) = &r {
            add(&self.counters.scanned_items, page.items.len() as u64);
        }
        r
    }
}
