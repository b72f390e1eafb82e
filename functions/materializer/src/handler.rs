//! One batch of stream records → reconciled targets, dead letters, and the
//! first record to retry.
//!
//! # How a batch is processed
//!
//! 1. Decode every record ([`decode_json_record`]: one malformed record never
//!    hides the others). A CONFIG change invalidates the cached
//!    configuration at once; then the configuration is loaded (cache, ≤ 60 s).
//! 2. Sort the records out, cheaply and from the key first: our own writes
//!    (FTS items, `OPS#`) and irrelevant items (metrics, RANK, spans …) are
//!    counted skips; a tag, param, assessment or META change names its
//!    targets ([`targets_of`]); the TTL service removing an `E#META` names
//!    its partition ([`cascade_partition`]).
//! 3. Work units (distinct targets, cascades) are ordered by the first
//!    record that needs them and executed in chunks, each chunk's targets
//!    concurrently (bounded) through the engine's [`reconcile_targets`]: the
//!    one reconciliation shared with the indexer, level-triggered (reads
//!    the current state, writes only the difference; an already-right
//!    target costs zero writes).
//! 4. Transient failures (throttling, 5xx, timeouts) are retried by the
//!    adapter's one retry policy ([`mlflow_ddb_aws::retry`]: an attempt
//!    budget per request, full-jitter backoff, bounded by this invocation's
//!    deadline, which the handler sets); the handler adds no retry of its
//!    own. A unit still failing cuts the
//!    batch at the first record that needs it: no later chunk is started,
//!    and that record's sequence number is the one reported; Lambda resends
//!    from there. (Later records of chunks already executed were reconciled
//!    too; being level-triggered, their redelivery is a no-op.)
//! 5. Permanent failures (undecodable record, validation error, item too
//!    large) send the record to the DLQ as an [`Envelope`]; processing goes
//!    on. A failed DLQ send makes the record transient (it cuts the batch):
//!    a record is acknowledged only once its writes, or its dead letter,
//!    have succeeded.
//!
//! A *replay* (a DLQ envelope) is the same path, except that each record is
//! first rewritten to the current state of its item (strongly consistent
//! read), so an old message never overwrites newer state, and a permanent
//! failure is reported rather than dead-lettered again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::{classify, AwsError, ExpireOutcome, Queue, Store, StreamReader};
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{ItemKey, PK, SK};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::{cascade_partition, targets_of, ttl_cascade};
use mlflow_ddb_core::stream::{decode_json_record_gated, Change, EventName, Gated, Images};
use mlflow_ddb_core::CoreError;
use mlflow_ddb_engine::{reconcile_targets, ConfigCache, EngineError, FormatResolver, Mode};
use serde_json::Value;
use tracing::{debug, error, info, warn};

use crate::envelope::{Envelope, EnvelopeError, FunctionId, ENVELOPE_VERSION};
use crate::metrics::Stats;

/// Tunables of the handler, read once at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Function name and version, written into dead letters.
    pub function_name: String,
    pub function_version: String,
    /// The table served: the `Table` dimension of the metrics.
    pub table_name: String,
    /// Targets reconciled at once.
    pub concurrency: usize,
    /// Work units per chunk: the granularity at which a failure stops the
    /// batch.
    pub chunk_units: usize,
    /// Stop retrying (and stop starting work) this long before the
    /// invocation's deadline.
    pub deadline_margin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            function_name: "materializer".into(),
            function_version: "$LATEST".into(),
            table_name: String::new(),
            concurrency: 16,
            chunk_units: 64,
            deadline_margin: Duration::from_secs(2),
        }
    }
}

/// Everything the handler needs, built once per process.
pub struct Deps {
    pub store: Arc<dyn Store>,
    /// Where permanent failures go. Without one, they cut the batch.
    pub dlq: Option<Arc<dyn Queue>>,
    /// For on-failure destination messages (the records are read back).
    pub streams: Option<StreamReader>,
    /// The table's format, detected once (see `mlflow_ddb_engine::format`).
    pub format: FormatResolver,
    pub config: ConfigCache,
    pub settings: Settings,
    /// Set: this consumer is a migration's sync (`crate::migrate`), which
    /// carries the records into another table instead of reconciling.
    pub migrate: Option<crate::migrate::MigrateSink>,
}

/// Where a batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The stream (Lambda, `tail`, or records read back for an on-failure
    /// message): permanent failures are dead-lettered.
    Stream,
    /// A DLQ envelope: re-read the current item first; a permanent failure
    /// is reported, not dead-lettered again.
    Replay,
}

/// The result of one batch.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub stats: Stats,
    /// Index of the first record not acknowledged: it and every later
    /// record must be delivered again.
    pub cut: Option<usize>,
    /// Why the batch was cut (no item values).
    pub cut_reason: Option<String>,
    /// Replay only: records that failed permanently (index, error).
    pub permanent: Vec<(usize, EnvelopeError)>,
    /// The table's format was refused or could not be read: nothing was
    /// done, and the invocation must fail as a whole.
    pub format_error: Option<EngineError>,
}

impl BatchResult {
    /// The sequence number to report for the cut (see [`failure_identifier`]).
    pub fn failure_identifier(&self, records: &[Value]) -> Option<String> {
        self.cut.and_then(|i| failure_identifier(records, i))
    }
}

/// The sequence number to report when records `idx..` are not done: that
/// record's, or, when it has none, the nearest earlier one's (retrying more
/// is safe, retrying less is not). `None` when no record from 0 to `idx`
/// has one: fail the whole invocation instead. Never an empty string.
pub fn failure_identifier(records: &[Value], idx: usize) -> Option<String> {
    records
        .iter()
        .take(idx.saturating_add(1))
        .rev()
        .find_map(sequence_number)
}

/// A record's `dynamodb.SequenceNumber`, when a non-empty string.
pub fn sequence_number(record: &Value) -> Option<String> {
    record
        .get("dynamodb")
        .and_then(|d| d.get("SequenceNumber"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub use mlflow_ddb_engine::runtime::now_ms;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Unit {
    Target(ItemKey),
    Cascade(String),
}

/// What a record asks for.
#[derive(Debug)]
enum Work {
    Skip(&'static str),
    Config,
    Units(Vec<Unit>),
    Poison(EnvelopeError),
}

/// How a unit ended.
#[derive(Debug, Clone)]
enum UnitState {
    Done,
    Transient(String),
    Permanent(EnvelopeError),
}

fn poison(kind: &str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        kind: kind.to_owned(),
        message: message.into(),
    }
}

fn engine_error_kind(e: &EngineError) -> &'static str {
    match e {
        EngineError::Config(_) => "config",
        _ => match e.classification().map(|c| c.reason) {
            Some("item too large") => "too-large",
            Some("validation error") | Some("invalid request") => "invalid",
            _ => "store",
        },
    }
}

fn aws_error_kind(e: &AwsError) -> &'static str {
    match classify(e).reason {
        "item too large" => "too-large",
        "validation error" | "invalid request" => "invalid",
        _ => "store",
    }
}

/// Process one batch of stream records (Lambda's JSON shape). Every request
/// made for it retries within `deadline` less the margin.
pub async fn process_records(
    deps: &Deps,
    records: &[Value],
    origin: Origin,
    deadline: Instant,
) -> BatchResult {
    let stop = deadline
        .checked_sub(deps.settings.deadline_margin)
        .unwrap_or(deadline);
    let retries_before = deps.store.gate_stats().map(|g| g.retries);
    let mut result = mlflow_ddb_aws::with_deadline(
        tokio::time::Instant::from_std(stop),
        process_records_within(deps, records, origin, deadline),
    )
    .await;
    if let (Some(before), Some(after)) = (retries_before, deps.store.gate_stats()) {
        result.stats.retries = after.retries.saturating_sub(before);
    }
    result
}

async fn process_records_within(
    deps: &Deps,
    records: &[Value],
    origin: Origin,
    deadline: Instant,
) -> BatchResult {
    if let Some(sink) = &deps.migrate {
        return crate::migrate::migrate_records(deps, sink, records, origin, deadline).await;
    }
    let mut result = BatchResult::default();
    let stats = &mut result.stats;
    stats.records = records.len() as u64;
    let now = now_ms();
    for r in records {
        if let Some(t) = r
            .get("dynamodb")
            .and_then(|d| d.get("ApproximateCreationDateTime"))
            .and_then(Value::as_f64)
        {
            let lag = now as f64 - t * 1000.0;
            if lag.is_finite() && lag > 0.0 {
                stats.max_lag_ms = stats.max_lag_ms.max(lag as u64);
            }
        }
    }

    let profile = match deps.format.profile().await {
        Ok(p) => p,
        Err(e) => {
            // A refused or unreadable format: nothing may be written. The
            // whole invocation fails, so Lambda retries the batch and the
            // Errors alarm fires; no record is skipped.
            error!(error = %e, "table format: nothing written, the batch fails");
            if !records.is_empty() {
                result.cut = Some(0);
            }
            result.cut_reason = Some(e.to_string());
            result.format_error = Some(e);
            return finish(deps, result);
        }
    };
    // The key first: our own writes, irrelevant items and CONFIG changes are
    // sorted out without decoding their images.
    let (early, mut changes) = decode_batch(profile, records);

    // A CONFIG change in the batch: the cached configuration is stale now.
    if early.iter().any(|w| matches!(w, Some(Work::Config))) {
        deps.config.invalidate();
    }

    let mut read_failures: Vec<Option<EnvelopeError>> = vec![None; records.len()];
    if origin == Origin::Replay {
        for (i, c) in changes.iter_mut().enumerate() {
            let Some(Ok(change)) = c else { continue };
            if matches!(
                change.kind.relevance(),
                Relevance::Derived | Relevance::Irrelevant | Relevance::Config
            ) {
                continue;
            }
            match current_change(&*deps.store, change).await {
                Ok(current) => *change = current,
                Err(e) if e.is_transient() => {
                    result.cut = Some(i);
                    result.cut_reason = Some(e.to_string());
                    return finish(deps, result);
                }
                Err(e) => read_failures[i] = Some(poison(aws_error_kind(&e), e.to_string())),
            }
        }
    }

    // The configuration, once per batch.
    let config: Result<Arc<Config>, EngineError> =
        deps.config.load(&*deps.store, Instant::now()).await;
    let config = match config {
        Ok(c) => Some(c),
        Err(e) if e.is_transient() => {
            warn!(error = %e, "configuration unreadable: the batch is retried");
            if !records.is_empty() {
                result.cut = Some(0);
                result.cut_reason = Some(e.to_string());
            }
            return finish(deps, result);
        }
        Err(e) => {
            // A malformed CONFIG item: nothing can be planned safely. Records
            // that need planning are dead-lettered (replayable once the
            // item is fixed); the others go on.
            error!(error = %e, "configuration malformed: records needing it go to the DLQ");
            None
        }
    };
    let config_error = poison("config", "configuration malformed or unreadable");
    let work = work_list(
        profile,
        config.as_deref(),
        early,
        &changes,
        &read_failures,
        &config_error,
    );
    let (units, first) = order_units(&work);

    let mut states: HashMap<Unit, (UnitState, u32)> = HashMap::new();
    if let Some(config) = &config {
        for chunk in units.chunks(deps.settings.chunk_units.max(1)) {
            run_chunk(
                deps,
                profile,
                config,
                chunk,
                deadline,
                &mut result.stats,
                &mut states,
            )
            .await;
            let cut = chunk
                .iter()
                .filter(|u| matches!(states.get(*u), Some((UnitState::Transient(_), _))))
                .filter_map(|u| first.get(u).map(|i| (*i, u)))
                .min_by_key(|(i, _)| *i);
            if let Some((i, u)) = cut {
                if let Some((UnitState::Transient(why), _)) = states.get(u) {
                    result.cut_reason = Some(why.clone());
                }
                result.cut = Some(i);
                break;
            }
        }
    }

    // Acknowledge in order, dead-lettering permanent failures.
    let stop = result.cut.unwrap_or(records.len());
    for i in 0..stop {
        if let Work::Units(us) = &work[i] {
            // Belt and braces: a unit that did not finish cuts the batch here.
            let unfinished = us.iter().any(|u| {
                !matches!(
                    states.get(u),
                    Some((UnitState::Done, _)) | Some((UnitState::Permanent(_), _))
                )
            });
            if unfinished {
                result.cut = Some(i);
                result
                    .cut_reason
                    .get_or_insert_with(|| "work not finished".into());
                break;
            }
        }
        let failure: Option<(EnvelopeError, u32, Option<&Unit>)> = match &work[i] {
            Work::Skip(reason) => {
                result.stats.skip(reason);
                None
            }
            Work::Config => {
                result.stats.config_changes += 1;
                None
            }
            Work::Poison(e) => Some((e.clone(), 1, None)),
            Work::Units(us) => us.iter().find_map(|u| match states.get(u) {
                Some((UnitState::Permanent(e), attempts)) => Some((e.clone(), *attempts, Some(u))),
                _ => None,
            }),
        };
        // One dead letter per failed unit: replaying any record of a target
        // reconciles all of it, so the first record of the batch that needs
        // the unit carries the others' sequence numbers (`covers`), and they
        // are acknowledged with it.
        let covers: Vec<String> = match failure.as_ref().and_then(|(_, _, u)| *u) {
            Some(u) => {
                let mut needing =
                    (0..stop).filter(|j| matches!(&work[*j], Work::Units(us) if us.contains(u)));
                if needing.next() != Some(i) {
                    result.stats.skip("covered-by-dead-letter");
                    result.stats.acknowledged += 1;
                    continue;
                }
                needing
                    .filter_map(|j| sequence_number(&records[j]))
                    .collect()
            }
            None => Vec::new(),
        };
        let failure = failure.map(|(e, a, _)| (e, a));
        let Some((err, attempts)) = failure else {
            result.stats.acknowledged += 1;
            continue;
        };
        let key = changes[i]
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .map(|c| c.key.clone());
        match origin {
            Origin::Replay => {
                warn!(pk = key.as_ref().map(|k| k.pk.as_str()), sk = key.as_ref().map(|k| k.sk.as_str()),
                      kind = %err.kind, error = %err.message, "replayed record failed again");
                result.permanent.push((i, err));
                result.stats.acknowledged += 1;
            }
            Origin::Stream => {
                match dead_letter(deps, &records[i], &err, attempts, now, covers).await {
                    Ok(()) => {
                        warn!(pk = key.as_ref().map(|k| k.pk.as_str()), sk = key.as_ref().map(|k| k.sk.as_str()),
                              seq = sequence_number(&records[i]).as_deref(), kind = %err.kind,
                              error = %err.message, "record sent to DLQ");
                        result.stats.dlq_sends += 1;
                        result.stats.acknowledged += 1;
                    }
                    Err(why) => {
                        error!(pk = key.as_ref().map(|k| k.pk.as_str()), sk = key.as_ref().map(|k| k.sk.as_str()),
                               error = %why, "DLQ send failed: the record is retried");
                        result.cut = Some(i);
                        result.cut_reason = Some(why);
                        break;
                    }
                }
            }
        }
    }
    finish(deps, result)
}

/// What one decoded record asks for. Pure: the key first (own writes,
/// irrelevant items and CONFIG are recognised without looking further),
/// then the core's [`targets_of`] / [`cascade_partition`]. Without a usable
/// configuration, records that need one are poison (`config_error`).
fn work_of(
    profile: &Profile,
    config: Option<&Config>,
    change: &Result<Change, CoreError>,
    config_error: &EnvelopeError,
) -> Work {
    let change = match change {
        Err(e) => return Work::Poison(poison("undecodable", e.to_string())),
        Ok(c) => c,
    };
    match change.kind.relevance() {
        Relevance::Derived => Work::Skip("own-write"),
        Relevance::Irrelevant => Work::Skip("irrelevant"),
        Relevance::Config => Work::Config,
        Relevance::Source | Relevance::Target => {
            let Some(config) = config else {
                return Work::Poison(config_error.clone());
            };
            if let Some(pk) = cascade_partition(change) {
                return Work::Units(vec![Unit::Cascade(pk.to_owned())]);
            }
            let targets = targets_of(profile, config, change);
            if targets.is_empty() {
                Work::Skip("no-target")
            } else {
                Work::Units(targets.into_iter().map(Unit::Target).collect())
            }
        }
    }
}

/// What a record asks for, from its key's kind alone, when that is enough:
/// our own writes and irrelevant items are skipped, CONFIG changes counted.
/// `None`: the record must be decoded ([`work_of`]).
fn early_work(kind: &ItemKind) -> Option<Work> {
    match kind.relevance() {
        Relevance::Derived => Some(Work::Skip("own-write")),
        Relevance::Irrelevant => Some(Work::Skip("irrelevant")),
        Relevance::Config => Some(Work::Config),
        Relevance::Source | Relevance::Target => None,
    }
}

/// Records sorted out by key ([`early_work`]) and the rest decoded: for each
/// record either its early work or its decoded change (images built only
/// for MODIFY: planning looks at no other). Each key is parsed once, and
/// nothing of a skipped record is checked beyond its key; a record whose key
/// cannot be read is decoded (the decoder says what is wrong with it).
#[allow(clippy::type_complexity)]
fn decode_batch(
    profile: &Profile,
    records: &[Value],
) -> (Vec<Option<Work>>, Vec<Option<Result<Change, CoreError>>>) {
    // Record by record, so that the decoder finds the record still in cache.
    records
        .iter()
        .map(|r| {
            match decode_json_record_gated(profile, r, Images::ForModify, |k| {
                early_work(k).is_none()
            }) {
                Gated::Skipped(kind) => (early_work(&kind), None),
                Gated::Decoded(change) => (None, Some(change)),
            }
        })
        .unzip()
}

/// Each record's work: its early work, else its read failure (replays),
/// else what its decoded change asks for under `config`.
fn work_list(
    profile: &Profile,
    config: Option<&Config>,
    early: Vec<Option<Work>>,
    changes: &[Option<Result<Change, CoreError>>],
    read_failures: &[Option<EnvelopeError>],
    config_error: &EnvelopeError,
) -> Vec<Work> {
    early
        .into_iter()
        .zip(changes)
        .enumerate()
        .map(|(i, (early, c))| match (early, read_failures.get(i), c) {
            (Some(w), _, _) => w,
            (None, Some(Some(p)), _) => Work::Poison(p.clone()),
            (None, _, Some(c)) => work_of(profile, config, c, config_error),
            (None, _, None) => Work::Skip("no-target"),
        })
        .collect()
}

/// Distinct units in the order of the first record needing them, and that
/// record's index.
fn order_units(work: &[Work]) -> (Vec<Unit>, HashMap<&Unit, usize>) {
    let mut first: HashMap<&Unit, usize> = HashMap::new();
    let mut units: Vec<Unit> = Vec::new();
    for (i, w) in work.iter().enumerate() {
        if let Work::Units(us) = w {
            for u in us {
                first.entry(u).or_insert_with(|| {
                    units.push(u.clone());
                    i
                });
            }
        }
    }
    (units, first)
}

/// The planning of a batch, without I/O (the benchmarks' "pure path"):
/// how many records need work and the distinct work units they name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchPlan {
    /// Distinct targets to reconcile, in order of first need.
    pub targets: Vec<ItemKey>,
    /// Partitions to cascade (TTL removal of an experiment).
    pub cascades: Vec<String>,
    /// Records skipped (own writes, irrelevant items, nothing to do).
    pub skipped: usize,
    /// CONFIG changes.
    pub config_changes: usize,
    /// Undecodable records.
    pub poison: usize,
}

/// Decode and sort out a batch under `config`: what [`process_records`]
/// does before its first read.
pub fn plan_records(profile: &Profile, config: &Config, records: &[Value]) -> BatchPlan {
    let (early, changes) = decode_batch(profile, records);
    let work = work_list(
        profile,
        Some(config),
        early,
        &changes,
        &[],
        &EnvelopeError::default(),
    );
    let mut plan = BatchPlan::default();
    for w in &work {
        match w {
            Work::Skip(_) => plan.skipped += 1,
            Work::Config => plan.config_changes += 1,
            Work::Poison(_) => plan.poison += 1,
            Work::Units(_) => {}
        }
    }
    for u in order_units(&work).0 {
        match u {
            Unit::Target(k) => plan.targets.push(k),
            Unit::Cascade(pk) => plan.cascades.push(pk),
        }
    }
    plan
}

fn finish(_deps: &Deps, mut result: BatchResult) -> BatchResult {
    if let Some(cut) = result.cut {
        result.stats.failed = result.stats.records.saturating_sub(cut as u64);
    }
    result
}

/// The change as of now: the item's current state (strongly consistent),
/// as an INSERT when it exists and a REMOVE (with the record's old image)
/// when it does not. Level-triggered consumers only need that.
async fn current_change(store: &dyn Store, change: &Change) -> Result<Change, AwsError> {
    let current = store.get(&change.key, true).await?;
    let mut c = change.clone();
    match current {
        Some(item) => {
            c.event = EventName::Insert;
            c.old = None;
            c.new = Some(item);
            c.by_ttl_service = false;
        }
        None => {
            c.event = EventName::Remove;
            c.new = None;
        }
    }
    Ok(c)
}

/// Execute one chunk of units once (each request retried by the adapter);
/// a unit failing transiently is recorded as such and cuts the batch.
async fn run_chunk(
    deps: &Deps,
    profile: &Profile,
    config: &Config,
    chunk: &[Unit],
    deadline: Instant,
    stats: &mut Stats,
    states: &mut HashMap<Unit, (UnitState, u32)>,
) {
    let pending: Vec<Unit> = chunk.to_vec();
    // One pass per invocation (the adapter retried each request): every
    // unit's state records a single attempt.
    const ATTEMPTS: u32 = 1;
    {
        let targets: Vec<ItemKey> = pending
            .iter()
            .filter_map(|u| match u {
                Unit::Target(k) => Some(k.clone()),
                Unit::Cascade(_) => None,
            })
            .collect();
        let mut failed: Vec<(Unit, String)> = Vec::new();
        if !targets.is_empty() {
            // Never run past the invocation: what has not finished by the
            // deadline (minus the margin) is retried by the next one.
            let stop_at = deadline
                .checked_sub(deps.settings.deadline_margin)
                .unwrap_or(deadline);
            let outcomes = match tokio::time::timeout_at(
                stop_at.into(),
                reconcile_targets(
                    &*deps.store,
                    profile,
                    config,
                    &targets,
                    Mode::Apply,
                    deps.settings.concurrency,
                ),
            )
            .await
            {
                Ok(outcomes) => outcomes,
                Err(_) => {
                    for u in pending {
                        states.insert(
                            u,
                            (
                                UnitState::Transient("invocation deadline reached".into()),
                                ATTEMPTS,
                            ),
                        );
                    }
                    return;
                }
            };
            for o in outcomes {
                let unit = Unit::Target(o.target.clone());
                match o.result {
                    Ok(r) => {
                        stats.targets += 1;
                        stats.writes += u64::from(r.writes);
                        stats.map_updates += r.map_updates as u64;
                        stats.fts_puts += r.fts_puts as u64;
                        stats.fts_deletes += r.fts_deletes as u64;
                        if r.target_missing {
                            stats.missing_targets += 1;
                            debug!(pk = %o.target.pk, sk = %o.target.sk, "target gone: nothing to do");
                        } else if r.noop {
                            stats.noop_targets += 1;
                        } else {
                            debug!(pk = %o.target.pk, sk = %o.target.sk, writes = r.writes, "target reconciled");
                        }
                        states.insert(unit, (UnitState::Done, ATTEMPTS));
                    }
                    Err(e) if e.is_transient() => {
                        debug!(pk = %o.target.pk, sk = %o.target.sk, error = %e, "transient failure");
                        failed.push((unit, e.to_string()));
                    }
                    Err(e) if e.is_index_type_mismatch() => {
                        // The table is not in the format planned for: read
                        // it again; the batch is retried, never dead-lettered.
                        warn!(pk = %o.target.pk, sk = %o.target.sk, error = %e, "index key type mismatch: the table format is read again");
                        deps.format.invalidate();
                        states.insert(unit, (UnitState::Transient(e.to_string()), ATTEMPTS));
                    }
                    Err(e) => {
                        warn!(pk = %o.target.pk, sk = %o.target.sk, error = %e, "permanent failure");
                        let p = poison(engine_error_kind(&e), e.to_string());
                        states.insert(unit, (UnitState::Permanent(p), ATTEMPTS));
                    }
                }
            }
        }
        for u in &pending {
            let Unit::Cascade(pk) = u else { continue };
            match cascade(&*deps.store, pk, now_ms() / 1000).await {
                Ok((expired, requests)) => {
                    stats.cascades += 1;
                    stats.expired += expired;
                    stats.writes += requests;
                    info!(pk = %pk, expired, "orphan partition expired");
                    states.insert(u.clone(), (UnitState::Done, ATTEMPTS));
                }
                Err(e) if e.is_transient() => failed.push((u.clone(), e.to_string())),
                Err(e) => {
                    warn!(pk = %pk, error = %e, "cascade failed permanently");
                    let p = poison(aws_error_kind(&e), e.to_string());
                    states.insert(u.clone(), (UnitState::Permanent(p), ATTEMPTS));
                }
            }
        }
        for (u, why) in failed {
            states.insert(u, (UnitState::Transient(why), ATTEMPTS));
        }
    }
}

/// Expire what is left of an experiment partition whose `E#META` the TTL
/// service removed: `SET ttl = :now` on each item, never lengthening a ttl,
/// never re-creating an item (`Store::expire`). Returns (expired, requests).
async fn cascade(store: &dyn Store, pk: &str, now_s: i64) -> Result<(u64, u64), AwsError> {
    let items = store
        .query_prefix(pk, "", true, Some(&[PK, SK, "ttl"]))
        .await?;
    let plan = ttl_cascade(pk, &items, now_s);
    if plan.keys.is_empty() {
        return Ok((0, 0));
    }
    let report = store.expire(&plan.keys, now_s).await?;
    let mut expired = 0;
    for (_, outcome) in report.outcomes {
        match outcome {
            ExpireOutcome::Expired => expired += 1,
            ExpireOutcome::Skipped => {}
            ExpireOutcome::Failed(e) => return Err(e),
        }
    }
    Ok((expired, u64::from(report.requests)))
}

/// Send one record to the DLQ on its first failure (the migration sink's
/// poison records).
pub(crate) async fn dead_letter_record(
    deps: &Deps,
    record: &Value,
    err: &EnvelopeError,
    now: i64,
) -> Result<(), String> {
    dead_letter(deps, record, err, 1, now, Vec::new()).await
}

/// Send one record to the DLQ. `Err` (a reason) when there is no DLQ or
/// the send failed: the record then counts as transient.
async fn dead_letter(
    deps: &Deps,
    record: &Value,
    err: &EnvelopeError,
    attempts: u32,
    now: i64,
    covers: Vec<String>,
) -> Result<(), String> {
    let Some(dlq) = &deps.dlq else {
        return Err("no DLQ configured for a permanent failure".into());
    };
    let envelope = Envelope {
        version: ENVELOPE_VERSION.into(),
        record: record.clone(),
        error: err.clone(),
        attempts,
        first_failure: rfc3339(now),
        function: FunctionId {
            name: deps.settings.function_name.clone(),
            version: deps.settings.function_version.clone(),
        },
        truncated: false,
        covers,
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("kind".to_owned(), err.kind.clone());
    if let Some(seq) = sequence_number(record) {
        attrs.insert("sequenceNumber".to_owned(), seq);
    }
    dlq.send(&envelope.to_body(), &attrs)
        .await
        .map(|_| ())
        .map_err(|e| format!("DLQ send: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(records: &[Value], idx: usize, expected: Option<&str>) {
        assert_eq!(
            failure_identifier(records, idx).as_deref(),
            expected,
            "{records:?} @ {idx}"
        );
    }

    #[test]
    fn the_reported_identifier_is_never_empty_and_never_later_than_the_failure() {
        let r = |seq: Value| json!({"dynamodb": {"SequenceNumber": seq}});
        let none = json!({"dynamodb": {}});
        let records = [
            r(json!("10")),
            none.clone(),
            r(json!("")),
            r(json!(30)),
            r(json!("40")),
        ];
        check(&records, 0, Some("10"));
        check(&records, 1, Some("10"));
        check(&records, 2, Some("10"));
        check(&records, 3, Some("10"));
        check(&records, 4, Some("40"));
        check(&[none.clone(), r(json!("5"))], 0, None);
        check(&[none, r(json!("5"))], 1, Some("5"));
        check(&[], 0, None);
    }
}
