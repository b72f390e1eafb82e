//! The migration's sync sink (issue #11): the same stream machinery (Lambda
//! event source mapping, `tail`, the DLQ and its replay), but a batch of the
//! *source* table's records is carried into the *target* table instead of
//! reconciling derived state in place.
//!
//! Per batch, in record order: each record's images are transformed
//! ([`mlflow_ddb_engine::migrate::Writes::change`]: what the old image put
//! and the new one does not is deleted, the new image's transform is
//! written, the last write of a key winning), the writes applied, then the
//! target's derived state reconciled for every target the writes touched, in
//! the target's profile. Everything is idempotent: a batch delivered again
//! (a retry, a replayed range) changes nothing.
//!
//! Failures: a record that cannot be decoded or transformed is
//! dead-lettered with its full content, like the materializer's poison
//! records; a failed write or reconcile cuts the batch at its first record
//! (Lambda, or `tail`, delivers it again). A replay re-reads the source item
//! first (strongly consistent), so an old message never carries stale state.

use std::sync::Arc;
use std::time::Instant;

use mlflow_ddb_aws::Store;
use mlflow_ddb_core::format::Profile;
use mlflow_ddb_core::stream::decode_json_record;
use mlflow_ddb_engine::migrate::{apply, Direction, Writes};
use mlflow_ddb_engine::{reconcile_targets, ConfigCache, EngineError, FormatResolver, Mode};
use serde_json::Value;
use tracing::{info, warn};

use crate::envelope::send_dead_letter;
use crate::envelope::EnvelopeError;
use crate::handler::{function_id, BatchResult, Deps, Origin};
use mlflow_ddb_runtime::now_ms;

/// Where and how the source's changes are carried.
pub struct MigrateSink {
    pub direction: Direction,
    /// The table written.
    pub target: Arc<dyn Store>,
    pub target_name: String,
    /// The target's format, which must be `direction.target_format()`.
    pub target_format: FormatResolver,
    /// The target's CONFIG (its derived state follows it).
    pub target_config: ConfigCache,
    /// Records older than this (epoch ms, the record's
    /// `ApproximateCreationDateTime`) are skipped: the copy, which started
    /// later, holds their effect. `None`: every record is carried (reverse).
    pub since_ms: Option<i64>,
}

/// Check both tables' formats against the direction before anything is read.
async fn check_formats(deps: &Deps, sink: &MigrateSink) -> Result<(), EngineError> {
    let source = deps.format.resolve().await?;
    let target = sink.target_format.resolve().await?;
    let check = |role: &'static str, table: &str, detected, expected| {
        if detected == expected {
            return Ok(());
        }
        Err(EngineError::Format(
            mlflow_ddb_core::CoreError::MigrationFormat {
                role,
                table: table.to_owned(),
                direction: sink.direction.describe().to_owned(),
                expected,
                detected,
            },
        ))
    };
    check(
        "source",
        &deps.settings.table_name,
        source.format,
        sink.direction.source_format(),
    )?;
    check(
        "target",
        &sink.target_name,
        target.format,
        sink.direction.target_format(),
    )?;
    Ok(())
}

/// Carry one batch of source records into the target.
pub async fn migrate_records(
    deps: &Deps,
    sink: &MigrateSink,
    records: &[Value],
    origin: Origin,
    _deadline: Instant,
) -> BatchResult {
    let mut result = BatchResult::default();
    result.stats.records = records.len() as u64;
    if let Err(e) = check_formats(deps, sink).await {
        result.format_error = Some(e);
        return result;
    }
    let source_profile = Profile::of(sink.direction.source_format());
    let target_profile = Profile::of(sink.direction.target_format());
    let now = now_ms();
    let mut writes = Writes::new();
    for (i, record) in records.iter().enumerate() {
        let change = match decode_json_record(source_profile, record) {
            Ok(c) => c,
            Err(e) => {
                let err = EnvelopeError {
                    kind: "undecodable".into(),
                    message: e.to_string(),
                };
                if let Some(cut) = poison(deps, &mut result, record, i, &err, origin, now).await {
                    return cut;
                }
                continue;
            }
        };
        if let (Some(since), Some(at)) = (sink.since_ms, created_ms(record)) {
            if at < since {
                *result
                    .stats
                    .skipped
                    .entry("before-copy".into())
                    .or_default() += 1;
                continue;
            }
        }
        let mut new = change.new.clone();
        if origin == Origin::Replay {
            // The current state of the item, not the message's.
            match deps.store.get(&change.key, true).await {
                Ok(current) => new = current,
                Err(e) => {
                    warn!(key = %change.key, error = %e, "replay: reading the current item failed");
                    return cut_at(result, 0, format!("reading {}: {e}", change.key));
                }
            }
        }
        let errors_before = writes.errors.len();
        writes.change(sink.direction, change.old.as_ref(), new.as_ref());
        if writes.errors.len() > errors_before {
            let (key, reason) = writes
                .errors
                .pop()
                .unwrap_or_else(|| (change.key.clone(), String::new()));
            let err = EnvelopeError {
                kind: "untransformable".into(),
                message: format!("{key}: {reason}"),
            };
            if let Some(cut) = poison(deps, &mut result, record, i, &err, origin, now).await {
                return cut;
            }
        }
    }
    let counts = writes.counts.clone();
    let config = match sink
        .target_config
        .load(sink.target.as_ref(), Instant::now())
        .await
    {
        Ok(c) => c,
        Err(e) => return cut_at(result, 0, format!("target CONFIG: {e}")),
    };
    let applied = match apply(&sink.target, target_profile, &config, writes).await {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "migrate: writing the batch failed; it is delivered again");
            return cut_at(result, 0, e.to_string());
        }
    };
    result.stats.writes +=
        applied.batch_requests + applied.conditional_puts + applied.floor_updates;
    let outcomes = reconcile_targets(
        sink.target.as_ref(),
        target_profile,
        &config,
        &applied.targets,
        Mode::Apply,
        deps.settings.concurrency,
    )
    .await;
    result.stats.targets += outcomes.len() as u64;
    for o in &outcomes {
        match &o.result {
            Ok(r) => {
                result.stats.writes += u64::from(r.writes);
                result.stats.map_updates += r.map_updates as u64;
                result.stats.fts_puts += r.fts_puts as u64;
                result.stats.fts_deletes += r.fts_deletes as u64;
                result.stats.noop_targets += u64::from(r.drift.is_empty());
                result.stats.missing_targets += u64::from(r.target_missing);
            }
            Err(e) => {
                warn!(target = %o.target, error = %e, "migrate: reconciling a target failed; the batch is delivered again");
                return cut_at(result, 0, e.to_string());
            }
        }
    }
    info!(
        records = records.len(),
        copied = counts.copied,
        deleted = counts.deleted,
        derived = counts.derived,
        unknown = counts.unknown,
        puts = applied.puts,
        deletes = applied.deletes,
        targets = applied.targets.len(),
        "migrate: batch carried"
    );
    result.stats.acknowledged = result.stats.records;
    result
}

/// A record's `ApproximateCreationDateTime`, epoch ms.
fn created_ms(record: &Value) -> Option<i64> {
    let s = record
        .get("dynamodb")?
        .get("ApproximateCreationDateTime")?
        .as_f64()?;
    Some((s * 1000.0) as i64)
}

fn cut_at(mut result: BatchResult, index: usize, reason: String) -> BatchResult {
    result.cut = Some(index);
    result.cut_reason = Some(reason);
    result.stats.failed = result.stats.records.saturating_sub(index as u64);
    result
}

/// A record that can never be carried: dead-lettered (stream), or reported
/// (replay). `Some(result)` when the batch must stop here instead (no DLQ,
/// or the send failed: the record stays undone).
async fn poison(
    deps: &Deps,
    result: &mut BatchResult,
    record: &Value,
    index: usize,
    err: &EnvelopeError,
    origin: Origin,
    now: i64,
) -> Option<BatchResult> {
    warn!(index, kind = %err.kind, error = %err.message, "migrate: poison record");
    if origin == Origin::Replay {
        result.permanent.push((index, err.clone()));
        return None;
    }
    let function = function_id(&deps.settings);
    match send_dead_letter(deps.dlq.as_deref(), &function, record, err, now, Vec::new()).await {
        Ok(()) => {
            result.stats.dlq_sends += 1;
            None
        }
        Err(reason) => Some(cut_at(std::mem::take(result), index, reason)),
    }
}
