//! An in-memory [`Store`] with DynamoDB's semantics for the operations the
//! functions use, for fast unit tests of their handlers.
//!
//! Same observable behaviour as the adapter's `DynamoStore` on the
//! points that matter: conditional map updates never create an item, a
//! missing map is created (for sets only), `expire` never lengthens a ttl
//! nor creates an item, keys sort by UTF-8 bytes, and the writes are
//! validated by the same functions as on DynamoDB (`prepare_writes`,
//! `check_map_update`, `check_attr_update`, `key_to_put`). A scan page
//! ends at `Limit` items or at 1 MB of items read (their whole size by
//! DynamoDB's rules, [`item_size`], before any projection), as on DynamoDB,
//! so request counts over a large table mean what they mean there. Not
//! modelled: capacity, item size limits, partial batches, Query pages (a
//! Query answer is one call, whatever its size).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use mlflow_ddb_core::format::{
    FormatEvidence, TableFormat, DEFAULT_WORKSPACE, GSI2_FTS_NAMES_PREFIX, GSI2_PK,
};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

use crate::error::Failure;
use crate::store::{
    check_map_update, key_of, key_to_put, prepare_writes, ExpireOutcome, ExpireReport, ScanPage,
    Store, UpdateOutcome, Write, WriteStats, BATCH_WRITE_MAX,
};
use crate::AwsError;

/// The fake table.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<ItemKey, Item>>,
    counters: Mutex<Counters>,
    /// The declared type of `lsi2sk` (format detection); `None` = undeclared.
    lsi2sk_type: Mutex<Option<String>>,
}

/// Calls seen by a [`MemoryStore`], for tests that care about request counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub get: u32,
    pub batch_get: u32,
    pub batch_write: u32,
    pub update_map: u32,
    pub update_attrs: u32,
    pub expire: u32,
    pub query: u32,
    pub scan: u32,
    pub puts_if_absent: u32,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare the table's format as its template would (`lsi2sk` S or N).
    pub fn declare_format(&self, format: TableFormat) {
        *self.lsi2sk_type.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format.lsi2sk_type().to_owned());
    }

    /// A store holding `items` (items without string `PK`/`SK` are ignored).
    pub fn with_items(items: impl IntoIterator<Item = Item>) -> Self {
        let s = Self::new();
        for i in items {
            s.put(i);
        }
        s
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ItemKey, Item>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Put one item directly (test setup). Returns false when it has no key.
    pub fn put(&self, item: Item) -> bool {
        match key_of(&item) {
            Some(k) => {
                self.lock().insert(k, item);
                true
            }
            None => false,
        }
    }

    /// Delete one item directly (test setup).
    pub fn delete(&self, key: &ItemKey) -> Option<Item> {
        self.lock().remove(key)
    }

    /// Every item, in key order.
    pub fn snapshot(&self) -> BTreeMap<ItemKey, Item> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The data a Scan reads per page at most (DynamoDB: 1 MB, counted on
/// whole items, whatever the projection).
pub const SCAN_PAGE_BYTES: usize = 1 << 20;

/// An item's size by DynamoDB's rules (what capacity and the 1 MB page are
/// counted on): per attribute its name's UTF-8 length plus its value's
/// size — a string its UTF-8 length, a binary its length, a number about
/// one byte per two significant digits plus one, a boolean or null one
/// byte, a list or map 3 bytes plus one per element plus the elements (a
/// map's element names included), a set the sum of its elements.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(n, v)| n.len() + value_size(v)).sum()
}

fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches(['-', '+']);
    let mantissa = digits.split(['e', 'E']).next().unwrap_or("");
    let significant = mantissa.replace('.', "");
    let significant = significant.trim_start_matches('0').trim_end_matches('0');
    significant.len().div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
    }
}

fn project(item: &Item, names: Option<&[&str]>, with_key: bool) -> Item {
    let Some(names) = names else {
        return item.clone();
    };
    let mut out = Item::default();
    let key: &[&str] = if with_key { &["PK", "SK"] } else { &[] };
    for n in key.iter().chain(names) {
        if let Some(v) = item.get(*n) {
            out.insert((*n).to_owned(), v.clone());
        }
    }
    out
}

/// DynamoDB's error for a nested path whose map is absent.
fn missing_map_error(key: &ItemKey) -> AwsError {
    AwsError::Request {
        op: "UpdateItem",
        key: Some(key.clone()),
        failure: Box::new(Failure::Service {
            code: "ValidationException".into(),
            message: "The document path provided in the update expression is invalid for update"
                .into(),
            status: Some(400),
        }),
        source: None,
    }
}

/// Stable segment of a partition key (FNV-1a), like DynamoDB's hash split:
/// one partition is always in one segment.
fn segment_of(pk: &str, total: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pk.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(total.max(1))) as u32
}

#[async_trait]
impl crate::store::FormatProbe for MemoryStore {
    fn table_name(&self) -> &str {
        "memory"
    }

    /// As DynamoDB answers it: the declared type, and the first
    /// [`FORMAT_SAMPLE`](crate::store::FORMAT_SAMPLE) keys of the default
    /// workspace's name tokens.
    async fn format_evidence(&self) -> Result<FormatEvidence, AwsError> {
        let names = AttributeValue::S(format!("{GSI2_FTS_NAMES_PREFIX}{DEFAULT_WORKSPACE}"));
        let forward_sks = self
            .lock()
            .iter()
            .filter(|(_, i)| i.get(GSI2_PK) == Some(&names))
            .map(|(k, _)| k.sk.clone())
            .take(usize::try_from(crate::store::FORMAT_SAMPLE).unwrap_or(0))
            .collect();
        Ok(FormatEvidence {
            lsi2sk_type: self
                .lsi2sk_type
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            forward_sks,
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &ItemKey, _consistent: bool) -> Result<Option<Item>, AwsError> {
        self.count(|c| c.get += 1);
        Ok(self.lock().get(key).cloned())
    }

    async fn batch_get(
        &self,
        keys: &[ItemKey],
        _consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.count(|c| c.batch_get += 1);
        let items = self.lock();
        let mut seen = HashSet::new();
        Ok(keys
            .iter()
            .filter(|k| seen.insert(*k))
            .filter_map(|k| items.get(k))
            .map(|i| project(i, projection, true))
            .collect())
    }

    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError> {
        self.count(|c| c.batch_write += 1);
        let staged = prepare_writes(puts, deletes)?;
        let n = staged.len();
        let mut items = self.lock();
        for (k, w) in staged {
            match w {
                Write::Put(i) => {
                    items.insert(k, i);
                }
                Write::Delete => {
                    items.remove(&k);
                }
            }
        }
        Ok(WriteStats {
            requests: u32::try_from(n.div_ceil(BATCH_WRITE_MAX)).unwrap_or(u32::MAX),
            items: n,
            retried: 0,
        })
    }

    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        self.count(|c| c.update_map += 1);
        if !check_map_update(key, attr, set, remove)? {
            return Ok(UpdateOutcome::Nothing);
        }
        let mut items = self.lock();
        let Some(item) = items.get_mut(key) else {
            return Ok(UpdateOutcome::TargetMissing);
        };
        let mut created = false;
        match item.get(attr) {
            Some(AttributeValue::M(_)) => {}
            Some(_) => return Err(missing_map_error(key)),
            None if set.is_empty() => return Ok(UpdateOutcome::MapAbsent),
            None => {
                item.insert(attr.to_owned(), AttributeValue::M(HashMap::new()));
                created = true;
            }
        }
        if let Some(AttributeValue::M(m)) = item.get_mut(attr) {
            for (k, v) in set {
                m.insert(k.clone(), v.clone());
            }
            for k in remove {
                m.remove(k);
            }
        }
        Ok(if created {
            UpdateOutcome::AppliedAfterCreatingMap
        } else {
            UpdateOutcome::Applied
        })
    }

    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        self.count(|c| c.update_attrs += 1);
        if !crate::store::check_attr_update(key, set)? {
            return Ok(UpdateOutcome::Nothing);
        }
        let mut items = self.lock();
        let Some(item) = items.get_mut(key) else {
            return Ok(UpdateOutcome::TargetMissing);
        };
        for (k, v) in set {
            item.insert(k.clone(), v.clone());
        }
        Ok(UpdateOutcome::Applied)
    }

    async fn put_if_absent(
        &self,
        item: &Item,
        or_if: Option<(&str, &AttributeValue)>,
    ) -> Result<bool, AwsError> {
        self.count(|c| c.puts_if_absent += 1);
        let key = key_to_put("PutItem", item)?;
        let mut items = self.lock();
        if let Some(there) = items.get(&key) {
            if !or_if.is_some_and(|(attr, value)| there.get(attr) == Some(value)) {
                return Ok(false);
            }
        }
        items.insert(key, item.clone());
        Ok(true)
    }

    async fn raise_number(
        &self,
        key: &ItemKey,
        attr: &str,
        at_least: u64,
    ) -> Result<UpdateOutcome, AwsError> {
        self.count(|c| c.update_attrs += 1);
        let mut items = self.lock();
        let Some(item) = items.get_mut(key) else {
            return Ok(UpdateOutcome::Nothing);
        };
        let current = match item.get(attr) {
            Some(AttributeValue::N(n)) => n.parse::<f64>().ok(),
            _ => None,
        };
        if current.is_some_and(|c| c >= at_least as f64) {
            return Ok(UpdateOutcome::Nothing);
        }
        item.insert(attr.to_owned(), AttributeValue::N(at_least.to_string()));
        Ok(UpdateOutcome::Applied)
    }

    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        self.count(|c| c.expire += 1);
        let mut items = self.lock();
        let mut seen = HashSet::new();
        let mut report = ExpireReport::default();
        for key in keys.iter().filter(|k| seen.insert(*k)) {
            report.requests += 1;
            let outcome = match items.get_mut(key) {
                None => ExpireOutcome::Skipped,
                Some(item) => {
                    let later = match item.get("ttl") {
                        None => true,
                        Some(AttributeValue::N(n)) => {
                            n.parse::<f64>().map(|t| t > now as f64).unwrap_or(false)
                        }
                        // DynamoDB: comparing a non-number to :now is false.
                        Some(_) => false,
                    };
                    if later {
                        item.insert("ttl".into(), AttributeValue::N(now.to_string()));
                        ExpireOutcome::Expired
                    } else {
                        ExpireOutcome::Skipped
                    }
                }
            };
            report.outcomes.push((key.clone(), outcome));
        }
        Ok(report)
    }

    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        _consistent: bool,
        projection: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        self.count(|c| c.query += 1);
        let items = self.lock();
        let from = ItemKey::new(pk, sk_prefix);
        Ok(items
            .range(from..)
            .take_while(|(k, _)| k.pk == pk && k.sk.starts_with(sk_prefix))
            .map(|(_, i)| project(i, projection, false))
            .collect())
    }

    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        exclusive_start_key: Option<ItemKey>,
        projection: Option<&[&str]>,
        limit: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        self.count(|c| c.scan += 1);
        if total_segments == 0 || segment >= total_segments {
            return Err(AwsError::Invalid {
                op: "Scan",
                key: None,
                reason: format!("segment {segment} of {total_segments}"),
            });
        }
        let items = self.lock();
        let limit = limit.map_or(usize::MAX, |l| l.max(1) as usize);
        let mut page = ScanPage::default();
        let mut read = 0usize;
        let mut last = None;
        let from = exclusive_start_key.map_or(Bound::Unbounded, Bound::Excluded);
        let iter = items
            .range((from, Bound::Unbounded))
            .filter(|(k, _)| segment_of(&k.pk, total_segments) == segment);
        for (k, i) in iter {
            if page.items.len() == limit || read >= SCAN_PAGE_BYTES {
                page.last_key = last;
                return Ok(page);
            }
            read += item_size(i);
            page.items.push(project(i, projection, false));
            last = Some(k.clone());
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pk: &str, sk: &str) -> Item {
        let mut i = Item::default();
        i.insert("PK".into(), AttributeValue::S(pk.into()));
        i.insert("SK".into(), AttributeValue::S(sk.into()));
        i
    }

    fn with(mut i: Item, name: &str, v: AttributeValue) -> Item {
        i.insert(name.into(), v);
        i
    }

    #[tokio::test]
    async fn update_map_never_resurrects_and_creates_maps_for_sets_only() {
        let s = MemoryStore::with_items([
            item("E", "META"),
            with(item("E", "S"), "tags", AttributeValue::S("x".into())),
        ]);
        let set = BTreeMap::from([("a.b".to_owned(), AttributeValue::S("v".into()))]);
        let k = ItemKey::new("E", "META");
        assert_eq!(
            s.update_map(&k, "tags", &BTreeMap::new(), &["a.b".into()])
                .await
                .unwrap(),
            UpdateOutcome::MapAbsent
        );
        assert!(s
            .get(&k, true)
            .await
            .unwrap()
            .unwrap()
            .get("tags")
            .is_none());
        assert_eq!(
            s.update_map(&k, "tags", &set, &[]).await.unwrap(),
            UpdateOutcome::AppliedAfterCreatingMap
        );
        assert_eq!(
            s.update_map(&k, "tags", &set, &[]).await.unwrap(),
            UpdateOutcome::Applied
        );
        let gone = ItemKey::new("E", "GONE");
        assert_eq!(
            s.update_map(&gone, "tags", &set, &[]).await.unwrap(),
            UpdateOutcome::TargetMissing
        );
        assert!(s.get(&gone, true).await.unwrap().is_none());
        let e = s
            .update_map(&ItemKey::new("E", "S"), "tags", &set, &[])
            .await
            .unwrap_err();
        assert!(!e.is_transient());
    }

    #[tokio::test]
    async fn expire_never_lengthens_nor_creates() {
        let s = MemoryStore::with_items([
            item("P", "none"),
            with(item("P", "early"), "ttl", AttributeValue::N("100".into())),
            with(item("P", "late"), "ttl", AttributeValue::N("5000".into())),
        ]);
        let keys = ["none", "early", "late", "gone"].map(|sk| ItemKey::new("P", sk));
        let r = s.expire(&keys, 1000).await.unwrap();
        let got: Vec<_> = r
            .outcomes
            .iter()
            .map(|(k, o)| (k.sk.as_str(), matches!(o, ExpireOutcome::Expired)))
            .collect();
        assert_eq!(
            got,
            [
                ("none", true),
                ("early", false),
                ("late", true),
                ("gone", false)
            ]
        );
        let snap = s.snapshot();
        assert_eq!(
            snap[&keys[1]].get("ttl"),
            Some(&AttributeValue::N("100".into()))
        );
        assert_eq!(
            snap[&keys[2]].get("ttl"),
            Some(&AttributeValue::N("1000".into()))
        );
        assert!(!snap.contains_key(&keys[3]));
    }

    #[tokio::test]
    async fn scan_segments_partition_the_table_and_page() {
        let s = MemoryStore::with_items(
            (0..50).map(|i| item(&format!("P{}", i % 7), &format!("{i:03}"))),
        );
        let mut seen = Vec::new();
        for seg in 0..3 {
            let mut start = None;
            loop {
                let p = s.scan_segment(seg, 3, start, None, Some(4)).await.unwrap();
                seen.extend(p.items.iter().filter_map(key_of));
                match p.last_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        seen.sort();
        assert_eq!(seen, s.snapshot().into_keys().collect::<Vec<_>>());
    }

    #[test]
    fn item_size_follows_dynamodb_rules() {
        // "PK"+"E" + "SK"+"META" + "n"+12345 (⌈5/2⌉ + 1) + "m"+{"ab": "c"} (3 + 1+2+1)
        let mut i = with(item("E", "META"), "n", AttributeValue::N("12345".into()));
        i = with(
            i,
            "m",
            AttributeValue::M(HashMap::from([(
                "ab".into(),
                AttributeValue::S("c".into()),
            )])),
        );
        assert_eq!(item_size(&i), 3 + 6 + 5 + 8);
        assert_eq!(number_size("0.0100"), 2);
        assert_eq!(number_size("-1e10"), 2);
    }

    #[tokio::test]
    async fn scan_pages_end_at_one_megabyte_of_whole_items() {
        // 100 items of about 100 KB: a page reads 1 MB (the item crossing it
        // included) whatever the projection, so 11 items a page.
        let big = "x".repeat(100 * 1024);
        let s = MemoryStore::with_items((0..100).map(|i| {
            with(
                item("P", &format!("{i:03}")),
                "v",
                AttributeValue::S(big.clone()),
            )
        }));
        let mut start = None;
        let mut sizes = Vec::new();
        loop {
            let p = s
                .scan_segment(0, 1, start, Some(&["PK", "SK"]), None)
                .await
                .unwrap();
            sizes.push(p.items.len());
            match p.last_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(
            sizes[..sizes.len() - 1].iter().all(|n| *n == 11),
            "{sizes:?}"
        );
        assert_eq!(s.counters().scan as usize, sizes.len());
    }
}
