//! The crate's one error type. Variants are added as modules need them;
//! an error names the item key it is about, never a tag value.

/// Everything the pure core can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A table format name that is not one we serve.
    #[error("unknown table format {0:?}: accepted values are \"auto\", \"v0.1\" and \"main\"")]
    UnknownTableFormat(String),

    /// `TABLE_FORMAT` names one format and the table is in the other:
    /// nothing may be written (contract §7).
    #[error("table {table} is in format {detected} ({evidence}), but TABLE_FORMAT={configured}: nothing was written. Unset TABLE_FORMAT (or set it to auto) to follow the table, or point the suite at a {configured} table")]
    FormatMismatch {
        table: String,
        configured: crate::format::TableFormat,
        detected: crate::format::TableFormat,
        evidence: String,
    },

    /// A migration's source or target table is not in the format its
    /// direction needs: nothing was read or written.
    #[error("the migration's {role} table {table} is in format {detected}, but {direction} needs a {expected} {role}: nothing was written. Check --source and --target (and --reverse)")]
    MigrationFormat {
        role: &'static str,
        table: String,
        direction: String,
        expected: crate::format::TableFormat,
        detected: crate::format::TableFormat,
    },

    /// `TABLE_FORMAT=auto` and the table shows nothing that tells its format.
    #[error("cannot tell the format of table {table} ({evidence}): set TABLE_FORMAT=v0.1 or TABLE_FORMAT=main")]
    FormatUndetectable { table: String, evidence: String },

    /// A CONFIG item whose attribute has the wrong type or an unusable value.
    #[error("malformed config item {key}: attribute {attribute:?} {problem}")]
    MalformedConfig {
        key: crate::item::ItemKey,
        attribute: &'static str,
        problem: &'static str,
    },

    /// A stream record we cannot decode (stream.rs). Names the sequence
    /// number and the key when known; never an attribute value.
    #[error("stream record {}{}: {problem}", seq.as_ref().map_or("(no sequence number)", |s| s.as_str()), key.as_ref().map(|k| format!(" ({k})")).unwrap_or_default())]
    StreamRecord {
        seq: Option<crate::record::SequenceNumber>,
        key: Option<crate::item::ItemKey>,
        problem: crate::record::RecordProblem,
    },

    /// The ttl-sweeper's checkpoint item cannot be read back (sweep.rs).
    #[error("unreadable checkpoint {key}: {problem}")]
    Checkpoint {
        key: crate::item::ItemKey,
        problem: String,
    },
}
