//! The adapter to AWS: the only crate that knows the AWS SDK.
//!
//! It executes plans (batching, retries, conditions) against DynamoDB,
//! DynamoDB Streams and SQS, and knows nothing of MLflow: its currency is
//! the core crate's `Item` / `ItemKey` / `AttributeValue`.
//!
//! - [`Clients`]: SDK clients from the standard environment, explicit retries.
//! - [`Store`] (the port, `mlflow-ddb-ports`', re-exported here with its
//!   outcomes, errors and in-memory fakes): [`DynamoStore`] implements it
//!   on DynamoDB.
//! - [`StreamReader`]: shards, iterators, records as `aws_lambda_events` records.
//! - [`Queue`] (the port): [`SqsQueue`] implements it on SQS.
//! - [`table`]: create a table like the reference's template, enable its stream.
//! - [`from_sdk`]: an SDK error as the ports' [`AwsError`], which
//!   [`classify`] (ports) decides on: the one decision "retry or not";
//!   [`retry`]: the one retry policy (budget, full-jitter backoff, deadline)
//!   and the adaptive in-flight limit, every request through a [`Gate`].
//! - `testkit` (feature): fresh tables on the local endpoint, a fault proxy.

pub mod client;
pub mod convert;
pub mod dynamo;
pub mod error;
#[cfg(feature = "lambda-admin")]
pub mod mappings;
pub mod queue;
pub mod retry;
pub mod streams;
pub mod table;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::{ClientOptions, Clients};
pub use dynamo::{DynamoStore, ExpireVia, StoreOptions};
pub use error::from_sdk;
pub use error::{classify, AwsError, Classification, DispatchKind, ErrorClass, Failure};
pub use mlflow_ddb_ports::{build, memory, store, Counters, MemoryStore};
pub use queue::{MemoryQueue, Queue, QueueMessage, SqsQueue};
pub use retry::{with_deadline, Budget, Gate, GateOptions, GateStats, RetryPolicy};
pub use store::{
    ExpireOutcome, ExpireReport, FormatProbe, ScanPage, Store, UpdateOutcome, WriteStats,
};
pub use streams::{RecordsPage, ShardInfo, ShardStart, StreamReader};
pub use table::{create_table, describe_table, enable_stream, format_evidence, TableSummary};
