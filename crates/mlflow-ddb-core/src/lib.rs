//! The table contract of mlflow-dynamodbstore, as pure functions and data.
//!
//! Nothing here performs I/O, reads a clock or knows the AWS SDK: callers pass
//! items, records, configuration and `now` in, and get plans back.

pub mod item;
