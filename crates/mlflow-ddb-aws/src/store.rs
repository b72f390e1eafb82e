//! The narrow store the functions execute their plans against.
//!
//! Object-safe (`async_trait`), so a handler's dependencies can hold an
//! `Arc<dyn Store>` and tests swap in [`MemoryStore`](crate::MemoryStore)
//! without a generic parameter threading through every function. The cost,
//! one boxed future per call, is nothing next to a network round trip.

use std::collections::BTreeMap;

use async_trait::async_trait;
use mlflow_ddb_core::format::FormatEvidence;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

use crate::AwsError;

/// Table data operations. Every write is idempotent or conditional, so a
/// plan can be executed again after any failure.
#[async_trait]
pub trait Store: Send + Sync {
    /// What the requests of this store have cost so far (attempts, retries,
    /// in-flight limit), when it sends any: `None` for in-memory stores.
    fn gate_stats(&self) -> Option<crate::retry::GateStats> {
        None
    }

    /// One item, or `None` when absent.
    async fn get(&self, key: &ItemKey, consistent: bool) -> Result<Option<Item>, AwsError>;

    /// Many items (duplicates in `keys` are read once), in no particular
    /// order; absent ones are simply missing from the result. With a
    /// projection (top-level attribute names, each passed through a
    /// placeholder), `PK` and `SK` are always included so results can be
    /// matched to keys. Chunks of 100, `UnprocessedKeys` retried.
    async fn batch_get(
        &self,
        keys: &[ItemKey],
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError>;

    /// Put and delete items (unconditional, idempotent). Chunks of 25,
    /// `UnprocessedItems` retried with backoff and jitter within the store's
    /// [`RetryPolicy`]. Identical duplicates are sent once; two different
    /// writes of one key (two different items, or a put and a delete) are
    /// refused with [`AwsError::Invalid`] before anything is sent.
    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError>;

    /// Set and remove entries of the map attribute `attr` of an existing
    /// item: `SET #m.#k0 = :v0 ... REMOVE #m.#k1 ...`, every name through a
    /// placeholder (a key `mlflow.user` is one map key), conditional on
    /// `attribute_exists(PK)`: a missing item is never created. When the map
    /// itself is missing it is created empty in its own request, then the
    /// update is retried once. A key both set and removed is refused.
    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError>;

    /// Set top-level attributes of an existing item (`SET #a0 = :v0, ...`,
    /// names through placeholders), conditional on `attribute_exists(PK)`:
    /// a missing item is never created ([`UpdateOutcome::TargetMissing`]).
    /// Key attributes (`PK`, `SK`) cannot be set.
    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError>;

    /// Put `item` only when no item has its key (`attribute_not_exists(PK)`)
    /// or, with `or_if = Some((attr, value))`, when the item there holds
    /// `value` in `attr` (`... OR #a = :v`): `Ok(true)` when written,
    /// `Ok(false)` when another item was there. For items derived from
    /// another that a real item of the same key must win over (the
    /// migration's `mlflow.runName` tag items: replaced while they still
    /// hold the derived value, never when a user's tag is there).
    async fn put_if_absent(
        &self,
        item: &Item,
        or_if: Option<(&str, &AttributeValue)>,
    ) -> Result<bool, AwsError> {
        let _ = (item, or_if);
        Err(AwsError::Invalid {
            op: "PutItem",
            key: None,
            reason: "this store does not support conditional puts".into(),
        })
    }

    /// Raise the number attribute `attr` of an existing item to `at_least`
    /// when it is absent or smaller (`SET #a = :v`, conditional on the item
    /// existing and the value being smaller): never lowers a counter, never
    /// creates an item. `Applied`, or `Nothing` when the item is missing or
    /// already high enough.
    async fn raise_number(
        &self,
        key: &ItemKey,
        attr: &str,
        at_least: u64,
    ) -> Result<UpdateOutcome, AwsError> {
        let _ = (attr, at_least);
        Err(AwsError::Invalid {
            op: "UpdateItem",
            key: Some(key.clone()),
            reason: "this store does not support raising numbers".into(),
        })
    }

    /// Set `ttl = now` (epoch seconds) on existing items whose `ttl` is
    /// absent or later than `now`: never lengthens a ttl, never creates an
    /// item. One outcome per distinct key, in input order. Per-key failures
    /// are reported in the outcomes, not as an `Err`.
    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError>;

    /// All items of partition `pk` whose `SK` begins with `sk_prefix` (all
    /// of the partition for an empty prefix), in `SK` order, every page.
    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError>;

    /// One page of segment `segment` of a parallel scan of `total_segments`.
    /// Start with `exclusive_start_key = None`; continue with the returned
    /// `last_key` until it is `None`.
    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        exclusive_start_key: Option<ItemKey>,
        projection: Option<&[&str]>,
        limit: Option<u32>,
    ) -> Result<ScanPage, AwsError>;
}

/// The one check of an [`Store::update_attrs`] request, shared by every
/// store: `Ok(false)` = nothing asked, an error for what DynamoDB refuses.
pub fn check_attr_update(
    key: &ItemKey,
    set: &BTreeMap<String, AttributeValue>,
) -> Result<bool, AwsError> {
    if let Some(bad) = set
        .keys()
        .find(|k| k.is_empty() || k.as_str() == "PK" || k.as_str() == "SK")
    {
        return Err(AwsError::Invalid {
            op: "UpdateItem",
            key: Some(key.clone()),
            reason: format!("attribute {bad:?} cannot be set"),
        });
    }
    Ok(!set.is_empty())
}

/// Where a table's format evidence comes from (see
/// [`format_evidence`](crate::table::format_evidence)); the engine's format
/// resolver asks it once per process, and again after a write is refused
/// for an index-key type mismatch.
#[async_trait]
pub trait FormatProbe: Send + Sync {
    /// The table's name, for messages.
    fn table_name(&self) -> &str;
    /// Read the evidence now.
    async fn format_evidence(&self) -> Result<FormatEvidence, AwsError>;
}

/// What a [`Store::batch_write`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// BatchWriteItem requests sent, retries included.
    pub requests: u32,
    /// Distinct write requests (puts + deletes) applied.
    pub items: usize,
    /// Write requests that came back unprocessed and were sent again
    /// (counted once per resend).
    pub retried: usize,
}

/// What a [`Store::update_map`] or [`Store::update_attrs`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The entries were set/removed.
    Applied,
    /// The map was absent: it was created empty, then the entries were set.
    AppliedAfterCreatingMap,
    /// Only removals were asked and the map is absent: nothing to remove,
    /// nothing written (no empty map is created for a removal).
    MapAbsent,
    /// The target item does not exist (or vanished meanwhile): nothing was
    /// written, and the item was not re-created.
    TargetMissing,
    /// Nothing was asked (no set, no remove): no request sent.
    Nothing,
}

/// Result of a [`Store::expire`].
#[derive(Debug, Default)]
pub struct ExpireReport {
    /// One entry per distinct key, in the order of the input.
    pub outcomes: Vec<(ItemKey, ExpireOutcome)>,
    /// Requests sent (BatchExecuteStatement or UpdateItem), retries included.
    pub requests: u32,
}

impl ExpireReport {
    /// Number of outcomes matching `pred`.
    pub fn count(&self, pred: impl Fn(&ExpireOutcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, o)| pred(o)).count()
    }
}

/// The fate of one key in [`Store::expire`].
#[derive(Debug)]
pub enum ExpireOutcome {
    /// `ttl` is now `now`.
    Expired,
    /// The condition failed: the item is gone, or already expires at or
    /// before `now`. Nothing written.
    Skipped,
    /// The statement failed; classify the error to decide on a retry.
    Failed(AwsError),
}

/// One page of a scan segment.
#[derive(Debug, Default)]
pub struct ScanPage {
    pub items: Vec<Item>,
    /// Where the next page starts; `None` at the end of the segment.
    pub last_key: Option<ItemKey>,
}
