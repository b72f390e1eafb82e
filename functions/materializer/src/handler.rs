//! One batch of stream records → reconciled targets, dead letters, and the
//! first record to retry.
//!
//! # How a batch is processed: four phases
//!
//! Each record is one [`Record`] value (its raw JSON and what it asks for,
//! [`Work`]) that moves through the phases in order; the walk from the
//! Lambda entry to a write only goes down: [`process_records`] →
//! `decode` → `plan` → `execute` → `acknowledge`.
//!
//! 1. **Decode** (pure): each record on its own, by the one decoder
//!    ([`decode_json_record_gated`]: one malformed record never hides the
//!    others), the key first: our own writes (FTS items, `OPS#`) and
//!    irrelevant items (metrics, RANK, spans …) are skipped, CONFIG changes
//!    counted, without decoding their images. A CONFIG change invalidates
//!    the cached configuration. A replay then rewrites each decoded record
//!    to its item's current state (`refresh`).
//! 2. **Plan** (pure, under the configuration, loaded once per batch): a
//!    tag, param, assessment or META change names its targets
//!    ([`targets_of`]); the TTL service removing an `E#META` names its
//!    partition ([`cascade_partition`]).
//! 3. **Execute**: the distinct units (targets, cascades), ordered by the
//!    first record that needs them, in chunks, each chunk's targets
//!    concurrently (bounded) through the engine's [`reconcile_targets`]: the
//!    one reconciliation shared with the indexer, level-triggered (reads
//!    the current state, writes only the difference; an already-right
//!    target costs zero writes). Transient failures (throttling, 5xx,
//!    timeouts) are retried by the adapter's one retry policy
//!    ([`mlflow_ddb_aws::retry`]: an attempt budget per request,
//!    full-jitter backoff, bounded by this invocation's deadline, which
//!    the handler sets); the handler adds no retry of its own. A unit still
//!    failing stops the work after its chunk and cuts the batch at the
//!    first record that needs it; Lambda resends from there. (Later records
//!    of chunks already executed were reconciled too; being
//!    level-triggered, their redelivery is a no-op.)
//! 4. **Acknowledge**, in record order up to the cut: permanent failures
//!    (undecodable record, validation error, item too large) send the
//!    record to the DLQ as an [`Envelope`]; processing goes on. A failed DLQ
//!    send cuts the batch there: a record is acknowledged only once its
//!    writes, or its dead letter, have succeeded.
//!
//! A *replay* (a DLQ envelope) is the same path, except that each record is
//! first rewritten to the current state of its item (strongly consistent
//! read), so an old message never overwrites newer state, and a permanent
//! failure is reported rather than dead-lettered again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::{classify, AwsError, ExpireOutcome, Queue, Store, StreamReader};
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::item::{ItemKey, PK, SK};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::{cascade_partition, targets_of, ttl_cascade};
use mlflow_ddb_core::stream::{decode_json_record_gated, Change, EventName, Gated, Images};
use mlflow_ddb_engine::{reconcile_targets, ConfigCache, EngineError, FormatResolver, Mode};
use serde_json::Value;
use tracing::{debug, error, info, warn};

pub use crate::envelope::sequence_number;
use crate::envelope::{send_dead_letter, EnvelopeError, FunctionId};
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

pub use mlflow_ddb_runtime::now_ms;

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Unit {
    Target(ItemKey),
    Cascade(String),
}

/// What a record asks for, as far as the phases have got.
// A decoded change is most of a batch's records until planned: kept inline
// (one Vec of records, no allocation per record) rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Work {
    /// Decoded; planning decides ([`plan`]).
    Pending(Change),
    Skip(&'static str),
    Config,
    Units(Vec<Unit>),
    Poison(EnvelopeError),
}

/// One record on its way through the phases: its raw JSON (what a dead
/// letter carries) and what it asks for, which each phase refines.
#[derive(Debug)]
struct Record<'a> {
    raw: &'a Value,
    work: Work,
}

impl<'a> Record<'a> {
    /// The item's key as the raw record names it (for the logs).
    fn key(&self) -> (Option<&'a str>, Option<&'a str>) {
        let keys = self.raw.get("dynamodb").and_then(|d| d.get("Keys"));
        let s = |a: &str| keys?.get(a)?.get("S")?.as_str();
        (s(PK), s(SK))
    }

    fn units(&self) -> &[Unit] {
        match &self.work {
            Work::Units(us) => us,
            _ => &[],
        }
    }
}

/// How a unit ended.
#[derive(Debug, Clone)]
enum UnitState {
    Done,
    Transient(String),
    Permanent(EnvelopeError),
}

/// Where the batch stops: the first record not acknowledged, and why.
type Cut = (usize, String);

/// This function's name and version, as dead letters carry them.
pub(crate) fn function_id(settings: &Settings) -> FunctionId {
    FunctionId {
        name: settings.function_name.clone(),
        version: settings.function_version.clone(),
    }
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
    if let Some(cut) = result.cut {
        result.stats.failed = result.stats.records.saturating_sub(cut as u64);
    }
    result
}

/// The phases, in order; each takes the records from the one before.
async fn process_records_within(
    deps: &Deps,
    raws: &[Value],
    origin: Origin,
    deadline: Instant,
) -> BatchResult {
    if let Some(sink) = &deps.migrate {
        return crate::migrate::migrate_records(deps, sink, raws, origin, deadline).await;
    }
    let mut result = BatchResult::default();
    result.stats.records = raws.len() as u64;
    let now = now_ms();
    result.stats.max_lag_ms = max_lag_ms(raws, now);

    let profile = match deps.format.profile().await {
        Ok(p) => p,
        Err(e) => {
            // A refused or unreadable format: nothing may be written. The
            // whole invocation fails, so Lambda retries the batch and the
            // Errors alarm fires; no record is skipped.
            error!(error = %e, "table format: nothing written, the batch fails");
            if !raws.is_empty() {
                result.cut = Some(0);
            }
            result.cut_reason = Some(e.to_string());
            result.format_error = Some(e);
            return result;
        }
    };

    // 1. Decode.
    let mut records = decode(profile, raws);
    // A CONFIG change in the batch: the cached configuration is stale now.
    if records.iter().any(|r| matches!(r.work, Work::Config)) {
        deps.config.invalidate();
    }
    if origin == Origin::Replay {
        if let Err((i, why)) = refresh(&*deps.store, &mut records).await {
            result.cut = Some(i);
            result.cut_reason = Some(why);
            return result;
        }
    }

    // 2. Plan, under the configuration (once per batch).
    let config = match deps.config.load(&*deps.store, Instant::now()).await {
        Ok(c) => Some(c),
        Err(e) if e.is_transient() => {
            warn!(error = %e, "configuration unreadable: the batch is retried");
            if !raws.is_empty() {
                result.cut = Some(0);
                result.cut_reason = Some(e.to_string());
            }
            return result;
        }
        Err(e) => {
            // A malformed CONFIG item: nothing can be planned safely. Records
            // that need planning are dead-lettered (replayable once the
            // item is fixed); the others go on.
            error!(error = %e, "configuration malformed: records needing it go to the DLQ");
            None
        }
    };
    plan(profile, config.as_deref(), &mut records);

    // 3. Execute.
    let (states, cut) = match &config {
        Some(config) => execute(deps, profile, config, &records, deadline, &mut result.stats).await,
        None => (HashMap::new(), None),
    };

    // 4. Acknowledge, up to the cut.
    let cut = acknowledge(deps, origin, &records, &states, cut, now, &mut result).await;
    if let Some((i, why)) = cut {
        result.cut = Some(i);
        result.cut_reason = Some(why);
    }
    result
}

/// The oldest record's age now, from `ApproximateCreationDateTime`.
fn max_lag_ms(raws: &[Value], now: i64) -> u64 {
    raws.iter()
        .filter_map(|r| {
            r.get("dynamodb")?
                .get("ApproximateCreationDateTime")?
                .as_f64()
        })
        .map(|t| now as f64 - t * 1000.0)
        .filter(|lag| lag.is_finite() && *lag > 0.0)
        .fold(0, |m, lag| m.max(lag as u64))
}

/// Phase 1: each record decoded on its own (one malformed record never
/// hides the others), the key first: our own writes, irrelevant items and
/// CONFIG changes are sorted out without decoding their images (images are
/// built only for MODIFY: planning looks at no other). A record whose key
/// cannot be read is decoded, so that the error says what is wrong with it.
fn decode<'a>(profile: &Profile, raws: &'a [Value]) -> Vec<Record<'a>> {
    raws.iter()
        .map(|raw| {
            let gated = decode_json_record_gated(profile, raw, Images::ForModify, |k| {
                early_work(k).is_none()
            });
            let work = match gated {
                Gated::Skipped(kind) => early_work(&kind).unwrap_or(Work::Skip("irrelevant")),
                Gated::Decoded(Ok(change)) => Work::Pending(change),
                Gated::Decoded(Err(e)) => Work::Poison(poison("undecodable", e.to_string())),
            };
            Record { raw, work }
        })
        .collect()
}

/// What a record asks for from its key's kind alone, when that is enough.
/// `None`: the record must be decoded and planned.
fn early_work(kind: &ItemKind) -> Option<Work> {
    match kind.relevance() {
        Relevance::Derived => Some(Work::Skip("own-write")),
        Relevance::Irrelevant => Some(Work::Skip("irrelevant")),
        Relevance::Config => Some(Work::Config),
        Relevance::Source | Relevance::Target => None,
    }
}

/// Phase 1, replays only: each decoded record rewritten to its item's
/// current state. A permanent read failure makes the record poison; a
/// transient one cuts the batch there.
async fn refresh(store: &dyn Store, records: &mut [Record<'_>]) -> Result<(), Cut> {
    for (i, r) in records.iter_mut().enumerate() {
        let Work::Pending(change) = &r.work else {
            continue;
        };
        match current_change(store, change).await {
            Ok(current) => r.work = Work::Pending(current),
            Err(e) if e.is_transient() => return Err((i, e.to_string())),
            Err(e) => r.work = Work::Poison(poison(aws_error_kind(&e), e.to_string())),
        }
    }
    Ok(())
}

/// Phase 2, pure: what each decoded record asks for under `config`
/// ([`targets_of`], [`cascade_partition`]). Without a usable configuration,
/// records that need one are poison.
fn plan(profile: &Profile, config: Option<&Config>, records: &mut [Record<'_>]) {
    for r in records {
        let Work::Pending(change) = &r.work else {
            continue;
        };
        r.work = match config {
            None => Work::Poison(poison("config", "configuration malformed or unreadable")),
            Some(config) => plan_change(profile, config, change),
        };
    }
}

fn plan_change(profile: &Profile, config: &Config, change: &Change) -> Work {
    if let Some(w) = early_work(&change.kind) {
        return w;
    }
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

/// Distinct units in the order of the first record needing them, and that
/// record's index.
fn order_units<'r>(records: &'r [Record<'_>]) -> (Vec<&'r Unit>, HashMap<&'r Unit, usize>) {
    let mut first: HashMap<&Unit, usize> = HashMap::new();
    let mut units: Vec<&Unit> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for u in r.units() {
            first.entry(u).or_insert_with(|| {
                units.push(u);
                i
            });
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

/// Phases 1 and 2 of a batch under `config`: what [`process_records`] does
/// before its first read.
pub fn plan_records(profile: &Profile, config: &Config, records: &[Value]) -> BatchPlan {
    let mut records = decode(profile, records);
    plan(profile, Some(config), &mut records);
    let mut out = BatchPlan::default();
    for r in &records {
        match &r.work {
            Work::Skip(_) => out.skipped += 1,
            Work::Config => out.config_changes += 1,
            Work::Poison(_) => out.poison += 1,
            Work::Units(_) | Work::Pending(_) => {}
        }
    }
    for u in order_units(&records).0 {
        match u {
            Unit::Target(k) => out.targets.push(k.clone()),
            Unit::Cascade(pk) => out.cascades.push(pk.clone()),
        }
    }
    out
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

/// Phase 3: the units, in the order of the first record needing them, in
/// chunks. A unit failing transiently stops the work after its chunk and
/// cuts the batch at the first record that needs it.
async fn execute(
    deps: &Deps,
    profile: &Profile,
    config: &Config,
    records: &[Record<'_>],
    deadline: Instant,
    stats: &mut Stats,
) -> (HashMap<Unit, UnitState>, Option<Cut>) {
    let (units, first) = order_units(records);
    let mut states: HashMap<Unit, UnitState> = HashMap::new();
    for chunk in units.chunks(deps.settings.chunk_units.max(1)) {
        run_chunk(deps, profile, config, chunk, deadline, stats, &mut states).await;
        let cut = chunk
            .iter()
            .filter_map(|u| match states.get(*u) {
                Some(UnitState::Transient(why)) => first.get(*u).map(|i| (*i, why.clone())),
                _ => None,
            })
            .min_by_key(|(i, _)| *i);
        if cut.is_some() {
            return (states, cut);
        }
    }
    (states, None)
}

/// Phase 4: acknowledge the records in order up to `cut`, dead-lettering
/// permanent failures (a replay reports them instead). Returns where the
/// batch stops: `cut`, or an earlier record whose work did not finish or
/// whose dead letter could not be sent.
async fn acknowledge(
    deps: &Deps,
    origin: Origin,
    records: &[Record<'_>],
    states: &HashMap<Unit, UnitState>,
    cut: Option<Cut>,
    now: i64,
    result: &mut BatchResult,
) -> Option<Cut> {
    let stop = cut.as_ref().map_or(records.len(), |(i, _)| *i);
    for (i, r) in records[..stop].iter().enumerate() {
        let failure: Option<(EnvelopeError, Option<&Unit>)> = match &r.work {
            Work::Skip(reason) => {
                result.stats.skip(reason);
                None
            }
            Work::Config => {
                result.stats.config_changes += 1;
                None
            }
            // Not planned (no configuration to plan with): retried.
            Work::Pending(_) => return Some((i, "work not planned".into())),
            Work::Poison(e) => Some((e.clone(), None)),
            Work::Units(us) => {
                // Belt and braces: a unit that did not finish cuts here.
                if us.iter().any(|u| {
                    !matches!(
                        states.get(u),
                        Some(UnitState::Done | UnitState::Permanent(_))
                    )
                }) {
                    return Some((i, cut.map_or_else(|| "work not finished".into(), |c| c.1)));
                }
                us.iter().find_map(|u| match states.get(u) {
                    Some(UnitState::Permanent(e)) => Some((e.clone(), Some(u))),
                    _ => None,
                })
            }
        };
        let Some((err, unit)) = failure else {
            result.stats.acknowledged += 1;
            continue;
        };
        // One dead letter per failed unit: replaying any record of a target
        // reconciles all of it, so the first record of the batch that needs
        // the unit carries the others' sequence numbers (`covers`), and they
        // are acknowledged with it.
        let covers: Vec<String> = match unit {
            Some(u) => {
                let mut needing = (0..stop).filter(|j| records[*j].units().contains(u));
                if needing.next() != Some(i) {
                    result.stats.skip("covered-by-dead-letter");
                    result.stats.acknowledged += 1;
                    continue;
                }
                needing
                    .filter_map(|j| sequence_number(records[j].raw))
                    .collect()
            }
            None => Vec::new(),
        };
        let (pk, sk) = r.key();
        match origin {
            Origin::Replay => {
                warn!(pk, sk, kind = %err.kind, error = %err.message, "replayed record failed again");
                result.permanent.push((i, err));
                result.stats.acknowledged += 1;
            }
            Origin::Stream => match send_dead_letter(
                deps.dlq.as_deref(),
                &function_id(&deps.settings),
                r.raw,
                &err,
                now,
                covers,
            )
            .await
            {
                Ok(()) => {
                    warn!(pk, sk, seq = sequence_number(r.raw).as_deref(), kind = %err.kind,
                          error = %err.message, "record sent to DLQ");
                    result.stats.dlq_sends += 1;
                    result.stats.acknowledged += 1;
                }
                Err(why) => {
                    error!(pk, sk, error = %why, "DLQ send failed: the record is retried");
                    return Some((i, why));
                }
            },
        }
    }
    cut
}

/// Execute one chunk of units once (each request retried by the adapter);
/// a unit failing transiently is recorded as such and cuts the batch.
async fn run_chunk(
    deps: &Deps,
    profile: &Profile,
    config: &Config,
    chunk: &[&Unit],
    deadline: Instant,
    stats: &mut Stats,
    states: &mut HashMap<Unit, UnitState>,
) {
    let targets: Vec<ItemKey> = chunk
        .iter()
        .filter_map(|u| match u {
            Unit::Target(k) => Some(k.clone()),
            Unit::Cascade(_) => None,
        })
        .collect();
    if !targets.is_empty() {
        // Never run past the invocation: what has not finished by the
        // deadline (minus the margin) is retried by the next one.
        let stop_at = deadline
            .checked_sub(deps.settings.deadline_margin)
            .unwrap_or(deadline);
        let reconciled = tokio::time::timeout_at(
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
        .await;
        let Ok(outcomes) = reconciled else {
            for u in chunk {
                let why = "invocation deadline reached".to_owned();
                states.insert((*u).clone(), UnitState::Transient(why));
            }
            return;
        };
        for o in outcomes {
            let (pk, sk) = (o.target.pk.as_str(), o.target.sk.as_str());
            let state = match o.result {
                Ok(r) => {
                    stats.targets += 1;
                    stats.writes += u64::from(r.writes);
                    stats.map_updates += r.map_updates as u64;
                    stats.fts_puts += r.fts_puts as u64;
                    stats.fts_deletes += r.fts_deletes as u64;
                    if r.target_missing {
                        stats.missing_targets += 1;
                        debug!(pk, sk, "target gone: nothing to do");
                    } else if r.noop {
                        stats.noop_targets += 1;
                    } else {
                        debug!(pk, sk, writes = r.writes, "target reconciled");
                    }
                    UnitState::Done
                }
                Err(e) if e.is_transient() => {
                    debug!(pk, sk, error = %e, "transient failure");
                    UnitState::Transient(e.to_string())
                }
                Err(e) if e.is_index_type_mismatch() => {
                    // The table is not in the format planned for: read
                    // it again; the batch is retried, never dead-lettered.
                    warn!(pk, sk, error = %e, "index key type mismatch: the table format is read again");
                    deps.format.invalidate();
                    UnitState::Transient(e.to_string())
                }
                Err(e) => {
                    warn!(pk, sk, error = %e, "permanent failure");
                    UnitState::Permanent(poison(engine_error_kind(&e), e.to_string()))
                }
            };
            states.insert(Unit::Target(o.target), state);
        }
    }
    for u in chunk {
        let Unit::Cascade(pk) = u else { continue };
        let state = match cascade(&*deps.store, pk, now_ms() / 1000).await {
            Ok((expired, requests)) => {
                stats.cascades += 1;
                stats.expired += expired;
                stats.writes += requests;
                info!(pk = %pk, expired, "orphan partition expired");
                UnitState::Done
            }
            Err(e) if e.is_transient() => UnitState::Transient(e.to_string()),
            Err(e) => {
                warn!(pk = %pk, error = %e, "cascade failed permanently");
                UnitState::Permanent(poison(aws_error_kind(&e), e.to_string()))
            }
        };
        states.insert((*u).clone(), state);
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
