//! The copy driver's checkpoints in the target: the engine's migration
//! bookkeeping ([`mlflow_ddb_engine::bookkeeping`]) behind the indexer's
//! [`SegmentCheckpoints`].

use std::sync::Arc;

use indexer::{IndexerError, SegmentCheckpoints, SegmentState};
use mlflow_ddb_aws::{AwsError, Store};
use mlflow_ddb_core::item::AttributeValue;
pub use mlflow_ddb_engine::bookkeeping::{load, save, segment_sk, MigrationMeta, OPS_PK};

const STATE: &str = "state";

/// Copy segments' states in the target (the indexer driver's checkpoints).
pub struct TargetCheckpoints {
    pub target: Arc<dyn Store>,
}

impl std::fmt::Debug for TargetCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetCheckpoints")
    }
}

#[async_trait::async_trait]
impl SegmentCheckpoints for TargetCheckpoints {
    async fn load(&self, segment: u32, total: u32) -> Result<Option<SegmentState>, IndexerError> {
        load(self.target.as_ref(), &segment_sk(segment, total))
            .await
            .map_err(|e| IndexerError::Request(format!("reading the copy checkpoint: {e}")))
    }

    async fn save(&self, state: &SegmentState) -> Result<(), IndexerError> {
        save(
            self.target.as_ref(),
            &segment_sk(state.segment, state.total_segments),
            state,
        )
        .await
        .map_err(|e| IndexerError::Request(format!("saving the copy checkpoint: {e}")))
    }
}

/// Every saved copy segment of a `total`-segment copy.
pub async fn segments(store: &dyn Store, total: u32) -> Result<Vec<SegmentState>, AwsError> {
    let items = store
        .query_prefix(OPS_PK, &format!("SEGMENT#{total}#"), true, None)
        .await?;
    Ok(items
        .iter()
        .filter_map(|i| match i.get(STATE) {
            Some(AttributeValue::S(s)) => serde_json::from_str(s).ok(),
            _ => None,
        })
        .collect())
}
