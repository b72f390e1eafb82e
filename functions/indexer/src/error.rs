//! The crate's one error type.

use mlflow_ddb_aws::AwsError;
use mlflow_ddb_engine::EngineError;

/// Why an invocation failed as a whole (a failed target is counted in the
/// response, not raised).
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The payload is not a valid segment request.
    #[error("invalid request: {0}")]
    Request(String),
    /// The configuration could not be read, or is malformed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The table's format was refused or could not be read: nothing was
    /// read or written.
    #[error(transparent)]
    Format(EngineError),
    /// The first scan page of this invocation failed.
    #[error("scan of segment {segment}: {source}")]
    Scan {
        segment: u32,
        #[source]
        source: AwsError,
    },
}

impl IndexerError {
    /// Worth invoking again with the same payload.
    pub fn is_transient(&self) -> bool {
        match self {
            IndexerError::Request(_) => false,
            IndexerError::Engine(e) => e.is_transient(),
            IndexerError::Format(e) => e.is_transient(),
            IndexerError::Scan { source, .. } => source.is_transient(),
        }
    }
}
