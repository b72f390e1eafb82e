//! The migration's bookkeeping, kept in the target table under
//! `PK = OPS#migrate` (the reference never reads `OPS#` partitions; the
//! migration's verify leaves them aside), shared by the `migrate` CLI and
//! the indexer's copy invocations (Lambda):
//!
//! - `META`: the source, when the copy started and the source stream's ARN
//!   then (the position the sync starts from), the segmentation, and whether
//!   the copy is complete;
//! - `SEGMENT#<total>#<segment>`: each copy segment's state (continuation
//!   and counts), saved after every invocation, so a restarted copy resumes
//!   and `migrate status` sees a copy the Step Functions Map runs;
//! - `SYNC`, `SYNC#reverse`: the sync's stream checkpoints after its last run;
//! - `VERIFY`: the last verify's result.

use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_ports::{AwsError, Store};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The bookkeeping partition.
pub const OPS_PK: &str = "OPS#migrate";
const STATE: &str = "state";

/// `OPS#migrate/META`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationMeta {
    pub source: String,
    pub target: String,
    /// When the copy first started (epoch ms): the sync replays every change
    /// the source's stream holds from before this instant on.
    pub started_at_ms: i64,
    /// The source's stream when the copy started.
    pub stream_arn: String,
    pub segments: u32,
    #[serde(default)]
    pub copy_done: bool,
    #[serde(default)]
    pub copy_done_at_ms: Option<i64>,
}

fn key(sk: &str) -> ItemKey {
    ItemKey::new(OPS_PK, sk)
}

/// Read the JSON document kept under `sk`.
pub async fn load<T: DeserializeOwned>(store: &dyn Store, sk: &str) -> Result<Option<T>, AwsError> {
    let Some(item) = store.get(&key(sk), true).await? else {
        return Ok(None);
    };
    match item.get(STATE) {
        Some(AttributeValue::S(s)) => {
            serde_json::from_str(s)
                .map(Some)
                .map_err(|e| AwsError::Invalid {
                    op: "GetItem",
                    key: Some(key(sk)),
                    reason: format!("unreadable migration bookkeeping: {e}"),
                })
        }
        _ => Ok(None),
    }
}

/// Keep `value` as a JSON document under `sk` (one small item).
pub async fn save<T: Serialize>(store: &dyn Store, sk: &str, value: &T) -> Result<(), AwsError> {
    let mut item = Item::default();
    item.insert(PK.into(), AttributeValue::S(OPS_PK.into()));
    item.insert(SK.into(), AttributeValue::S(sk.into()));
    let body = serde_json::to_string(value).unwrap_or_default();
    item.insert(STATE.into(), AttributeValue::S(body));
    store.batch_write(vec![item], Vec::new()).await.map(|_| ())
}

pub fn segment_sk(segment: u32, total: u32) -> String {
    format!("SEGMENT#{total}#{segment:07}")
}
