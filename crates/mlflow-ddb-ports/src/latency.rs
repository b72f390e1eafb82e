//! A [`Store`] wrapper that adds a round trip to every request (feature
//! `testkit`): what an in-memory table costs in time when it stands for a
//! remote one, for cost-model validation and benchmarks.
//!
//! Each call waits, before it is passed on, `per_request` once per request
//! the DynamoDB adapter would send for it, one after the other as the
//! adapter sends them: BatchGetItem per 100 distinct keys, BatchWriteItem
//! per 25 distinct writes, the conditional expiry per 25 keys (PartiQL
//! `BatchExecuteStatement`), one for every other call (a Query answer over
//! 1 MB, or an update that has to create its map first, is several requests
//! on DynamoDB and one wait here). Then, with `per_item`, it waits that much
//! per item returned or written (a 1 MB Scan page takes longer than a
//! `GetItem`). Waits are `tokio::time::sleep`s: the caller's other tasks run
//! meanwhile, as they do while a request is on the network. It counts
//! nothing (count with the engine's `MeteredStore` around it), but reports
//! an expiry's requests as the adapter's PartiQL path sends them, since the
//! memory store counts one per key.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

use crate::store::{ExpireReport, GateStats, ScanPage, Store, UpdateOutcome, WriteStats};
use crate::{AwsError, BATCH_GET_MAX, BATCH_STATEMENT_MAX, BATCH_WRITE_MAX};

/// How long the requests through a [`LatencyStore`] take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Every request.
    pub per_request: Duration,
    /// Every item a request returns or writes.
    pub per_item: Duration,
}

/// The inner store, with [`Latency`] added to each request.
#[derive(Clone)]
pub struct LatencyStore {
    inner: Arc<dyn Store>,
    latency: Latency,
}

impl std::fmt::Debug for LatencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyStore")
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl LatencyStore {
    pub fn new(inner: Arc<dyn Store>, latency: Latency) -> Self {
        Self { inner, latency }
    }

    /// `requests` round trips, one after the other.
    async fn requests(&self, requests: usize) {
        let wait = self
            .latency
            .per_request
            .saturating_mul(u32::try_from(requests).unwrap_or(u32::MAX));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The transfer of `items` items.
    async fn items(&self, items: usize) {
        let wait = self
            .latency
            .per_item
            .saturating_mul(u32::try_from(items).unwrap_or(u32::MAX));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn distinct<T: std::hash::Hash + Eq>(v: &[T]) -> usize {
    v.iter().collect::<HashSet<_>>().len()
}

#[async_trait]
impl Store for LatencyStore {
    fn gate_stats(&self) -> Option<GateStats> {
        self.inner.gate_stats()
    }

    async fn get(&self, key: &ItemKey, consistent: bool) -> Result<Option<Item>, AwsError> {
        self.requests(1).await;
        let r = self.inner.get(key, consistent).await?;
        self.items(usize::from(r.is_some())).await;
        Ok(r)
    }

    async fn batch_get(
        &self,
        keys: &[ItemKey],
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.requests(distinct(keys).div_ceil(BATCH_GET_MAX)).await;
        let r = self.inner.batch_get(keys, consistent, projection).await?;
        self.items(r.len()).await;
        Ok(r)
    }

    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError> {
        // Distinct by key as the adapter sends them (identical duplicates
        // once; a conflicting batch is refused by the inner store).
        let keys: Vec<ItemKey> = puts
            .iter()
            .filter_map(crate::key_of)
            .chain(deletes.iter().cloned())
            .collect();
        let n = distinct(&keys);
        self.requests(n.div_ceil(BATCH_WRITE_MAX)).await;
        let r = self.inner.batch_write(puts, deletes).await?;
        self.items(r.items).await;
        Ok(r)
    }

    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        self.requests(1).await;
        self.inner.update_map(key, attr, set, remove).await
    }

    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        self.requests(1).await;
        self.inner.update_attrs(key, set).await
    }

    async fn put_if_absent(
        &self,
        item: &Item,
        or_if: Option<(&str, &AttributeValue)>,
    ) -> Result<bool, AwsError> {
        self.requests(1).await;
        self.inner.put_if_absent(item, or_if).await
    }

    async fn raise_number(
        &self,
        key: &ItemKey,
        attr: &str,
        at_least: u64,
    ) -> Result<UpdateOutcome, AwsError> {
        self.requests(1).await;
        self.inner.raise_number(key, attr, at_least).await
    }

    /// Reports the requests it waited for (the adapter's PartiQL path: one
    /// per 25 keys), whatever the inner store counted.
    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        let requests = distinct(keys).div_ceil(BATCH_STATEMENT_MAX);
        self.requests(requests).await;
        let mut r = self.inner.expire(keys, now).await?;
        r.requests = u32::try_from(requests).unwrap_or(u32::MAX);
        Ok(r)
    }

    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.requests(1).await;
        let r = self
            .inner
            .query_prefix(pk, sk_prefix, consistent, projection)
            .await?;
        self.items(r.len()).await;
        Ok(r)
    }

    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        exclusive_start_key: Option<ItemKey>,
        projection: Option<&[&str]>,
        limit: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        self.requests(1).await;
        let r = self
            .inner
            .scan_segment(
                segment,
                total_segments,
                exclusive_start_key,
                projection,
                limit,
            )
            .await?;
        self.items(r.items.len()).await;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use tokio::time::Instant;

    fn item(pk: &str, sk: &str) -> Item {
        let mut i = Item::default();
        i.insert("PK".into(), AttributeValue::S(pk.into()));
        i.insert("SK".into(), AttributeValue::S(sk.into()));
        i
    }

    /// Each call waits once per request the adapter would send, sequentially,
    /// and passes through what the inner store does.
    #[tokio::test(start_paused = true)]
    async fn waits_once_per_request_the_adapter_would_send() {
        let inner = Arc::new(MemoryStore::new());
        let ms = Duration::from_millis(1);
        let s = LatencyStore::new(
            inner.clone(),
            Latency {
                per_request: 10 * ms,
                per_item: Duration::ZERO,
            },
        );
        let took = |t: Instant| t.elapsed().as_millis();
        // 60 distinct puts (one duplicate): 3 BatchWriteItem requests.
        let mut puts: Vec<Item> = (0..60).map(|i| item("P", &format!("{i:02}"))).collect();
        puts.push(item("P", "00"));
        let t = Instant::now();
        let w = s.batch_write(puts, vec![]).await.unwrap();
        assert_eq!((took(t), w.items), (30, 60));
        // 150 keys: 2 BatchGetItem requests.
        let keys: Vec<ItemKey> = (0..150)
            .map(|i| ItemKey::new("P", format!("{i:02}")))
            .collect();
        let t = Instant::now();
        assert_eq!(s.batch_get(&keys, true, None).await.unwrap().len(), 60);
        assert_eq!(took(t), 20);
        // 26 keys expired: 2 BatchExecuteStatement requests.
        let t = Instant::now();
        let r = s.expire(&keys[..26], 1).await.unwrap();
        assert_eq!((took(t), r.requests), (20, 2));
        // A scan page: one request, plus the items with a per-item cost.
        let s = LatencyStore::new(
            inner,
            Latency {
                per_request: 10 * ms,
                per_item: ms,
            },
        );
        let t = Instant::now();
        let page = s.scan_segment(0, 1, None, None, Some(5)).await.unwrap();
        assert_eq!((took(t), page.items.len()), (15, 5));
    }
}
