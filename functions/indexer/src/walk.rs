//! One invocation: walk a scan segment from its continuation key until it
//! ends or the deadline nears, reconciling every target met.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::Store;
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{AttributeValue, ItemKey, PK, SK};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::reads_for;
use mlflow_ddb_engine::{load_config, reconcile_targets, MeteredStore, Mode};
use tracing::{info, warn};

use crate::error::IndexerError;
use crate::state::{Counts, DriftReport, SegmentState, WalkMode};

/// DynamoDB's largest `TotalSegments`.
pub const MAX_SEGMENTS: u32 = 1_000_000;

/// Tuning, read once by `main`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Targets reconciled at once within a segment.
    pub concurrency: usize,
    /// Time kept free before the deadline (the response must still get
    /// out). A page is started only when `reserve` plus twice the longest
    /// page so far remain.
    pub reserve: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 16,
            reserve: Duration::from_secs(5),
        }
    }
}

/// What an invocation needs, built once.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub profile: &'static Profile,
    pub settings: Settings,
    /// Items scanned, shared with a progress display (CLI).
    pub progress: Arc<AtomicU64>,
}

impl Deps {
    pub fn new(store: Arc<dyn Store>, profile: &'static Profile, settings: Settings) -> Self {
        Deps {
            store,
            profile,
            settings,
            progress: Arc::default(),
        }
    }
}

/// The target a scanned key stands for: the key itself when it is a target
/// of this format (a META item with derived state), else `None`.
///
/// Tag, param and assessment items, and FTS items, are *not* mapped to
/// their target: every target is itself an item of the table, and a scan
/// meets every item exactly once across all segments, so reconciling
/// targets where they are met reaches each one exactly once — never twice
/// from two segments at the same time (which could write the same repair
/// twice), never once per page of its tags. A source whose target is gone
/// needs nothing (a target is never re-created); a target created during
/// the walk is the stream consumer's.
pub fn target_of(profile: &Profile, config: &Config, key: &ItemKey) -> Option<ItemKey> {
    let kind = ItemKind::parse_key(profile, key);
    (kind.relevance() == Relevance::Target && reads_for(profile, config, key).is_some())
        .then(|| key.clone())
}

/// Run one invocation on `state`; returns the next state (`done`, or a
/// continuation). At least one page is processed per call, so a driver
/// always progresses.
pub async fn handle(
    deps: &Deps,
    mut state: SegmentState,
    deadline: Instant,
) -> Result<SegmentState, IndexerError> {
    if state.total_segments == 0 || state.total_segments > MAX_SEGMENTS {
        return Err(IndexerError::Request(format!(
            "total_segments must be within 1..={MAX_SEGMENTS}"
        )));
    }
    if state.segment >= state.total_segments {
        return Err(IndexerError::Request(
            "segment must be below total_segments".into(),
        ));
    }
    if state.done {
        return Ok(state);
    }
    let store = MeteredStore::new(deps.store.clone());
    let config = load_config(&store).await?;
    let mode = match (state.mode, state.dry_run) {
        (WalkMode::Verify, _) => Mode::Verify,
        (WalkMode::Backfill, true) => Mode::DryRun,
        (WalkMode::Backfill, false) => Mode::Apply,
    };
    let mut counts = Counts {
        invocations: 1,
        ..Counts::default()
    };
    let mut drift = DriftReport::default();
    let mut longest = Duration::ZERO;
    let mut pages = 0u64;
    loop {
        let now = Instant::now();
        if pages > 0 && now + deps.settings.reserve + longest * 2 >= deadline {
            info!(
                segment = state.segment,
                pages, "deadline near: returning a continuation"
            );
            break;
        }
        let page = match store
            .scan_segment(
                state.segment,
                state.total_segments,
                state.start_key.clone(),
                Some(&[PK, SK]),
                state.page_size,
            )
            .await
        {
            Ok(p) => p,
            // Keep what this call did: the next call retries from here.
            Err(e) if pages > 0 => {
                warn!(segment = state.segment, error = %e, "scan failed: returning a continuation");
                break;
            }
            Err(e) => {
                return Err(IndexerError::Scan {
                    segment: state.segment,
                    source: e,
                })
            }
        };
        let mut seen = HashSet::new();
        let targets: Vec<ItemKey> = page
            .items
            .iter()
            .filter_map(|i| match (i.get(PK), i.get(SK)) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => target_of(
                    deps.profile,
                    &config,
                    &ItemKey::new(pk.as_str(), sk.as_str()),
                ),
                _ => None,
            })
            .filter(|k| seen.insert(k.clone()))
            .collect();
        counts.targets += targets.len() as u64;
        let mut outcomes = reconcile_targets(
            &store,
            deps.profile,
            &config,
            &targets,
            mode,
            deps.settings.concurrency,
        )
        .await;
        // One more attempt for targets that failed transiently (the adapter
        // has retried each request already).
        let retry: Vec<ItemKey> = outcomes
            .iter()
            .filter(|o| o.result.as_ref().is_err_and(|e| e.is_transient()))
            .map(|o| o.target.clone())
            .collect();
        if !retry.is_empty() {
            warn!(
                segment = state.segment,
                targets = retry.len(),
                "retrying failed targets"
            );
            let again = reconcile_targets(
                &store,
                deps.profile,
                &config,
                &retry,
                mode,
                deps.settings.concurrency,
            )
            .await;
            outcomes.retain(|o| !retry.contains(&o.target));
            outcomes.extend(again);
        }
        for o in &outcomes {
            drift.record(&mut counts, o, state.examples);
        }
        counts.pages += 1;
        counts.items_scanned += page.items.len() as u64;
        deps.progress
            .fetch_add(page.items.len() as u64, Ordering::Relaxed);
        pages += 1;
        longest = longest.max(now.elapsed());
        state.start_key = page.last_key;
        if state.start_key.is_none() {
            state.done = true;
            break;
        }
    }
    counts.read_requests = store.counts().reads();
    info!(
        segment = state.segment,
        total_segments = state.total_segments,
        done = state.done,
        pages = counts.pages,
        items = counts.items_scanned,
        targets = counts.targets,
        drifted = counts.drifted_targets,
        writes = counts.writes,
        "segment invocation finished"
    );
    state.counts.merge(&counts);
    let max = state.examples;
    state.drift.merge(&drift, max);
    Ok(state)
}
