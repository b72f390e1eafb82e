//! A driver: every segment of a walk, concurrently, each resumed from its
//! continuations until done (what the CLI does, and what a Step Functions
//! Map does in the infrastructure).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_core::format::TableFormat;
use serde::Serialize;
use tokio::task::JoinSet;
use tracing::warn;

use crate::error::IndexerError;
use crate::state::{Counts, DriftReport, SegmentState, WalkMode};
use crate::walk::{handle, Deps};

/// What to walk and how.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    pub mode: WalkMode,
    pub segments: u32,
    pub dry_run: bool,
    /// Backfill: delete FTS items in the other format's layout.
    pub remove_foreign: bool,
    pub page_size: Option<u32>,
    pub examples: usize,
    /// Deadline of each emulated invocation (Lambda allows up to 15 min).
    pub invocation_timeout: Duration,
    /// Invocations of a segment that may fail transiently in a row.
    pub max_attempts: u32,
    /// Where each segment's state is kept between invocations: a drive
    /// resumes every segment from its saved state (the migration keeps
    /// them in the target table); `None`: every drive starts afresh.
    pub checkpoints: Option<Arc<dyn SegmentCheckpoints>>,
}

/// Saved segment states (continuations), for a drive that survives its
/// process.
#[async_trait::async_trait]
pub trait SegmentCheckpoints: Send + Sync + std::fmt::Debug {
    /// The saved state of `segment` of `total_segments`, if any.
    async fn load(
        &self,
        segment: u32,
        total_segments: u32,
    ) -> Result<Option<SegmentState>, IndexerError>;
    /// Save a state (after every invocation).
    async fn save(&self, state: &SegmentState) -> Result<(), IndexerError>;
}

impl DriveOptions {
    pub fn new(mode: WalkMode, segments: u32) -> Self {
        DriveOptions {
            mode,
            segments: segments.max(1),
            dry_run: false,
            remove_foreign: false,
            page_size: None,
            examples: crate::state::DEFAULT_EXAMPLES,
            invocation_timeout: Duration::from_secs(15 * 60),
            max_attempts: 3,
            checkpoints: None,
        }
    }
}

/// The result of a whole walk: what the CLI prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub mode: WalkMode,
    pub dry_run: bool,
    /// The table's format and how it was told.
    pub format: TableFormat,
    pub format_evidence: String,
    pub segments: u32,
    /// Every segment finished.
    pub done: bool,
    pub counts: Counts,
    pub drift: DriftReport,
    pub elapsed_s: f64,
    pub items_per_s: f64,
    /// Read and write requests per scanned item.
    pub requests_per_item: f64,
    /// What the requests cost at the endpoint (every attempt, retries,
    /// transient failures, the adaptive in-flight limit and its low point),
    /// for a store that sends requests.
    pub gate: Option<mlflow_ddb_aws::GateStats>,
}

impl Summary {
    /// Drift (or errors) found.
    pub fn clean(&self) -> bool {
        self.drift.is_clean()
    }
}

/// Walk every segment to its end: `segments` concurrent loops of
/// `state = handle(state)`. A segment whose invocation fails
/// `max_attempts` times in a row (transiently, or at once permanently)
/// fails the drive.
pub async fn drive(deps: Arc<Deps>, opts: &DriveOptions) -> Result<Summary, IndexerError> {
    let t0 = Instant::now();
    // Before any segment starts: a table in the other format stops here.
    let detection = deps.format.resolve().await.map_err(IndexerError::Format)?;
    let mut tasks = JoinSet::new();
    for segment in 0..opts.segments {
        let deps = deps.clone();
        let saved = match &opts.checkpoints {
            Some(c) => c.load(segment, opts.segments).await?,
            None => None,
        };
        let mut state = saved.unwrap_or_else(|| {
            let mut state = SegmentState::new(opts.mode, segment, opts.segments);
            state.dry_run = opts.dry_run;
            state.remove_foreign = opts.remove_foreign;
            state.page_size = opts.page_size;
            state.examples = opts.examples;
            state
        });
        state.page_size = opts.page_size;
        let opts = opts.clone();
        tasks.spawn(async move { run_segment(&deps, state, &opts).await });
    }
    let mut counts = Counts::default();
    let mut drift = DriftReport::default();
    let mut done = true;
    let mut first_err = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(state)) => {
                counts.merge(&state.counts);
                drift.merge(&state.drift, opts.examples);
                done &= state.done;
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(join) => {
                first_err.get_or_insert(IndexerError::Request(format!("segment task: {join}")));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let items = counts.items_scanned as f64;
    Ok(Summary {
        mode: opts.mode,
        dry_run: opts.dry_run,
        format: detection.format,
        format_evidence: detection.evidence.clone(),
        segments: opts.segments,
        done,
        requests_per_item: if items > 0.0 {
            (counts.read_requests + if opts.dry_run { 0 } else { counts.writes }) as f64 / items
        } else {
            0.0
        },
        items_per_s: if elapsed > 0.0 { items / elapsed } else { 0.0 },
        elapsed_s: elapsed,
        counts,
        drift,
        gate: deps.store.gate_stats(),
    })
}

/// One segment, resumed until done.
pub async fn run_segment(
    deps: &Deps,
    mut state: SegmentState,
    opts: &DriveOptions,
) -> Result<SegmentState, IndexerError> {
    let mut failures = 0;
    while !state.done {
        let deadline = Instant::now() + opts.invocation_timeout;
        match handle(deps, state.clone(), deadline).await {
            Ok(next) => {
                failures = 0;
                state = next;
                if let Some(c) = &opts.checkpoints {
                    c.save(&state).await?;
                }
            }
            Err(e) if e.is_transient() && failures + 1 < opts.max_attempts => {
                // What a Step Functions Retry does for the Lambda task: the
                // invocation (not a request: each was retried by the
                // adapter) again, from the last continuation, after a
                // backoff of the same policy.
                failures += 1;
                let wait = mlflow_ddb_aws::RetryPolicy::default().backoff(failures);
                warn!(segment = state.segment, error = %e, failures, wait_ms = wait.as_millis() as u64, "invocation failed: again from the last continuation");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(state)
}
