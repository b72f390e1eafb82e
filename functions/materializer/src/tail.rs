//! `materializer tail`: read a table's stream locally and feed it to the same
//! handler, emulating Lambda's event source mapping.
//!
//! - All shards, a child only after its parent is read to its end (per-item
//!   order survives shard splits); `TRIM_HORIZON` unless a checkpoint exists.
//! - Batches of up to `batch_size` records go to
//!   [`handle_stream`](crate::lambda::handle_stream). A partial failure is
//!   retried from the reported sequence number; with bisection, a failing
//!   batch of several records is split in two; after `max_retries` retries
//!   of the same records, the on-failure destination message
//!   (`DDBStreamBatchInfo`) goes to the DLQ and the records are passed (as
//!   Lambda does). Without a DLQ, tail stops with an error instead: nothing
//!   is dropped silently.
//! - Checkpoints: a local JSON file (`--checkpoint`), keyed by stream ARN
//!   then shard id, holding the last sequence number done and whether a
//!   closed shard is finished. A file rather than an `OPS#materializer`
//!   item: a local tool should not write its bookkeeping into the table it
//!   observes, and a recreated table (new stream ARN) starts afresh.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_ddb_aws::{AwsError, Queue, ShardInfo, ShardStart, StreamReader};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::envelope::{on_failure_message, BatchInfo};
use crate::handler::{now_ms, sequence_number, Deps};
use crate::lambda::{emit, stream_batch, MetricsSink};
use crate::metrics::Stats;

/// Pause before the `n`-th resend of a failed batch: `n` times this (what
/// the event source mapping does between batch retries; the requests in
/// it were already retried by the adapter).
pub const BATCH_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How `tail` runs.
#[derive(Clone)]
pub struct TailOptions {
    pub stream_arn: String,
    /// Records per invocation (1..=1000).
    pub batch_size: u32,
    /// Exit once every shard is caught up.
    pub until_idle: bool,
    /// With `until_idle`: exit only once no record has arrived for this long
    /// (zero: at the first pass that finds every shard caught up). A bench
    /// that keeps a writer going keeps one `tail` running through its pauses.
    pub idle_grace: Duration,
    /// Stop after this long whether caught up or not (the summary says
    /// which: `caught_up`); `None`: no limit.
    pub max_elapsed: Option<Duration>,
    /// Checkpoint file; `None`: always from TRIM_HORIZON, nothing saved.
    pub checkpoint: Option<PathBuf>,
    /// Retries of the same records before the on-failure message.
    pub max_retries: u32,
    /// Split a failing batch in two.
    pub bisect: bool,
    /// The deadline given to each invocation.
    pub invocation_timeout: Duration,
    /// Wait between polls of caught-up shards (not with `until_idle`).
    pub poll_interval: Duration,
    /// The on-failure destination.
    pub on_failure: Option<Arc<dyn Queue>>,
    /// Named in on-failure messages.
    pub function_arn: String,
    /// Where EMF lines go.
    pub metrics: MetricsSink,
}

/// Why `tail` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("stream: {0}")]
    Stream(#[from] AwsError),
    /// The table's format was refused or unreadable: nothing was read or written.
    #[error(transparent)]
    Format(mlflow_ddb_engine::EngineError),
    #[error("checkpoint file {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("records {start}..{end} of shard {shard} failed {retries} retries and no DLQ is configured (--dlq-url)")]
    RetriesExhausted {
        shard: String,
        start: String,
        end: String,
        retries: u32,
    },
    #[error("sending the on-failure message for shard {shard}: {source}")]
    OnFailure {
        shard: String,
        #[source]
        source: AwsError,
    },
}

/// What `tail` did (printed as JSON with `--until-idle`).
#[derive(Debug, Default, Serialize)]
pub struct TailSummary {
    pub stream_arn: String,
    /// The table's format, as detected before the first record.
    pub format: Option<mlflow_ddb_core::format::TableFormat>,
    pub shards: usize,
    pub invocations: u64,
    pub batches_retried: u64,
    pub bisections: u64,
    pub on_failure_messages: u64,
    pub elapsed_ms: u64,
    /// Whether it stopped because every shard was caught up (not at
    /// `max_elapsed`).
    pub caught_up: bool,
    /// Lag from each record's ApproximateCreationDateTime to the end of the
    /// invocation that acknowledged it (ms; the stream's timestamps may be
    /// rounded to the second).
    pub lag_ms: LagSummary,
    /// Time spent inside the handler, summed over the invocations (ms): what
    /// Lambda would bill for them, the stream reads between them aside.
    pub handler_ms: f64,
    pub stats: Stats,
}

#[derive(Debug, Default, Serialize)]
pub struct LagSummary {
    pub samples: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl LagSummary {
    fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let pick = |q: f64| -> u64 {
            if samples.is_empty() {
                return 0;
            }
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i.min(samples.len() - 1)]
        };
        LagSummary {
            samples: samples.len(),
            p50: pick(0.50),
            p99: pick(0.99),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// Per-shard progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// Last sequence number done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<String>,
    /// A closed shard read to its end.
    #[serde(default)]
    pub finished: bool,
}

/// The checkpoint file: stream ARN → shard id → progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    pub streams: BTreeMap<String, BTreeMap<String, ShardCheckpoint>>,
}

impl Checkpoints {
    pub fn load(path: &Path) -> Result<Self, TailError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TailError::Checkpoint {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(TailError::Checkpoint {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Write atomically (temp file, rename).
    pub fn save(&self, path: &Path) -> Result<(), TailError> {
        let err = |e: std::io::Error| TailError::Checkpoint {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    fn shard(&mut self, arn: &str, shard: &str) -> &mut ShardCheckpoint {
        self.streams
            .entry(arn.to_owned())
            .or_default()
            .entry(shard.to_owned())
            .or_default()
    }

    fn get(&self, arn: &str, shard: &str) -> Option<&ShardCheckpoint> {
        self.streams.get(arn).and_then(|s| s.get(shard))
    }
}

/// Shards in an order where every parent present comes before its children.
pub fn parents_first(shards: &[ShardInfo]) -> Vec<ShardInfo> {
    let ids: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let mut placed: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(shards.len());
    let mut rest: Vec<&ShardInfo> = shards.iter().collect();
    while !rest.is_empty() {
        let before = rest.len();
        rest.retain(|s| {
            let ready = match &s.parent_shard_id {
                Some(p) if ids.contains(p.as_str()) => placed.contains(p),
                _ => true,
            };
            if ready {
                placed.insert(s.shard_id.clone());
                out.push((*s).clone());
            }
            !ready
        });
        if rest.len() == before {
            // A cycle cannot happen in a real stream; keep the rest as listed.
            out.extend(rest.drain(..).cloned());
        }
    }
    out
}

struct Tail<'a> {
    deps: &'a Deps,
    opts: &'a TailOptions,
    checkpoints: Checkpoints,
    summary: TailSummary,
    lags: Vec<u64>,
}

/// Run `tail` until idle (or forever without `until_idle`).
pub async fn tail(
    deps: &Deps,
    reader: &StreamReader,
    opts: &TailOptions,
) -> Result<TailSummary, TailError> {
    let started = Instant::now();
    // Before the first record: a table in the other format stops here.
    let format = deps.format.resolve().await.map_err(TailError::Format)?;
    let checkpoints = match &opts.checkpoint {
        Some(p) => Checkpoints::load(p)?,
        None => Checkpoints::default(),
    };
    let mut t = Tail {
        deps,
        opts,
        checkpoints,
        summary: TailSummary {
            stream_arn: opts.stream_arn.clone(),
            format: Some(format.format),
            ..TailSummary::default()
        },
        lags: Vec::new(),
    };
    let arn = opts.stream_arn.as_str();
    let mut iterators: HashMap<String, String> = HashMap::new();
    let mut last_progress = Instant::now();
    loop {
        let shards = parents_first(&reader.list_shards(arn).await?);
        t.summary.shards = shards.len();
        let mut progressed = false;
        let finished = |t: &Tail, id: &str| t.checkpoints.get(arn, id).is_some_and(|c| c.finished);
        for shard in &shards {
            let id = shard.shard_id.as_str();
            if finished(&t, id) {
                continue;
            }
            if let Some(parent) = &shard.parent_shard_id {
                if shards.iter().any(|s| &s.shard_id == parent) && !finished(&t, parent) {
                    continue;
                }
            }
            let iterator = match iterators.remove(id) {
                Some(it) => it,
                None => {
                    let start = match t.checkpoints.get(arn, id).and_then(|c| c.seq.clone()) {
                        Some(seq) => ShardStart::AfterSequence(seq),
                        None => ShardStart::TrimHorizon,
                    };
                    reader.shard_iterator(arn, id, &start).await?
                }
            };
            let page = match reader
                .get_records(arn, &iterator, Some(opts.batch_size))
                .await
            {
                Ok(p) => p,
                Err(e) if e.code() == Some("ExpiredIteratorException") => {
                    // A fresh iterator from the checkpoint on the next pass.
                    progressed = true;
                    continue;
                }
                Err(e) if e.is_transient() => {
                    warn!(shard = %id, error = %e, "GetRecords failed; retried on the next pass");
                    iterators.insert(id.to_owned(), iterator);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    progressed = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if !page.records.is_empty() {
                progressed = true;
                t.deliver(id, page.lambda_json()?).await?;
            }
            match page.next_iterator {
                Some(next) => {
                    iterators.insert(id.to_owned(), next);
                }
                None => {
                    t.checkpoints.shard(arn, id).finished = true;
                    t.save()?;
                    progressed = true;
                    info!(shard = %id, "closed shard finished");
                }
            }
        }
        if opts.max_elapsed.is_some_and(|m| started.elapsed() >= m) {
            break;
        }
        if progressed {
            last_progress = Instant::now();
        } else {
            if opts.until_idle && last_progress.elapsed() >= opts.idle_grace {
                t.summary.caught_up = true;
                break;
            }
            tokio::time::sleep(opts.poll_interval).await;
        }
    }
    t.summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    t.summary.lag_ms = LagSummary::of(std::mem::take(&mut t.lags));
    Ok(t.summary)
}

impl Tail<'_> {
    fn save(&self) -> Result<(), TailError> {
        match &self.opts.checkpoint {
            Some(p) => self.checkpoints.save(p),
            None => Ok(()),
        }
    }

    fn done_through(&mut self, shard: &str, record: &Value) -> Result<(), TailError> {
        if let Some(seq) = sequence_number(record) {
            self.checkpoints.shard(&self.opts.stream_arn, shard).seq = Some(seq);
        }
        self.save()
    }

    fn lag_of(&mut self, records: &[Value]) {
        let now = now_ms() as f64;
        for r in records {
            if let Some(t) = r
                .get("dynamodb")
                .and_then(|d| d.get("ApproximateCreationDateTime"))
                .and_then(Value::as_f64)
            {
                let lag = now - t * 1000.0;
                if lag.is_finite() {
                    self.lags.push(lag.max(0.0) as u64);
                }
            }
        }
    }

    /// One page of records through the emulated event source mapping.
    async fn deliver(&mut self, shard: &str, records: Vec<Value>) -> Result<(), TailError> {
        let mut queue: VecDeque<Vec<Value>> = VecDeque::from([records]);
        let mut retries: HashMap<String, u32> = HashMap::new();
        while let Some(batch) = queue.pop_front() {
            if batch.is_empty() {
                continue;
            }
            self.summary.invocations += 1;
            let began = Instant::now();
            let deadline = began + self.opts.invocation_timeout;
            let (resp, stats) = stream_batch(self.deps, &batch, deadline).await;
            self.summary.handler_ms += began.elapsed().as_secs_f64() * 1000.0;
            emit(self.opts.metrics, &self.deps.settings, &stats);
            self.summary.stats.merge(&stats);
            // The records the handler left undone start at `idx`.
            let idx = match &resp {
                Ok(r) => r
                    .batch_item_failures
                    .first()
                    .and_then(|f| f.item_identifier.as_deref())
                    .map(|seq| {
                        batch
                            .iter()
                            .position(|r| sequence_number(r).as_deref() == Some(seq))
                            .unwrap_or(0)
                    }),
                Err(_) => Some(0),
            };
            let Some(idx) = idx else {
                self.lag_of(&batch);
                self.done_through(shard, &batch[batch.len() - 1])?;
                continue;
            };
            if idx > 0 {
                self.lag_of(&batch[..idx]);
                self.done_through(shard, &batch[idx - 1])?;
            }
            let rest: Vec<Value> = batch[idx..].to_vec();
            let first = sequence_number(&rest[0]).unwrap_or_default();
            let n = retries.entry(first.clone()).or_default();
            *n += 1;
            let n = *n;
            self.summary.batches_retried += 1;
            if n > self.opts.max_retries {
                let end = sequence_number(&rest[rest.len() - 1]).unwrap_or_default();
                let info = BatchInfo {
                    shard_id: shard.to_owned(),
                    start_sequence_number: first.clone(),
                    end_sequence_number: end.clone(),
                    stream_arn: self.opts.stream_arn.clone(),
                    batch_size: Some(rest.len() as u64),
                };
                let Some(dest) = &self.opts.on_failure else {
                    return Err(TailError::RetriesExhausted {
                        shard: shard.to_owned(),
                        start: first,
                        end,
                        retries: self.opts.max_retries,
                    });
                };
                let msg =
                    on_failure_message(&info, "RetryAttemptsExhausted", &self.opts.function_arn);
                dest.send(&msg.to_string(), &BTreeMap::new())
                    .await
                    .map_err(|source| TailError::OnFailure {
                        shard: shard.to_owned(),
                        source,
                    })?;
                warn!(shard = %shard, start = %first, end = %end, "retries exhausted: on-failure message sent");
                self.summary.on_failure_messages += 1;
                self.done_through(shard, &rest[rest.len() - 1])?;
                continue;
            }
            tokio::time::sleep(BATCH_RETRY_PAUSE.saturating_mul(n)).await;
            if self.opts.bisect && rest.len() > 1 {
                self.summary.bisections += 1;
                let mut a = rest;
                let b = a.split_off(a.len() / 2);
                queue.push_front(b);
                queue.push_front(a);
            } else {
                queue.push_front(rest);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> ShardInfo {
        ShardInfo {
            shard_id: id.into(),
            parent_shard_id: parent.map(Into::into),
            starting_sequence_number: None,
            ending_sequence_number: None,
        }
    }

    fn check(shards: &[ShardInfo], expected: &[&str]) {
        let got: Vec<String> = parents_first(shards)
            .into_iter()
            .map(|s| s.shard_id)
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn parents_come_before_children() {
        check(
            &[
                shard("c", Some("b")),
                shard("b", Some("a")),
                shard("a", None),
            ],
            &["a", "b", "c"],
        );
        // A parent no longer listed (trimmed) does not hold its child back.
        check(&[shard("b", Some("gone")), shard("x", None)], &["b", "x"]);
        check(
            &[
                shard("c2", Some("p")),
                shard("c1", Some("p")),
                shard("p", None),
            ],
            &["p", "c2", "c1"],
        );
    }

    #[test]
    fn lag_percentiles() {
        let l = LagSummary::of((1..=100).collect());
        assert_eq!((l.samples, l.p50, l.p99, l.max), (100, 51, 99, 100));
        let e = LagSummary::of(Vec::new());
        assert_eq!((e.samples, e.p50, e.max), (0, 0, 0));
    }

    #[test]
    fn checkpoints_round_trip_through_a_file() {
        let dir = std::env::temp_dir().join(format!("mat-ckpt-{}", std::process::id()));
        let path = dir.join("c.json");
        let mut c = Checkpoints::default();
        c.shard("arn:1", "s1").seq = Some("42".into());
        c.shard("arn:1", "s0").finished = true;
        c.save(&path).unwrap();
        assert_eq!(Checkpoints::load(&path).unwrap(), c);
        assert_eq!(
            Checkpoints::load(&dir.join("absent.json")).unwrap(),
            Checkpoints::default()
        );
        std::fs::write(&path, "not json").unwrap();
        assert!(Checkpoints::load(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
