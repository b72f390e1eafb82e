//! Reconcile targets: read, plan (core), and in [`Mode::Apply`] execute.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::{try_join_all, BoxFuture, FutureExt};
use futures_util::stream::{self, StreamExt};
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_core::plan::{
    plan_target, reads_for, Drift, TargetPlan, TargetReads, TargetSnapshot,
};
use mlflow_ddb_ports::{Store, UpdateOutcome};
use tracing::{debug, warn};

use crate::error::EngineError;

/// Target keys per BatchGetItem request (DynamoDB's limit).
pub const TARGETS_PER_BATCH_GET: usize = mlflow_ddb_ports::BATCH_GET_MAX;
/// Items per BatchWriteItem request (DynamoDB's limit).
pub const ITEMS_PER_BATCH_WRITE: usize = mlflow_ddb_ports::BATCH_WRITE_MAX;

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
/// target is a counted no-op). The FTS puts and deletes of all the targets
/// read together (up to [`TARGETS_PER_BATCH_GET`]) are then pooled into
/// BatchWriteItem requests of [`ITEMS_PER_BATCH_WRITE`] items, so many
/// small plans share requests. Each request is counted in the `writes` of
/// the target owning its first item. A shared request refused for good is
/// sent again target by target, so only the culprit fails; when one fails
/// transiently, every target with an item in it gets the error (FTS writes
/// are idempotent: a retry of those targets is safe). An empty plan costs
/// zero writes.
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
        let jobs: Vec<BoxFuture<'_, (TargetOutcome, Option<FtsWrites>)>> = chunk
            .iter()
            .zip(reads)
            .map(|(t, r)| {
                let target = (*t).clone();
                let item = items.remove(&target);
                job(store, profile, config, target, r, item, mode)
            })
            .collect();
        let done: Vec<(TargetOutcome, Option<FtsWrites>)> = stream::iter(jobs)
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let (mut outcomes, fts): (Vec<TargetOutcome>, Vec<Option<FtsWrites>>) =
            done.into_iter().unzip();
        write_fts_pooled(store, &mut outcomes, fts, mode, concurrency).await;
        out.extend(outcomes);
    }
    out
}

/// FTS items one target's plan puts and deletes, written after its map updates.
#[derive(Debug, Default)]
struct FtsWrites {
    puts: Vec<Item>,
    deletes: Vec<ItemKey>,
}

/// One write of a pooled request: an FTS put or delete.
enum FtsOp {
    Put(Item),
    Delete(ItemKey),
}

/// Split `ops` into the puts and deletes of one BatchWriteItem call.
fn split_ops<'a>(ops: impl Iterator<Item = &'a (usize, FtsOp)>) -> (Vec<Item>, Vec<ItemKey>) {
    let (mut puts, mut deletes) = (Vec::new(), Vec::new());
    for (_, op) in ops {
        match op {
            FtsOp::Put(p) => puts.push(p.clone()),
            FtsOp::Delete(d) => deletes.push(d.clone()),
        }
    }
    (puts, deletes)
}

/// Distinct owners of a group, in order.
fn owners_of(group: &[(usize, FtsOp)]) -> Vec<usize> {
    let mut owners: Vec<usize> = Vec::new();
    for (o, _) in group {
        if !owners.contains(o) {
            owners.push(*o);
        }
    }
    owners
}

type GroupResult = Vec<(usize, Result<u32, Arc<mlflow_ddb_ports::AwsError>>)>;

/// Send one pooled group. A permanent failure of a group shared by several
/// targets is retried target by target, so that only the culprit fails.
/// Returns, per request made, the owner it is counted for and its outcome.
async fn send_group(store: &dyn Store, group: Vec<(usize, FtsOp)>) -> GroupResult {
    let owners = owners_of(&group);
    let (puts, deletes) = split_ops(group.iter());
    match store.batch_write(puts, deletes).await {
        Ok(stats) => vec![(owners[0], Ok(stats.requests))],
        Err(e) if owners.len() > 1 && !e.is_transient() => {
            let mut out = Vec::with_capacity(owners.len());
            for owner in owners {
                let (puts, deletes) = split_ops(group.iter().filter(|(o, _)| *o == owner));
                let r = store
                    .batch_write(puts, deletes)
                    .await
                    .map(|s| s.requests)
                    .map_err(Arc::new);
                out.push((owner, r));
            }
            out
        }
        Err(e) => {
            let e = Arc::new(e);
            owners.into_iter().map(|o| (o, Err(e.clone()))).collect()
        }
    }
}

/// Write the chunk's FTS items in shared requests of [`ITEMS_PER_BATCH_WRITE`]
/// (Apply), or count those requests (DryRun). Request counts and failures go
/// to the owning targets' outcomes.
async fn write_fts_pooled(
    store: &dyn Store,
    outcomes: &mut [TargetOutcome],
    fts: Vec<Option<FtsWrites>>,
    mode: Mode,
    concurrency: usize,
) {
    let ops: Vec<(usize, FtsOp)> = fts
        .into_iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .flat_map(|(i, w)| {
            let puts = w.puts.into_iter().map(move |p| (i, FtsOp::Put(p)));
            let deletes = w.deletes.into_iter().map(move |d| (i, FtsOp::Delete(d)));
            puts.chain(deletes)
        })
        .collect();
    let mut ops = ops.into_iter().peekable();
    let mut groups: Vec<Vec<(usize, FtsOp)>> = Vec::new();
    while ops.peek().is_some() {
        groups.push(ops.by_ref().take(ITEMS_PER_BATCH_WRITE).collect());
    }
    if mode == Mode::DryRun {
        for g in &groups {
            if let Ok(r) = &mut outcomes[g[0].0].result {
                r.writes += 1;
            }
        }
        return;
    }
    let results: Vec<GroupResult> = stream::iter(groups.into_iter().map(|g| send_group(store, g)))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (owner, r) in results.into_iter().flatten() {
        let outcome = &mut outcomes[owner];
        match r {
            Ok(requests) => {
                if let Ok(report) = &mut outcome.result {
                    report.writes += requests;
                }
            }
            Err(e) => {
                if outcome.result.is_ok() {
                    warn!(pk = %outcome.target.pk, sk = %outcome.target.sk, error = %e, "FTS batch write failed");
                }
                outcome.result = Err(EngineError::store(&outcome.target, "BatchWriteItem", e));
            }
        }
    }
}

fn job<'a>(
    store: &'a dyn Store,
    profile: &'a Profile,
    config: &'a Config,
    target: ItemKey,
    reads: Option<TargetReads>,
    item: Option<Item>,
    mode: Mode,
) -> BoxFuture<'a, (TargetOutcome, Option<FtsWrites>)> {
    async move {
        let (result, fts) = match reads {
            None => (Ok(TargetReport::empty(&target)), None),
            Some(reads) => match reconcile_one(store, profile, config, reads, item, mode).await {
                Ok((report, fts)) => (Ok(report), fts),
                Err(e) => (Err(e), None),
            },
        };
        (TargetOutcome { target, result }, fts)
    }
    .boxed()
}

async fn read_targets(
    store: &dyn Store,
    keys: &[ItemKey],
) -> Result<HashMap<ItemKey, Item>, mlflow_ddb_ports::AwsError> {
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
) -> Result<(TargetReport, Option<FtsWrites>), EngineError> {
    let target = &reads.target;
    let Some(item) = item else {
        let report = TargetReport {
            target_missing: true,
            ..TargetReport::empty(target)
        };
        return Ok((report, None));
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
    let fts = match mode {
        _ if plan.is_empty() => None,
        Mode::Verify => None,
        Mode::DryRun => {
            report.writes = u32::try_from(plan.maps.len() + usize::from(plan.attrs.is_some()))
                .unwrap_or(u32::MAX);
            Some(FtsWrites {
                puts: plan.puts,
                deletes: plan.deletes,
            })
        }
        Mode::Apply => Some(update_maps(store, plan, &mut report).await?),
    };
    Ok((report, fts))
}

/// Execute the plan's attribute and map updates; return its FTS writes (puts dropped when
/// the target vanished meanwhile: never index a deleted entity).
async fn update_maps(
    store: &dyn Store,
    plan: TargetPlan,
    report: &mut TargetReport,
) -> Result<FtsWrites, EngineError> {
    let target = plan.target;
    if let Some(a) = &plan.attrs {
        let outcome = store
            .update_attrs(&a.target, &a.set)
            .await
            .map_err(|e| EngineError::store(&target, "UpdateItem", Arc::new(e)))?;
        report.writes += u32::from(outcome != UpdateOutcome::Nothing);
        report.target_missing |= outcome == UpdateOutcome::TargetMissing;
    }
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
    debug!(pk = %target.pk, sk = %target.sk, map_writes = report.writes, "target maps reconciled");
    Ok(FtsWrites {
        puts,
        deletes: plan.deletes,
    })
}
