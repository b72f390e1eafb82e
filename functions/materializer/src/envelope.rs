//! What the materializer puts on, and reads from, its dead-letter queue.
//!
//! Two message kinds share the queue:
//! - [`Envelope`]: written by this function for a record it cannot process
//!   (a *permanent* error). Versioned JSON carrying the full stream record,
//!   so a replay needs nothing else.
//! - [`BatchInfo`]: written by Lambda's event source mapping (its on-failure
//!   destination) when a batch exhausted its retries. Metadata only: the
//!   records must be read back from the stream.
//!
//! [`DlqMessage::parse`] tells them apart; it never panics.

use std::collections::BTreeMap;

use mlflow_ddb_aws::Queue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `version` of the envelopes this build writes.
pub const ENVELOPE_VERSION: &str = "mlflow-ddb.materializer.dlq/1";
/// SQS refuses bodies above 256 KiB: an envelope larger than this keeps the
/// record's keys and metadata and drops its images (`truncated`), since a
/// replay reads the current item anyway.
pub const MAX_ENVELOPE_BYTES: usize = 250 * 1024;

/// A record this function sent to the DLQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: String,
    /// The stream record as received (Lambda's JSON shape).
    pub record: Value,
    pub error: EnvelopeError,
    /// Processing attempts so far (this function's, replays included).
    pub attempts: u32,
    /// When the record first failed, RFC 3339 UTC.
    pub first_failure: String,
    pub function: FunctionId,
    /// The images were dropped to fit in an SQS message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Sequence numbers of later records of the same batch that failed on
    /// the same target: replaying this record reconciles that target as a
    /// whole, so they were acknowledged with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<String>,
}

/// Why the record was dead-lettered. Never carries an attribute value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeError {
    /// `undecodable`, `invalid`, `too-large`, `config`, `store`.
    pub kind: String,
    pub message: String,
}

/// The function that wrote an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionId {
    pub name: String,
    pub version: String,
}

impl Envelope {
    /// The envelope as an SQS body, truncated to fit when needed.
    pub fn to_body(&self) -> String {
        let body = serde_json::to_string(self).unwrap_or_default();
        if body.len() <= MAX_ENVELOPE_BYTES {
            return body;
        }
        let mut small = self.clone();
        small.truncated = true;
        if let Some(ddb) = small
            .record
            .get_mut("dynamodb")
            .and_then(Value::as_object_mut)
        {
            ddb.remove("NewImage");
            ddb.remove("OldImage");
        }
        let body = serde_json::to_string(&small).unwrap_or_default();
        if body.len() <= MAX_ENVELOPE_BYTES {
            return body;
        }
        // Keys themselves too large (DynamoDB allows 2 KB + 1 KB, so only a
        // record that was never valid): keep the error and metadata only.
        small.record = Value::Null;
        serde_json::to_string(&small).unwrap_or_default()
    }
}

/// Lambda's on-failure destination message for a DynamoDB stream batch
/// (the parts we need).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct BatchInfo {
    #[serde(rename = "shardId")]
    pub shard_id: String,
    #[serde(rename = "startSequenceNumber")]
    pub start_sequence_number: String,
    #[serde(rename = "endSequenceNumber")]
    pub end_sequence_number: String,
    #[serde(rename = "streamArn")]
    pub stream_arn: String,
    #[serde(rename = "batchSize", default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
}

/// Build the on-failure destination message Lambda sends (also what `tail`
/// sends when it emulates the event source mapping).
pub fn on_failure_message(info: &BatchInfo, condition: &str, function_arn: &str) -> Value {
    serde_json::json!({
        "requestContext": {
            "requestId": "",
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": 1
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": ""},
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "DDBStreamBatchInfo": info,
    })
}

/// One message of the DLQ, recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum DlqMessage {
    Envelope(Box<Envelope>),
    BatchInfo(BatchInfo),
    /// Not a message we know (left on the queue for a human).
    Unknown(&'static str),
}

impl DlqMessage {
    pub fn parse(body: &str) -> DlqMessage {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return DlqMessage::Unknown("body is not JSON");
        };
        if let Some(info) = value.get("DDBStreamBatchInfo") {
            return match serde_json::from_value::<BatchInfo>(info.clone()) {
                Ok(info) => DlqMessage::BatchInfo(info),
                Err(_) => DlqMessage::Unknown("DDBStreamBatchInfo lacks a field"),
            };
        }
        match value.get("version").and_then(Value::as_str) {
            Some(ENVELOPE_VERSION) => match serde_json::from_value::<Envelope>(value) {
                Ok(e) => DlqMessage::Envelope(Box::new(e)),
                Err(_) => DlqMessage::Unknown("envelope lacks a field"),
            },
            Some(_) => DlqMessage::Unknown("unknown envelope version"),
            None => DlqMessage::Unknown("neither an envelope nor DDBStreamBatchInfo"),
        }
    }
}

/// A record's `dynamodb.SequenceNumber`, when a non-empty string.
pub fn sequence_number(record: &Value) -> Option<String> {
    record
        .get("dynamodb")
        .and_then(|d| d.get("SequenceNumber"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Send `record` to the DLQ as an [`Envelope`] (first failure `now_ms`;
/// `covers`: the sequence numbers of the batch's other records it stands
/// for). `Err` (a reason) when there is no DLQ or the send failed: the
/// caller then keeps the record (it counts as transient).
pub async fn send_dead_letter(
    dlq: Option<&dyn Queue>,
    function: &FunctionId,
    record: &Value,
    err: &EnvelopeError,
    now_ms: i64,
    covers: Vec<String>,
) -> Result<(), String> {
    let Some(dlq) = dlq else {
        return Err("no DLQ configured for a permanent failure".into());
    };
    let envelope = Envelope {
        version: ENVELOPE_VERSION.into(),
        record: record.clone(),
        error: err.clone(),
        // One pass per invocation: the adapter's retries happen inside it.
        attempts: 1,
        first_failure: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        function: function.clone(),
        truncated: false,
        covers,
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("kind".to_owned(), err.kind.clone());
    if let Some(seq) = sequence_number(record) {
        attrs.insert("sequenceNumber".to_owned(), seq);
    }
    dlq.send(&envelope.to_body(), &attrs)
        .await
        .map(|_| ())
        .map_err(|e| format!("DLQ send: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(record: Value) -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION.into(),
            record,
            error: EnvelopeError {
                kind: "invalid".into(),
                message: "m".into(),
            },
            attempts: 1,
            first_failure: "2026-01-01T00:00:00.000Z".into(),
            function: FunctionId {
                name: "materializer".into(),
                version: "$LATEST".into(),
            },
            truncated: false,
            covers: Vec::new(),
        }
    }

    fn check(body: &str, expected: &str) {
        let got = match DlqMessage::parse(body) {
            DlqMessage::Envelope(e) => format!("envelope attempts={}", e.attempts),
            DlqMessage::BatchInfo(i) => format!(
                "batch {} {}..{}",
                i.shard_id, i.start_sequence_number, i.end_sequence_number
            ),
            DlqMessage::Unknown(why) => format!("unknown: {why}"),
        };
        assert_eq!(got, expected, "{body}");
    }

    #[test]
    fn recognises_every_message_kind() {
        let env = envelope(serde_json::json!({"eventName": "INSERT"})).to_body();
        check(&env, "envelope attempts=1");
        // The documented shape of Lambda's on-failure destination record.
        let info = r#"{"requestContext":{"requestId":"r","functionArn":"arn:f","condition":"RetryAttemptsExhausted","approximateInvokeCount":3},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "version":"1.0","timestamp":"2026-01-01T00:00:00.000Z",
            "DDBStreamBatchInfo":{"shardId":"shardId-1","startSequenceNumber":"100","endSequenceNumber":"200",
              "approximateArrivalOfFirstRecord":"2026-01-01T00:00:00Z","approximateArrivalOfLastRecord":"2026-01-01T00:00:00Z",
              "batchSize":2,"streamArn":"arn:aws:dynamodb:us-east-1:1:table/t/stream/x"}}"#;
        check(info, "batch shardId-1 100..200");
        check("nope", "unknown: body is not JSON");
        check("{}", "unknown: neither an envelope nor DDBStreamBatchInfo");
        check(
            r#"{"version":"other/9"}"#,
            "unknown: unknown envelope version",
        );
        check(
            r#"{"DDBStreamBatchInfo":{"shardId":"s"}}"#,
            "unknown: DDBStreamBatchInfo lacks a field",
        );
        check(
            &format!(r#"{{"version":"{ENVELOPE_VERSION}"}}"#),
            "unknown: envelope lacks a field",
        );
    }

    #[test]
    fn a_large_record_is_truncated_to_fit_sqs() {
        let big = "x".repeat(400 * 1024);
        let record = serde_json::json!({
            "eventName": "MODIFY",
            "dynamodb": {"Keys": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#META"}},
                         "NewImage": {"v": {"S": big}}, "SequenceNumber": "7"}
        });
        let body = envelope(record).to_body();
        assert!(body.len() <= MAX_ENVELOPE_BYTES, "{}", body.len());
        let DlqMessage::Envelope(e) = DlqMessage::parse(&body) else {
            panic!("not an envelope")
        };
        assert!(e.truncated);
        assert_eq!(e.record["dynamodb"]["Keys"]["PK"]["S"], "EXP#1");
        assert_eq!(e.record["dynamodb"]["SequenceNumber"], "7");
        assert!(e.record["dynamodb"].get("NewImage").is_none());
    }
}
