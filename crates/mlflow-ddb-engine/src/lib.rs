//! The one implementation of "reconcile these targets", shared by the
//! materializer (stream driver) and the indexer (scan driver).
//!
//! # API
//!
//! ```text
//! reconcile_targets(&dyn Store, &Profile, &Config, &[ItemKey], Mode, concurrency)
//!     -> Vec<TargetOutcome { target, result: Result<TargetReport, EngineError> }>
//! Mode::{Apply, Verify, DryRun}
//! TargetReport { writes, map_updates, fts_puts, fts_deletes, target_missing, noop, drift }
//! load_config(&dyn Store) -> Result<Config, EngineError>        // one consistent Query of CONFIG
//! ConfigCache::new(ttl ≤ 60 s).load(&dyn Store, now: Instant)   // get / put / invalidate
//! EngineError::{Store { target, op, source }, ConfigRead, Config, FormatRead, Format}
//!     .is_transient() .target()
//! FormatResolver::detect(FormatSetting, Arc<dyn FormatProbe>) / ::fixed(TableFormat)
//!     .resolve() -> Detection { format, evidence, foreign_samples }   // cached per process
//! MeteredStore::new(Arc<dyn Store>).counts() -> RequestCounts    // requests made, for reports
//! ```
//!
//! Per batch of up to 100 distinct targets: one strongly consistent
//! BatchGetItem for the target items; then, per target (up to `concurrency`
//! at once), the Queries the core's [`reads_for`] names (sources, then
//! reverse FTS items, key-only), a [`TargetSnapshot`], [`plan_target`]. In
//! [`Mode::Apply`] a non-empty plan is executed: one [`Store::update_map`]
//! per map update (conditional: a deleted target is never re-created; a
//! missing one is a counted no-op and its FTS puts are skipped), then one
//! [`Store::batch_write`] for the FTS puts and deletes (25 per request, the
//! adapter retries unprocessed items). An empty plan writes nothing, so
//! running twice, or next to the reference store, costs reads only.
//!
//! The optimistic-concurrency `expected` values of a [`MapUpdate`] are not
//! sent: the consumers are level-triggered (a later change re-triggers the
//! target), and the adapter's `update_map` carries `attribute_exists(PK)`
//! only.
//!
//! No SDK is compiled in: the store is the object-safe `Store` port of
//! `mlflow-ddb-ports`, which the adapter implements on DynamoDB, so tests
//! run on [`MemoryStore`](mlflow_ddb_ports::MemoryStore) here and on the
//! local endpoint in the adapter's `engine_endpoint` test alike.
//!
//! [`reads_for`]: mlflow_ddb_core::plan::reads_for
//! [`TargetSnapshot`]: mlflow_ddb_core::plan::TargetSnapshot
//! [`plan_target`]: mlflow_ddb_core::plan::plan_target
//! [`MapUpdate`]: mlflow_ddb_core::plan::MapUpdate
//! [`Store::update_map`]: mlflow_ddb_ports::Store::update_map
//! [`Store::batch_write`]: mlflow_ddb_ports::Store::batch_write

pub mod bookkeeping;
pub mod config;
pub mod error;
pub mod format;
pub mod metered;
pub mod migrate;
pub mod reconcile;

pub use config::{load_config, ConfigCache, MAX_CONFIG_TTL};
pub use error::EngineError;
pub use format::FormatResolver;
pub use metered::{MeteredStore, RequestCounts};
pub use reconcile::{
    reconcile_targets, Mode, TargetOutcome, TargetReport, ITEMS_PER_BATCH_WRITE,
    TARGETS_PER_BATCH_GET,
};
