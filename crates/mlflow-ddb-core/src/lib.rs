//! The table contract of mlflow-dynamodbstore, as pure functions and data.
//!
//! Nothing here performs I/O, reads a clock or knows the AWS SDK: callers pass
//! items, records, configuration and `now` in, and get plans back.

pub mod config;
pub mod emf;
pub mod error;
pub mod format;
pub mod fts;
pub mod item;
pub mod pattern;

pub use error::CoreError;
pub mod keys;
pub mod migrate;
pub mod plan;
pub mod record;
pub mod stream;
pub mod sweep;
pub mod tags;
