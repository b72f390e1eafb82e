//! `indexer`: one-shot backfill and drift verification of the derived state
//! of an mlflow-dynamodbstore table (tags maps, FTS items), at any size.
//!
//! It scans the table in parallel segments. For every target it meets (a
//! META item that receives derived state: experiments, runs, traces,
//! registered models, model versions) it reconciles the tags map and FTS
//! items with what the reference store would write from the sources under
//! the current `CONFIG` — through the one engine the materializer uses too
//! (`mlflow_ddb_engine::reconcile_targets`). It writes only differences,
//! never touches non-derived attributes or items, never re-creates a deleted
//! target; on a correct table it writes nothing. See [`walk::target_of`]
//! for why scanned tag and FTS items need not be mapped to their targets.
//!
//! # Invocation (Lambda payload)
//!
//! ```json
//! { "mode": "backfill" | "verify", "segment": 0, "total_segments": 8,
//!   "start_key": null, "dry_run": false,
//!   "page_size": null, "examples": 10 }
//! ```
//!
//! The response has the same shape ([`SegmentState`]) plus `done`,
//! `counts` and `drift` (by category, with up to `examples` keys each): it
//! **is** the next request.
//!
//! # Driver contract
//!
//! 1. Choose `n` segments (1..=1,000,000; more segments, more parallel
//!    reads). Invoke once per segment `i` in `0..n` with
//!    `{"mode": ..., "segment": i, "total_segments": n}`, concurrently.
//! 2. When a response has `"done": false`, the invocation stopped cleanly
//!    before its deadline (it keeps `reserve` + twice its longest page
//!    free): invoke again with **that response as the payload**, unchanged.
//!    Each invocation processes at least one page, so this terminates.
//! 3. When every segment's last response has `"done": true`, merge their
//!    `counts` and `drift` (sums; examples concatenated). The walk is
//!    complete; a `verify` is clean when every category count is 0.
//! 4. A failed invocation (an error, not a response) can be retried with
//!    the same payload: pages are reconciled level-triggered, so a page
//!    processed twice writes only what is still missing (nothing, if the
//!    first attempt got through).
//!
//! The CLI (`indexer backfill|verify --table T --segments N`) is such a
//! driver ([`drive::drive`]); in the infrastructure, a Step Functions Map
//! over the segments with a loop `Invoke → Choice($.done)` per segment.
//!
//! Consistency: a scan meets every item that exists for the whole walk
//! exactly once. Items created during the walk may be missed; the stream
//! consumer (materializer) covers them. Reads of each target, its sources
//! and its FTS items are strongly consistent.

pub mod drive;
pub mod error;
pub mod metrics;
pub mod state;
pub mod walk;

use std::time::Instant;

pub use drive::{drive, DriveOptions, SegmentCheckpoints, Summary};
pub use error::IndexerError;
pub use state::{Category, CategoryReport, Counts, DriftReport, SegmentState, WalkMode};
pub use walk::{handle, target_of, Deps, Settings};

/// The Lambda entry: parse the payload, run one invocation, print its EMF
/// line (when `emit_metrics`; dimensions `function_name`, `table_name`),
/// and return the next state as JSON.
pub async fn handle_event(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: Instant,
    function_name: &str,
    table_name: &str,
    emit_metrics: bool,
) -> Result<serde_json::Value, IndexerError> {
    let mut state: SegmentState = serde_json::from_value(payload)
        .map_err(|e| IndexerError::Request(format!("payload: {e}")))?;
    let carried = std::mem::take(&mut state.counts);
    let mut next = handle(deps, state, deadline).await?;
    if emit_metrics {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        println!(
            "{}",
            metrics::emf_line(function_name, table_name, &next, &next.counts, now_ms)
        );
    }
    next.counts.merge(&carried);
    if let (WalkMode::Copy, Some(target)) = (next.mode, &deps.target) {
        // The migration's checkpoint, where `migrate status` and a later
        // `migrate copy` (which resumes, then rebuilds the derived state)
        // find it.
        let sk = mlflow_ddb_engine::bookkeeping::segment_sk(next.segment, next.total_segments);
        mlflow_ddb_engine::bookkeeping::save(target.as_ref(), &sk, &next)
            .await
            .map_err(|e| IndexerError::Request(format!("saving the copy checkpoint {sk}: {e}")))?;
    }
    if next.done {
        // The whole segment's report, for the log (a driver may keep only
        // the counts): keys and tag keys only, never values.
        let drift = serde_json::to_string(&next.drift).unwrap_or_default();
        let counts = serde_json::to_string(&next.counts).unwrap_or_default();
        tracing::info!(
            segment = next.segment,
            total_segments = next.total_segments,
            clean = next.drift.is_clean(),
            counts = %counts,
            drift = %drift,
            "segment done"
        );
    }
    serde_json::to_value(&next).map_err(|e| IndexerError::Request(format!("response: {e}")))
}
