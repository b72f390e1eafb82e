//! CloudWatch embedded metric format: one JSON line per invocation, which
//! CloudWatch Logs turns into metrics (namespace `mlflow-dynamodbstore`,
//! dimension `Function`).

use mlflow_ddb_core::sweep::Summary;
use serde_json::{json, Map, Value};

/// Metric namespace shared by the suite's functions.
pub const NAMESPACE: &str = "mlflow-dynamodbstore";

/// The EMF document for `summary`, stamped `timestamp_ms`.
pub fn emf(function_name: &str, summary: &Summary, timestamp_ms: i64) -> Value {
    let metrics: [(&str, u64, &str); 12] = [
        ("PartitionsScanned", summary.partitions_scanned, "Count"),
        ("ItemsScanned", summary.items_scanned, "Count"),
        ("OrphanedPartitions", summary.orphaned_partitions, "Count"),
        (
            "ExperimentOrphanItems",
            summary.orphans.experiment.items,
            "Count",
        ),
        (
            "ModelOrphanItems",
            summary.orphans.registered_model.items,
            "Count",
        ),
        ("RunOrphanItems", summary.orphans.run.items, "Count"),
        ("ItemsExpired", summary.items_expired, "Count"),
        (
            "ItemsSkippedAlreadyExpiring",
            summary.items_skipped_already_expiring,
            "Count",
        ),
        ("ItemsFailed", summary.items_failed, "Count"),
        ("Aborted", u64::from(summary.aborted), "Count"),
        ("Requests", summary.requests, "Count"),
        ("Duration", summary.duration_ms, "Milliseconds"),
    ];
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    doc.insert("Function".into(), Value::from(function_name));
    for (name, value, _) in metrics {
        doc.insert(name.into(), Value::from(value));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_has_a_value() {
        let s = Summary {
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
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
