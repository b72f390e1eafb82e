//! CloudWatch Embedded Metric Format: one JSON line per invocation on
//! stdout, turned into metrics by CloudWatch Logs (no API call).

use serde_json::{json, Map, Value};

use crate::state::{Counts, SegmentState};

/// Metric namespace of the suite.
pub const NAMESPACE: &str = "mlflow-dynamodbstore";

/// The EMF line for one invocation's counts (`counts` of this call only).
pub fn emf_line(
    function_name: &str,
    state: &SegmentState,
    counts: &Counts,
    timestamp_ms: i64,
) -> Value {
    let metrics: [(&str, u64); 8] = [
        ("ItemsScanned", counts.items_scanned),
        ("Targets", counts.targets),
        ("DriftedTargets", counts.drifted_targets),
        ("NoopTargets", counts.noop_targets),
        ("Writes", counts.writes),
        ("ReadRequests", counts.read_requests),
        ("Errors", counts.errors),
        ("Continuations", u64::from(!state.done)),
    ];
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName", "Mode"]],
                "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        }),
    );
    line.insert("FunctionName".into(), json!(function_name));
    line.insert("Mode".into(), json!(state.mode));
    line.insert("Segment".into(), json!(state.segment));
    for (n, v) in metrics {
        line.insert(n.into(), json!(v));
    }
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::WalkMode;

    #[test]
    fn every_declared_metric_is_present() {
        let state = SegmentState::new(WalkMode::Verify, 2, 4);
        let counts = Counts {
            items_scanned: 7,
            writes: 2,
            ..Counts::default()
        };
        let line = emf_line("indexer", &state, &counts, 1);
        let defs = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(defs.len(), 8);
        for d in defs {
            let name = d["Name"].as_str().unwrap_or_default();
            assert!(line[name].is_u64(), "{name}");
        }
        assert_eq!(line["ItemsScanned"], 7);
        assert_eq!(line["Continuations"], 1);
        assert_eq!(line["Mode"], "verify");
    }
}
