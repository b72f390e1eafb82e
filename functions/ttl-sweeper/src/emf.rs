//! The sweeper's CloudWatch metrics: one EMF line per invocation, built by
//! the suite's one emitter ([`mlflow_ddb_core::emf`]: namespace
//! `mlflow-dynamodbstore`, dimensions `Function` and `Table`).

use mlflow_ddb_core::emf::{document, Unit};
use mlflow_ddb_core::sweep::Summary;
use serde_json::Value;

pub use mlflow_ddb_core::emf::NAMESPACE;

/// The EMF document for `summary` (on table `summary.table`), stamped
/// `timestamp_ms`.
pub fn emf(function_name: &str, summary: &Summary, timestamp_ms: i64) -> Value {
    let metrics: [(&str, u64, Unit); 12] = [
        ("PartitionsScanned", summary.partitions_scanned, Unit::Count),
        ("ItemsScanned", summary.items_scanned, Unit::Count),
        (
            "OrphanedPartitions",
            summary.orphaned_partitions,
            Unit::Count,
        ),
        (
            "ExperimentOrphanItems",
            summary.orphans.experiment.items,
            Unit::Count,
        ),
        (
            "ModelOrphanItems",
            summary.orphans.registered_model.items,
            Unit::Count,
        ),
        ("RunOrphanItems", summary.orphans.run.items, Unit::Count),
        ("ItemsExpired", summary.items_expired, Unit::Count),
        (
            "ItemsSkippedAlreadyExpiring",
            summary.items_skipped_already_expiring,
            Unit::Count,
        ),
        ("ItemsFailed", summary.items_failed, Unit::Count),
        ("Aborted", u64::from(summary.aborted), Unit::Count),
        ("Requests", summary.requests, Unit::Count),
        ("Duration", summary.duration_ms, Unit::Milliseconds),
    ];
    document(function_name, &summary.table, metrics, timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_has_a_value() {
        let s = Summary {
            table: "mlflow".into(),
            items_expired: 7,
            aborted: true,
            ..Summary::default()
        };
        let doc = emf("ttl-sweeper", &s, 1_700_000_000_000);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert_eq!(declared.len(), 12);
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} has no value");
        }
        assert_eq!(doc["ItemsExpired"], 7);
        assert_eq!(doc["Aborted"], 1);
        assert_eq!(doc["Function"], "ttl-sweeper");
        assert_eq!(doc["Table"], "mlflow");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "Table"]])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
