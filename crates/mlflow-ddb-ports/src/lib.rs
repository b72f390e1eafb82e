//! The ports: what the engine and the functions need from a table and a
//! queue, with no AWS SDK in sight (`cargo tree -p mlflow-ddb-engine` shows
//! none). The adapter (`mlflow-ddb-aws`) implements them on DynamoDB and
//! SQS; the fakes here implement them in memory for fast tests.
//!
//! - [`Store`]: the narrow, object-safe table interface, its outcomes, and
//!   the write validation every implementation shares ([`prepare_writes`],
//!   [`check_map_update`], [`check_attr_update`], [`key_to_put`]), so the
//!   fake refuses exactly what the DynamoDB store refuses.
//! - [`Queue`]: send, receive, delete, depth.
//! - [`AwsError`] and [`classify`]: the one decision "retry or not" for
//!   every error, on the error's data (codes, statuses), not SDK types.
//! - [`MemoryStore`], [`MemoryQueue`]: the fakes.
//! - [`build`]: items and keys in a line; `testkit` (feature): whole-table
//!   helpers (the reference-built fixture table, load, scan, diff), and
//!   `LatencyStore` (a round trip added to each request of another store).

pub mod build;
pub mod error;
#[cfg(feature = "testkit")]
pub mod latency;
pub mod memory;
pub mod queue;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{classify, AwsError, Classification, DispatchKind, ErrorClass, Failure};
#[cfg(feature = "testkit")]
pub use latency::{Latency, LatencyStore};
pub use memory::{item_size, Counters, MemoryStore, SCAN_PAGE_BYTES};
pub use queue::{MemoryQueue, Queue, QueueMessage};
pub use store::{
    check_attr_update, check_map_update, key_of, key_to_put, prepare_writes, ExpireOutcome,
    ExpireReport, FormatProbe, GateStats, ScanPage, Store, UpdateOutcome, Write, WriteStats,
    BATCH_GET_MAX, BATCH_STATEMENT_MAX, BATCH_WRITE_MAX, FORMAT_SAMPLE,
};
