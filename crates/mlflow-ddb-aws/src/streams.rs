//! Reading a DynamoDB stream directly (the materializer's local mode and the
//! tests), producing the same `aws_lambda_events` records Lambda delivers,
//! so one handler serves both.

use aws_lambda_events::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType, StreamViewType as SdkViewType};
use aws_sdk_dynamodbstreams::Client;
use chrono::{DateTime, Utc};
use mlflow_ddb_core::item::Item;

use crate::convert::from_stream_item;
use crate::{AwsError, Clients};

/// One shard of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    /// Shards split from a parent; read the parent first for per-item order.
    pub parent_shard_id: Option<String>,
    pub starting_sequence_number: Option<String>,
    /// Set once the shard is closed (no new records).
    pub ending_sequence_number: Option<String>,
}

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardStart {
    /// The oldest record still kept (24 h).
    TrimHorizon,
    /// Only records written from now on.
    Latest,
    /// At this sequence number (re-reading it).
    AtSequence(String),
    /// Just after this sequence number (resuming from a checkpoint).
    AfterSequence(String),
}

/// One GetRecords answer.
#[derive(Debug, Clone, Default)]
pub struct RecordsPage {
    pub records: Vec<EventRecord>,
    /// Iterator for the next call; `None` once a closed shard is read to its end.
    pub next_iterator: Option<String>,
}

impl RecordsPage {
    /// The records in Lambda's JSON shape, what the materializer's handler
    /// and a dead letter take. A record that cannot be encoded is an error,
    /// never a null record.
    pub fn lambda_json(&self) -> Result<Vec<serde_json::Value>, AwsError> {
        self.records
            .iter()
            .map(|r| {
                serde_json::to_value(r).map_err(|e| AwsError::Invalid {
                    op: "GetRecords",
                    key: None,
                    reason: format!(
                        "record {} not encodable as Lambda JSON: {e}",
                        r.change.sequence_number.as_deref().unwrap_or("?")
                    ),
                })
            })
            .collect()
    }
}

/// DynamoDB Streams reads.
#[derive(Debug, Clone)]
pub struct StreamReader {
    client: Client,
    gate: crate::Gate,
    region: String,
}

impl StreamReader {
    pub fn new(clients: &Clients) -> Self {
        Self {
            client: clients.streams.clone(),
            gate: clients.streams_gate.clone(),
            region: clients.region().to_owned(),
        }
    }

    /// Every shard of the stream (all DescribeStream pages).
    pub async fn list_shards(&self, stream_arn: &str) -> Result<Vec<ShardInfo>, AwsError> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = crate::gated!(
                self.gate,
                "DescribeStream",
                None,
                self.client
                    .describe_stream()
                    .stream_arn(stream_arn)
                    .set_exclusive_start_shard_id(start.take())
            )?;
            let Some(desc) = out.stream_description else {
                break;
            };
            for s in desc.shards.unwrap_or_default() {
                let Some(shard_id) = s.shard_id else { continue };
                let range = s.sequence_number_range;
                shards.push(ShardInfo {
                    shard_id,
                    parent_shard_id: s.parent_shard_id,
                    starting_sequence_number: range
                        .as_ref()
                        .and_then(|r| r.starting_sequence_number.clone()),
                    ending_sequence_number: range.and_then(|r| r.ending_sequence_number),
                });
            }
            match desc.last_evaluated_shard_id {
                Some(id) if !id.is_empty() => start = Some(id),
                _ => break,
            }
        }
        Ok(shards)
    }

    /// A shard iterator (valid 15 minutes).
    pub async fn shard_iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        start: &ShardStart,
    ) -> Result<String, AwsError> {
        let (kind, seq) = match start {
            ShardStart::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
            ShardStart::Latest => (ShardIteratorType::Latest, None),
            ShardStart::AtSequence(s) => (ShardIteratorType::AtSequenceNumber, Some(s.clone())),
            ShardStart::AfterSequence(s) => {
                (ShardIteratorType::AfterSequenceNumber, Some(s.clone()))
            }
        };
        let out = crate::gated!(
            self.gate,
            "GetShardIterator",
            None,
            self.client
                .get_shard_iterator()
                .stream_arn(stream_arn)
                .shard_id(shard_id)
                .shard_iterator_type(kind)
                .set_sequence_number(seq)
        )?;
        out.shard_iterator.ok_or_else(|| AwsError::Table {
            op: "GetShardIterator",
            table: stream_arn.to_owned(),
            reason: format!("no iterator for shard {shard_id}"),
        })
    }

    /// Up to `limit` (≤ 1000) records, as Lambda would deliver them, with
    /// `eventSourceARN` set to `stream_arn`.
    pub async fn get_records(
        &self,
        stream_arn: &str,
        iterator: &str,
        limit: Option<u32>,
    ) -> Result<RecordsPage, AwsError> {
        let out = crate::gated!(
            self.gate,
            "GetRecords",
            None,
            self.client
                .get_records()
                .shard_iterator(iterator)
                .set_limit(limit.map(|l| i32::try_from(l.min(1000)).unwrap_or(1000)))
        )?;
        let mut records = Vec::new();
        for r in out.records.unwrap_or_default() {
            records.push(to_event_record(r, stream_arn, &self.region)?);
        }
        Ok(RecordsPage {
            records,
            next_iterator: out.next_shard_iterator,
        })
    }
}

fn image(
    map: Option<std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Result<Item, AwsError> {
    map.map(from_stream_item)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|u| AwsError::UnknownType {
            op: "GetRecords",
            key: None,
            path: u.path,
        })
}

/// An SDK stream record as the `aws_lambda_events` record Lambda delivers.
pub fn to_event_record(r: Record, stream_arn: &str, region: &str) -> Result<EventRecord, AwsError> {
    let mut out = EventRecord::default();
    out.aws_region = r.aws_region.unwrap_or_else(|| region.to_owned());
    out.event_id = r.event_id.unwrap_or_default();
    out.event_name = r
        .event_name
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    out.event_source = Some(r.event_source.unwrap_or_else(|| "aws:dynamodb".to_owned()));
    out.event_version = r.event_version;
    out.event_source_arn = Some(stream_arn.to_owned());
    out.user_identity = r.user_identity.map(|i| {
        let mut u = UserIdentity::default();
        u.type_ = i.r#type.unwrap_or_default();
        u.principal_id = i.principal_id.unwrap_or_default();
        u
    });
    if let Some(d) = r.dynamodb {
        let mut c = StreamRecord::default();
        // Whole seconds, as DynamoDB Streams documents it and Lambda
        // delivers it (moto gives milliseconds).
        if let Some(t) = d.approximate_creation_date_time {
            if let Some(dt) = DateTime::<Utc>::from_timestamp(t.secs(), 0) {
                c.approximate_creation_date_time = dt;
            }
        }
        c.keys = image(d.keys)?;
        c.new_image = image(d.new_image)?;
        c.old_image = image(d.old_image)?;
        c.sequence_number = d.sequence_number;
        c.size_bytes = d.size_bytes.unwrap_or(0);
        c.stream_view_type = d.stream_view_type.and_then(|v| match v {
            SdkViewType::NewImage => Some(StreamViewType::NewImage),
            SdkViewType::OldImage => Some(StreamViewType::OldImage),
            SdkViewType::NewAndOldImages => Some(StreamViewType::NewAndOldImages),
            SdkViewType::KeysOnly => Some(StreamViewType::KeysOnly),
            _ => None,
        });
        out.change = c;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::{
        AttributeValue as SV, Identity, OperationType, StreamRecord as SdkStreamRecord,
    };
    use mlflow_ddb_core::item::AttributeValue;

    /// A TTL deletion as AWS delivers it, converted, then parsed back from
    /// JSON the way a Lambda event is: the two paths must agree.
    #[test]
    fn ttl_remove_converts_like_a_lambda_event() {
        let rec = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Remove)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("eu-west-1")
            .user_identity(
                Identity::builder()
                    .r#type("Service")
                    .principal_id("dynamodb.amazonaws.com")
                    .build(),
            )
            .dynamodb(
                SdkStreamRecord::builder()
                    .approximate_creation_date_time(aws_smithy_types::DateTime::from_millis(
                        1_700_000_000_750,
                    ))
                    .keys("PK", SV::S("EXP#1".into()))
                    .keys("SK", SV::S("R#r1".into()))
                    .old_image("PK", SV::S("EXP#1".into()))
                    .old_image("SK", SV::S("R#r1".into()))
                    .old_image("ttl", SV::N("1700000000".into()))
                    .sequence_number("100")
                    .size_bytes(42)
                    .stream_view_type(SdkViewType::NewAndOldImages)
                    .build(),
            )
            .build();
        let ev = to_event_record(rec, "arn:stream", "us-east-1").unwrap();
        assert_eq!(ev.event_name, "REMOVE");
        assert_eq!(ev.aws_region, "eu-west-1");
        assert_eq!(ev.event_source_arn.as_deref(), Some("arn:stream"));
        let who = ev.user_identity.as_ref().unwrap();
        assert_eq!(
            (who.type_.as_str(), who.principal_id.as_str()),
            ("Service", "dynamodb.amazonaws.com")
        );
        assert_eq!(
            ev.change.old_image.get("ttl"),
            Some(&AttributeValue::N("1700000000".into()))
        );
        assert!(ev.change.new_image.is_empty());
        // Rounded down to the second, like the records Lambda delivers.
        let t = ev.change.approximate_creation_date_time;
        assert_eq!(
            (t.timestamp(), t.timestamp_subsec_nanos()),
            (1_700_000_000, 0)
        );
        assert_eq!(
            ev.change.stream_view_type,
            Some(StreamViewType::NewAndOldImages)
        );

        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["eventName"], "REMOVE");
        assert_eq!(json["dynamodb"]["Keys"]["SK"]["S"], "R#r1");
        assert_eq!(json["userIdentity"]["type"], "Service");
        let back: EventRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }
}
