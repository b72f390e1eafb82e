//! DynamoDB stream records, decoded into [`Change`]s.
//!
//! One decoder, for raw JSON records, in production and tests:
//! [`decode_json_record_gated`] (the materializer's: the key first, images
//! only as planning needs them), and [`decode_json_record`] /
//! [`decode_json_event`] / [`decode_json_slice`] over the same code. Every
//! record reaches it as JSON, decoded one by one, so that one malformed
//! record cannot fail its batch: a Lambda event's raw records, a dead
//! letter's record, and the records `tail` reads through the Streams API
//! (typed there as `aws_lambda_events` records, then written as the JSON
//! Lambda would deliver). It accepts the Lambda shape (`eventName`,
//! `dynamodb.Keys`, `userIdentity.type` …) and the DynamoDB Streams API
//! shape (`userIdentity.Type`, `PrincipalId`), and never panics.
//!
//! Errors name the record's sequence number and the key when known, never an
//! attribute value.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::error::CoreError;
use crate::format::Profile;
use crate::item::{AttributeValue, Item, ItemKey, PK, SK};
use crate::keys::ItemKind;
pub use crate::record::{RecordProblem, SequenceNumber};

/// `userIdentity.type` of a deletion by the TTL process.
pub const TTL_IDENTITY_TYPE: &str = "Service";
/// `userIdentity.principalId` of a deletion by the TTL process.
pub const TTL_IDENTITY_PRINCIPAL: &str = "dynamodb.amazonaws.com";

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
    /// The item before the change (`None`: INSERT, not in the view, or not
    /// built: see [`Images::ForModify`]).
    pub old: Option<Item>,
    /// The item after the change (`None`: REMOVE, not in the view, or not
    /// built).
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

/// Which images a decoder builds into the [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Images {
    /// Both images, whatever the event.
    #[default]
    All,
    /// Only for MODIFY, the one event whose planning compares its images
    /// (`Change::is_noop`, `Change::attr_changed`). INSERT and REMOVE images
    /// are still checked (present when the view type promises them, of the
    /// record's key, every attribute a DynamoDB-typed value) but not built:
    /// their `new` / `old` are `None`. What a level-triggered consumer needs,
    /// at a fraction of the cost.
    ForModify,
}

/// An image as extracted: absent, built, or checked and left in the record.
enum Image<'a> {
    Absent,
    Built(Item),
    Checked {
        pk: Option<&'a str>,
        sk: Option<&'a str>,
        empty: bool,
    },
}

impl Image<'_> {
    fn present(&self) -> bool {
        match self {
            Image::Absent => false,
            Image::Built(i) => !i.is_empty(),
            Image::Checked { empty, .. } => !empty,
        }
    }

    fn key_is(&self, key: &ItemKey) -> bool {
        fn s(v: Option<&AttributeValue>) -> Option<&str> {
            match v {
                Some(AttributeValue::S(s)) => Some(s.as_str()),
                _ => None,
            }
        }
        let (pk, sk) = match self {
            Image::Absent => return true,
            Image::Built(i) => (s(i.get(PK)), s(i.get(SK))),
            Image::Checked { pk, sk, .. } => (*pk, *sk),
        };
        pk == Some(key.pk.as_str()) && sk == Some(key.sk.as_str())
    }

    fn into_item(self) -> Option<Item> {
        match self {
            Image::Built(i) if !i.is_empty() => Some(i),
            _ => None,
        }
    }
}

/// Check an image without building it: an attribute map whose every value
/// is a typed DynamoDB value of the right JSON shape (the type tag is
/// checked, not what a set or a map holds).
fn check_image(v: &Value) -> Option<Image<'_>> {
    let map = v.as_object()?;
    for typed in map.values() {
        let obj = typed.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        let (tag, value) = obj.iter().next()?;
        let ok = match tag.as_str() {
            "S" | "N" | "B" => value.is_string(),
            "BOOL" | "NULL" => value.is_boolean(),
            "SS" | "NS" | "BS" | "L" => value.is_array(),
            "M" => value.is_object(),
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    let s = |a: &str| map.get(a).and_then(|t| t.get("S")).and_then(Value::as_str);
    Some(Image::Checked {
        pk: s(PK),
        sk: s(SK),
        empty: map.is_empty(),
    })
}

/// One key attribute of a record's `Keys`, as found.
enum KeyAttr {
    Missing,
    NotString,
    S(String),
}

/// A record's `Keys` (a non-empty, well-formed attribute map).
struct Keys {
    pk: KeyAttr,
    sk: KeyAttr,
}

impl Keys {
    /// From DynamoDB JSON without building an item: `None` when the map is
    /// malformed or empty.
    fn of_json(v: &Value) -> Option<Keys> {
        let map = v.as_object()?;
        check_image(v)?;
        let attr = |name| match map.get(name) {
            None => KeyAttr::Missing,
            Some(t) => match t.get("S").and_then(Value::as_str) {
                Some(s) => KeyAttr::S(s.to_owned()),
                None => KeyAttr::NotString,
            },
        };
        (!map.is_empty()).then(|| Keys {
            pk: attr(PK),
            sk: attr(SK),
        })
    }

    fn key(&self) -> Option<ItemKey> {
        match (&self.pk, &self.sk) {
            (KeyAttr::S(pk), KeyAttr::S(sk)) => Some(ItemKey::new(pk.clone(), sk.clone())),
            _ => None,
        }
    }
}

/// The parts common to both decoders, once extracted.
struct Raw<'a> {
    seq: Option<SequenceNumber>,
    event_name: Option<&'a str>,
    view: Option<Result<ViewType, ()>>,
    keys: Option<Keys>,
    new: Image<'a>,
    old: Image<'a>,
    by_ttl_service: bool,
}

/// `kind`: the key's kind when the caller has parsed it already.
fn finish(profile: &Profile, raw: Raw, kind: Option<ItemKind>) -> Result<Change, CoreError> {
    let seq = raw.seq;
    let err = |key: Option<&ItemKey>, p| record_error(seq.as_ref(), key, p);

    // The key first, so that later errors can name it.
    let keys = raw
        .keys
        .ok_or_else(|| err(None, RecordProblem::MissingKeys))?;
    let key_attr = |name: &'static str, attr: KeyAttr| match attr {
        KeyAttr::Missing => Err(err(None, RecordProblem::MissingKeyAttribute(name))),
        KeyAttr::S(s) => Ok(s),
        KeyAttr::NotString => Err(err(None, RecordProblem::KeyNotString(name))),
    };
    let pk = key_attr(PK, keys.pk)?;
    let key = ItemKey::new(pk, key_attr(SK, keys.sk)?);

    let Some(seq_ok) = seq.clone() else {
        return Err(err(Some(&key), RecordProblem::MissingSequenceNumber));
    };
    let event = match raw.event_name {
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
    let (new, old) = (raw.new, raw.old);
    if let Some(view) = view {
        let needs_new = view.has_new() && event != EventName::Remove;
        let needs_old = view.has_old() && event != EventName::Insert;
        if needs_new && !new.present() {
            return Err(err(Some(&key), RecordProblem::MissingImage(NEW_IMAGE)));
        }
        if needs_old && !old.present() {
            return Err(err(Some(&key), RecordProblem::MissingImage(OLD_IMAGE)));
        }
    }
    for (name, image) in [(NEW_IMAGE, &new), (OLD_IMAGE, &old)] {
        if image.present() && !image.key_is(&key) {
            return Err(err(Some(&key), RecordProblem::ImageKeyMismatch(name)));
        }
    }
    let (new, old) = (new.into_item(), old.into_item());

    let kind = kind.unwrap_or_else(|| ItemKind::parse(profile, &key.pk, &key.sk));
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

/// Decode one record from raw JSON, both images built. Never panics.
pub fn decode_json_record(profile: &Profile, record: &Value) -> Result<Change, CoreError> {
    decode_json_record_with(profile, record, Images::All)
}

/// Decode one record from raw JSON, building the images `images` asks for.
/// Never panics. Accepts and refuses the same records as
/// [`decode_json_record`], except that an INSERT or REMOVE image under
/// [`Images::ForModify`] is checked down to its attributes' type tags only.
pub fn decode_json_record_with(
    profile: &Profile,
    record: &Value,
    images: Images,
) -> Result<Change, CoreError> {
    Scanned::of(record)?.decode(profile, images, None)
}

/// A record sorted out by the kind of its key before anything else is read
/// (see [`decode_json_record_gated`]).
#[derive(Debug)]
pub enum Gated {
    /// The key names a kind the caller does not want: nothing else of the
    /// record was checked or built (its images, sequence number, event name).
    Skipped(ItemKind),
    /// The record, decoded, or why it cannot be.
    Decoded(Result<Change, CoreError>),
}

/// [`decode_json_record_with`], but the key is read first and parsed once:
/// when `wanted` refuses its kind the record is not decoded (the one scan
/// that finds its parts has run; nothing found is checked). A record
/// whose key cannot be read (no `Keys`, a key attribute that is not a
/// string) is decoded, so that the error says what is wrong with it.
pub fn decode_json_record_gated(
    profile: &Profile,
    record: &Value,
    images: Images,
    wanted: impl FnOnce(&ItemKind) -> bool,
) -> Gated {
    let scanned = match Scanned::of(record) {
        Ok(s) => s,
        Err(e) => return Gated::Decoded(Err(e)),
    };
    let kind = scanned
        .key_strs()
        .map(|(pk, sk)| ItemKind::parse(profile, pk, sk));
    match kind {
        Some(kind) if !wanted(&kind) => Gated::Skipped(kind),
        kind => Gated::Decoded(scanned.decode(profile, images, kind)),
    }
}

/// A JSON record's parts, found in one pass over each of its maps (the maps
/// are B-trees: this is the hot path of a 10,000-record batch).
struct Scanned<'a> {
    seq: Option<&'a str>,
    event_name: Option<&'a str>,
    keys: Option<&'a Value>,
    new: Option<&'a Value>,
    old: Option<&'a Value>,
    view: Option<&'a Value>,
    identity: Option<&'a Value>,
}

impl<'a> Scanned<'a> {
    fn of(record: &'a Value) -> Result<Scanned<'a>, CoreError> {
        let Some(obj) = record.as_object() else {
            return Err(record_error(None, None, RecordProblem::NotJson));
        };
        let (mut ddb, mut event_name, mut identity, mut identity_alt) = (None, None, None, None);
        for (k, v) in obj {
            match k.as_str() {
                "dynamodb" => ddb = Some(v),
                "eventName" => event_name = v.as_str(),
                "userIdentity" => identity = Some(v),
                "UserIdentity" => identity_alt = Some(v),
                _ => {}
            }
        }
        let ddb = ddb.and_then(Value::as_object);
        let mut s = Scanned {
            seq: None,
            event_name,
            keys: None,
            new: None,
            old: None,
            view: None,
            identity: identity.or(identity_alt),
        };
        for (k, v) in ddb.into_iter().flatten() {
            match k.as_str() {
                "SequenceNumber" => s.seq = v.as_str(),
                "Keys" => s.keys = Some(v),
                NEW_IMAGE => s.new = Some(v),
                OLD_IMAGE => s.old = Some(v),
                "StreamViewType" => s.view = Some(v),
                _ => {}
            }
        }
        if ddb.is_none() {
            let seq = s.seq.map(SequenceNumber::new);
            return Err(record_error(
                seq.as_ref(),
                None,
                RecordProblem::MissingStreamRecord,
            ));
        }
        Ok(s)
    }

    /// The key's two strings, when `Keys` holds both as strings (whatever
    /// else it holds: [`Scanned::decode`] checks the rest).
    fn key_strs(&self) -> Option<(&'a str, &'a str)> {
        let keys = self.keys?.as_object()?;
        let s = |a: &str| keys.get(a)?.get("S")?.as_str();
        Some((s(PK)?, s(SK)?))
    }

    /// The [`Change`]; `kind`: the key's kind when already parsed (from
    /// [`Scanned::key_strs`], so of the same strings).
    fn decode(
        self,
        profile: &Profile,
        images: Images,
        kind: Option<ItemKind>,
    ) -> Result<Change, CoreError> {
        let build = images == Images::All
            || !matches!(
                self.event_name.and_then(EventName::parse),
                Some(EventName::Insert | EventName::Remove)
            );
        let image =
            |name: &'static str, v: Option<&'a Value>| -> Result<Image<'a>, RecordProblem> {
                match v {
                    None | Some(Value::Null) => Ok(Image::Absent),
                    Some(v) if build => Item::deserialize(v)
                        .map(Image::Built)
                        .map_err(|_| RecordProblem::MalformedImage(name)),
                    Some(v) => check_image(v).ok_or(RecordProblem::MalformedImage(name)),
                }
            };
        // A malformed Keys map is reported as missing keys; a malformed image
        // after the key is known, so that the error can name it.
        let keys = self.keys.and_then(Keys::of_json);
        let new = image(NEW_IMAGE, self.new);
        let old = image(OLD_IMAGE, self.old);

        let view = match self.view {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(ViewType::parse).ok_or(())),
        };
        let identity = self.identity.and_then(Value::as_object);
        let field = |o: &'a serde_json::Map<String, Value>, a: &str, b: &str| {
            o.get(a).or_else(|| o.get(b)).and_then(Value::as_str)
        };
        let by_ttl_service = identity.is_some_and(|u| {
            field(u, "type", "Type") == Some(TTL_IDENTITY_TYPE)
                && field(u, "principalId", "PrincipalId") == Some(TTL_IDENTITY_PRINCIPAL)
        });

        let seq = self.seq.map(SequenceNumber::new);
        let (new, old) = match (new, old) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(p), _) | (_, Err(p)) => {
                // Name the key if it can be read.
                let key = keys.as_ref().and_then(Keys::key);
                return Err(record_error(seq.as_ref(), key.as_ref(), p));
            }
        };

        finish(
            profile,
            Raw {
                seq,
                event_name: self.event_name,
                view,
                keys,
                new,
                old,
                by_ttl_service,
            },
            kind,
        )
    }
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
