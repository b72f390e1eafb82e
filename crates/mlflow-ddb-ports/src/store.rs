//! The narrow store the functions execute their plans against.
//!
//! Object-safe (`async_trait`), so a handler's dependencies can hold an
//! `Arc<dyn Store>` and tests swap in [`MemoryStore`](crate::MemoryStore)
//! without a generic parameter threading through every function. The cost,
//! one boxed future per call, is nothing next to a network round trip.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use mlflow_ddb_core::format::FormatEvidence;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

use mlflow_ddb_core::item::{PK, SK};
use serde::Serialize;

use crate::AwsError;

/// Table data operations. Every write is idempotent or conditional, so a
/// plan can be executed again after any failure.
#[async_trait]
pub trait Store: Send + Sync {
    /// What the requests of this store have cost so far (attempts, retries,
    /// in-flight limit), when it sends any: `None` for in-memory stores.
    fn gate_stats(&self) -> Option<GateStats> {
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
/// [`format_evidence`](../mlflow_ddb_aws/table/fn.format_evidence.html)); the engine's format
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

/// Items per `BatchWriteItem` request (DynamoDB's limit).
pub const BATCH_WRITE_MAX: usize = 25;
/// Keys per `BatchGetItem` request (DynamoDB's limit).
pub const BATCH_GET_MAX: usize = 100;
/// Statements per PartiQL `BatchExecuteStatement` request (DynamoDB's limit).
pub const BATCH_STATEMENT_MAX: usize = 25;

/// Forward FTS keys of the default workspace read by a format probe.
pub const FORMAT_SAMPLE: i32 = 20;

/// What a store's request gate has seen (attempts, retries, the in-flight
/// limit), for summaries and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GateStats {
    /// Requests sent (every attempt).
    pub attempts: u64,
    /// Attempts after the first of their logical request.
    pub retries: u64,
    /// Transient failures seen (throttles, timeouts, 5xx, resets).
    pub transient: u64,
    /// Logical requests that failed after their budget.
    pub exhausted: u64,
    /// Successes slower than `slow_after` (overload signals too).
    pub slow: u64,
    /// Times the in-flight limit was halved (throttles, timeouts, slow
    /// answers).
    pub decreases: u64,
    /// Times it was lowered because latency showed a queue at the endpoint.
    pub queue_decreases: u64,
    /// The in-flight limit now, and the lowest it went.
    pub limit: u32,
    pub lowest_limit: u32,
}

/// The key of an item whose `PK` and `SK` are strings.
pub fn key_of(item: &Item) -> Option<ItemKey> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(ItemKey::new(pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

/// The key of an item to put: refused before anything is sent when its
/// `PK`/`SK` are not strings.
pub fn key_to_put(op: &'static str, item: &Item) -> Result<ItemKey, AwsError> {
    key_of(item).ok_or_else(|| AwsError::Invalid {
        op,
        key: None,
        reason: "put of an item without string PK and SK".into(),
    })
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put(Item),
    Delete,
}

/// The distinct writes of one `batch_write`, in input order (puts, then
/// deletes): identical duplicates once; two different writes of one key
/// (two different items, or a put and a delete) refused before anything is
/// sent. Every store validates a batch with this one function.
pub fn prepare_writes(
    puts: Vec<Item>,
    deletes: Vec<ItemKey>,
) -> Result<Vec<(ItemKey, Write)>, AwsError> {
    let mut order: Vec<ItemKey> = Vec::with_capacity(puts.len() + deletes.len());
    let mut by_key: HashMap<ItemKey, Write> = HashMap::with_capacity(order.capacity());
    let conflict = |key: ItemKey, reason: &str| AwsError::Invalid {
        op: "BatchWriteItem",
        key: Some(key),
        reason: reason.into(),
    };
    for item in puts {
        let key = key_to_put("BatchWriteItem", &item)?;
        match by_key.get(&key) {
            None => {
                order.push(key.clone());
                by_key.insert(key, Write::Put(item));
            }
            Some(Write::Put(prev)) if *prev == item => {}
            Some(_) => {
                return Err(conflict(
                    key,
                    "two different writes of one key in one batch",
                ))
            }
        }
    }
    for key in deletes {
        match by_key.get(&key) {
            None => {
                order.push(key.clone());
                by_key.insert(key, Write::Delete);
            }
            Some(Write::Delete) => {}
            Some(Write::Put(_)) => {
                return Err(conflict(key, "a put and a delete of one key in one batch"))
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|k| by_key.remove(&k).map(|w| (k, w)))
        .collect())
}

/// Check a map update before anything is sent: a named map, no key both
/// set and removed. `Ok(false)`: nothing to do.
pub fn check_map_update(
    key: &ItemKey,
    attr: &str,
    set: &BTreeMap<String, AttributeValue>,
    remove: &[String],
) -> Result<bool, AwsError> {
    let invalid = |reason: &str| AwsError::Invalid {
        op: "UpdateItem",
        key: Some(key.clone()),
        reason: reason.into(),
    };
    if attr.is_empty() {
        return Err(invalid("empty map attribute name"));
    }
    if remove.iter().any(|k| set.contains_key(k)) {
        return Err(invalid("a map key both set and removed"));
    }
    Ok(!(set.is_empty() && remove.is_empty()))
}
