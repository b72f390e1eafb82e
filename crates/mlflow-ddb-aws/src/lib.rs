//! The adapter to AWS.
