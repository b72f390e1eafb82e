//! One invocation: walk a scan segment from its continuation key until it
//! ends or the deadline nears, reconciling every target met.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::Store;
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{is_foreign_fts_sk, Profile};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::reads_for;
use mlflow_ddb_engine::migrate::{self, Direction, Writes};
use mlflow_ddb_engine::{load_config, reconcile_targets, FormatResolver, MeteredStore, Mode};
use tracing::{info, warn};

use crate::error::IndexerError;
use crate::state::{Category, Counts, DriftReport, SegmentState, WalkMode};

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
    /// The table's format, detected before the first read (cached).
    pub format: FormatResolver,
    pub settings: Settings,
    /// Items scanned, shared with a progress display (CLI).
    pub progress: Arc<AtomicU64>,
    /// [`WalkMode::Copy`]: the table the transformed items go to.
    pub target: Option<Arc<dyn Store>>,
}

impl Deps {
    pub fn new(store: Arc<dyn Store>, format: FormatResolver, settings: Settings) -> Self {
        Deps {
            store,
            format,
            settings,
            progress: Arc::default(),
            target: None,
        }
    }

    /// A copy walk's dependencies: `source` is scanned, `target` written.
    pub fn copy(
        source: Arc<dyn Store>,
        format: FormatResolver,
        target: Arc<dyn Store>,
        settings: Settings,
    ) -> Self {
        Deps {
            target: Some(target),
            ..Deps::new(source, format, settings)
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
    state: SegmentState,
    deadline: Instant,
) -> Result<SegmentState, IndexerError> {
    // No retry of a request made for this invocation waits past it.
    mlflow_ddb_aws::with_deadline(
        tokio::time::Instant::from_std(deadline),
        handle_within(deps, state, deadline),
    )
    .await
}

async fn handle_within(
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
    let profile = deps.format.profile().await.map_err(IndexerError::Format)?;
    let store = MeteredStore::new(deps.store.clone());
    let config = load_config(&store).await?;
    let mode = match (state.mode, state.dry_run) {
        (WalkMode::Verify, _) => Mode::Verify,
        (WalkMode::Backfill | WalkMode::Copy, true) => Mode::DryRun,
        (WalkMode::Backfill | WalkMode::Copy, false) => Mode::Apply,
    };
    let copy_to = match (state.mode, &deps.target) {
        (WalkMode::Copy, Some(t)) => {
            if profile.format() != Direction::ToMain.source_format() {
                return Err(IndexerError::Request(format!(
                    "copy reads a {} table; this one is {}",
                    Direction::ToMain.source_format(),
                    profile.format()
                )));
            }
            Some(t.clone())
        }
        (WalkMode::Copy, None) => {
            return Err(IndexerError::Request(
                "copy needs a target table (TARGET_TABLE)".into(),
            ))
        }
        _ => None,
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
                // A copy needs whole items; reconciling, keys only.
                copy_to.is_none().then_some(&[PK, SK][..]),
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
        if let Some(target) = &copy_to {
            copy_page(target, &page.items, &state, &mut counts, &mut drift).await;
        } else {
            reconcile_page(
                deps,
                profile,
                &config,
                &store,
                &state,
                mode,
                &page.items,
                &mut counts,
                &mut drift,
            )
            .await;
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

/// A copy page: every item transformed and written into `target` (a dry
/// run counts the requests it would make). An item that cannot be
/// transformed, or a write that fails after the adapter's retries, is an
/// error of the walk with its key, never silent.
async fn copy_page(
    target: &Arc<dyn Store>,
    items: &[Item],
    state: &SegmentState,
    counts: &mut Counts,
    drift: &mut DriftReport,
) {
    let mut writes = Writes::new();
    for item in items {
        writes.copy(Direction::ToMain, item);
    }
    counts.copy.merge(&writes.counts);
    counts.errors += writes.errors.len() as u64;
    for (key, e) in std::mem::take(&mut writes.errors) {
        warn!(segment = state.segment, key = %key, error = %e, "item not transformed");
        drift.add(
            Category::Errors,
            1,
            || format!("{key}: {e}"),
            state.examples,
        );
    }
    if state.dry_run {
        counts.writes +=
            (writes.counts.copied).div_ceil(mlflow_ddb_engine::ITEMS_PER_BATCH_WRITE as u64);
        return;
    }
    // The copy reconciles no target: its config only names targets.
    match migrate::apply(
        target,
        Profile::of(Direction::ToMain.target_format()),
        &Config::default(),
        writes,
    )
    .await
    {
        Ok(a) => counts.writes += a.batch_requests + a.conditional_puts + a.floor_updates,
        Err(e) => {
            warn!(segment = state.segment, error = %e, "copy write failed");
            counts.errors += 1;
            drift.add(Category::Errors, 1, || e.to_string(), state.examples);
        }
    }
}

/// A reconcile page (backfill, verify): the targets among the scanned keys.
#[allow(clippy::too_many_arguments)]
async fn reconcile_page(
    deps: &Deps,
    profile: &Profile,
    config: &Config,
    store: &MeteredStore,
    state: &SegmentState,
    mode: Mode,
    items: &[Item],
    counts: &mut Counts,
    drift: &mut DriftReport,
) {
    {
        let mut seen = HashSet::new();
        let keys = items.iter().filter_map(|i| match (i.get(PK), i.get(SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                Some(ItemKey::new(pk.as_str(), sk.as_str()))
            }
            _ => None,
        });
        let mut foreign = Vec::new();
        let mut targets = Vec::new();
        for key in keys {
            if is_foreign_fts_sk(profile, &key.sk) {
                foreign.push(key);
            } else if let Some(t) = target_of(profile, config, &key) {
                if seen.insert(t.clone()) {
                    targets.push(t);
                }
            }
        }
        remove_foreign(store, state, foreign, counts, drift).await;
        counts.targets += targets.len() as u64;
        // Each request was retried by the adapter's one policy; a target
        // still failing is reported (and the invocation resumes from its
        // continuation), not retried again here.
        let outcomes = reconcile_targets(
            store,
            profile,
            config,
            &targets,
            mode,
            deps.settings.concurrency,
        )
        .await;
        for o in &outcomes {
            if o.result.as_ref().is_err_and(|e| e.is_index_type_mismatch()) {
                // The table under this name is not in the format read at
                // start: the next invocation reads it again.
                deps.format.invalidate();
            }
            drift.record(counts, o, state.examples);
        }
    }
}

/// Report the FTS items of a page that are in the other format's layout
/// (category `foreign_format`), and in a backfill with `remove_foreign`
/// delete them (or count the requests, in a dry run). A failed delete is an
/// error of the walk, never silent.
async fn remove_foreign(
    store: &MeteredStore,
    state: &SegmentState,
    foreign: Vec<ItemKey>,
    counts: &mut Counts,
    drift: &mut DriftReport,
) {
    if foreign.is_empty() {
        return;
    }
    let n = foreign.len() as u64;
    let first = foreign[0].clone();
    drift.add(
        Category::ForeignFormat,
        n,
        || format!("{first} (+{})", n - 1),
        state.examples,
    );
    if state.mode != WalkMode::Backfill || !state.remove_foreign {
        return;
    }
    if state.dry_run {
        counts.writes += n.div_ceil(mlflow_ddb_engine::ITEMS_PER_BATCH_WRITE as u64);
        return;
    }
    match store.batch_write(Vec::new(), foreign).await {
        Ok(w) => {
            counts.writes += u64::from(w.requests);
            counts.foreign_removed += w.items as u64;
        }
        Err(e) => {
            warn!(segment = state.segment, error = %e, "deleting foreign-format FTS items failed");
            counts.errors += 1;
            drift.add(
                Category::Errors,
                1,
                || format!("{first}: {e}"),
                state.examples,
            );
        }
    }
}
