//! The crate's one error type.

use std::sync::Arc;

use mlflow_ddb_aws::{classify, AwsError, Classification};
use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_core::CoreError;

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
            EngineError::Store { source, .. } | EngineError::ConfigRead(source) => {
                Some(classify(source))
            }
            EngineError::Config(_) => None,
        }
    }

    /// Worth retrying (throttling, 5xx, timeouts, retry budget exhausted).
    pub fn is_transient(&self) -> bool {
        self.classification().is_some_and(|c| c.is_transient())
    }
}
