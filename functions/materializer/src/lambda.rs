//! The Lambda entry: one binary for both event sources.
//!
//! - A DynamoDB stream event → the partial batch response
//!   `{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`: at most
//!   one identifier, the first record not done (Lambda resends from there).
//! - An SQS event (the DLQ attached as an event source) → the SQS partial
//!   batch response, one `itemIdentifier` (message id) per message kept.
//!
//! The event's records arrive raw ([`Event`]) and are typed one by one: one
//! malformed record must not fail the deserialization of the whole batch.
//! The responses are `aws_lambda_events`' own types ([`Response`]).

use std::time::Instant;

use aws_lambda_events::sqs::SqsMessage;
use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, SqsBatchItemFailure, SqsEventResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    /// The event is not a Lambda event (a JSON object whose `Records`, when
    /// present, is an array); nothing was read.
    #[error("the event is not a Lambda event (a JSON object with a Records array): {0}")]
    Event(serde_json::Error),
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

/// An invocation's event as it arrives: the records of a DynamoDB stream
/// batch or of an SQS batch (the DLQ), each kept raw. A record is typed one
/// by one afterwards (a stream record by the one decoder,
/// `mlflow_ddb_core::stream`; an SQS message as
/// [`aws_lambda_events::sqs::SqsMessage`]), so that one malformed record
/// never fails the deserialization of its batch.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Event {
    #[serde(rename = "Records", default)]
    pub records: Vec<Value>,
}

/// What an invocation answers: the partial batch response of its event
/// source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Stream(DynamoDbEventResponse),
    Sqs(SqsEventResponse),
}

impl Response {
    /// The identifiers reported as not done.
    pub fn failures(&self) -> Vec<&str> {
        match self {
            Response::Stream(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
            Response::Sqs(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
        }
    }
}

impl Event {
    /// Whether the records come from SQS (the DLQ as an event source).
    fn is_sqs(&self) -> bool {
        self.records
            .first()
            .and_then(|r| r.get("eventSource"))
            .and_then(Value::as_str)
            == Some("aws:sqs")
    }
}

/// Handle one invocation.
pub async fn handle(
    deps: &Deps,
    event: Event,
    deadline: Instant,
    sink: MetricsSink,
) -> Result<Response, HandlerError> {
    if event.is_sqs() {
        return Ok(Response::Sqs(
            handle_sqs(deps, &event.records, deadline, sink).await,
        ));
    }
    handle_stream(deps, &event.records, deadline, sink)
        .await
        .map(Response::Stream)
}

/// [`handle`] on the wire: the event as Lambda's JSON, the response as the
/// JSON Lambda reads (the `invoke` command, and the tests, which so check
/// the wire form too).
pub async fn handle_json(
    deps: &Deps,
    event: Value,
    deadline: Instant,
    sink: MetricsSink,
) -> Result<Value, HandlerError> {
    let event: Event = serde_json::from_value(event).map_err(HandlerError::Event)?;
    let response = handle(deps, event, deadline, sink).await?;
    Ok(serde_json::to_value(response).expect("a partial batch response is JSON"))
}

/// A DynamoDB stream event.
pub async fn handle_stream(
    deps: &Deps,
    records: &[Value],
    deadline: Instant,
    sink: MetricsSink,
) -> Result<DynamoDbEventResponse, HandlerError> {
    let (response, stats) = stream_batch(deps, records, deadline).await;
    emit(sink, &deps.settings, &stats);
    response
}

/// [`handle_stream`] without emitting metrics: the response and the counters.
pub async fn stream_batch(
    deps: &Deps,
    records: &[Value],
    deadline: Instant,
) -> (Result<DynamoDbEventResponse, HandlerError>, Stats) {
    let mut result = process_records(deps, records, Origin::Stream, deadline).await;
    if let Some(e) = result.format_error.take() {
        return (Err(HandlerError::Format(e)), result.stats);
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some(cut) = result.cut {
        let Some(seq) = result.failure_identifier(records) else {
            return (Err(HandlerError::Unidentifiable(cut)), result.stats);
        };
        warn!(seq = %seq, index = cut, reason = result.cut_reason.as_deref().unwrap_or(""),
              "batch cut: Lambda retries from this record");
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(seq);
        response.batch_item_failures.push(failure);
    }
    (Ok(response), result.stats)
}

/// An SQS event from the DLQ: each message typed on its own; the ones not
/// done are reported by message id (Lambda keeps them on the queue).
pub async fn handle_sqs(
    deps: &Deps,
    records: &[Value],
    deadline: Instant,
    sink: MetricsSink,
) -> SqsEventResponse {
    let mut response = SqsEventResponse::default();
    let mut stats = Stats::default();
    for raw in records {
        let message = match SqsMessage::deserialize(raw) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "SQS record unreadable: skipped (it has no id to keep it by)");
                continue;
            }
        };
        let Some(id) = message.message_id.filter(|s| !s.is_empty()) else {
            warn!("SQS record without a messageId: skipped");
            continue;
        };
        let mut keep = |id: String| {
            let mut f = SqsBatchItemFailure::default();
            f.item_identifier = Some(id);
            response.batch_item_failures.push(f);
        };
        if Instant::now() + deps.settings.deadline_margin > deadline {
            keep(id);
            continue;
        }
        let r = handle_dlq_message(deps, message.body.as_deref().unwrap_or(""), deadline).await;
        stats.merge(&r.stats);
        if !r.done {
            warn!(message_id = %id, reason = r.reason.as_deref().unwrap_or(""), "DLQ message kept");
            keep(id);
        }
    }
    emit(sink, &deps.settings, &stats);
    response
}
