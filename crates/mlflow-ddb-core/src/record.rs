//! What identifies a stream record and what can be wrong with one: the
//! leaf under both `stream` (which decodes records) and `error` (whose
//! record error names them), so that neither depends on the other.

use std::cmp::Ordering;
use std::fmt;

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
