//! The materializer: a DynamoDB Streams consumer that keeps the derived
//! state of an mlflow-dynamodbstore table right (the `tags` maps of META
//! items, the FTS items), level-triggered, with a DLQ and three replay
//! paths.
//!
//! - [`handler`]: one batch of records → reconciled targets (through the
//!   engine shared with the indexer), dead letters, the record to retry.
//! - [`lambda`]: the Lambda entry for both event sources (stream, SQS DLQ).
//! - [`replay`]: DLQ messages (our envelopes, on-failure destination
//!   messages) and the `replay` command.
//! - [`tail`]: the `tail` command, emulating the event source mapping.
//! - [`migrate`]: the migration's sync sink (a deployment with
//!   `MIGRATE_TARGET_TABLE` carries the source's records into the target).
//! - [`envelope`]: the DLQ message formats. [`metrics`]: counters, EMF.

pub mod envelope;
pub mod handler;
pub mod lambda;
pub mod metrics;
pub mod migrate;
pub mod replay;
pub mod tail;

pub use handler::{process_records, BatchResult, Deps, Origin, Settings};
pub use lambda::{handle, HandlerError, MetricsSink};

/// mimalloc for everything that links the materializer: the Lambda binary,
/// and so the benchmarks measure what runs. A stream batch arrives as a
/// `serde_json::Value` tree, and planning it allocates and frees small
/// strings and maps by the thousand; under glibc malloc that was 43% of the
/// planning instructions (callgrind, `plan_10k_mixed_records`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
