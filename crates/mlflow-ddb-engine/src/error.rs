//! The crate's one error type.

use std::sync::Arc;

use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_core::CoreError;
use mlflow_ddb_ports::{classify, AwsError, Classification};

/// Why one target (or the configuration) could not be reconciled. Names the
/// target key and the operation, never an attribute value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// A read or write for `target` failed. The adapter error is shared
    /// (`Arc`) because one batched read serves up to 100 targets.
    #[error("{op} for {target}: {source}")]
    Store {
        target: ItemKey,
        op: &'static str,
        #[source]
        source: Arc<AwsError>,
    },
    /// The `CONFIG` partition could not be read.
    #[error("reading the CONFIG partition: {0}")]
    ConfigRead(#[source] Arc<AwsError>),
    /// A `CONFIG` item is malformed: nothing can be planned safely.
    #[error(transparent)]
    Config(#[from] CoreError),
    /// The table's format could not be read (DescribeTable failed).
    #[error("reading the table's format: {0}")]
    FormatRead(#[source] Arc<AwsError>),
    /// The table is in another format than `TABLE_FORMAT` says, or in none
    /// we can tell: nothing may be written.
    #[error(transparent)]
    Format(CoreError),
}

impl EngineError {
    pub(crate) fn store(target: &ItemKey, op: &'static str, source: Arc<AwsError>) -> Self {
        EngineError::Store {
            target: target.clone(),
            op,
            source,
        }
    }

    /// The target key this error is about, when it is about one.
    pub fn target(&self) -> Option<&ItemKey> {
        match self {
            EngineError::Store { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The adapter's [`classify`] of the underlying error; a malformed
    /// configuration is permanent.
    pub fn classification(&self) -> Option<Classification> {
        match self {
            EngineError::Store { source, .. }
            | EngineError::ConfigRead(source)
            | EngineError::FormatRead(source) => Some(classify(source)),
            EngineError::Config(_) | EngineError::Format(_) => None,
        }
    }

    /// A write refused because an index key has the other type: the table
    /// is not in the format planned for (re-detect it, then retry).
    pub fn is_index_type_mismatch(&self) -> bool {
        matches!(self, EngineError::Store { source, .. } if source.is_index_type_mismatch())
    }

    /// Worth retrying (throttling, 5xx, timeouts, retry budget exhausted).
    pub fn is_transient(&self) -> bool {
        self.classification().is_some_and(|c| c.is_transient())
    }
}
