//! The Lambda entry: one binary for both event sources.
//!
//! - A DynamoDB stream event → the partial batch response
//!   `{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`: at most
//!   one identifier, the first record not done (Lambda resends from there).
//! - An SQS event (the DLQ attached as an event source) → the SQS partial
//!   batch response, one `itemIdentifier` (message id) per message kept.
//!
//! The event is taken as JSON, not as a typed event: one malformed record
//! must not fail the deserialization of the whole batch.

use std::time::Instant;

use serde_json::{json, Value};
use tracing::warn;

use crate::handler::{now_ms, process_records, Deps, Origin, Settings};
use crate::metrics::Stats;
use crate::replay::handle_dlq_message;

/// Why an invocation fails as a whole (Lambda then retries the batch).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Records must be retried and none of them up to the first failed one
    /// has a sequence number to report.
    #[error(
        "records from index {0} must be retried and none of them has a SequenceNumber to report"
    )]
    Unidentifiable(usize),
    /// The table's format was refused or could not be read: nothing was
    /// written; the whole batch is retried.
    #[error(transparent)]
    Format(mlflow_ddb_engine::EngineError),
}

/// Where metric lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSink {
    /// Lambda: stdout, which CloudWatch Logs reads.
    Stdout,
    /// CLI: stderr, keeping stdout for the summary.
    Stderr,
    Off,
}

/// Print the EMF line of `stats`.
pub fn emit(sink: MetricsSink, settings: &Settings, stats: &Stats) {
    let line = stats
        .emf(&settings.function_name, &settings.table_name, now_ms())
        .to_string();
    match sink {
        MetricsSink::Stdout => println!("{line}"),
        MetricsSink::Stderr => eprintln!("{line}"),
        MetricsSink::Off => {}
    }
}

/// Which event a Lambda received.
fn is_sqs(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// Handle one invocation.
pub async fn handle(
    deps: &Deps,
    event: Value,
    deadline: Instant,
    sink: MetricsSink,
) -> Result<Value, HandlerError> {
    if is_sqs(&event) {
        return Ok(handle_sqs(deps, &event, deadline, sink).await);
    }
    handle_stream(deps, &event, deadline, sink).await
}

/// A DynamoDB stream event.
pub async fn handle_stream(
    deps: &Deps,
    event: &Value,
    deadline: Instant,
    sink: MetricsSink,
) -> Result<Value, HandlerError> {
    let (response, stats) = stream_batch(deps, event, deadline).await;
    emit(sink, &deps.settings, &stats);
    response
}

/// [`handle_stream`] without emitting metrics: the response and the counters.
pub async fn stream_batch(
    deps: &Deps,
    event: &Value,
    deadline: Instant,
) -> (Result<Value, HandlerError>, Stats) {
    let empty = Vec::new();
    let records = match event.get("Records").and_then(Value::as_array) {
        Some(r) => r,
        None => {
            warn!("event without a Records array: nothing to do");
            &empty
        }
    };
    let mut result = process_records(deps, records, Origin::Stream, deadline).await;
    if let Some(e) = result.format_error.take() {
        return (Err(HandlerError::Format(e)), result.stats);
    }
    let failures = match result.cut {
        None => Vec::new(),
        Some(cut) => match result.failure_identifier(records) {
            Some(seq) => {
                warn!(seq = %seq, index = cut, reason = result.cut_reason.as_deref().unwrap_or(""),
                      "batch cut: Lambda retries from this record");
                vec![json!({"itemIdentifier": seq})]
            }
            None => return (Err(HandlerError::Unidentifiable(cut)), result.stats),
        },
    };
    (Ok(json!({ "batchItemFailures": failures })), result.stats)
}

/// An SQS event from the DLQ.
pub async fn handle_sqs(deps: &Deps, event: &Value, deadline: Instant, sink: MetricsSink) -> Value {
    let mut failures = Vec::new();
    let mut stats = Stats::default();
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for m in records {
        let Some(id) = m
            .get("messageId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            warn!("SQS record without a messageId: skipped");
            continue;
        };
        if Instant::now() + deps.settings.deadline_margin > deadline {
            failures.push(json!({"itemIdentifier": id}));
            continue;
        }
        let body = m.get("body").and_then(Value::as_str).unwrap_or("");
        let r = handle_dlq_message(deps, body, deadline).await;
        stats.merge(&r.stats);
        if !r.done {
            warn!(message_id = %id, reason = r.reason.as_deref().unwrap_or(""), "DLQ message kept");
            failures.push(json!({"itemIdentifier": id}));
        }
    }
    emit(sink, &deps.settings, &stats);
    json!({ "batchItemFailures": failures })
}
