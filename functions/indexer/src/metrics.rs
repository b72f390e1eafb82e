//! The indexer's CloudWatch metrics: one EMF line per invocation on stdout,
//! built by the suite's one emitter ([`mlflow_ddb_core::emf`]: namespace
//! `mlflow-dynamodbstore`, dimensions `Function`, `Table`, and here `Mode`).

use mlflow_ddb_core::emf::{Emf, Unit};
use serde_json::{json, Value};

use crate::state::{Counts, SegmentState};

pub use mlflow_ddb_core::emf::NAMESPACE;

/// The EMF line for one invocation's counts (`counts` of this call only) on
/// table `table_name`.
pub fn emf_line(
    function_name: &str,
    table_name: &str,
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
    Emf::new(function_name, table_name)
        .dimension("Mode", json!(state.mode))
        .property("Segment", json!(state.segment))
        .metrics(metrics.map(|(n, v)| (n, v, Unit::Count)))
        .build(timestamp_ms)
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
        let line = emf_line("indexer", "mlflow", &state, &counts, 1);
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
        assert_eq!(line["Segment"], 2);
        assert_eq!(line["Function"], "indexer");
        assert_eq!(line["Table"], "mlflow");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Table", "Mode"]])
        );
    }
}
