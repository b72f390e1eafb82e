//! Counters of one invocation, and their CloudWatch Embedded Metric Format
//! line (one JSON object per line on stdout; CloudWatch Logs turns it into
//! metrics, no API call needed).

use std::collections::BTreeMap;

use mlflow_ddb_core::emf::{Emf, Unit};
use serde::Serialize;
use serde_json::Value;

pub use mlflow_ddb_core::emf::NAMESPACE;

/// What one batch (or a whole `tail` / `replay` run) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Stream records received.
    pub records: u64,
    /// Records acknowledged (processed, skipped, or dead-lettered).
    pub acknowledged: u64,
    /// Records skipped without work, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// CONFIG changes seen (each invalidates the cached configuration).
    pub config_changes: u64,
    /// Distinct targets reconciled.
    pub targets: u64,
    /// Targets already right: reads only, zero writes.
    pub noop_targets: u64,
    /// Targets that were gone: nothing written.
    pub missing_targets: u64,
    /// Write requests (UpdateItem, BatchWriteItem; expiry statements).
    pub writes: u64,
    /// Map updates and FTS puts/deletes planned and applied.
    pub map_updates: u64,
    pub fts_puts: u64,
    pub fts_deletes: u64,
    /// Orphan partitions cascaded, and items expired in them.
    pub cascades: u64,
    pub expired: u64,
    /// Records sent to the DLQ.
    pub dlq_sends: u64,
    /// In-function retries of failed targets (transient errors).
    pub retries: u64,
    /// Records left for the next invocation (the first failed one and after).
    pub failed: u64,
    /// Largest age of a record when processed, milliseconds (from its
    /// ApproximateCreationDateTime, which has one-second resolution).
    pub max_lag_ms: u64,
}

impl Stats {
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Add `other` into `self` (lag: the maximum).
    pub fn merge(&mut self, other: &Stats) {
        self.records += other.records;
        self.acknowledged += other.acknowledged;
        for (k, v) in &other.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
        self.config_changes += other.config_changes;
        self.targets += other.targets;
        self.noop_targets += other.noop_targets;
        self.missing_targets += other.missing_targets;
        self.writes += other.writes;
        self.map_updates += other.map_updates;
        self.fts_puts += other.fts_puts;
        self.fts_deletes += other.fts_deletes;
        self.cascades += other.cascades;
        self.expired += other.expired;
        self.dlq_sends += other.dlq_sends;
        self.retries += other.retries;
        self.failed += other.failed;
        self.max_lag_ms = self.max_lag_ms.max(other.max_lag_ms);
    }

    /// The EMF line for these counters, at `timestamp_ms` (the suite's one
    /// emitter, `mlflow_ddb_core::emf`: dimensions `Function` and `Table`).
    pub fn emf(&self, function_name: &str, table_name: &str, timestamp_ms: i64) -> Value {
        let counts: [(&str, u64); 10] = [
            ("Records", self.records),
            ("Writes", self.writes),
            ("Skipped", self.skipped_total()),
            ("Targets", self.targets),
            ("NoopTargets", self.noop_targets),
            ("MissingTargets", self.missing_targets),
            ("DlqSends", self.dlq_sends),
            ("Retries", self.retries),
            ("FailedRecords", self.failed),
            ("Cascades", self.cascades),
        ];
        Emf::new(function_name, table_name)
            .metrics(counts.map(|(name, v)| (name, v, Unit::Count)))
            .metric("LagMs", self.max_lag_ms, Unit::Milliseconds)
            .build(timestamp_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let mut s = Stats {
            records: 3,
            writes: 2,
            max_lag_ms: 1500,
            ..Stats::default()
        };
        s.skip("derived");
        let line = s.emf("materializer", "t1", 1_700_000_000_000);
        let defs = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for d in defs {
            let name = d["Name"].as_str().unwrap();
            assert!(line.get(name).is_some(), "{name} declared but absent");
        }
        assert_eq!(line["Records"], 3);
        assert_eq!(line["Skipped"], 1);
        assert_eq!(line["LagMs"], 1500);
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(line["Function"], "materializer");
        assert_eq!(line["Table"], "t1");
    }

    #[test]
    fn merge_adds_counts_and_keeps_the_largest_lag() {
        let mut a = Stats {
            records: 1,
            max_lag_ms: 10,
            ..Stats::default()
        };
        a.skip("derived");
        let mut b = Stats {
            records: 2,
            max_lag_ms: 5,
            ..Stats::default()
        };
        b.skip("derived");
        b.skip("irrelevant");
        a.merge(&b);
        assert_eq!((a.records, a.max_lag_ms, a.skipped_total()), (3, 10, 3));
        assert_eq!(a.skipped["derived"], 2);
    }
}
