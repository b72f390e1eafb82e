//! ttl-sweeper: the scheduled orphan cleanup.
//!
//! When DynamoDB TTL deletes a soft-deleted experiment's `E#META` (or a
//! model's `M#META`, or a run's `R#<run>`), the items under it stay behind.
//! This function finds them and sets `ttl = now` on each, so TTL removes them
//! too. Compared with the reference's `cleanup-expired`:
//!
//! - **Safe**: a partition (or run) counts as orphaned only if its META is
//!   absent on a strongly consistent read made just before expiring; each
//!   expiry is conditional (`attribute_exists(PK)`, and no `ttl` or a later
//!   one), so a deleted item is never re-created and a ttl never lengthened;
//!   the circuit breaker writes nothing when too many partitions look
//!   orphaned (a wrong table, a half-restored backup).
//! - **Fast**: a parallel scan projecting keys and `ttl` only; META reads by
//!   100-key batch gets; expiry through [`Store::expire`] (25 conditional
//!   PartiQL UPDATEs per request on AWS); items already expiring are not
//!   written again.
//! - **Resumable**: it watches its deadline and leaves a checkpoint
//!   (`OPS#ttl-sweeper` / `CHECKPOINT`) that the next run resumes from.
//!
//! The decisions are the core's [`mlflow_ddb_core::sweep`]; this crate
//! drives the I/O: [`sweep`] (and [`handle`] for a Lambda event).

pub mod emf;
pub mod options;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mlflow_ddb_aws::{AwsError, ExpireOutcome, Store};
use mlflow_ddb_core::item::{ItemKey, PK, SK};
use mlflow_ddb_core::sweep::{
    breaker, checkpoint_key, Census, Checkpoint, Decision, OrphanCounts, OrphanGroup,
    SegmentPosition, Summary, SCAN_PROJECTION,
};
use mlflow_ddb_engine::FormatResolver;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub use options::{Budget, SweepOptions};

/// Keys per BatchGetItem request.
const BATCH_GET: usize = 100;
/// Items per expiry unit: one consistent re-check of the unit's META items
/// just before its keys are expired.
const EXPIRE_UNIT_KEYS: usize = 500;
/// META items re-checked per unit at most (one BatchGetItem).
const EXPIRE_UNIT_METAS: usize = 100;

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] AwsError),
    #[error("a sweep task failed: {0}")]
    Task(String),
    /// The table's format was refused or unreadable: nothing was written.
    #[error(transparent)]
    Format(mlflow_ddb_engine::EngineError),
}

/// What [`sweep`] needs, built once per process.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub table: String,
    /// The table's format, detected before the first scan (cached).
    pub format: Arc<FormatResolver>,
    /// Defaults for options an event does not set.
    pub defaults: SweepOptions,
}

/// Progress hooks (the CLI draws a bar; the Lambda passes [`NoProgress`]).
pub trait Progress: Send + Sync {
    /// `items` more items scanned.
    fn scanned(&self, _items: u64) {}
    /// The expiry phase begins with `items` orphans to write.
    fn expiring(&self, _items: u64) {}
    /// `items` more orphans handled (expired or skipped).
    fn expired(&self, _items: u64) {}
}

/// No progress reporting.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Everything an invocation decided, for callers that want more than the
/// summary (tests compare the orphan sets with the reference's).
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    /// The orphans found by this invocation (after the consistent reads).
    pub decision: Decision,
}

/// Epoch seconds now.
pub fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The Lambda entry: options from the scheduled event (the rule's input),
/// over the defaults; `deadline` from the invocation context.
pub async fn handle(
    deps: &Deps,
    event: &serde_json::Value,
    deadline: Option<Instant>,
) -> Result<Summary, SweepError> {
    let opts = deps.defaults.clone().with_event(event);
    let budget = Budget {
        deadline,
        ..Budget::default()
    };
    let out = sweep(deps, &opts, epoch_seconds(), &budget, Arc::new(NoProgress)).await?;
    Ok(out.summary)
}

/// One invocation: resume (or start) the sweep, scan, decide, re-check,
/// expire, checkpoint. `now` is the `ttl` written (epoch seconds).
pub async fn sweep(
    deps: &Deps,
    opts: &SweepOptions,
    now: i64,
    budget: &Budget,
    progress: Arc<dyn Progress>,
) -> Result<Outcome, SweepError> {
    let started = Instant::now();
    // Before anything is read: a table in the other format stops here.
    let format = deps.format.resolve().await.map_err(SweepError::Format)?;
    let store = deps.store.clone();
    let requests = Arc::new(AtomicU64::new(0));
    let mut summary = Summary {
        table: deps.table.clone(),
        format: Some(format.format),
        dry_run: opts.dry_run,
        ..Summary::default()
    };

    // 1. Where the sweep stands. A dry run always looks at the whole table
    //    and leaves the checkpoint alone.
    let mut checkpoint = if opts.dry_run {
        Checkpoint::fresh(opts.segments, now)
    } else {
        requests.fetch_add(1, Ordering::Relaxed);
        match store.get(&checkpoint_key(), true).await? {
            None => Checkpoint::fresh(opts.segments, now),
            Some(item) => match Checkpoint::from_item(&item) {
                Ok(cp) if !cp.is_complete() => cp,
                Ok(_) => Checkpoint::fresh(opts.segments, now),
                Err(e) => {
                    warn!(error = %e, "checkpoint unreadable: starting a new sweep");
                    Checkpoint::fresh(opts.segments, now)
                }
            },
        }
    };
    let start_positions = checkpoint.segments.clone();
    summary.total_segments = checkpoint.total_segments;
    summary.resumed = checkpoint.is_resumed();

    // 2. Scan (segments in parallel, keys and ttl only) into the census.
    let census = Arc::new(Mutex::new(Census::new(format.profile())));
    let scan = scan_all(
        &store,
        &checkpoint,
        opts,
        budget,
        started,
        census.clone(),
        progress.clone(),
        requests.clone(),
    )
    .await?;
    summary.pages_scanned = scan.pages;
    if let Some(reason) = &scan.stopped {
        summary.stopped_early = Some(reason.clone());
    }
    let census = Arc::try_unwrap(census)
        .map_err(|_| SweepError::Task("census still shared".into()))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    summary.items_scanned = census.items_scanned();

    // 3. Consistent reads of the META items the scan did not see.
    let mut present: HashSet<ItemKey> = HashSet::new();
    let metas = census.partition_metas_to_check();
    present.extend(read_present(&store, &metas, opts.concurrency, &requests).await?);
    let runs = census.run_metas_to_check(&present);
    present.extend(read_present(&store, &runs, opts.concurrency, &requests).await?);
    let decision = census.decide(&present);
    drop(census);
    summary.partitions_scanned = decision.partitions_seen;
    summary.orphaned_partitions = decision.orphaned_partitions();
    summary.orphans = OrphanCounts::from_decision(&decision);
    for g in &decision.groups {
        debug!(pk = %g.meta.pk, meta = %g.meta.sk, category = %g.category, items = g.items.len(), "orphans");
    }

    // 4. The breaker: when it trips, nothing is written at all.
    if let Some(trip) = breaker(&decision, opts.breaker_fraction) {
        warn!(
            orphaned = trip.orphaned,
            seen = trip.seen,
            fraction = trip.fraction,
            "circuit breaker tripped: nothing written"
        );
        summary.aborted = true;
        summary.abort_reason = Some(trip.to_string());
        return Ok(finish(summary, decision, started, &requests));
    }
    if opts.dry_run {
        summary.complete = scan.stopped.is_none();
        return Ok(finish(summary, decision, started, &requests));
    }

    // 5. Re-check and expire, unit by unit.
    let expiry = expire_all(
        &store,
        &decision,
        now,
        opts,
        budget,
        started,
        progress.clone(),
        requests.clone(),
    )
    .await?;
    summary.items_expired = expiry.expired;
    summary.items_skipped_already_expiring = expiry.skipped_expiring;
    summary.items_skipped_meta_back = expiry.meta_back;
    summary.items_failed = expiry.failed;
    summary.items_deferred = expiry.deferred;
    if let Some(reason) = &expiry.stopped {
        summary.stopped_early = Some(reason.clone());
    }

    // 6. Checkpoint. When the expiry did not get through everything the scan
    //    found, the scan positions stay where this invocation began: the next
    //    run scans that stretch again and skips what is already expiring.
    checkpoint.invocations += 1;
    checkpoint.segments = if expiry.deferred > 0 {
        start_positions
    } else {
        scan.positions
    };
    requests.fetch_add(1, Ordering::Relaxed);
    if checkpoint.is_complete() {
        store.batch_write(vec![], vec![checkpoint_key()]).await?;
        summary.complete = true;
    } else {
        store
            .batch_write(vec![checkpoint.to_item(epoch_seconds())], vec![])
            .await?;
        info!(
            invocations = checkpoint.invocations,
            "checkpoint saved: the next run resumes"
        );
    }
    Ok(finish(summary, decision, started, &requests))
}

fn finish(
    mut summary: Summary,
    decision: Decision,
    started: Instant,
    requests: &AtomicU64,
) -> Outcome {
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary.requests = requests.load(Ordering::Relaxed);
    Outcome { summary, decision }
}

/// Why the scan or the expiry should stop now, if it should.
fn should_stop(budget: &Budget, started: Instant, phase_share: f64) -> Option<String> {
    let deadline = budget.deadline?;
    let now = Instant::now();
    let total = deadline.saturating_duration_since(started);
    let reserve = budget.reserve.min(total / 2);
    // The scan may use `phase_share` of the time; the expiry what is left
    // but the reserve (for the checkpoint and the summary).
    let cutoff = started + (total.saturating_sub(reserve)).mul_f64(phase_share);
    (now >= cutoff).then(|| "deadline approaching".to_owned())
}

struct ScanResult {
    positions: Vec<SegmentPosition>,
    pages: u64,
    stopped: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn scan_all(
    store: &Arc<dyn Store>,
    checkpoint: &Checkpoint,
    opts: &SweepOptions,
    budget: &Budget,
    started: Instant,
    census: Arc<Mutex<Census>>,
    progress: Arc<dyn Progress>,
    requests: Arc<AtomicU64>,
) -> Result<ScanResult, SweepError> {
    let total = checkpoint.total_segments;
    let mut positions = checkpoint.segments.clone();
    let pages = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(Mutex::new(None::<String>));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let pending: Vec<(u32, Option<ItemKey>)> = positions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            SegmentPosition::Pending { after } => Some((i as u32, after.clone())),
            SegmentPosition::Done => None,
        })
        .collect();
    let mut queue = pending.into_iter();
    let mut set: JoinSet<Result<(u32, SegmentPosition), AwsError>> = JoinSet::new();
    let spawn = |set: &mut JoinSet<_>, seg: u32, after: Option<ItemKey>| {
        let store = store.clone();
        let census = census.clone();
        let progress = progress.clone();
        let requests = requests.clone();
        let pages = pages.clone();
        let stop = stop.clone();
        let stop_flag = stop_flag.clone();
        let budget = budget.clone();
        let page_limit = opts.page_limit;
        let max_items = opts.max_items;
        set.spawn(async move {
            let mut after = after;
            loop {
                if stop_flag.load(Ordering::Relaxed) {
                    return Ok((seg, SegmentPosition::Pending { after }));
                }
                let reason = should_stop(&budget, started, 0.5)
                    .or_else(|| {
                        budget
                            .max_pages
                            .filter(|m| pages.load(Ordering::Relaxed) >= *m)
                            .map(|m| format!("max_pages {m} reached"))
                    })
                    .or_else(|| {
                        let held = census.lock().map(|c| c.items_held()).unwrap_or(0);
                        max_items
                            .filter(|m| held >= *m)
                            .map(|m| format!("max_items {m} reached"))
                    });
                if let Some(reason) = reason {
                    stop_flag.store(true, Ordering::Relaxed);
                    let mut s = stop.lock().unwrap_or_else(|p| p.into_inner());
                    s.get_or_insert(reason);
                    return Ok((seg, SegmentPosition::Pending { after }));
                }
                requests.fetch_add(1, Ordering::Relaxed);
                pages.fetch_add(1, Ordering::Relaxed);
                let page = store
                    .scan_segment(
                        seg,
                        total,
                        after.clone(),
                        Some(&SCAN_PROJECTION),
                        page_limit,
                    )
                    .await?;
                let n = {
                    let mut c = census.lock().unwrap_or_else(|p| p.into_inner());
                    c.add_page(page.items.iter())
                };
                progress.scanned(n as u64);
                match page.last_key {
                    Some(k) => after = Some(k),
                    None => return Ok((seg, SegmentPosition::Done)),
                }
            }
        });
    };
    for _ in 0..opts.concurrency.max(1) {
        if let Some((seg, after)) = queue.next() {
            spawn(&mut set, seg, after);
        }
    }
    while let Some(joined) = set.join_next().await {
        let (seg, pos) = joined.map_err(|e| SweepError::Task(e.to_string()))??;
        positions[seg as usize] = pos;
        if let Some((seg, after)) = queue.next() {
            spawn(&mut set, seg, after);
        }
    }
    let stopped = stop.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(ScanResult {
        positions,
        pages: pages.load(Ordering::Relaxed),
        stopped,
    })
}

/// Which of `keys` exist, by strongly consistent batch gets (keys only),
/// up to `concurrency` requests at once.
async fn read_present(
    store: &Arc<dyn Store>,
    keys: &[ItemKey],
    concurrency: usize,
    requests: &Arc<AtomicU64>,
) -> Result<HashSet<ItemKey>, AwsError> {
    let mut present = HashSet::new();
    let mut set: JoinSet<Result<Vec<ItemKey>, AwsError>> = JoinSet::new();
    let mut chunks = keys.chunks(BATCH_GET).map(<[ItemKey]>::to_vec);
    let spawn = |set: &mut JoinSet<_>, chunk: Vec<ItemKey>| {
        let store = store.clone();
        requests.fetch_add(1, Ordering::Relaxed);
        set.spawn(async move {
            let items = store.batch_get(&chunk, true, Some(&[PK, SK])).await?;
            Ok(items
                .iter()
                .filter_map(|i| mlflow_ddb_core::sweep::Scanned::from_item(i).map(|s| s.key))
                .collect())
        });
    };
    for _ in 0..concurrency.max(1) {
        if let Some(c) = chunks.next() {
            spawn(&mut set, c);
        }
    }
    while let Some(joined) = set.join_next().await {
        let got = joined.map_err(|e| AwsError::Invalid {
            op: "BatchGetItem",
            key: None,
            reason: format!("task failed: {e}"),
        })??;
        present.extend(got);
        if let Some(c) = chunks.next() {
            spawn(&mut set, c);
        }
    }
    Ok(present)
}

/// A slice of one orphan group: re-checked and expired together.
#[derive(Debug, Clone)]
struct Unit {
    meta: ItemKey,
    keys: Vec<ItemKey>,
    /// Orphans of this slice the scan already saw expiring.
    skipped_expiring: u64,
}

fn units(groups: &[OrphanGroup], now: i64) -> Vec<Vec<Unit>> {
    // Units of up to EXPIRE_UNIT_KEYS keys, then batches of units with at
    // most EXPIRE_UNIT_METAS distinct METAs and about EXPIRE_UNIT_KEYS keys.
    let mut all = Vec::new();
    for g in groups {
        let (keys, skipped) = g.to_expire(now);
        let mut first = true;
        if keys.is_empty() {
            all.push(Unit {
                meta: g.meta.clone(),
                keys: vec![],
                skipped_expiring: skipped as u64,
            });
            continue;
        }
        for chunk in keys.chunks(EXPIRE_UNIT_KEYS) {
            all.push(Unit {
                meta: g.meta.clone(),
                keys: chunk.to_vec(),
                skipped_expiring: if first { skipped as u64 } else { 0 },
            });
            first = false;
        }
    }
    let mut batches: Vec<Vec<Unit>> = Vec::new();
    let mut cur: Vec<Unit> = Vec::new();
    let mut cur_keys = 0;
    for u in all {
        if !cur.is_empty()
            && (cur.len() >= EXPIRE_UNIT_METAS || cur_keys + u.keys.len() > EXPIRE_UNIT_KEYS)
        {
            batches.push(std::mem::take(&mut cur));
            cur_keys = 0;
        }
        cur_keys += u.keys.len();
        cur.push(u);
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

#[derive(Debug, Default)]
struct ExpiryResult {
    expired: u64,
    skipped_expiring: u64,
    meta_back: u64,
    failed: u64,
    deferred: u64,
    stopped: Option<String>,
}

#[derive(Debug, Default)]
struct BatchResult {
    expired: u64,
    skipped_expiring: u64,
    meta_back: u64,
    failed: u64,
}

#[allow(clippy::too_many_arguments)]
async fn expire_all(
    store: &Arc<dyn Store>,
    decision: &Decision,
    now: i64,
    opts: &SweepOptions,
    budget: &Budget,
    started: Instant,
    progress: Arc<dyn Progress>,
    requests: Arc<AtomicU64>,
) -> Result<ExpiryResult, SweepError> {
    let batches = units(&decision.groups, now);
    let total_items: u64 = decision.groups.iter().map(|g| g.items.len() as u64).sum();
    progress.expiring(total_items);
    let mut result = ExpiryResult::default();
    let mut set: JoinSet<Result<BatchResult, AwsError>> = JoinSet::new();
    let mut queue = batches.into_iter();
    let spawn = |set: &mut JoinSet<_>, batch: Vec<Unit>| {
        let store = store.clone();
        let requests = requests.clone();
        let progress = progress.clone();
        set.spawn(async move { expire_batch(&*store, batch, now, &requests, &*progress).await });
    };
    let mut stopped = None;
    for _ in 0..opts.concurrency.max(1) {
        if let Some(b) = queue.next() {
            spawn(&mut set, b);
        }
    }
    while let Some(joined) = set.join_next().await {
        let r = joined.map_err(|e| SweepError::Task(e.to_string()))??;
        result.expired += r.expired;
        result.skipped_expiring += r.skipped_expiring;
        result.meta_back += r.meta_back;
        result.failed += r.failed;
        if stopped.is_none() {
            stopped = should_stop(budget, started, 1.0);
        }
        if stopped.is_none() {
            if let Some(b) = queue.next() {
                spawn(&mut set, b);
            }
        }
    }
    for batch in queue {
        for u in batch {
            result.deferred += u.keys.len() as u64 + u.skipped_expiring;
        }
    }
    if result.deferred > 0 {
        result.stopped = stopped;
    }
    Ok(result)
}

async fn expire_batch(
    store: &dyn Store,
    batch: Vec<Unit>,
    now: i64,
    requests: &AtomicU64,
    progress: &dyn Progress,
) -> Result<BatchResult, AwsError> {
    let mut r = BatchResult::default();
    let metas: Vec<ItemKey> = batch.iter().map(|u| u.meta.clone()).collect();
    // The consistent re-check, just before expiring.
    requests.fetch_add(1, Ordering::Relaxed);
    let back: HashSet<ItemKey> = store
        .batch_get(&metas, true, Some(&[PK, SK]))
        .await?
        .iter()
        .filter_map(|i| mlflow_ddb_core::sweep::Scanned::from_item(i).map(|s| s.key))
        .collect();
    let mut keys = Vec::new();
    for u in &batch {
        if back.contains(&u.meta) {
            info!(pk = %u.meta.pk, meta = %u.meta.sk, "META is back: its items are left alone");
            r.meta_back += u.keys.len() as u64 + u.skipped_expiring;
            continue;
        }
        r.skipped_expiring += u.skipped_expiring;
        keys.extend(u.keys.iter().cloned());
    }
    if !keys.is_empty() {
        let report = store.expire(&keys, now).await?;
        requests.fetch_add(u64::from(report.requests), Ordering::Relaxed);
        for (key, outcome) in &report.outcomes {
            match outcome {
                ExpireOutcome::Expired => r.expired += 1,
                ExpireOutcome::Skipped => r.skipped_expiring += 1,
                ExpireOutcome::Failed(e) => {
                    warn!(pk = %key.pk, sk = %key.sk, error = %e, "expire failed");
                    r.failed += 1;
                }
            }
        }
    }
    progress.expired(
        batch
            .iter()
            .map(|u| u.keys.len() as u64 + u.skipped_expiring)
            .sum(),
    );
    Ok(r)
}
