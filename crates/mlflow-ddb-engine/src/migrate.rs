//! Writing what the core's migration transform asks for
//! ([`mlflow_ddb_core::migrate`]) into the target table: the one sink of
//! the copy (a scan page of the source, [`Writes::copy`]) and of the sync (a
//! batch of the source's stream records, [`Writes::change`]), in both
//! directions ([`Direction`]).
//!
//! A batch of source items becomes one [`Writes`]: one write per target key,
//! the last one asked winning (a stream batch may change one item several
//! times; its records are added in order). [`apply`] then sends
//!
//! 1. the puts and deletes, 25 per BatchWriteItem;
//! 2. the conditional puts (`attribute_not_exists(PK)`: the `mlflow.runName`
//!    tag item `main` keeps for every run, which a real tag item wins over);
//! 3. the counters (`M#META.next_version`, raised, never lowered): to the
//!    version of every copied `V#…` item, and, for every `M#META` put (a put
//!    replaces the counter), to the largest version found in the target.
//!
//! Every step is idempotent, so a batch applied twice changes nothing: the
//! copy and the sync resume from checkpoints and may repeat their last page.
//! The derived state (maps, FTS items) is not written here: META items
//! arrive with empty maps and the caller reconciles the targets the writes
//! touched ([`Applied::targets`]) with [`crate::reconcile_targets`] in the
//! target's profile.

use std::collections::{BTreeMap, BTreeSet};

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::migrate::{
    to_main, to_v0_1, Copy, Skip, TransformError, Transformed, NEXT_VERSION,
};
use mlflow_ddb_core::plan::{fts_with_target_ttl, reads_for};
use mlflow_ddb_core::tags::tag_target;
use mlflow_ddb_ports::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::EngineError;

/// Which way items are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A `v0.1` source into a `main` target (`migrate copy`, `migrate sync`).
    ToMain,
    /// A `main` source back into the `v0.1` table (`migrate sync --reverse`).
    ToV0_1,
}

impl Direction {
    pub fn source_format(self) -> TableFormat {
        match self {
            Direction::ToMain => TableFormat::V0_1,
            Direction::ToV0_1 => TableFormat::Main,
        }
    }

    /// For messages: "copy v0.1 → main" style.
    pub fn describe(self) -> &'static str {
        match self {
            Direction::ToMain => "a v0.1 → main migration",
            Direction::ToV0_1 => "a main → v0.1 sync (--reverse)",
        }
    }

    pub fn target_format(self) -> TableFormat {
        self.source_format().other()
    }

    /// The core's transform for this direction.
    pub fn transform(self, item: &Item) -> Result<Transformed, TransformError> {
        match self {
            Direction::ToMain => to_main(item),
            Direction::ToV0_1 => to_v0_1(item),
        }
    }
}

/// One write of a target key (the last one asked for it).
#[derive(Debug, Clone, PartialEq)]
enum Write {
    Put(Item),
    /// Put when absent, or when the item there still holds `previous` (the
    /// derived value the source's old image gave) in `value`.
    PutIfAbsent(Item, Option<AttributeValue>),
    Delete,
}

/// What a batch of source items asks of the target.
#[derive(Debug, Default)]
pub struct Writes {
    writes: BTreeMap<ItemKey, Write>,
    floors: BTreeMap<ItemKey, u64>,
    /// Targets whose `ttl` the change set or removed: their FTS items in the
    /// target follow it (see [`mlflow_ddb_core::plan::fts_with_target_ttl`]).
    ttl_changed: BTreeSet<ItemKey>,
    pub counts: TransformCounts,
    /// Items that could not be transformed (key and reason; never a value).
    pub errors: Vec<(ItemKey, String)>,
}

/// How the source items of a batch were classified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformCounts {
    /// Source items transformed and written.
    pub copied: u64,
    /// Derived items of the source (FTS): rebuilt in the target, not copied.
    pub derived: u64,
    /// Seeds and bookkeeping: not copied.
    pub skipped: u64,
    /// Items of families we do not know: copied unchanged.
    pub unknown: u64,
    /// Items the target's format has no place for (`main`-only families,
    /// reverse direction): not copied, counted.
    pub no_equivalent: u64,
    /// Source deletions carried over (sync).
    pub deleted: u64,
    /// Items that could not be transformed (see the errors).
    pub errors: u64,
}

impl TransformCounts {
    pub fn merge(&mut self, o: &TransformCounts) {
        self.copied += o.copied;
        self.derived += o.derived;
        self.skipped += o.skipped;
        self.unknown += o.unknown;
        self.no_equivalent += o.no_equivalent;
        self.deleted += o.deleted;
        self.errors += o.errors;
    }
}

const TTL: &str = "ttl";
/// The attribute of a derived tag item that says whether it is still ours.
const DERIVED_VALUE: &str = "value";

fn key_of(item: &Item) -> Option<ItemKey> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(ItemKey::new(pk.as_str(), sk.as_str()))
        }
        _ => None,
    }
}

impl Writes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.floors.is_empty()
    }

    /// A scanned source item: the target must hold its transform.
    pub fn copy(&mut self, direction: Direction, item: &Item) {
        if let Some(copy) = self.transform(direction, item) {
            self.counts.copied += 1;
            self.add(copy);
        }
    }

    /// A change of one source item (a stream record): `old` and `new` are
    /// its images (`None` for an INSERT's old, a REMOVE's new). The target
    /// drops what the old image's transform wrote and the new one does not
    /// (a REMOVE: all of it), then holds the new image's transform.
    pub fn change(&mut self, direction: Direction, old: Option<&Item>, new: Option<&Item>) {
        let old = old.and_then(|o| self.transform(direction, o));
        let new = new.and_then(|n| self.transform(direction, n));
        let kept: BTreeSet<ItemKey> = new
            .iter()
            .flat_map(|c| c.puts.iter().chain(&c.puts_if_absent))
            .filter_map(key_of)
            .collect();
        if let (Some(o), Some(n)) = (
            old.as_ref().and_then(|c| c.puts.first()),
            new.as_ref().and_then(|c| c.puts.first()),
        ) {
            if o.get(TTL) != n.get(TTL) {
                if let Some(k) = key_of(n) {
                    self.ttl_changed.insert(k);
                }
            }
        }
        if let Some(old) = &old {
            for key in old
                .puts
                .iter()
                .chain(&old.puts_if_absent)
                .filter_map(key_of)
            {
                if !kept.contains(&key) {
                    self.writes.insert(key, Write::Delete);
                    self.counts.deleted += 1;
                }
            }
        }
        if let Some(new) = new {
            self.counts.copied += 1;
            // A derived item the old image gave too may be replaced while it
            // still holds what the old image derived (a run renamed: its
            // `mlflow.runName` tag follows, unless a user's tag is there).
            let previous: BTreeMap<ItemKey, AttributeValue> = old
                .iter()
                .flat_map(|c| &c.puts_if_absent)
                .filter_map(|i| Some((key_of(i)?, i.get(DERIVED_VALUE)?.clone())))
                .collect();
            self.add_with(new, &previous);
        }
    }

    /// The transform of `item`, counted when it writes nothing.
    fn transform(&mut self, direction: Direction, item: &Item) -> Option<Copy> {
        match direction.transform(item) {
            Ok(Transformed::Copy(c)) => Some(c),
            Ok(Transformed::Unknown) => {
                self.counts.unknown += 1;
                Some(Copy {
                    puts: vec![item.clone()],
                    ..Copy::default()
                })
            }
            Ok(Transformed::Derived) => {
                self.counts.derived += 1;
                None
            }
            Ok(Transformed::Skip(Skip::Seed | Skip::Bookkeeping)) => {
                self.counts.skipped += 1;
                None
            }
            Ok(Transformed::NoEquivalent) => {
                self.counts.no_equivalent += 1;
                None
            }
            Err(e) => {
                self.counts.errors += 1;
                let key = key_of(item).unwrap_or_else(|| ItemKey::new("?", "?"));
                self.errors.push((key, e.to_string()));
                None
            }
        }
    }

    fn add(&mut self, copy: Copy) {
        self.add_with(copy, &BTreeMap::new());
    }

    fn add_with(&mut self, copy: Copy, previous: &BTreeMap<ItemKey, AttributeValue>) {
        for put in copy.puts {
            if let Some(k) = key_of(&put) {
                self.writes.insert(k, Write::Put(put));
            }
        }
        for put in copy.puts_if_absent {
            if let Some(k) = key_of(&put) {
                // A real item of that key asked in the same batch wins.
                if !matches!(self.writes.get(&k), Some(Write::Put(_))) {
                    let prev = previous.get(&k).cloned();
                    self.writes.insert(k, Write::PutIfAbsent(put, prev));
                }
            }
        }
        for f in copy.floors {
            let at = self.floors.entry(f.target).or_default();
            *at = (*at).max(f.at_least);
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Applied {
    /// BatchWriteItem requests.
    pub batch_requests: u64,
    pub puts: u64,
    pub deletes: u64,
    /// Conditional puts sent, and how many found their key free.
    pub conditional_puts: u64,
    pub conditional_written: u64,
    /// Counter raises sent (and Queries of versions for them).
    pub floor_updates: u64,
    /// FTS items rewritten to follow their target's new ttl.
    pub fts_ttl_puts: u64,
    #[serde(skip)]
    pub targets: Vec<ItemKey>,
}

/// The derived-state target a written key of `profile`'s table feeds (itself
/// for a META item with derived state; the META of a tag, a run param, an
/// assessment). Reconciling it is level-triggered: a target already right
/// costs reads only.
fn target_fed_by(profile: &Profile, config: &Config, key: &ItemKey) -> Option<ItemKey> {
    let kind = ItemKind::parse_key(profile, key);
    if let Some(tt) = tag_target(&kind) {
        return Some(tt.target);
    }
    match &kind {
        ItemKind::RunParam { .. } | ItemKind::RunChild { .. } => {
            match (kind.experiment_id(), kind.run_id()) {
                (Some(e), Some(r)) => Some(
                    ItemKind::RunMeta {
                        experiment: e.clone(),
                        run: r.clone(),
                    }
                    .key(),
                ),
                _ => None,
            }
        }
        ItemKind::TraceAssessment {
            experiment, trace, ..
        } => Some(
            ItemKind::TraceMeta {
                experiment: experiment.clone(),
                trace: trace.clone(),
            }
            .key(),
        ),
        _ if kind.relevance() == Relevance::Target => {
            reads_for(profile, config, key).map(|_| key.clone())
        }
        _ => None,
    }
}

/// Write `writes` into `store` (a table in `profile`'s format). The targets
/// whose derived state the writes may have changed are returned, for the
/// caller to reconcile.
pub async fn apply(
    store: &Arc<dyn Store>,
    profile: &Profile,
    config: &Config,
    writes: Writes,
) -> Result<Applied, EngineError> {
    let mut out = Applied::default();
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    let mut conditional = Vec::new();
    let mut targets = BTreeSet::new();
    let mut models = BTreeSet::new();
    let mut ttl_follow = Vec::new();
    for (key, w) in writes.writes {
        if let Some(t) = target_fed_by(profile, config, &key) {
            targets.insert(t);
        }
        match w {
            Write::Put(item) => {
                if writes.ttl_changed.contains(&key) {
                    ttl_follow.push((key.clone(), item.clone()));
                }
                if matches!(
                    ItemKind::parse_key(profile, &key),
                    ItemKind::ModelMeta { .. }
                ) {
                    models.insert(key);
                }
                puts.push(item);
            }
            Write::PutIfAbsent(item, prev) => conditional.push((key, item, prev)),
            Write::Delete => deletes.push(key),
        }
    }
    out.puts = puts.len() as u64;
    out.deletes = deletes.len() as u64;
    let first = |v: &Vec<Item>, d: &Vec<ItemKey>| {
        v.first()
            .and_then(key_of)
            .or_else(|| d.first().cloned())
            .unwrap_or_else(|| ItemKey::new("?", "?"))
    };
    if !puts.is_empty() || !deletes.is_empty() {
        let at = first(&puts, &deletes);
        let stats = store
            .batch_write(puts, deletes)
            .await
            .map_err(|e| EngineError::store(&at, "BatchWriteItem", Arc::new(e)))?;
        out.batch_requests = u64::from(stats.requests);
    }
    for (key, item, prev) in conditional {
        out.conditional_puts += 1;
        let written = store
            .put_if_absent(&item, prev.as_ref().map(|p| (DERIVED_VALUE, p)))
            .await
            .map_err(|e| EngineError::store(&key, "PutItem", Arc::new(e)))?;
        out.conditional_written += u64::from(written);
    }
    // FTS items follow their run's or trace's new ttl (after the puts).
    for (target, item) in ttl_follow {
        let Some(prefix) = reads_for(profile, config, &target).and_then(|r| r.fts_reverse_prefix)
        else {
            continue;
        };
        let reverse = store
            .query_prefix(&target.pk, &prefix, true, Some(&[PK, SK]))
            .await
            .map_err(|e| EngineError::store(&target, "Query", Arc::new(e)))?;
        let puts = fts_with_target_ttl(profile, &target, &item, &reverse);
        if !puts.is_empty() {
            out.fts_ttl_puts += puts.len() as u64;
            let stats = store
                .batch_write(puts, Vec::new())
                .await
                .map_err(|e| EngineError::store(&target, "BatchWriteItem", Arc::new(e)))?;
            out.batch_requests += u64::from(stats.requests);
        }
    }
    let mut floors = writes.floors;
    if profile.format() == TableFormat::Main {
        // A put of M#META replaced its counter: raise it to the largest
        // version the target holds (a version put by another segment
        // after this Query raises it itself).
        for model in models {
            let versions = store
                .query_prefix(&model.pk, "V#", true, Some(&[PK, SK]))
                .await
                .map_err(|e| EngineError::store(&model, "Query", Arc::new(e)))?;
            let max = versions
                .iter()
                .filter_map(key_of)
                .filter_map(|k| match ItemKind::parse_key(profile, &k) {
                    ItemKind::ModelVersion { version, .. } => version.as_str().parse::<u64>().ok(),
                    _ => None,
                })
                .max();
            if let Some(max) = max {
                let at = floors.entry(model).or_default();
                *at = (*at).max(max);
            }
        }
    }
    for (key, at_least) in floors {
        out.floor_updates += 1;
        store
            .raise_number(&key, NEXT_VERSION, at_least)
            .await
            .map_err(|e| EngineError::store(&key, "UpdateItem", Arc::new(e)))?;
    }
    out.targets = targets.into_iter().collect();
    Ok(out)
}
