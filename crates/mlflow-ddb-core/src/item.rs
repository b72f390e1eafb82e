//! The currency every layer shares: a DynamoDB item as plain data, and its key.

use std::fmt;

pub use serde_dynamo::{AttributeValue, Item};

/// Name of the partition key attribute.
pub const PK: &str = "PK";
/// Name of the sort key attribute.
pub const SK: &str = "SK";

/// The primary key of one item of the table, as the two raw strings.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}
