//! DynamoDB stream records, decoded into [`Change`]s.
//!
//! Two entry points:
//! - [`decode_record`] for an `aws_lambda_events` [`EventRecord`] (what a
//!   Lambda handler typed on `aws_lambda_events::dynamodb::Event` receives);
//! - [`decode_json_record`] / [`decode_json_event`] / [`decode_json_slice`]
//!   for raw JSON (the DLQ replay path, and a handler that takes
//!   `serde_json::Value` so that one malformed record cannot fail the whole
//!   batch's deserialization). They accept the Lambda shape
//!   (`eventName`, `dynamodb.Keys`, `userIdentity.type` …) and the
//!   DynamoDB Streams API shape (`userIdentity.Type`, `PrincipalId`), and
//!   never panic.
//!
//! Errors name the record's sequence number and the key when known, never an
//! attribute value.

use std::cmp::Ordering;
use std::fmt;

use aws_lambda_events::dynamodb::{EventRecord, StreamViewType};
use serde_json::Value;

use crate::error::CoreError;
use crate::format::Profile;
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::keys::ItemKind;

/// `userIdentity.type` of a deletion by the TTL process.
pub const TTL_IDENTITY_TYPE: &str = "Service";
/// `userIdentity.principalId` of a deletion by the TTL process.
pub const TTL_IDENTITY_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// A stream record's sequence number: a decimal string of up to 40 digits.
///
/// Ordered numerically (shorter is smaller, then lexicographic), which is
/// the order of records within a shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.trim_start_matches('0');
        let b = other.0.trim_start_matches('0');
        a.len()
            .cmp(&b.len())
            .then_with(|| a.cmp(b))
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `eventName` of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn parse(s: &str) -> Option<EventName> {
        match s {
            "INSERT" => Some(EventName::Insert),
            "MODIFY" => Some(EventName::Modify),
            "REMOVE" => Some(EventName::Remove),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The images a stream carries (`StreamViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl ViewType {
    pub fn parse(s: &str) -> Option<ViewType> {
        match s {
            "KEYS_ONLY" => Some(ViewType::KeysOnly),
            "NEW_IMAGE" => Some(ViewType::NewImage),
            "OLD_IMAGE" => Some(ViewType::OldImage),
            "NEW_AND_OLD_IMAGES" => Some(ViewType::NewAndOldImages),
            _ => None,
        }
    }

    fn has_new(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    fn has_old(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

/// One decoded stream record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: SequenceNumber,
    pub event: EventName,
    pub key: ItemKey,
    pub kind: ItemKind,
    /// The item before the change (`None`: INSERT, or not in the view).
    pub old: Option<Item>,
    /// The item after the change (`None`: REMOVE, or not in the view).
    pub new: Option<Item>,
    /// A REMOVE by DynamoDB's TTL process.
    pub by_ttl_service: bool,
}

impl Change {
    /// A MODIFY whose images are both present and equal (nothing changed).
    pub fn is_noop(&self) -> bool {
        self.event == EventName::Modify
            && matches!((&self.old, &self.new), (Some(a), Some(b)) if a == b)
    }

    /// The string attribute `name` of the new image (`None` when absent or
    /// not a string).
    pub fn new_s(&self, name: &str) -> Option<&str> {
        attr_s(self.new.as_ref()?, name)
    }

    /// The string attribute `name` of the old image.
    pub fn old_s(&self, name: &str) -> Option<&str> {
        attr_s(self.old.as_ref()?, name)
    }

    /// Whether attribute `name` differs between the images (an absent image
    /// counts as an absent attribute).
    pub fn attr_changed(&self, name: &str) -> bool {
        let old = self.old.as_ref().and_then(|i| i.get(name));
        let new = self.new.as_ref().and_then(|i| i.get(name));
        old != new
    }
}

fn attr_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// What is wrong with a stream record. Never carries an attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// The input is not JSON, or not a JSON object where one is needed.
    NotJson,
    /// A JSON `{"Records": [...]}` event without a `Records` array.
    NoRecords,
    /// No `dynamodb` object.
    MissingStreamRecord,
    /// No `SequenceNumber`.
    MissingSequenceNumber,
    /// No `eventName`.
    MissingEventName,
    /// An `eventName` other than INSERT, MODIFY, REMOVE (the name is kept:
    /// it is not item data).
    UnknownEventName(String),
    /// A `StreamViewType` we do not know.
    UnknownViewType,
    /// No `Keys` (or an empty one).
    MissingKeys,
    /// `Keys` lacks this key attribute.
    MissingKeyAttribute(&'static str),
    /// This key attribute is not a string.
    KeyNotString(&'static str),
    /// An image (`NewImage` / `OldImage`) is not a valid attribute map.
    MalformedImage(&'static str),
    /// The view type promises this image and the record lacks it.
    MissingImage(&'static str),
    /// This image's `PK`/`SK` differ from `Keys`.
    ImageKeyMismatch(&'static str),
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::NotJson => f.write_str("not a JSON object"),
            RecordProblem::NoRecords => f.write_str("no Records array"),
            RecordProblem::MissingStreamRecord => f.write_str("no dynamodb object"),
            RecordProblem::MissingSequenceNumber => f.write_str("no SequenceNumber"),
            RecordProblem::MissingEventName => f.write_str("no eventName"),
            RecordProblem::UnknownEventName(n) => write!(f, "unknown eventName {n:?}"),
            RecordProblem::UnknownViewType => f.write_str("unknown StreamViewType"),
            RecordProblem::MissingKeys => f.write_str("no Keys"),
            RecordProblem::MissingKeyAttribute(a) => write!(f, "Keys lacks {a}"),
            RecordProblem::KeyNotString(a) => write!(f, "key attribute {a} is not a string"),
            RecordProblem::MalformedImage(i) => write!(f, "{i} is not an attribute map"),
            RecordProblem::MissingImage(i) => write!(f, "{i} missing for this view type"),
            RecordProblem::ImageKeyMismatch(i) => write!(f, "{i} key differs from Keys"),
        }
    }
}

const NEW_IMAGE: &str = "NewImage";
const OLD_IMAGE: &str = "OldImage";

fn record_error(
    seq: Option<&SequenceNumber>,
    key: Option<&ItemKey>,
    problem: RecordProblem,
) -> CoreError {
    CoreError::StreamRecord {
        seq: seq.cloned(),
        key: key.cloned(),
        problem,
    }
}

/// The parts common to both decoders, once extracted.
struct Raw {
    seq: Option<SequenceNumber>,
    event_name: Option<String>,
    view: Option<Result<ViewType, ()>>,
    keys: Option<Item>,
    new: Option<Item>,
    old: Option<Item>,
    by_ttl_service: bool,
}

fn finish(profile: &Profile, raw: Raw) -> Result<Change, CoreError> {
    let seq = raw.seq;
    let err = |key: Option<&ItemKey>, p| record_error(seq.as_ref(), key, p);

    // The key first, so that later errors can name it.
    let keys = raw
        .keys
        .filter(|k| !k.is_empty())
        .ok_or_else(|| err(None, RecordProblem::MissingKeys))?;
    let key_attr = |name: &'static str| match keys.get(name) {
        None => Err(err(None, RecordProblem::MissingKeyAttribute(name))),
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        Some(_) => Err(err(None, RecordProblem::KeyNotString(name))),
    };
    let key = ItemKey::new(key_attr(PK)?, key_attr(SK)?);

    let Some(seq_ok) = seq.clone() else {
        return Err(err(Some(&key), RecordProblem::MissingSequenceNumber));
    };
    let event = match raw.event_name.as_deref() {
        None => return Err(err(Some(&key), RecordProblem::MissingEventName)),
        Some(name) => EventName::parse(name)
            .ok_or_else(|| err(Some(&key), RecordProblem::UnknownEventName(name.to_owned())))?,
    };
    let view = match raw.view {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(())) => return Err(err(Some(&key), RecordProblem::UnknownViewType)),
    };

    // An absent image and an empty one are the same thing on the wire.
    let new = raw.new.filter(|i| !i.is_empty());
    let old = raw.old.filter(|i| !i.is_empty());
    if let Some(view) = view {
        let needs_new = view.has_new() && event != EventName::Remove;
        let needs_old = view.has_old() && event != EventName::Insert;
        if needs_new && new.is_none() {
            return Err(err(Some(&key), RecordProblem::MissingImage(NEW_IMAGE)));
        }
        if needs_old && old.is_none() {
            return Err(err(Some(&key), RecordProblem::MissingImage(OLD_IMAGE)));
        }
    }
    for (name, image) in [(NEW_IMAGE, &new), (OLD_IMAGE, &old)] {
        if let Some(image) = image {
            let same = |attr: &str, want: &str| matches!(image.get(attr), Some(AttributeValue::S(s)) if s == want);
            if !same(PK, &key.pk) || !same(SK, &key.sk) {
                return Err(err(Some(&key), RecordProblem::ImageKeyMismatch(name)));
            }
        }
    }

    let kind = ItemKind::parse(profile, &key.pk, &key.sk);
    Ok(Change {
        seq: seq_ok,
        event,
        key,
        kind,
        // Only REMOVE and MODIFY have a before, only INSERT and MODIFY an after.
        old: if event == EventName::Insert {
            None
        } else {
            old
        },
        new: if event == EventName::Remove {
            None
        } else {
            new
        },
        by_ttl_service: raw.by_ttl_service && event == EventName::Remove,
    })
}

/// Decode a record as `aws_lambda_events` delivers it.
pub fn decode_record(profile: &Profile, record: &EventRecord) -> Result<Change, CoreError> {
    let change = &record.change;
    let view = change.stream_view_type.as_ref().map(|v| match v {
        StreamViewType::KeysOnly => Ok(ViewType::KeysOnly),
        StreamViewType::NewImage => Ok(ViewType::NewImage),
        StreamViewType::OldImage => Ok(ViewType::OldImage),
        StreamViewType::NewAndOldImages => Ok(ViewType::NewAndOldImages),
        // `StreamViewType` is non-exhaustive.
        _ => Err(()),
    });
    let by_ttl_service = record
        .user_identity
        .as_ref()
        .is_some_and(|u| u.type_ == TTL_IDENTITY_TYPE && u.principal_id == TTL_IDENTITY_PRINCIPAL);
    finish(
        profile,
        Raw {
            seq: change.sequence_number.clone().map(SequenceNumber),
            event_name: Some(record.event_name.clone()),
            view,
            keys: Some(change.keys.clone()),
            new: Some(change.new_image.clone()),
            old: Some(change.old_image.clone()),
            by_ttl_service,
        },
    )
}

/// Decode one record from raw JSON. Never panics.
pub fn decode_json_record(profile: &Profile, record: &Value) -> Result<Change, CoreError> {
    let Some(obj) = record.as_object() else {
        return Err(record_error(None, None, RecordProblem::NotJson));
    };
    let ddb = obj.get("dynamodb").and_then(Value::as_object);
    let seq = ddb
        .and_then(|d| d.get("SequenceNumber"))
        .and_then(Value::as_str)
        .map(SequenceNumber::new);
    let Some(ddb) = ddb else {
        return Err(record_error(
            seq.as_ref(),
            None,
            RecordProblem::MissingStreamRecord,
        ));
    };

    let image = |name: &'static str| -> Result<Option<Item>, RecordProblem> {
        match ddb.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value::<Item>(v.clone())
                .map(Some)
                .map_err(|_| RecordProblem::MalformedImage(name)),
        }
    };
    // A malformed Keys map is reported as missing keys; a malformed image
    // after the key is known, so that the error can name it.
    let keys = image("Keys").ok().flatten();
    let new = image(NEW_IMAGE);
    let old = image(OLD_IMAGE);

    let view = match ddb.get("StreamViewType") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(ViewType::parse).ok_or(())),
    };
    let identity = obj
        .get("userIdentity")
        .or_else(|| obj.get("UserIdentity"))
        .and_then(Value::as_object);
    let field = |o: &serde_json::Map<String, Value>, a: &str, b: &str| {
        o.get(a)
            .or_else(|| o.get(b))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let by_ttl_service = identity.is_some_and(|u| {
        field(u, "type", "Type").as_deref() == Some(TTL_IDENTITY_TYPE)
            && field(u, "principalId", "PrincipalId").as_deref() == Some(TTL_IDENTITY_PRINCIPAL)
    });

    let (new, old) = match (new, old) {
        (Ok(n), Ok(o)) => (n, o),
        (Err(p), _) | (_, Err(p)) => {
            // Name the key if it can be read.
            let key = keys.as_ref().and_then(|k| match (k.get(PK), k.get(SK)) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                    Some(ItemKey::new(pk.clone(), sk.clone()))
                }
                _ => None,
            });
            return Err(record_error(seq.as_ref(), key.as_ref(), p));
        }
    };

    finish(
        profile,
        Raw {
            seq,
            event_name: obj
                .get("eventName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            view,
            keys,
            new,
            old,
            by_ttl_service,
        },
    )
}

/// Decode one record from JSON bytes. Never panics.
pub fn decode_json_slice(profile: &Profile, bytes: &[u8]) -> Result<Change, CoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => decode_json_record(profile, &v),
        Err(_) => Err(record_error(None, None, RecordProblem::NotJson)),
    }
}

/// Decode a whole Lambda event (`{"Records": [...]}`) from JSON, record by
/// record: one malformed record does not hide the others.
pub fn decode_json_event(
    profile: &Profile,
    event: &Value,
) -> Result<Vec<Result<Change, CoreError>>, CoreError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| record_error(None, None, RecordProblem::NoRecords))?;
    Ok(records
        .iter()
        .map(|r| decode_json_record(profile, r))
        .collect())
}
