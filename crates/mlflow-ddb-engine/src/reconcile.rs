//! Reconcile targets: read, plan (core), and in [`Mode::Apply`] execute.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::{try_join_all, BoxFuture, FutureExt};
use futures_util::stream::{self, StreamExt};
use mlflow_ddb_aws::{Store, UpdateOutcome};
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_core::plan::{
    plan_target, reads_for, Drift, TargetPlan, TargetReads, TargetSnapshot,
};
use tracing::{debug, warn};

use crate::error::EngineError;

/// Target keys per BatchGetItem request.
pub const TARGETS_PER_BATCH_GET: usize = 100;
/// Items per BatchWriteItem request.
pub const ITEMS_PER_BATCH_WRITE: usize = 25;

/// What [`reconcile_targets`] does with a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Execute every non-empty plan.
    Apply,
    /// Read and plan only; report the drift. `writes` is 0.
    Verify,
    /// Read and plan only; report the drift, and in `writes` the requests
    /// [`Mode::Apply`] would make (one per map update, one per 25 FTS items).
    DryRun,
}

impl Mode {
    /// Whether this mode writes.
    pub fn writes(self) -> bool {
        self == Mode::Apply
    }
}

/// The result for one target.
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    pub target: ItemKey,
    pub result: Result<TargetReport, EngineError>,
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    /// Write requests made (Apply), or that would be made (DryRun).
    pub writes: u32,
    /// Map updates in the plan (executed in Apply).
    pub map_updates: usize,
    /// FTS items to put / delete (forward and reverse counted apart).
    pub fts_puts: usize,
    pub fts_deletes: usize,
    /// The target did not exist when read, or vanished before its map update
    /// (then its FTS puts were skipped: never index a deleted entity).
    pub target_missing: bool,
    /// The plan was empty: nothing to write.
    pub noop: bool,
    /// What was wrong (empty when `noop`).
    pub drift: Drift,
}

impl TargetReport {
    fn empty(target: &ItemKey) -> Self {
        TargetReport {
            writes: 0,
            map_updates: 0,
            fts_puts: 0,
            fts_deletes: 0,
            target_missing: false,
            noop: true,
            drift: TargetPlan::empty(target.clone()).drift(),
        }
    }
}

/// Reconcile the derived state (tag maps, FTS items) of `targets` with what
/// their sources say under `config` (see `mlflow_ddb_core::plan`).
///
/// Duplicate keys are reconciled once (first occurrence); outcomes come back
/// in input order, one per distinct key. A key that is not a target in this
/// format is a no-op. Reads are strongly consistent: targets first, in
/// BatchGetItem requests of up to [`TARGETS_PER_BATCH_GET`] keys, then per
/// target its source and reverse-FTS Queries (concurrently). Up to
/// `concurrency` targets are in flight at once (at least 1).
///
/// In [`Mode::Apply`], a non-empty plan is executed: each map update is one
/// [`Store::update_map`] (conditional on the target existing; a missing
/// target is a counted no-op), then the FTS puts and deletes in one
/// [`Store::batch_write`]. An empty plan costs zero writes.
pub async fn reconcile_targets(
    store: &dyn Store,
    profile: &Profile,
    config: &Config,
    targets: &[ItemKey],
    mode: Mode,
    concurrency: usize,
) -> Vec<TargetOutcome> {
    let mut seen = HashSet::new();
    let unique: Vec<&ItemKey> = targets.iter().filter(|t| seen.insert(*t)).collect();
    let mut out = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(TARGETS_PER_BATCH_GET) {
        let reads: Vec<Option<TargetReads>> = chunk
            .iter()
            .map(|t| reads_for(profile, config, t))
            .collect();
        let keys: Vec<ItemKey> = chunk
            .iter()
            .zip(&reads)
            .filter(|(_, r)| r.is_some())
            .map(|(t, _)| (*t).clone())
            .collect();
        let mut items = match read_targets(store, &keys).await {
            Ok(items) => items,
            Err(e) => {
                let e = Arc::new(e);
                warn!(targets = keys.len(), error = %e, "batch read of targets failed");
                for t in chunk {
                    out.push(TargetOutcome {
                        target: (*t).clone(),
                        result: Err(EngineError::store(t, "BatchGetItem", e.clone())),
                    });
                }
                continue;
            }
        };
        // Owned inputs and boxed futures: the returned future stays `Send`
        // for any caller lifetime (callers spawn it on tokio).
        let jobs: Vec<BoxFuture<'_, TargetOutcome>> = chunk
            .iter()
            .zip(reads)
            .map(|(t, r)| {
                let target = (*t).clone();
                let item = items.remove(&target);
                job(store, profile, config, target, r, item, mode)
            })
            .collect();
        out.extend(
            stream::iter(jobs)
                .buffered(concurrency.max(1))
                .collect::<Vec<_>>()
                .await,
        );
    }
    out
}

fn job<'a>(
    store: &'a dyn Store,
    profile: &'a Profile,
    config: &'a Config,
    target: ItemKey,
    reads: Option<TargetReads>,
    item: Option<Item>,
    mode: Mode,
) -> BoxFuture<'a, TargetOutcome> {
    async move {
        let result = match reads {
            None => Ok(TargetReport::empty(&target)),
            Some(reads) => reconcile_one(store, profile, config, reads, item, mode).await,
        };
        TargetOutcome { target, result }
    }
    .boxed()
}

async fn read_targets(
    store: &dyn Store,
    keys: &[ItemKey],
) -> Result<HashMap<ItemKey, Item>, mlflow_ddb_aws::AwsError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let items = store.batch_get(keys, true, None).await?;
    Ok(items
        .into_iter()
        .filter_map(|i| key_of(&i).map(|k| (k, i)))
        .collect())
}

fn key_of(item: &Item) -> Option<ItemKey> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(ItemKey::new(pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

/// Projection of reverse FTS items: the planner compares them by key only.
const KEY_ONLY: &[&str] = &[PK, SK];

async fn reconcile_one(
    store: &dyn Store,
    profile: &Profile,
    config: &Config,
    reads: TargetReads,
    item: Option<Item>,
    mode: Mode,
) -> Result<TargetReport, EngineError> {
    let target = &reads.target;
    let Some(item) = item else {
        return Ok(TargetReport {
            target_missing: true,
            ..TargetReport::empty(target)
        });
    };
    let query_err = |e| EngineError::store(target, "Query", Arc::new(e));
    let source_queries = reads
        .source_prefixes
        .iter()
        .map(|p| store.query_prefix(&target.pk, p, true, None));
    let reverse_query = async {
        match &reads.fts_reverse_prefix {
            Some(p) => {
                store
                    .query_prefix(&target.pk, p, true, Some(KEY_ONLY))
                    .await
            }
            None => Ok(Vec::new()),
        }
    };
    let (sources, fts_reverse) =
        futures_util::future::join(try_join_all(source_queries), reverse_query).await;
    let snap = TargetSnapshot {
        target: target.clone(),
        item: Some(item),
        sources: sources.map_err(query_err)?.into_iter().flatten().collect(),
        fts_reverse: fts_reverse.map_err(query_err)?,
    };
    let plan = plan_target(profile, config, &snap);
    let mut report = TargetReport {
        writes: 0,
        map_updates: plan.maps.len(),
        fts_puts: plan.puts.len(),
        fts_deletes: plan.deletes.len(),
        target_missing: false,
        noop: plan.is_empty(),
        drift: plan.drift(),
    };
    match mode {
        _ if plan.is_empty() => {}
        Mode::Verify => {}
        Mode::DryRun => {
            let items = plan.puts.len() + plan.deletes.len();
            report.writes = u32::try_from(plan.maps.len() + items.div_ceil(ITEMS_PER_BATCH_WRITE))
                .unwrap_or(u32::MAX);
        }
        Mode::Apply => execute(store, plan, &mut report).await?,
    }
    Ok(report)
}

async fn execute(
    store: &dyn Store,
    plan: TargetPlan,
    report: &mut TargetReport,
) -> Result<(), EngineError> {
    let target = plan.target;
    for m in &plan.maps {
        let remove: Vec<String> = m.remove.iter().cloned().collect();
        let outcome = store
            .update_map(&m.target, &m.attr, &m.set, &remove)
            .await
            .map_err(|e| EngineError::store(&target, "UpdateItem", Arc::new(e)))?;
        report.writes += match outcome {
            UpdateOutcome::Applied => 1,
            // failed update, map creation, update again
            UpdateOutcome::AppliedAfterCreatingMap => 3,
            // failed update, then a read telling "no map" from "no item"
            UpdateOutcome::MapAbsent => 1,
            UpdateOutcome::TargetMissing => {
                report.target_missing = true;
                1
            }
            UpdateOutcome::Nothing => 0,
        };
    }
    let puts = if report.target_missing {
        debug!(pk = %target.pk, sk = %target.sk, "target vanished: FTS puts skipped");
        Vec::new()
    } else {
        plan.puts
    };
    if !puts.is_empty() || !plan.deletes.is_empty() {
        let stats = store
            .batch_write(puts, plan.deletes)
            .await
            .map_err(|e| EngineError::store(&target, "BatchWriteItem", Arc::new(e)))?;
        report.writes += stats.requests;
    }
    debug!(pk = %target.pk, sk = %target.sk, writes = report.writes, "target reconciled");
    Ok(())
}
