//! The orphan sweep, as pure decisions: which scanned items are orphans, in
//! which category, whether the circuit breaker trips, and the sweep's
//! checkpoint and summary as plain data.
//!
//! The `ttl-sweeper` function drives it: scan pages (keys and `ttl` only)
//! go into a [`Census`]; the META items it did not see are read
//! (consistently) and handed back as a set of present keys; [`Census::decide`]
//! turns that into a [`Decision`]; [`breaker`] says whether to write at all.
//!
//! Categories (contract §5):
//! 1. [`Category::Experiment`]: every item of an `EXP#<e>` partition whose
//!    `E#META` is gone (the reference `cleanup-expired`'s definition).
//! 2. [`Category::RegisteredModel`]: every item of an `RM#<m>` partition
//!    whose `M#META` is gone.
//! 3. [`Category::Run`]: in a live experiment, the children of a run
//!    (`R#<run>#…`) and its FTS items (`FTS#…#R#<run>…`, `FTS_REV#R#<run>…`)
//!    whose `R#<run>` is gone.
//!
//! Nothing else is ever an orphan: `CONFIG`, `WORKSPACE#`, `OPS#` and every
//! other partition are ignored, and so are the META items themselves.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::format::{FtsEntityType, Profile};
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::keys::{
    ItemKind, RunId, PK_EXPERIMENT_PREFIX, PK_MODEL_PREFIX, SK_EXPERIMENT_META, SK_MODEL_META,
    SK_RUN_PREFIX,
};

/// The attribute DynamoDB TTL reads (epoch seconds).
pub const TTL_ATTR: &str = "ttl";
/// The partition of the sweeper's own bookkeeping; the reference never reads it.
pub const OPS_PK: &str = "OPS#ttl-sweeper";
/// The sort key of the checkpoint item.
pub const CHECKPOINT_SK: &str = "CHECKPOINT";
/// Attribute of the checkpoint item holding its JSON state.
pub const CHECKPOINT_STATE_ATTR: &str = "state";
/// Attribute of the checkpoint item holding when it was written (epoch s).
pub const CHECKPOINT_UPDATED_ATTR: &str = "updated_at";
/// Default breaker: trip when more than this fraction of the partitions seen
/// look orphaned.
pub const DEFAULT_BREAKER_FRACTION: f64 = 0.2;
/// Attributes a scan must project.
pub const SCAN_PROJECTION: [&str; 3] = [PK, SK, TTL_ATTR];

/// The checkpoint item's key.
pub fn checkpoint_key() -> ItemKey {
    ItemKey::new(OPS_PK, CHECKPOINT_SK)
}

/// An orphan category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Items of an `EXP#` partition whose `E#META` is gone.
    Experiment,
    /// Items of an `RM#` partition whose `M#META` is gone.
    RegisteredModel,
    /// Children and FTS items of a run whose `R#<run>` is gone, in a live
    /// experiment.
    Run,
}

impl Category {
    pub const ALL: [Category; 3] = [
        Category::Experiment,
        Category::RegisteredModel,
        Category::Run,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Experiment => "experiment",
            Category::RegisteredModel => "registered_model",
            Category::Run => "run",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the scan told about an item's `ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// No `ttl` attribute.
    Absent,
    /// A number of epoch seconds (fractions truncated).
    At(i64),
    /// Present but not a number: DynamoDB TTL ignores it, and the expire
    /// condition (`ttl > :now`) is false for it, so it is never set.
    NotANumber,
}

impl Ttl {
    /// Whether setting `ttl = now` would be refused (the item already
    /// expires at or before `now`, or its ttl cannot be compared).
    pub fn expiring_by(self, now: i64) -> bool {
        match self {
            Ttl::Absent => false,
            Ttl::At(t) => t <= now,
            Ttl::NotANumber => true,
        }
    }

    fn of(v: Option<&AttributeValue>) -> Ttl {
        match v {
            None => Ttl::Absent,
            Some(AttributeValue::N(n)) => n
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    n.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| f as i64)
                })
                .map_or(Ttl::NotANumber, Ttl::At),
            Some(_) => Ttl::NotANumber,
        }
    }
}

/// One scanned item: its key and its `ttl`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scanned {
    pub key: ItemKey,
    pub ttl: Ttl,
}

impl Scanned {
    pub fn new(key: ItemKey, ttl: Ttl) -> Self {
        Self { key, ttl }
    }

    /// From a scanned item (projection `PK, SK, ttl`); `None` without string
    /// `PK` and `SK`.
    pub fn from_item(item: &Item) -> Option<Self> {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
            (item.get(PK), item.get(SK))
        else {
            return None;
        };
        Some(Self {
            key: ItemKey::new(pk.clone(), sk.clone()),
            ttl: Ttl::of(item.get(TTL_ATTR)),
        })
    }
}

/// The kind of a partition the sweep looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PartitionKind {
    Experiment,
    Model,
}

impl PartitionKind {
    fn of(pk: &str) -> Option<Self> {
        let (kind, id) = if let Some(id) = pk.strip_prefix(PK_EXPERIMENT_PREFIX) {
            (PartitionKind::Experiment, id)
        } else if let Some(id) = pk.strip_prefix(PK_MODEL_PREFIX) {
            (PartitionKind::Model, id)
        } else {
            return None;
        };
        // Ids are non-empty and free of '#'; anything else is not ours.
        (!id.is_empty() && !id.contains('#')).then_some(kind)
    }

    fn meta_sk(self) -> &'static str {
        match self {
            PartitionKind::Experiment => SK_EXPERIMENT_META,
            PartitionKind::Model => SK_MODEL_META,
        }
    }

    fn category(self) -> Category {
        match self {
            PartitionKind::Experiment => Category::Experiment,
            PartitionKind::Model => Category::RegisteredModel,
        }
    }
}

/// What the census knows about one run of an experiment partition.
#[derive(Debug, Default)]
struct RunCensus {
    meta_seen: bool,
    /// The run's own META item, kept while the partition META is unseen.
    meta: Option<Scanned>,
    /// Children and FTS items, kept while the run META is unseen or the
    /// partition META is unseen.
    items: Vec<Scanned>,
}

#[derive(Debug)]
struct PartitionCensus {
    kind: PartitionKind,
    meta_seen: bool,
    /// Items that belong to no run, kept while the META is unseen.
    loose: Vec<Scanned>,
    runs: BTreeMap<String, RunCensus>,
}

/// Why an item of an experiment partition belongs to a run.
enum Owner {
    /// `R#<run>` itself.
    RunMeta(RunId),
    /// A child or FTS item of the run.
    Run(RunId),
    /// `E#META` / `M#META`.
    PartitionMeta,
    None,
}

fn owner(profile: &Profile, kind: PartitionKind, key: &ItemKey) -> Owner {
    if key.sk == kind.meta_sk() {
        return Owner::PartitionMeta;
    }
    if kind == PartitionKind::Model {
        return Owner::None;
    }
    match ItemKind::parse(profile, &key.pk, &key.sk) {
        ItemKind::RunMeta { run, .. } => Owner::RunMeta(run),
        ItemKind::RunTag { run, .. }
        | ItemKind::RunParam { run, .. }
        | ItemKind::RunChild { run, .. } => Owner::Run(run),
        ItemKind::FtsForward { fts, .. } | ItemKind::FtsReverse { fts, .. }
            if fts.entity_type == FtsEntityType::R =>
        {
            RunId::parse(&fts.entity_id).map_or(Owner::None, Owner::Run)
        }
        _ => Owner::None,
    }
}

/// What scanned pages told about the `EXP#` and `RM#` partitions: which
/// META items were seen, and the items that may turn out to be orphans.
///
/// Memory: items are dropped as soon as the META that makes them live has
/// been seen, so a healthy table costs little beyond the run ids.
#[derive(Debug)]
pub struct Census {
    profile: &'static Profile,
    partitions: BTreeMap<String, PartitionCensus>,
    items_scanned: u64,
    items_ignored: u64,
    held: u64,
}

impl Census {
    pub fn new(profile: &'static Profile) -> Self {
        Self {
            profile,
            partitions: BTreeMap::new(),
            items_scanned: 0,
            items_ignored: 0,
            held: 0,
        }
    }

    /// Items added so far.
    pub fn items_scanned(&self) -> u64 {
        self.items_scanned
    }

    /// Items outside `EXP#`/`RM#` partitions (never touched).
    pub fn items_ignored(&self) -> u64 {
        self.items_ignored
    }

    /// Items held as possible orphans (their META not seen yet): what the
    /// census costs in memory.
    pub fn items_held(&self) -> u64 {
        self.held
    }

    /// `EXP#` and `RM#` partitions seen so far.
    pub fn partitions_seen(&self) -> usize {
        self.partitions.len()
    }

    /// Add one scanned item (pages may come in any order, items of one
    /// partition split across pages and segments).
    pub fn add(&mut self, item: Scanned) {
        self.items_scanned += 1;
        let Some(kind) = PartitionKind::of(&item.key.pk) else {
            self.items_ignored += 1;
            return;
        };
        let owner = owner(self.profile, kind, &item.key);
        let p = self
            .partitions
            .entry(item.key.pk.clone())
            .or_insert_with(|| PartitionCensus {
                kind,
                meta_seen: false,
                loose: Vec::new(),
                runs: BTreeMap::new(),
            });
        match owner {
            Owner::PartitionMeta => {
                p.meta_seen = true;
                let mut freed = p.loose.len();
                p.loose = Vec::new();
                for r in p.runs.values_mut() {
                    freed += usize::from(r.meta.take().is_some());
                    if r.meta_seen {
                        freed += r.items.len();
                        r.items = Vec::new();
                    }
                }
                self.held -= freed as u64;
            }
            Owner::RunMeta(run) => {
                let r = p.runs.entry(run.into_string()).or_default();
                r.meta_seen = true;
                if p.meta_seen {
                    self.held -= r.items.len() as u64;
                    r.items = Vec::new();
                } else if r.meta.replace(item).is_none() {
                    self.held += 1;
                }
            }
            Owner::Run(run) => {
                let r = p.runs.entry(run.into_string()).or_default();
                if !(p.meta_seen && r.meta_seen) {
                    r.items.push(item);
                    self.held += 1;
                }
            }
            Owner::None => {
                if !p.meta_seen {
                    p.loose.push(item);
                    self.held += 1;
                }
            }
        }
    }

    /// Add every item of a scan page that has string keys; returns how
    /// many were added.
    pub fn add_page<'a>(&mut self, items: impl IntoIterator<Item = &'a Item>) -> usize {
        let mut n = 0;
        for s in items.into_iter().filter_map(Scanned::from_item) {
            self.add(s);
            n += 1;
        }
        n
    }

    /// The partition META keys the scan did not see: read them
    /// (consistently) and pass those present to [`Census::run_metas_to_check`]
    /// and [`Census::decide`].
    pub fn partition_metas_to_check(&self) -> Vec<ItemKey> {
        self.partitions
            .iter()
            .filter(|(_, p)| !p.meta_seen)
            .map(|(pk, p)| ItemKey::new(pk.clone(), p.kind.meta_sk()))
            .collect()
    }

    /// The run META keys (`R#<run>`) to read, in experiment partitions that
    /// are live (META seen, or in `present`), for runs whose META the scan
    /// did not see and that have items to lose.
    pub fn run_metas_to_check(&self, present: &HashSet<ItemKey>) -> Vec<ItemKey> {
        let mut keys = Vec::new();
        for (pk, p) in &self.partitions {
            if p.kind != PartitionKind::Experiment || !self.live(pk, p, present) {
                continue;
            }
            for (run, r) in &p.runs {
                if !r.meta_seen && !r.items.is_empty() {
                    keys.push(run_meta_key(pk, run));
                }
            }
        }
        keys
    }

    fn live(&self, pk: &str, p: &PartitionCensus, present: &HashSet<ItemKey>) -> bool {
        p.meta_seen || present.contains(&ItemKey::new(pk, p.kind.meta_sk()))
    }

    /// The orphans, given the META keys found `present` by the consistent
    /// reads of [`Census::partition_metas_to_check`] and
    /// [`Census::run_metas_to_check`]. Groups come in key order.
    pub fn decide(&self, present: &HashSet<ItemKey>) -> Decision {
        let mut groups = Vec::new();
        for (pk, p) in &self.partitions {
            if !self.live(pk, p, present) {
                let mut items: Vec<Scanned> = p.loose.clone();
                for r in p.runs.values() {
                    items.extend(r.meta.iter().cloned());
                    items.extend(r.items.iter().cloned());
                }
                items.sort_by(|a, b| a.key.cmp(&b.key));
                if !items.is_empty() {
                    groups.push(OrphanGroup {
                        category: p.kind.category(),
                        meta: ItemKey::new(pk.clone(), p.kind.meta_sk()),
                        items,
                    });
                }
                continue;
            }
            if p.kind != PartitionKind::Experiment {
                continue;
            }
            for (run, r) in &p.runs {
                let meta = run_meta_key(pk, run);
                if r.meta_seen || r.items.is_empty() || present.contains(&meta) {
                    continue;
                }
                let mut items = r.items.clone();
                items.sort_by(|a, b| a.key.cmp(&b.key));
                groups.push(OrphanGroup {
                    category: Category::Run,
                    meta,
                    items,
                });
            }
        }
        Decision {
            partitions_seen: self.partitions.len() as u64,
            groups,
        }
    }
}

/// `R#<run>` in partition `pk`.
pub fn run_meta_key(pk: &str, run: &str) -> ItemKey {
    ItemKey::new(pk, format!("{SK_RUN_PREFIX}{run}"))
}

/// The items that are orphans because one META item is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanGroup {
    pub category: Category,
    /// The META whose absence makes them orphans (`E#META`, `M#META` or
    /// `R#<run>`): read it again, consistently, just before expiring.
    pub meta: ItemKey,
    /// In key order.
    pub items: Vec<Scanned>,
}

impl OrphanGroup {
    /// Items to expire at `now`, and how many are already expiring.
    pub fn to_expire(&self, now: i64) -> (Vec<ItemKey>, usize) {
        let mut keys = Vec::new();
        let mut skipped = 0;
        for s in &self.items {
            if s.ttl.expiring_by(now) {
                skipped += 1;
            } else {
                keys.push(s.key.clone());
            }
        }
        (keys, skipped)
    }
}

/// The census's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// `EXP#` and `RM#` partitions seen.
    pub partitions_seen: u64,
    pub groups: Vec<OrphanGroup>,
}

impl Decision {
    /// Orphaned partitions (categories 1 and 2): what the breaker weighs.
    pub fn orphaned_partitions(&self) -> u64 {
        self.groups
            .iter()
            .filter(|g| g.category != Category::Run)
            .count() as u64
    }

    /// Groups and items per category.
    pub fn counts(&self) -> BTreeMap<Category, OrphanCount> {
        let mut m: BTreeMap<Category, OrphanCount> = Category::ALL
            .iter()
            .map(|c| (*c, OrphanCount::default()))
            .collect();
        for g in &self.groups {
            let c = m.entry(g.category).or_default();
            c.groups += 1;
            c.items += g.items.len() as u64;
        }
        m
    }
}

/// Why the breaker tripped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerTrip {
    pub orphaned: u64,
    pub seen: u64,
    pub fraction: f64,
}

impl fmt::Display for BreakerTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit breaker: {} of {} partitions look orphaned, more than the allowed fraction {} \
             (a wrong table, or a partly restored backup?); nothing was written",
            self.orphaned, self.seen, self.fraction
        )
    }
}

/// The breaker: trip when orphaned partitions exceed `fraction` of those seen.
pub fn breaker(decision: &Decision, fraction: f64) -> Option<BreakerTrip> {
    let orphaned = decision.orphaned_partitions();
    let seen = decision.partitions_seen;
    (seen > 0 && orphaned as f64 > fraction * seen as f64).then_some(BreakerTrip {
        orphaned,
        seen,
        fraction,
    })
}

// --------------------------------------------------------------- checkpoint

/// Where one scan segment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SegmentPosition {
    /// Not finished: continue after this key (`None`: from the start).
    Pending { after: Option<ItemKey> },
    /// Scanned to its end.
    Done,
}

/// Where a sweep that spans invocations stands: the scan position of every
/// segment, everything before which has been swept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub total_segments: u32,
    pub segments: Vec<SegmentPosition>,
    /// When the sweep began (epoch s).
    pub started_at: i64,
    /// Invocations that have worked on this sweep so far.
    pub invocations: u32,
}

impl Checkpoint {
    /// A sweep starting now over `total_segments` (at least 1) segments.
    pub fn fresh(total_segments: u32, now: i64) -> Self {
        let n = total_segments.max(1);
        Self {
            total_segments: n,
            segments: (0..n)
                .map(|_| SegmentPosition::Pending { after: None })
                .collect(),
            started_at: now,
            invocations: 0,
        }
    }

    /// Every segment scanned to its end.
    pub fn is_complete(&self) -> bool {
        self.segments.iter().all(|s| *s == SegmentPosition::Done)
    }

    /// Whether any segment has moved from its start.
    pub fn is_resumed(&self) -> bool {
        self.segments
            .iter()
            .any(|s| *s != SegmentPosition::Pending { after: None })
    }

    /// The checkpoint item (`OPS#ttl-sweeper` / `CHECKPOINT`), written at `now`.
    pub fn to_item(&self, now: i64) -> Item {
        let mut item = Item::default();
        item.insert(PK.into(), AttributeValue::S(OPS_PK.into()));
        item.insert(SK.into(), AttributeValue::S(CHECKPOINT_SK.into()));
        // A Checkpoint is plain data with string keys: serializing cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        item.insert(CHECKPOINT_STATE_ATTR.into(), AttributeValue::S(json));
        item.insert(
            CHECKPOINT_UPDATED_ATTR.into(),
            AttributeValue::N(now.to_string()),
        );
        item
    }

    /// Read a checkpoint item back.
    pub fn from_item(item: &Item) -> Result<Self, CoreError> {
        let bad = |problem: String| CoreError::Checkpoint {
            key: checkpoint_key(),
            problem,
        };
        let Some(AttributeValue::S(json)) = item.get(CHECKPOINT_STATE_ATTR) else {
            return Err(bad(format!(
                "attribute {CHECKPOINT_STATE_ATTR:?} missing or not a string"
            )));
        };
        let cp: Checkpoint = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if cp.total_segments == 0 || cp.segments.len() != cp.total_segments as usize {
            return Err(bad(format!(
                "{} segment positions for total_segments {}",
                cp.segments.len(),
                cp.total_segments
            )));
        }
        Ok(cp)
    }
}

// ------------------------------------------------------------------ summary

/// Orphans of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrphanCount {
    /// Partitions (categories 1, 2) or runs (category 3).
    pub groups: u64,
    pub items: u64,
}

/// Orphans per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrphanCounts {
    pub experiment: OrphanCount,
    pub registered_model: OrphanCount,
    pub run: OrphanCount,
}

impl OrphanCounts {
    pub fn from_decision(d: &Decision) -> Self {
        let c = d.counts();
        let get = |cat| c.get(&cat).copied().unwrap_or_default();
        Self {
            experiment: get(Category::Experiment),
            registered_model: get(Category::RegisteredModel),
            run: get(Category::Run),
        }
    }

    pub fn total_items(&self) -> u64 {
        self.experiment.items + self.registered_model.items + self.run.items
    }
}

/// What one invocation did: returned, logged, and turned into metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub table: String,
    /// The table's format, detected before the scan.
    #[serde(default)]
    pub format: Option<crate::format::TableFormat>,
    pub dry_run: bool,
    pub total_segments: u32,
    /// This invocation continued a sweep an earlier one began.
    pub resumed: bool,
    /// The whole table has been swept (this invocation finished the last
    /// segment); `false` when it stopped early and left a checkpoint.
    pub complete: bool,
    pub pages_scanned: u64,
    pub items_scanned: u64,
    /// `EXP#` and `RM#` partitions seen.
    pub partitions_scanned: u64,
    /// Orphaned `EXP#`/`RM#` partitions (what the breaker weighs).
    pub orphaned_partitions: u64,
    pub orphans: OrphanCounts,
    /// Items whose `ttl` is now the sweep's `now`.
    pub items_expired: u64,
    /// Orphans left alone because they already expire (`ttl <= now`),
    /// seen in the scan or found by the write's condition.
    pub items_skipped_already_expiring: u64,
    /// Orphans left alone because their META was back on the re-check just
    /// before expiring (restored, or re-created meanwhile).
    pub items_skipped_meta_back: u64,
    /// Orphans not expired because a write failed (retried next run).
    pub items_failed: u64,
    /// Orphans not expired because `max_items` or the deadline stopped the
    /// expiry (the checkpoint was not advanced past them).
    pub items_deferred: u64,
    pub aborted: bool,
    pub abort_reason: Option<String>,
    pub stopped_early: Option<String>,
    /// Requests sent to the table (as reported by the store; scans, reads,
    /// writes).
    pub requests: u64,
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::TableFormat;

    fn s(pk: &str, sk: &str) -> Scanned {
        Scanned::new(ItemKey::new(pk, sk), Ttl::Absent)
    }

    fn census(items: &[(&str, &str)]) -> Census {
        let mut c = Census::new(TableFormat::V0_1.profile());
        for (pk, sk) in items {
            c.add(s(pk, sk));
        }
        c
    }

    /// (category, meta, item SKs) of a decision.
    fn groups(d: &Decision) -> Vec<(Category, String, Vec<String>)> {
        d.groups
            .iter()
            .map(|g| {
                (
                    g.category,
                    g.meta.to_string(),
                    g.items.iter().map(|i| i.key.to_string()).collect(),
                )
            })
            .collect()
    }

    fn check(
        items: &[(&str, &str)],
        present: &[(&str, &str)],
        expected: &[(Category, &str, &[&str])],
    ) {
        let c = census(items);
        let present: HashSet<ItemKey> = present.iter().map(|(p, s)| ItemKey::new(*p, *s)).collect();
        let d = c.decide(&present);
        let want: Vec<(Category, String, Vec<String>)> = expected
            .iter()
            .map(|(cat, meta, items)| {
                (
                    *cat,
                    meta.to_string(),
                    items.iter().map(|i| i.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(groups(&d), want);
    }

    const RUN_ITEMS: &[(&str, &str)] = &[
        ("EXP#1", "E#META"),
        ("EXP#1", "E#TAG#team"),
        ("EXP#1", "R#r1"),
        ("EXP#1", "R#r1#PARAM#lr"),
        ("EXP#1", "R#r2#TAG#mlflow.user"),
        ("EXP#1", "R#r2#METRIC#acc"),
        ("EXP#1", "FTS#W#tok#R#r2"),
        ("EXP#1", "FTS#3#tok#R#r2#team"),
        ("EXP#1", "FTS_REV#R#r2#W#tok"),
        ("EXP#1", "FTS#W#tok#R#r1"),
        ("EXP#1", "FTS#W#nam#E#1"),
        ("EXP#1", "RANK#m#acc#x#r2"),
    ];

    #[test]
    fn live_everything_yields_nothing() {
        check(RUN_ITEMS, &[("EXP#1", "R#r2")], &[]);
        check(
            &[
                ("RM#m", "M#META"),
                ("RM#m", "V#00001"),
                ("CONFIG", "TTL_POLICY"),
            ],
            &[],
            &[],
        );
    }

    #[test]
    fn run_children_and_fts_of_a_gone_run_are_category_3() {
        check(
            RUN_ITEMS,
            &[],
            &[(
                Category::Run,
                "EXP#1/R#r2",
                &[
                    "EXP#1/FTS#3#tok#R#r2#team",
                    "EXP#1/FTS#W#tok#R#r2",
                    "EXP#1/FTS_REV#R#r2#W#tok",
                    "EXP#1/R#r2#METRIC#acc",
                    "EXP#1/R#r2#TAG#mlflow.user",
                ],
            )],
        );
    }

    #[test]
    fn a_partition_without_meta_is_category_1_whole() {
        let items: Vec<(&str, &str)> = RUN_ITEMS
            .iter()
            .copied()
            .filter(|(_, sk)| *sk != "E#META")
            .collect();
        let mut want: Vec<String> = items.iter().map(|(p, s)| format!("{p}/{s}")).collect();
        want.sort();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        // Not found by the scan, not present on the read: orphaned.
        check(
            &items,
            &[],
            &[(Category::Experiment, "EXP#1/E#META", &want)],
        );
        // Present on the consistent read (the scan missed it): live, and the
        // run without META is still category 3.
        check(
            &items,
            &[("EXP#1", "E#META")],
            &[(
                Category::Run,
                "EXP#1/R#r2",
                &[
                    "EXP#1/FTS#3#tok#R#r2#team",
                    "EXP#1/FTS#W#tok#R#r2",
                    "EXP#1/FTS_REV#R#r2#W#tok",
                    "EXP#1/R#r2#METRIC#acc",
                    "EXP#1/R#r2#TAG#mlflow.user",
                ],
            )],
        );
    }

    #[test]
    fn models_and_ignored_partitions() {
        check(
            &[
                ("RM#m", "M#TAG#a"),
                ("RM#m", "V#00001"),
                ("RM#n", "M#META"),
                ("CONFIG", "DENORMALIZE_TAGS"),
                ("WORKSPACE#default", "META"),
                ("OPS#ttl-sweeper", "CHECKPOINT"),
                ("EXP#", "x"),
                ("EXP#a#b", "x"),
            ],
            &[],
            &[(
                Category::RegisteredModel,
                "RM#m/M#META",
                &["RM#m/M#TAG#a", "RM#m/V#00001"],
            )],
        );
    }

    #[test]
    fn keys_to_read() {
        let c = census(&[
            ("EXP#1", "R#r2#METRIC#a"),
            ("EXP#2", "E#META"),
            ("EXP#2", "R#r3#METRIC#a"),
            ("EXP#2", "R#r4"),
            ("EXP#2", "R#r4#METRIC#a"),
            ("RM#m", "V#1"),
            ("CONFIG", "X"),
        ]);
        let ks = |v: Vec<ItemKey>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            ks(c.partition_metas_to_check()),
            ["EXP#1/E#META", "RM#m/M#META"]
        );
        assert_eq!(ks(c.run_metas_to_check(&HashSet::new())), ["EXP#2/R#r3"]);
        let present = HashSet::from([ItemKey::new("EXP#1", "E#META")]);
        assert_eq!(
            ks(c.run_metas_to_check(&present)),
            ["EXP#1/R#r2", "EXP#2/R#r3"]
        );
        assert_eq!(c.items_ignored(), 1);
        assert_eq!(c.partitions_seen(), 3);
    }

    #[test]
    fn ttl_parsing_and_expiring() {
        let cases = [
            (None, Ttl::Absent, false),
            (Some(AttributeValue::N("100".into())), Ttl::At(100), true),
            (Some(AttributeValue::N("100.7".into())), Ttl::At(100), true),
            (Some(AttributeValue::N("1000".into())), Ttl::At(1000), true),
            (Some(AttributeValue::N("1001".into())), Ttl::At(1001), false),
            (Some(AttributeValue::S("1".into())), Ttl::NotANumber, true),
        ];
        for (v, ttl, expiring) in cases {
            let got = Ttl::of(v.as_ref());
            assert_eq!(got, ttl, "{v:?}");
            assert_eq!(got.expiring_by(1000), expiring, "{v:?}");
        }
        let g = OrphanGroup {
            category: Category::Experiment,
            meta: ItemKey::new("EXP#1", "E#META"),
            items: vec![
                Scanned::new(ItemKey::new("EXP#1", "a"), Ttl::At(5)),
                Scanned::new(ItemKey::new("EXP#1", "b"), Ttl::Absent),
                Scanned::new(ItemKey::new("EXP#1", "c"), Ttl::At(5000)),
            ],
        };
        let (keys, skipped) = g.to_expire(1000);
        assert_eq!(skipped, 1);
        assert_eq!(
            keys,
            [ItemKey::new("EXP#1", "b"), ItemKey::new("EXP#1", "c")]
        );
    }

    #[test]
    fn breaker_trips_above_the_fraction_only() {
        let d = |seen: u64, orphaned: usize| Decision {
            partitions_seen: seen,
            groups: (0..orphaned)
                .map(|i| OrphanGroup {
                    category: Category::Experiment,
                    meta: ItemKey::new(format!("EXP#{i}"), "E#META"),
                    items: vec![],
                })
                .chain(std::iter::once(OrphanGroup {
                    // category 3 never counts
                    category: Category::Run,
                    meta: ItemKey::new("EXP#x", "R#r"),
                    items: vec![],
                }))
                .collect(),
        };
        assert_eq!(breaker(&d(10, 2), 0.2), None);
        let trip = breaker(&d(10, 3), 0.2).expect("trips");
        assert_eq!((trip.orphaned, trip.seen), (3, 10));
        assert!(trip.to_string().contains("3 of 10 partitions"));
        assert_eq!(breaker(&d(0, 0), 0.2), None);
        assert_eq!(breaker(&d(10, 10), 1.0), None);
        assert!(breaker(&d(10, 1), 0.0).is_some());
    }

    #[test]
    fn checkpoint_round_trips_through_its_item() {
        let mut cp = Checkpoint::fresh(3, 100);
        assert!(!cp.is_resumed() && !cp.is_complete());
        cp.segments[0] = SegmentPosition::Done;
        cp.segments[2] = SegmentPosition::Pending {
            after: Some(ItemKey::new("EXP#1", "R#a#TAG#we#ird \"key\"")),
        };
        cp.invocations = 2;
        let item = cp.to_item(200);
        assert_eq!(item.get(PK), Some(&AttributeValue::S(OPS_PK.into())));
        assert_eq!(
            item.get(CHECKPOINT_UPDATED_ATTR),
            Some(&AttributeValue::N("200".into()))
        );
        let back = Checkpoint::from_item(&item).unwrap();
        assert_eq!(back, cp);
        assert!(back.is_resumed());

        let mut broken = item.clone();
        broken.insert(CHECKPOINT_STATE_ATTR.into(), AttributeValue::S("{".into()));
        let e = Checkpoint::from_item(&broken).unwrap_err();
        assert!(e.to_string().contains("OPS#ttl-sweeper/CHECKPOINT"), "{e}");
        let mut wrong = cp.clone();
        wrong.total_segments = 5;
        assert!(Checkpoint::from_item(&wrong.to_item(1)).is_err());
        broken.remove(CHECKPOINT_STATE_ATTR);
        assert!(Checkpoint::from_item(&broken).is_err());
    }
}
