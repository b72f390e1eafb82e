//! Replaying what the DLQ holds. Three paths, one function
//! ([`handle_dlq_message`]):
//! 1. the DLQ attached to this function as an SQS event source
//!    ([`crate::lambda`]);
//! 2. `materializer replay --dlq-url URL --table NAME [--max N]` ([`replay_queue`]);
//! 3. on-failure destination messages (metadata only): the records are read
//!    back from the stream ([`read_range`]); when the range has been
//!    trimmed (older than 24 h), the message stays and the error tells the
//!    operator to run the indexer.
//!
//! Order-safe and idempotent: an envelope's record is re-read as the item's
//! current state (strongly consistent) before reconciling, and the
//! reconciliation is level-triggered; replaying twice changes nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::{AwsError, Queue, ShardStart, StreamReader};
use mlflow_ddb_core::stream::SequenceNumber;
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::envelope::{BatchInfo, DlqMessage};
use crate::handler::{process_records, sequence_number, Deps, Origin};
use crate::metrics::Stats;

/// What became of one DLQ message.
#[derive(Debug, Default)]
pub struct MessageResult {
    /// The message may be deleted: every record in it is done.
    pub done: bool,
    /// Why it stays (no item values).
    pub reason: Option<String>,
    pub stats: Stats,
}

impl MessageResult {
    fn kept(reason: impl Into<String>, stats: Stats) -> Self {
        MessageResult {
            done: false,
            reason: Some(reason.into()),
            stats,
        }
    }
}

/// Handle one DLQ message body.
pub async fn handle_dlq_message(deps: &Deps, body: &str, deadline: Instant) -> MessageResult {
    match DlqMessage::parse(body) {
        DlqMessage::Unknown(why) => {
            MessageResult::kept(format!("unrecognised message: {why}"), Stats::default())
        }
        DlqMessage::Envelope(env) => {
            if env.record.is_null() {
                return MessageResult::kept(
                    "the envelope lost its record (too large): run the indexer",
                    Stats::default(),
                );
            }
            let mut record = env.record;
            if env.truncated {
                // Its images were dropped to fit in SQS, so its view type no
                // longer holds: it has its keys only, all a replay needs (it
                // reads the item's current state). Left as it was, the decoder
                // refuses it (an image missing for the view type) and the
                // message could never be replayed.
                if let Some(d) = record.get_mut("dynamodb").and_then(Value::as_object_mut) {
                    d.insert("StreamViewType".into(), Value::from("KEYS_ONLY"));
                }
            }
            let records = [record];
            let r = process_records(deps, &records, Origin::Replay, deadline).await;
            if let Some(why) = r.cut_reason.clone().filter(|_| r.cut.is_some()) {
                return MessageResult::kept(format!("transient: {why}"), r.stats);
            }
            if let Some((_, e)) = r.permanent.first() {
                return MessageResult::kept(format!("{}: {}", e.kind, e.message), r.stats);
            }
            MessageResult {
                done: true,
                reason: None,
                stats: r.stats,
            }
        }
        DlqMessage::BatchInfo(info) => {
            let Some(streams) = &deps.streams else {
                return MessageResult::kept("no stream reader configured", Stats::default());
            };
            match read_range(streams, &info).await {
                Err(RangeError::Trimmed(why)) => {
                    warn!(shard = %info.shard_id, start = %info.start_sequence_number,
                          end = %info.end_sequence_number, "stream range trimmed: run the indexer");
                    MessageResult::kept(why, Stats::default())
                }
                Err(RangeError::Read(e)) => {
                    MessageResult::kept(format!("reading the stream: {e}"), Stats::default())
                }
                Ok(records) => {
                    info!(shard = %info.shard_id, records = records.len(), "replaying a stream range");
                    let r = process_records(deps, &records, Origin::Stream, deadline).await;
                    match r.cut {
                        Some(_) => MessageResult::kept(
                            format!("transient: {}", r.cut_reason.clone().unwrap_or_default()),
                            r.stats,
                        ),
                        None => MessageResult {
                            done: true,
                            reason: None,
                            stats: r.stats,
                        },
                    }
                }
            }
        }
    }
}

/// Why a range could not be read back.
#[derive(Debug)]
pub enum RangeError {
    /// The records are gone from the stream (message for the operator).
    Trimmed(String),
    /// Reading failed otherwise (retry later).
    Read(AwsError),
}

fn trimmed_message(info: &BatchInfo) -> String {
    format!(
        "records {}..{} of shard {} are no longer in the stream (older than 24 h, or the stream was replaced): \
         run the indexer on the table to reconcile everything; this message is kept",
        info.start_sequence_number, info.end_sequence_number, info.shard_id
    )
}

/// Pages read without reaching the end before giving up (an open shard may
/// answer empty pages).
const EMPTY_PAGES: usize = 3;

/// Read records `start..=end` of one shard back, in Lambda's JSON shape.
pub async fn read_range(
    streams: &StreamReader,
    info: &BatchInfo,
) -> Result<Vec<Value>, RangeError> {
    let start = SequenceNumber::new(info.start_sequence_number.clone());
    let end = SequenceNumber::new(info.end_sequence_number.clone());
    let iterator = streams
        .shard_iterator(
            &info.stream_arn,
            &info.shard_id,
            &ShardStart::AtSequence(info.start_sequence_number.clone()),
        )
        .await;
    let mut iterator = match iterator {
        Ok(it) => it,
        Err(e) => return Err(read_error(info, e)),
    };
    let mut out = Vec::new();
    let mut empty = 0;
    loop {
        let page = match streams
            .get_records(&info.stream_arn, &iterator, Some(1000))
            .await
        {
            Ok(p) => p,
            Err(e) => return Err(read_error(info, e)),
        };
        if page.records.is_empty() {
            empty += 1;
        }
        let records = page.lambda_json().map_err(|e| read_error(info, e))?;
        for v in records {
            let Some(seq) = sequence_number(&v).map(SequenceNumber::new) else {
                continue;
            };
            if out.is_empty() && seq > start {
                // The first record kept is past the start: the start is gone.
                return Err(RangeError::Trimmed(trimmed_message(info)));
            }
            if seq > end {
                return Ok(out);
            }
            out.push(v);
            if seq == end {
                return Ok(out);
            }
        }
        match page.next_iterator {
            Some(next) if empty < EMPTY_PAGES => iterator = next,
            _ => {
                return if out.is_empty() {
                    Err(RangeError::Trimmed(trimmed_message(info)))
                } else {
                    // A closed shard ended before `end`, or an open one keeps
                    // answering empty pages: replay what there is.
                    Ok(out)
                };
            }
        }
    }
}

/// A read error: records past the stream's 24 h (`TrimmedDataAccessException`)
/// or a stream / shard that no longer exists (`ResourceNotFoundException`)
/// mean the range is gone for good; anything else may clear.
pub fn read_error(info: &BatchInfo, e: AwsError) -> RangeError {
    match e.code() {
        Some("TrimmedDataAccessException") | Some("ResourceNotFoundException") => {
            RangeError::Trimmed(trimmed_message(info))
        }
        _ => RangeError::Read(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlflow_ddb_aws::Failure;

    fn err(code: &str, status: u16) -> AwsError {
        AwsError::Request {
            op: "GetShardIterator",
            key: None,
            failure: Box::new(Failure::Service {
                code: code.into(),
                message: "m".into(),
                status: Some(status),
            }),
            source: None,
        }
    }

    fn check(code: &str, status: u16, trimmed: bool) {
        let info = BatchInfo {
            shard_id: "shardId-1".into(),
            start_sequence_number: "100".into(),
            end_sequence_number: "200".into(),
            stream_arn: "arn:s".into(),
            batch_size: None,
        };
        match read_error(&info, err(code, status)) {
            RangeError::Trimmed(why) => {
                assert!(trimmed, "{code}");
                assert!(
                    why.contains("run the indexer") && why.contains("100..200"),
                    "{why}"
                );
            }
            RangeError::Read(_) => assert!(!trimmed, "{code}"),
        }
    }

    #[test]
    fn a_trimmed_or_vanished_range_tells_the_operator_to_run_the_indexer() {
        check("TrimmedDataAccessException", 400, true);
        check("ResourceNotFoundException", 400, true);
        check("ProvisionedThroughputExceededException", 400, false);
        check("InternalServerError", 500, false);
    }
}

/// Summary of `materializer replay`.
#[derive(Debug, Default, Serialize)]
pub struct ReplaySummary {
    pub received: u64,
    pub replayed: u64,
    pub kept: u64,
    /// Reasons messages were kept, one per kept message.
    pub kept_reasons: Vec<String>,
    pub stats: Stats,
}

/// Drain up to `max` messages of the DLQ: replay each, delete it when done,
/// leave it (visible again after its visibility timeout) otherwise.
pub async fn replay_queue(
    deps: &Deps,
    dlq: &dyn Queue,
    max: u64,
    invocation_timeout: Duration,
) -> Result<ReplaySummary, AwsError> {
    let mut summary = ReplaySummary::default();
    let mut seen: HashSet<String> = HashSet::new();
    while summary.received < max {
        let want = u32::try_from((max - summary.received).min(10)).unwrap_or(10);
        let messages = dlq.receive(want, Duration::from_secs(1)).await?;
        if messages.is_empty() {
            break;
        }
        let mut fresh = false;
        for m in messages {
            if !seen.insert(m.message_id.clone()) {
                continue;
            }
            fresh = true;
            summary.received += 1;
            let deadline = Instant::now() + invocation_timeout;
            let r = handle_dlq_message(deps, &m.body, deadline).await;
            summary.stats.merge(&r.stats);
            if r.done {
                dlq.delete(&m.receipt_handle).await?;
                summary.replayed += 1;
                info!(message_id = %m.message_id, "replayed and deleted");
            } else {
                let reason = r.reason.unwrap_or_default();
                warn!(message_id = %m.message_id, reason = %reason, "message kept");
                summary.kept += 1;
                summary.kept_reasons.push(reason);
            }
        }
        if !fresh {
            break;
        }
    }
    Ok(summary)
}
