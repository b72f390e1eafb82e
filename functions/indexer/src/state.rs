//! The invocation payload: a segment's state, which is also the response.
//!
//! One JSON shape goes in and comes out: the response of an invocation is
//! the request of the next one (with `done = false`), carrying the
//! continuation key and the counts and drift so far. A driver loops
//! `state = invoke(state)` per segment until `state.done`.

use std::collections::BTreeMap;

use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_engine::{TargetOutcome, TargetReport};
use serde::{Deserialize, Serialize};

/// What the walk does with each target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalkMode {
    /// Repair: write the differences (unless `dry_run`).
    Backfill,
    /// Read only: report the drift.
    Verify,
    /// Migration copy: every item of the segment, transformed
    /// (`mlflow_ddb_engine::migrate`), written into the target table
    /// (`Deps::target`). Derived state is rebuilt afterwards by a backfill
    /// of the target.
    Copy,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn one() -> u32 {
    1
}

/// Default number of example keys kept per drift category.
pub const DEFAULT_EXAMPLES: usize = 10;

fn default_examples() -> usize {
    DEFAULT_EXAMPLES
}

/// One segment's request and response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentState {
    pub mode: WalkMode,
    /// This segment, `0 <= segment < total_segments`.
    #[serde(default)]
    pub segment: u32,
    #[serde(default = "one")]
    pub total_segments: u32,
    /// Where to resume (`null`: the segment's beginning). Only the driver
    /// copies it from a response into the next request.
    #[serde(default)]
    pub start_key: Option<ItemKey>,
    /// Backfill without writing: report what would be written.
    #[serde(default)]
    pub dry_run: bool,
    /// Backfill: also delete FTS items in the other format's layout
    /// (category `foreign_format`); without it they are only reported.
    #[serde(default)]
    pub remove_foreign: bool,
    /// Scan page size (`Limit`); `null`: DynamoDB's 1 MB pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Example keys kept per drift category.
    #[serde(default = "default_examples")]
    pub examples: usize,
    /// The segment is finished: do not invoke again.
    #[serde(default)]
    pub done: bool,
    /// Totals so far, over every invocation of this segment.
    #[serde(default)]
    pub counts: Counts,
    /// Drift found so far (verify, and backfill: what it repaired).
    #[serde(default)]
    pub drift: DriftReport,
}

impl SegmentState {
    /// A fresh request for one segment.
    pub fn new(mode: WalkMode, segment: u32, total_segments: u32) -> Self {
        SegmentState {
            mode,
            segment,
            total_segments,
            start_key: None,
            dry_run: false,
            remove_foreign: false,
            page_size: None,
            examples: DEFAULT_EXAMPLES,
            done: false,
            counts: Counts::default(),
            drift: DriftReport::default(),
        }
    }
}

/// Totals of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Invocations of this segment so far (continuations + 1 when done).
    pub invocations: u64,
    pub pages: u64,
    pub items_scanned: u64,
    /// Scanned items that are targets (META items with derived state).
    pub targets: u64,
    /// Targets whose derived state was already right.
    pub noop_targets: u64,
    /// Targets that had drift (repaired in backfill).
    pub drifted_targets: u64,
    /// Targets gone by the time they were read or written.
    pub missing_targets: u64,
    /// Targets that could not be reconciled (see `drift.errors`).
    pub errors: u64,
    /// Write requests made (backfill) or that would be made (dry run).
    pub writes: u64,
    pub map_updates: u64,
    pub fts_puts: u64,
    pub fts_deletes: u64,
    /// FTS items in the other format's layout deleted (`--remove-foreign`).
    pub foreign_removed: u64,
    /// Copy: how the scanned items were transformed.
    #[serde(skip_serializing_if = "is_default")]
    pub copy: mlflow_ddb_engine::migrate::TransformCounts,
    /// Read requests (Scan, BatchGetItem, Query), CONFIG included.
    pub read_requests: u64,
}

impl Counts {
    pub fn merge(&mut self, o: &Counts) {
        self.invocations += o.invocations;
        self.pages += o.pages;
        self.items_scanned += o.items_scanned;
        self.targets += o.targets;
        self.noop_targets += o.noop_targets;
        self.drifted_targets += o.drifted_targets;
        self.missing_targets += o.missing_targets;
        self.errors += o.errors;
        self.writes += o.writes;
        self.map_updates += o.map_updates;
        self.fts_puts += o.fts_puts;
        self.fts_deletes += o.fts_deletes;
        self.foreign_removed += o.foreign_removed;
        self.copy.merge(&o.copy);
        self.read_requests += o.read_requests;
    }
}

/// A drift category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A tag the patterns denormalize has no entry in its target's map.
    MissingMapEntries,
    /// A map entry differs from its tag item's value.
    WrongMapValues,
    /// A map entry whose tag item is gone.
    StaleMapEntries,
    /// An attribute of the target its sources say otherwise (`main`: a
    /// run's `run_name` / `lsi4sk` against its `mlflow.runName` tag).
    StaleAttributes,
    /// FTS items (forward and reverse counted apart) that should exist.
    MissingFtsItems,
    /// FTS items that should not exist.
    ExtraFtsItems,
    /// FTS items in the other table format's layout (a run with the wrong
    /// `TABLE_FORMAT` wrote them): no search of this format reads them.
    /// `backfill --remove-foreign` deletes them.
    ForeignFormat,
    /// Targets that could not be reconciled (error message, no values).
    Errors,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::MissingMapEntries,
        Category::WrongMapValues,
        Category::StaleMapEntries,
        Category::StaleAttributes,
        Category::MissingFtsItems,
        Category::ExtraFtsItems,
        Category::ForeignFormat,
        Category::Errors,
    ];
}

/// Count and a few examples of one category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CategoryReport {
    /// Map entries, FTS items, or failed targets.
    pub count: u64,
    /// Up to `examples` entries: `"PK/SK attr[key]"` for map entries,
    /// `"PK/SK ×n"` for FTS items (tokens are never shown: they come from
    /// values), `"PK/SK: error"` for errors.
    pub examples: Vec<String>,
}

/// Drift by category. Names keys and tag keys, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftReport {
    pub categories: BTreeMap<Category, CategoryReport>,
}

impl DriftReport {
    /// No drift and no errors.
    pub fn is_clean(&self) -> bool {
        self.categories.values().all(|c| c.count == 0)
    }

    /// The count of one category.
    pub fn count(&self, c: Category) -> u64 {
        self.categories.get(&c).map_or(0, |r| r.count)
    }

    pub(crate) fn add(
        &mut self,
        c: Category,
        n: u64,
        example: impl FnOnce() -> String,
        max: usize,
    ) {
        if n == 0 {
            return;
        }
        let r = self.categories.entry(c).or_default();
        r.count += n;
        if r.examples.len() < max {
            r.examples.push(example());
        }
    }

    /// Merge another report, keeping at most `max` examples per category.
    pub fn merge(&mut self, o: &DriftReport, max: usize) {
        for (c, r) in &o.categories {
            let mine = self.categories.entry(*c).or_default();
            mine.count += r.count;
            for e in &r.examples {
                if mine.examples.len() >= max {
                    break;
                }
                mine.examples.push(e.clone());
            }
        }
    }

    /// Record one target's outcome into `counts` and this report.
    pub fn record(&mut self, counts: &mut Counts, outcome: &TargetOutcome, max: usize) {
        let t = &outcome.target;
        match &outcome.result {
            Err(e) => {
                counts.errors += 1;
                self.add(Category::Errors, 1, || format!("{t}: {e}"), max);
            }
            Ok(r) => self.record_report(counts, t, r, max),
        }
    }

    fn record_report(&mut self, counts: &mut Counts, t: &ItemKey, r: &TargetReport, max: usize) {
        counts.writes += u64::from(r.writes);
        counts.map_updates += r.map_updates as u64;
        counts.fts_puts += r.fts_puts as u64;
        counts.fts_deletes += r.fts_deletes as u64;
        if r.target_missing {
            counts.missing_targets += 1;
        }
        if r.drift.is_empty() {
            counts.noop_targets += 1;
            return;
        }
        counts.drifted_targets += 1;
        let d = &r.drift;
        for (cat, entries) in [
            (Category::MissingMapEntries, &d.missing_map_entries),
            (Category::WrongMapValues, &d.wrong_map_values),
            (Category::StaleMapEntries, &d.stale_map_entries),
        ] {
            for (attr, key) in entries {
                self.add(cat, 1, || format!("{t} {attr}[{key}]"), max);
            }
        }
        for attr in &d.stale_attributes {
            self.add(Category::StaleAttributes, 1, || format!("{t} {attr}"), max);
        }
        for (cat, n) in [
            (Category::MissingFtsItems, d.missing_fts_items),
            (Category::ExtraFtsItems, d.extra_fts_items),
        ] {
            self.add(cat, n as u64, || format!("{t} ×{n}"), max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlflow_ddb_core::plan::TargetPlan;

    fn report(missing_entries: &[&str], missing_fts: usize) -> TargetReport {
        let target = ItemKey::new("EXP#1", "R#r");
        let mut drift = TargetPlan::empty(target).drift();
        drift.missing_map_entries = missing_entries
            .iter()
            .map(|k| ("tags".to_owned(), (*k).to_owned()))
            .collect();
        drift.missing_fts_items = missing_fts;
        TargetReport {
            writes: 2,
            map_updates: usize::from(!missing_entries.is_empty()),
            fts_puts: missing_fts,
            fts_deletes: 0,
            target_missing: false,
            noop: false,
            drift,
        }
    }

    fn outcome(r: TargetReport) -> TargetOutcome {
        TargetOutcome {
            target: ItemKey::new("EXP#1", "R#r"),
            result: Ok(r),
        }
    }

    #[test]
    fn records_counts_and_caps_examples() {
        let mut counts = Counts::default();
        let mut drift = DriftReport::default();
        drift.record(&mut counts, &outcome(report(&["a", "b", "c"], 4)), 2);
        drift.record(&mut counts, &outcome(report(&[], 0)), 2);
        assert_eq!(counts.drifted_targets, 1);
        assert_eq!(counts.noop_targets, 1);
        assert_eq!(counts.writes, 4);
        let m = &drift.categories[&Category::MissingMapEntries];
        assert_eq!(m.count, 3);
        assert_eq!(m.examples, ["EXP#1/R#r tags[a]", "EXP#1/R#r tags[b]"]);
        let f = &drift.categories[&Category::MissingFtsItems];
        assert_eq!(
            (f.count, f.examples.clone()),
            (4, vec!["EXP#1/R#r ×4".to_owned()])
        );
        assert!(!drift.is_clean());

        let mut total = DriftReport::default();
        total.merge(&drift, 3);
        total.merge(&drift, 3);
        assert_eq!(total.count(Category::MissingMapEntries), 6);
        assert_eq!(
            total.categories[&Category::MissingMapEntries]
                .examples
                .len(),
            3
        );
        assert!(DriftReport::default().is_clean());
    }

    #[test]
    fn a_minimal_payload_parses_and_round_trips() {
        let s: SegmentState =
            serde_json::from_value(serde_json::json!({"mode": "verify"})).expect("payload");
        assert_eq!(s, SegmentState::new(WalkMode::Verify, 0, 1));
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(serde_json::from_value::<SegmentState>(v).expect("again"), s);
    }
}
