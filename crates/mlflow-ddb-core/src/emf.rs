//! CloudWatch Embedded Metric Format (EMF): the one builder of the suite's
//! metric lines. A function prints the document as one JSON line on stdout;
//! CloudWatch Logs turns it into metrics (no API call).
//!
//! Every document has the namespace [`NAMESPACE`] and one dimension set
//! `["Function", "Table", <extra dimensions>...]`, so two stacks on two
//! tables in one account never share a metric. Pure: the timestamp is a
//! parameter.

use serde_json::{json, Map, Value};

/// Metric namespace shared by the suite's functions.
pub const NAMESPACE: &str = "mlflow-dynamodbstore";

/// Dimension naming the function (its logical name, e.g. `ttl-sweeper`).
pub const FUNCTION_DIMENSION: &str = "Function";

/// Dimension naming the DynamoDB table.
pub const TABLE_DIMENSION: &str = "Table";

/// The CloudWatch units the suite uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document under construction: dimensions `Function` and `Table`,
/// optional extra dimensions and plain properties, and the metrics.
#[derive(Debug, Clone)]
pub struct Emf {
    dimensions: Vec<(String, Value)>,
    properties: Vec<(String, Value)>,
    metrics: Vec<(String, u64, Unit)>,
}

impl Emf {
    /// A document for `function` on `table`, with no metrics yet.
    pub fn new(function: &str, table: &str) -> Self {
        Self {
            dimensions: vec![
                (FUNCTION_DIMENSION.to_owned(), Value::from(function)),
                (TABLE_DIMENSION.to_owned(), Value::from(table)),
            ],
            properties: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// Adds a dimension after `Function` and `Table` (in the same set).
    pub fn dimension(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.dimensions.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a property that is neither a dimension nor a metric (searchable
    /// in CloudWatch Logs Insights only).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.push((name.to_owned(), value.into()));
        self
    }

    /// Adds one metric.
    pub fn metric(mut self, name: &str, value: u64, unit: Unit) -> Self {
        self.metrics.push((name.to_owned(), value, unit));
        self
    }

    /// Adds metrics from `(name, value, unit)` triples.
    pub fn metrics<'a>(mut self, metrics: impl IntoIterator<Item = (&'a str, u64, Unit)>) -> Self {
        self.metrics
            .extend(metrics.into_iter().map(|(n, v, u)| (n.to_owned(), v, u)));
        self
    }

    /// The EMF document, stamped `timestamp_ms` (milliseconds since the
    /// epoch).
    pub fn build(self, timestamp_ms: i64) -> Value {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(n, _, u)| json!({"Name": n, "Unit": u.as_str()}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in self.dimensions.iter().chain(&self.properties) {
            doc.insert(name.clone(), value.clone());
        }
        for (name, value, _) in self.metrics {
            doc.insert(name, Value::from(value));
        }
        Value::Object(doc)
    }
}

/// The EMF document for `function` on `table` with `metrics`, at
/// `timestamp_ms`: [`Emf`] without extra dimensions or properties.
pub fn document<'a>(
    function: &str,
    table: &str,
    metrics: impl IntoIterator<Item = (&'a str, u64, Unit)>,
    timestamp_ms: i64,
) -> Value {
    Emf::new(function, table)
        .metrics(metrics)
        .build(timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_namespace_dimensions_and_every_declared_value() {
        let doc = document(
            "ttl-sweeper",
            "mlflow",
            [
                ("Aborted", 1, Unit::Count),
                ("Duration", 250, Unit::Milliseconds),
            ],
            1_700_000_000_000,
        );
        let expected = json!({
            "_aws": {
                "Timestamp": 1_700_000_000_000i64,
                "CloudWatchMetrics": [{
                    "Namespace": "mlflow-dynamodbstore",
                    "Dimensions": [["Function", "Table"]],
                    "Metrics": [
                        {"Name": "Aborted", "Unit": "Count"},
                        {"Name": "Duration", "Unit": "Milliseconds"},
                    ],
                }],
            },
            "Function": "ttl-sweeper",
            "Table": "mlflow",
            "Aborted": 1,
            "Duration": 250,
        });
        assert_eq!(doc, expected);
    }

    #[test]
    fn extra_dimensions_join_the_one_set_and_properties_are_not_dimensions() {
        let doc = Emf::new("indexer", "t")
            .dimension("Mode", "verify")
            .property("Segment", 3)
            .metric("Writes", 2, Unit::Count)
            .build(1);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Table", "Mode"]])
        );
        assert_eq!(doc["Mode"], "verify");
        assert_eq!(doc["Segment"], 3);
        assert_eq!(doc["Writes"], 2);
        assert_eq!(doc["Table"], "t");
    }
}
