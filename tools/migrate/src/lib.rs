//! `migrate`: carry a live `v0.1` table into a new `main`-format table with
//! no downtime (issue #11; contract §7-§8). Nothing here is a new mechanism:
//!
//! - **copy** is the indexer's segment driver in [`WalkMode::Copy`] (each
//!   scanned item through the core's `migrate::to_main`, written by the
//!   engine's `migrate::apply`), its continuations saved in the target under
//!   `OPS#migrate` ([`ops`]) so a restart resumes; then an indexer backfill of
//!   the target rebuilds every derived item in `main`'s layout.
//! - **sync** is the materializer's `tail` (all shards, parents first,
//!   retries, bisection, per-item order) with the materializer's migrate
//!   sink; in AWS the same binary behind an event source mapping on the
//!   source's stream (`MIGRATE_TARGET_TABLE`).
//! - **status** and **verify** read both tables and the bookkeeping.
//!
//! The source is never written by copy, sync, status or verify (verify's
//! report goes to the target's `OPS#migrate/VERIFY`); only `sync --reverse`
//! writes into the `v0.1` table, which is its purpose.

pub mod ops;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexer::{drive, DriveOptions, Summary as WalkSummary, WalkMode};
use materializer::migrate::MigrateSink;
use materializer::tail::{tail, Checkpoints, TailOptions, TailSummary};
use materializer::{Deps as StreamDeps, MetricsSink, Settings as StreamSettings};
use mlflow_ddb_aws::{
    create_table, describe_table, AwsError, Clients, DynamoStore, ShardStart, Store, StreamReader,
    TableSummary,
};
use mlflow_ddb_core::format::{FormatSetting, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_core::migrate::{to_main, Transformed};
use mlflow_ddb_engine::migrate::Direction;
use mlflow_ddb_engine::{ConfigCache, FormatResolver};
use serde::{Deserialize, Serialize};

use ops::{MigrationMeta, TargetCheckpoints, OPS_PK};

/// How far before the copy's start the sync begins carrying changes (the
/// stream's `ApproximateCreationDateTime` is DynamoDB's clock, not ours).
pub const SINCE_MARGIN_MS: i64 = 5 * 60 * 1000;

/// DynamoDB Streams keeps records 24 hours.
pub const STREAM_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// Why a migration command stopped. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Walk(#[from] indexer::IndexerError),
    #[error(transparent)]
    Tail(#[from] materializer::tail::TailError),
    #[error(transparent)]
    Engine(#[from] mlflow_ddb_engine::EngineError),
}

fn refused(msg: impl Into<String>) -> MigrateError {
    MigrateError::Refused(msg.into())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `describe_table`, `None` when the table does not exist.
async fn describe(clients: &Clients, table: &str) -> Result<Option<TableSummary>, MigrateError> {
    match describe_table(&clients.ddb, table).await {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn format_of(store: Arc<DynamoStore>) -> Result<TableFormat, MigrateError> {
    Ok(FormatResolver::detect(FormatSetting::Auto, store)
        .resolve()
        .await?
        .format)
}

fn store(clients: &Clients, table: &str) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(clients, table))
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub source: String,
    pub target: String,
    pub segments: u32,
    pub concurrency: usize,
    pub page_size: Option<u32>,
    /// Deadline of each emulated invocation (continuations past it).
    pub invocation_timeout: Duration,
}

/// What `copy` did (its JSON summary).
#[derive(Debug, Clone, Serialize)]
pub struct CopySummary {
    pub source: String,
    pub target: String,
    /// The target was created by this run.
    pub created_target: bool,
    /// A previous run's checkpoints were found and continued.
    pub resumed: bool,
    pub started_at_ms: i64,
    pub copy: WalkSummary,
    /// The backfill of the target that rebuilt its derived state.
    pub derive: WalkSummary,
    pub copy_done: bool,
}

/// Is `key` something a fresh `main` table may already hold (our
/// bookkeeping, the store's seed)?
fn allowed_in_empty_target(key: &ItemKey) -> bool {
    key.pk == OPS_PK || (key.pk == "WORKSPACE#default" && key.sk == "META")
}

/// What [`prepare`] found or made.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub meta: MigrationMeta,
    pub created_target: bool,
    /// The target already held this migration (a copy resumes).
    pub resumed: bool,
}

/// The checks and the set-up of a copy, without copying: the source is a
/// `v0.1` table with a `NEW_AND_OLD_IMAGES` stream; the target is created
/// like the `main` template when absent, else must be empty or this
/// migration's own; the stream position is recorded (`OPS#migrate/META`)
/// before anything is read. `migrate copy --prepare` stops here, for a copy
/// the indexer's Step Functions Map runs (`mode: copy`).
pub async fn prepare(clients: &Clients, opts: &CopyOptions) -> Result<Prepared, MigrateError> {
    if opts.source == opts.target {
        return Err(refused("--source and --target name the same table"));
    }
    let Some(src) = describe(clients, &opts.source).await? else {
        return Err(refused(format!(
            "source table {} does not exist",
            opts.source
        )));
    };
    let source = store(clients, &opts.source);
    let format = format_of(source.clone()).await?;
    if format != TableFormat::V0_1 {
        return Err(refused(format!(
            "source table {} is in format {format}: migrate copies a v0.1 table into a new main table (nothing to do for a main table)",
            opts.source
        )));
    }
    let stream_arn = match (&src.stream_arn, src.stream_view_type.as_deref()) {
        (Some(arn), Some("NEW_AND_OLD_IMAGES")) => arn.clone(),
        (_, view) => {
            return Err(refused(format!(
                "source table {} has {}: the sync needs a NEW_AND_OLD_IMAGES stream, enabled before the copy starts. Enable it with `preflight enable-stream --table {}` (or `aws dynamodb update-table --table-name {} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES`), then run copy again",
                opts.source,
                view.map_or("no stream".to_owned(), |v| format!("a {v} stream")),
                opts.source,
                opts.source
            )))
        }
    };
    let target = store(clients, &opts.target);
    let mut created_target = false;
    match describe(clients, &opts.target).await? {
        None => {
            create_table(&clients.ddb, &opts.target, "main", true).await?;
            // What the main store's deployment seeds (it never runs here).
            target
                .batch_write(mlflow_ddb_core::migrate::main_seeds(), Vec::new())
                .await?;
            created_target = true;
        }
        Some(_) => {
            let tf = format_of(target.clone()).await?;
            if tf != TableFormat::Main {
                return Err(refused(format!(
                    "target table {} exists in format {tf}: give a new table name (copy creates it) or an empty main table",
                    opts.target
                )));
            }
        }
    }
    let meta: Option<MigrationMeta> = ops::load(target.as_ref(), "META").await?;
    let (meta, resumed) = match meta {
        Some(m) if m.source == opts.source => (m, true),
        Some(m) => {
            return Err(refused(format!(
                "target table {} holds a migration of {}, not {}: use another target",
                opts.target, m.source, opts.source
            )))
        }
        None => {
            let page = target
                .scan_segment(0, 1, None, Some(&[PK, SK]), Some(25))
                .await?;
            if let Some(k) = page
                .items
                .iter()
                .filter_map(item_key)
                .find(|k| !allowed_in_empty_target(k))
            {
                return Err(refused(format!(
                    "target table {} is not empty (it holds {k}, and no migration of {} started there): give a new table name, or delete the table",
                    opts.target, opts.source
                )));
            }
            // The position: recorded before the first item is read.
            let m = MigrationMeta {
                source: opts.source.clone(),
                target: opts.target.clone(),
                started_at_ms: now_ms(),
                stream_arn: stream_arn.clone(),
                segments: opts.segments.max(1),
                copy_done: false,
                copy_done_at_ms: None,
            };
            ops::save(target.as_ref(), "META", &m).await?;
            (m, false)
        }
    };
    if meta.stream_arn != stream_arn {
        return Err(refused(format!(
            "the source's stream changed since the copy started ({} then, {} now): changes in between are lost to the sync. Copy again into a new target",
            meta.stream_arn, stream_arn
        )));
    }
    Ok(Prepared {
        meta,
        created_target,
        resumed,
    })
}

/// `migrate copy`. Refuses unless the source is a `v0.1` table with a
/// `NEW_AND_OLD_IMAGES` stream and the target is absent, empty, or this
/// migration's own (then it resumes). `progress` counts scanned items.
pub async fn copy(
    clients: &Clients,
    opts: &CopyOptions,
    progress: Arc<AtomicU64>,
) -> Result<CopySummary, MigrateError> {
    let prepared = prepare(clients, opts).await?;
    let Prepared {
        meta,
        created_target,
        resumed,
    } = prepared;
    let (source, target) = (store(clients, &opts.source), store(clients, &opts.target));
    let settings = indexer::Settings {
        concurrency: opts.concurrency.max(1),
        ..indexer::Settings::default()
    };
    let mut deps = indexer::Deps::copy(
        source.clone(),
        FormatResolver::fixed(TableFormat::V0_1),
        target.clone(),
        settings.clone(),
    );
    deps.progress = progress.clone();
    let mut walk = DriveOptions::new(WalkMode::Copy, meta.segments);
    walk.page_size = opts.page_size;
    walk.invocation_timeout = opts.invocation_timeout;
    walk.checkpoints = Some(Arc::new(TargetCheckpoints {
        target: target.clone(),
    }));
    let copied = drive(Arc::new(deps), &walk).await?;
    if copied.counts.errors > 0 || !copied.done {
        return Ok(CopySummary {
            source: opts.source.clone(),
            target: opts.target.clone(),
            created_target,
            resumed,
            started_at_ms: meta.started_at_ms,
            derive: copied.clone(),
            copy: copied,
            copy_done: false,
        });
    }
    // Every derived item, in main's layout, from what was copied.
    let mut derive_deps = indexer::Deps::new(
        target.clone(),
        FormatResolver::fixed(TableFormat::Main),
        settings,
    );
    derive_deps.progress = progress;
    let mut backfill = DriveOptions::new(WalkMode::Backfill, meta.segments);
    backfill.invocation_timeout = opts.invocation_timeout;
    let derived = drive(Arc::new(derive_deps), &backfill).await?;
    let done = derived.counts.errors == 0 && derived.done;
    if done {
        let m = MigrationMeta {
            copy_done: true,
            copy_done_at_ms: Some(now_ms()),
            ..meta.clone()
        };
        ops::save(target.as_ref(), "META", &m).await?;
    }
    Ok(CopySummary {
        source: opts.source.clone(),
        target: opts.target.clone(),
        created_target,
        resumed,
        started_at_ms: meta.started_at_ms,
        copy: copied,
        derive: derived,
        copy_done: done,
    })
}

fn item_key(item: &Item) -> Option<ItemKey> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(ItemKey::new(pk.as_str(), sk.as_str()))
        }
        _ => None,
    }
}

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub source: String,
    pub target: String,
    /// Carry the `main` table's changes back into the `v0.1` table.
    pub reverse: bool,
    pub until_idle: bool,
    pub checkpoint: PathBuf,
    pub batch_size: u32,
    pub concurrency: usize,
}

/// The sync's bookkeeping item (`SYNC`, `SYNC#reverse`).
fn sync_sk(reverse: bool) -> &'static str {
    if reverse {
        "SYNC#reverse"
    } else {
        "SYNC"
    }
}

/// What the last sync run left in the target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncRecord {
    pub finished_at_ms: i64,
    pub stream_arn: String,
    pub checkpoints: Checkpoints,
}

/// `migrate sync [--reverse]`: every change of the source's stream since
/// the copy started, carried into the target through the materializer's
/// `tail` and its migrate sink. Forward, the copy must be complete (a change
/// carried while a segment may still put an older image would be
/// overwritten); the stream must be the one recorded at the copy's start
/// and still hold that instant.
pub async fn sync(clients: &Clients, opts: &SyncOptions) -> Result<TailSummary, MigrateError> {
    // `--source S --target T` name the migration; reverse reads T's stream into S.
    let (from, to, direction) = if opts.reverse {
        (&opts.target, &opts.source, Direction::ToV0_1)
    } else {
        (&opts.source, &opts.target, Direction::ToMain)
    };
    if describe(clients, &opts.target).await?.is_none() {
        return Err(refused(format!(
            "target table {} does not exist: run `migrate copy --source {} --target {} --to main` first",
            opts.target, opts.source, opts.target
        )));
    }
    let migration = store(clients, &opts.target);
    let Some(meta) = ops::load::<MigrationMeta>(migration.as_ref(), "META").await? else {
        return Err(refused(format!(
            "no migration from {} found in {}: run `migrate copy --source {} --target {} --to main` first",
            opts.source, opts.target, opts.source, opts.target
        )));
    };
    if meta.source != opts.source {
        return Err(refused(format!(
            "{} holds a migration of {}, not {}",
            opts.target, meta.source, opts.source
        )));
    }
    if !meta.copy_done {
        return Err(refused(format!(
            "the copy into {} is not complete: run `migrate copy --source {} --target {} --to main` to its end first (it resumes); the sync then carries every change since the copy started",
            opts.target, opts.source, opts.target
        )));
    }
    let Some(src) = describe(clients, from).await? else {
        return Err(refused(format!("table {from} does not exist")));
    };
    let arn = match (&src.stream_arn, src.stream_view_type.as_deref()) {
        (Some(arn), Some("NEW_AND_OLD_IMAGES")) => arn.clone(),
        _ => {
            return Err(refused(format!(
                "table {from} has no NEW_AND_OLD_IMAGES stream: enable it with `preflight enable-stream --table {from}`"
            )))
        }
    };
    let saved = Checkpoints::load(&opts.checkpoint)?;
    // Where the carried changes begin: forward, the copy's start; reverse,
    // the cutover (the last forward sync), so the copy's own writes into the
    // target are not carried back. Both less a margin for the stream's
    // clock: a change carried twice changes nothing.
    let since_ms = if opts.reverse {
        let Some(forward) = ops::load::<SyncRecord>(migration.as_ref(), sync_sk(false)).await?
        else {
            return Err(refused(format!(
                "no forward sync into {} was recorded, so there is no cutover to carry changes back from: run `migrate sync --source {} --target {} --until-idle` first",
                opts.target, opts.source, opts.target
            )));
        };
        forward.finished_at_ms - SINCE_MARGIN_MS
    } else {
        meta.started_at_ms - SINCE_MARGIN_MS
    };
    if !opts.reverse {
        if arn != meta.stream_arn {
            return Err(refused(format!(
                "the source's stream is not the one recorded when the copy started ({} then, {arn} now): the changes in between cannot be read. Copy again into a new target",
                meta.stream_arn
            )));
        }
        let started = !saved.streams.get(&arn).is_none_or(|s| s.is_empty());
        if !started && now_ms() - meta.started_at_ms > STREAM_RETENTION_MS {
            return Err(refused(format!(
                "the copy started more than 24 hours ago and the sync never ran: the stream no longer holds every change since then (trimmed). Copy again into a new target (delete {} first)",
                opts.target
            )));
        }
    }
    let source_store = store(clients, from);
    let target_store = store(clients, to);
    let deps = StreamDeps {
        store: source_store.clone(),
        dlq: None,
        streams: Some(StreamReader::new(clients)),
        format: FormatResolver::detect(
            FormatSetting::Fixed(direction.source_format()),
            source_store,
        ),
        config: ConfigCache::default(),
        settings: StreamSettings {
            table_name: from.clone(),
            function_name: "migrate-sync".into(),
            concurrency: opts.concurrency.max(1),
            ..StreamSettings::default()
        },
        migrate: Some(MigrateSink {
            direction,
            target: target_store.clone(),
            target_name: to.clone(),
            target_format: FormatResolver::detect(
                FormatSetting::Fixed(direction.target_format()),
                target_store,
            ),
            target_config: ConfigCache::default(),
            since_ms: Some(since_ms),
        }),
    };
    let tail_opts = TailOptions {
        stream_arn: arn.clone(),
        batch_size: opts.batch_size.clamp(1, 1000),
        until_idle: opts.until_idle,
        idle_grace: Duration::ZERO,
        max_elapsed: None,
        checkpoint: Some(opts.checkpoint.clone()),
        max_retries: 5,
        bisect: true,
        invocation_timeout: Duration::from_secs(900),
        poll_interval: Duration::from_secs(1),
        on_failure: None,
        function_arn: format!("local:migrate-sync:{from}"),
        metrics: MetricsSink::Off,
    };
    let summary = tail(&deps, &StreamReader::new(clients), &tail_opts).await?;
    let record = SyncRecord {
        finished_at_ms: now_ms(),
        stream_arn: arn,
        checkpoints: Checkpoints::load(&opts.checkpoint)?,
    };
    ops::save(migration.as_ref(), sync_sk(opts.reverse), &record).await?;
    Ok(summary)
}

/// `migrate status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub source: String,
    pub target: String,
    pub source_format: Option<TableFormat>,
    pub target_format: Option<TableFormat>,
    pub copy_started_at_ms: Option<i64>,
    pub copy_done: bool,
    pub segments: u32,
    pub segments_done: u32,
    /// Items scanned (copied or counted) per segment.
    pub items_per_segment: Vec<u64>,
    /// Stream records the sync has not carried yet, and the age of the oldest.
    pub sync_lag_records: u64,
    pub sync_lag_seconds: f64,
    pub last_sync_at_ms: Option<i64>,
    pub last_verify: Option<VerifySummary>,
    /// Copy complete and no record left to carry.
    pub is_up_to_date: bool,
}

/// `migrate status --source S --target T`.
pub async fn status(
    clients: &Clients,
    source: &str,
    target: &str,
    checkpoint: Option<&PathBuf>,
) -> Result<Status, MigrateError> {
    let (Some(src), Some(_)) = (
        describe(clients, source).await?,
        describe(clients, target).await?,
    ) else {
        return Err(refused(format!(
            "both tables must exist: {source} and {target} (run `migrate copy` first)"
        )));
    };
    let t = store(clients, target);
    let meta: Option<MigrationMeta> = ops::load(t.as_ref(), "META").await?;
    let segments = meta.as_ref().map_or(0, |m| m.segments);
    let states = ops::segments(t.as_ref(), segments).await?;
    let mut items_per_segment = vec![0; segments as usize];
    for s in &states {
        if let Some(slot) = items_per_segment.get_mut(s.segment as usize) {
            *slot = s.counts.items_scanned;
        }
    }
    let record: Option<SyncRecord> = ops::load(t.as_ref(), "SYNC").await?;
    let checkpoints = match checkpoint {
        Some(p) if p.exists() => Checkpoints::load(p)?,
        _ => record
            .as_ref()
            .map(|r| r.checkpoints.clone())
            .unwrap_or_default(),
    };
    let (lag_records, lag_seconds) = match &src.stream_arn {
        Some(arn) => {
            stream_lag(
                clients,
                arn,
                &checkpoints,
                meta.as_ref().map(|m| m.started_at_ms),
            )
            .await?
        }
        None => (0, 0.0),
    };
    let copy_done = meta.as_ref().is_some_and(|m| m.copy_done);
    Ok(Status {
        source: source.to_owned(),
        target: target.to_owned(),
        source_format: format_of(store(clients, source)).await.ok(),
        target_format: format_of(t.clone()).await.ok(),
        copy_started_at_ms: meta.as_ref().map(|m| m.started_at_ms),
        copy_done,
        segments,
        segments_done: states.iter().filter(|s| s.done).count() as u32,
        items_per_segment,
        sync_lag_records: lag_records,
        sync_lag_seconds: lag_seconds,
        last_sync_at_ms: record.map(|r| r.finished_at_ms),
        last_verify: ops::load(t.as_ref(), "VERIFY").await?,
        is_up_to_date: copy_done && lag_records == 0,
    })
}

/// Records of `arn` after the checkpoints (all of them for a shard never
/// read; those older than the copy's start do not count), and the age of
/// the oldest, in seconds. Reads the stream; writes nothing.
async fn stream_lag(
    clients: &Clients,
    arn: &str,
    checkpoints: &Checkpoints,
    since_ms: Option<i64>,
) -> Result<(u64, f64), MigrateError> {
    let reader = StreamReader::new(clients);
    let mut count = 0u64;
    let mut oldest: Option<f64> = None;
    let since_s = since_ms.map_or(0.0, |m| m as f64 / 1000.0);
    let done = checkpoints.streams.get(arn);
    for shard in reader.list_shards(arn).await? {
        let cp = done.and_then(|d| d.get(&shard.shard_id));
        if cp.is_some_and(|c| c.finished) {
            continue;
        }
        let start = match cp.and_then(|c| c.seq.clone()) {
            Some(seq) => ShardStart::AfterSequence(seq),
            None => ShardStart::TrimHorizon,
        };
        let mut it = Some(reader.shard_iterator(arn, &shard.shard_id, &start).await?);
        while let Some(i) = it.take() {
            let page = reader.get_records(arn, &i, Some(1000)).await?;
            for r in &page.records {
                let t = r.change.approximate_creation_date_time.timestamp_millis() as f64 / 1000.0;
                if cp.is_none() && t < since_s {
                    continue;
                }
                count += 1;
                oldest = Some(oldest.map_or(t, |o: f64| o.min(t)));
            }
            if page.records.is_empty() {
                break;
            }
            it = page.next_iterator;
        }
    }
    let lag = oldest.map_or(0.0, |o| (now_ms() as f64 / 1000.0 - o).max(0.0));
    Ok((count, lag))
}

/// `migrate verify`'s result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifySummary {
    pub at_ms: i64,
    pub source_items: u64,
    pub target_items: u64,
    /// Source items checked (all, or the `--sample` fraction).
    pub checked: u64,
    pub categories: BTreeMap<String, Category>,
    pub clean: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Category {
    pub count: u64,
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 10;

impl VerifySummary {
    fn add(&mut self, cat: &str, example: impl FnOnce() -> String) {
        let c = self.categories.entry(cat.to_owned()).or_default();
        c.count += 1;
        if c.examples.len() < EXAMPLES {
            c.examples.push(example());
        }
    }
}

/// Attributes the target's own derivation owns: compared by the derived
/// state check (indexer verify of the target), not item by item.
const DERIVED_ATTRS: &[&str] = &[
    "tags",
    "tags_lower",
    "tags_lower_rev",
    "feedbacks",
    "expectations",
    mlflow_ddb_core::migrate::NEXT_VERSION,
];

/// Run attributes `main` derives from the run's `mlflow.runName` tag item
/// (the planner's run-name sync; checked as `derived_stale_attributes`).
const RUN_NAME_ATTRS: &[&str] = &["run_name", "lsi4sk"];

fn comparable(item: &Item) -> Item {
    let mut i = item.clone();
    for a in DERIVED_ATTRS {
        i.remove(*a);
    }
    let main = mlflow_ddb_core::format::Profile::of(TableFormat::Main);
    if let Some(k) = item_key(item) {
        if matches!(ItemKind::parse_key(main, &k), ItemKind::RunMeta { .. }) {
            for a in RUN_NAME_ATTRS {
                i.remove(*a);
            }
        }
    }
    i
}

/// In the sample: a stable hash of the key below `fraction`.
fn sampled(key: &ItemKey, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.pk.bytes().chain([0]).chain(key.sk.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 1_000_000) as f64 / 1_000_000.0 < fraction
}

/// Every item of `table` (the scan of a whole table, in `segments`
/// concurrent segments).
async fn scan_all(store: Arc<dyn Store>, segments: u32) -> Result<Vec<Item>, MigrateError> {
    let mut tasks = tokio::task::JoinSet::new();
    for seg in 0..segments {
        let store = store.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut start = None;
            loop {
                let page = store.scan_segment(seg, segments, start, None, None).await?;
                out.extend(page.items);
                start = page.last_key;
                if start.is_none() {
                    return Ok::<_, AwsError>(out);
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let items = r.map_err(|e| refused(format!("scan task: {e}")))??;
        all.extend(items);
    }
    Ok(all)
}

/// `migrate verify`: every source item's transform is in the target, and
/// the target holds nothing else (its bookkeeping and the `main` seed
/// aside); the target's derived state (maps, FTS items) is what its sources
/// derive (an indexer verify of the target, category `derived_*`). The
/// result is kept in the target's `OPS#migrate/VERIFY` for `status`.
pub async fn verify(
    clients: &Clients,
    source: &str,
    target: &str,
    sample: f64,
    segments: u32,
) -> Result<VerifySummary, MigrateError> {
    let (Some(_), Some(_)) = (
        describe(clients, source).await?,
        describe(clients, target).await?,
    ) else {
        return Err(refused(format!(
            "both tables must exist: {source} and {target}"
        )));
    };
    let s = store(clients, source);
    let t = store(clients, target);
    if format_of(s.clone()).await? != TableFormat::V0_1 {
        return Err(refused(format!(
            "source table {source} is not in format v0.1"
        )));
    }
    if format_of(t.clone()).await? != TableFormat::Main {
        return Err(refused(format!(
            "target table {target} is not in format main"
        )));
    }
    let mut out = VerifySummary {
        at_ms: now_ms(),
        ..VerifySummary::default()
    };
    // What the target must hold for the source (puts), or at least hold a
    // key for (puts if absent).
    let mut expected: HashMap<ItemKey, Option<Item>> = HashMap::new();
    let source_items = scan_all(s.clone(), segments).await?;
    out.source_items = source_items.len() as u64;
    for item in &source_items {
        let Some(key) = item_key(item) else { continue };
        if !sampled(&key, sample) {
            continue;
        }
        out.checked += 1;
        match to_main(item) {
            Ok(Transformed::Copy(c)) => {
                for p in c.puts {
                    if let Some(k) = item_key(&p) {
                        expected.insert(k, Some(comparable(&p)));
                    }
                }
                for p in c.puts_if_absent {
                    if let Some(k) = item_key(&p) {
                        expected.entry(k).or_insert(None);
                    }
                }
            }
            Ok(Transformed::Unknown) => {
                expected.insert(key, Some(comparable(item)));
            }
            Ok(_) => {}
            Err(e) => out.add("untransformable_source", || format!("{key}: {e}")),
        }
    }
    drop(source_items);
    let main = mlflow_ddb_core::format::Profile::of(TableFormat::Main);
    let target_items = scan_all(t.clone(), segments).await?;
    out.target_items = target_items.len() as u64;
    for item in &target_items {
        let Some(key) = item_key(item) else { continue };
        if allowed_in_empty_target(&key) || !sampled(&key, sample) {
            continue;
        }
        if ItemKind::parse_key(main, &key).is_derived() {
            continue;
        }
        match expected.remove(&key) {
            Some(Some(want)) => {
                if comparable(item) != want {
                    let attrs: Vec<String> = want
                        .keys()
                        .chain(item.keys())
                        .filter(|a| want.get(*a) != comparable(item).get(*a))
                        .cloned()
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    out.add("different", || format!("{key} [{}]", attrs.join(", ")));
                }
            }
            Some(None) => {}
            None => out.add("extra_in_target", || key.to_string()),
        }
    }
    for key in expected.keys() {
        // A source item's transform of the run-name tag may have been
        // superseded by a real tag: both are in `expected` only once.
        out.add("missing_in_target", || key.to_string());
    }
    // The derived state of the target, by the one reconciler.
    let walk = DriveOptions::new(WalkMode::Verify, segments);
    let deps = indexer::Deps::new(
        t.clone(),
        FormatResolver::fixed(TableFormat::Main),
        indexer::Settings::default(),
    );
    let derived = drive(Arc::new(deps), &walk).await?;
    for (cat, r) in &derived.drift.categories {
        if r.count == 0 {
            continue;
        }
        let name = format!(
            "derived_{}",
            serde_json::to_value(cat)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        );
        let c = out.categories.entry(name).or_default();
        c.count += r.count;
        c.examples.extend(r.examples.iter().take(EXAMPLES).cloned());
    }
    out.clean = out.categories.values().all(|c| c.count == 0);
    ops::save(t.as_ref(), "VERIFY", &out).await?;
    Ok(out)
}

/// The poll a `sync` without `--until-idle` sleeps between empty reads.
pub const POLL: Duration = Duration::from_secs(1);

/// Seconds since `t0`, for summaries.
pub fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}
