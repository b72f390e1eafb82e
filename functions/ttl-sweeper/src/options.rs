//! What an invocation may be told: from the scheduled rule's input, the CLI,
//! or the environment (defaults).

use std::time::{Duration, Instant};

use mlflow_ddb_core::sweep::DEFAULT_BREAKER_FRACTION;
use serde::Deserialize;
use serde_json::Value;

/// Options of one sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOptions {
    /// Report the orphans, write nothing (not even the checkpoint).
    pub dry_run: bool,
    /// Parallel scan segments of a new sweep (a resumed sweep keeps its own).
    pub segments: u32,
    /// Stop scanning once this many possible orphans are held; the next run
    /// resumes from the checkpoint. Bounds memory and the writes of one run.
    pub max_items: Option<u64>,
    /// Trip the breaker when more than this fraction of the `EXP#`/`RM#`
    /// partitions seen look orphaned.
    pub breaker_fraction: f64,
    /// Requests in flight at once (scan segments, batch gets, expiry batches).
    pub concurrency: usize,
    /// `Limit` of each scan page (`None`: DynamoDB's 1 MB pages).
    pub page_limit: Option<u32>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            segments: 4,
            max_items: None,
            breaker_fraction: DEFAULT_BREAKER_FRACTION,
            concurrency: 4,
            page_limit: None,
        }
    }
}

/// The fields an event may set; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct EventOptions {
    dry_run: Option<bool>,
    segments: Option<u32>,
    max_items: Option<u64>,
    breaker_fraction: Option<f64>,
    concurrency: Option<usize>,
}

impl SweepOptions {
    /// These options, overridden by an EventBridge event: the rule's
    /// constant input (`{"dry_run": true, "segments": 8}`), or the same
    /// fields under `detail` of a plain scheduled event. Fields of the wrong
    /// type are ignored, with the rest still applied.
    pub fn with_event(mut self, event: &Value) -> Self {
        for source in [event.get("detail"), Some(event)].into_iter().flatten() {
            let Some(obj) = source.as_object() else {
                continue;
            };
            let field = |name: &str| obj.get(name).cloned().unwrap_or(Value::Null);
            let o = EventOptions {
                dry_run: serde_json::from_value(field("dry_run")).ok().flatten(),
                segments: serde_json::from_value(field("segments")).ok().flatten(),
                max_items: serde_json::from_value(field("max_items")).ok().flatten(),
                breaker_fraction: serde_json::from_value(field("breaker_fraction"))
                    .ok()
                    .flatten(),
                concurrency: serde_json::from_value(field("concurrency")).ok().flatten(),
            };
            self.apply(o);
        }
        self
    }

    fn apply(&mut self, o: EventOptions) {
        if let Some(v) = o.dry_run {
            self.dry_run = v;
        }
        if let Some(v) = o.segments.filter(|v| (1..=1_000_000).contains(v)) {
            self.segments = v;
        }
        if let Some(v) = o.max_items.filter(|v| *v > 0) {
            self.max_items = Some(v);
        }
        if let Some(v) = o
            .breaker_fraction
            .filter(|v| v.is_finite() && (0.0..=1.0).contains(v))
        {
            self.breaker_fraction = v;
        }
        if let Some(v) = o.concurrency.filter(|v| (1..=64).contains(v)) {
            self.concurrency = v;
        }
    }
}

/// When to stop.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The invocation's deadline (Lambda context); `None`: no time limit.
    /// The scan may use half the time, the expiry the rest but `reserve`.
    pub deadline: Option<Instant>,
    /// Time kept for the checkpoint and the summary.
    pub reserve: Duration,
    /// Stop scanning after this many pages (tests force an early stop).
    pub max_pages: Option<u64>,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            deadline: None,
            reserve: Duration::from_secs(10),
            max_pages: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(event: Value, expected: SweepOptions) {
        assert_eq!(
            SweepOptions::default().with_event(&event),
            expected,
            "{event}"
        );
    }

    #[test]
    fn event_options() {
        let d = SweepOptions::default;
        check(json!({}), d());
        check(
            json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
            d(),
        );
        check(
            json!({"dry_run": true, "segments": 8, "max_items": 1000, "breaker_fraction": 0.5}),
            SweepOptions {
                dry_run: true,
                segments: 8,
                max_items: Some(1000),
                breaker_fraction: 0.5,
                ..d()
            },
        );
        check(
            json!({"detail": {"dry_run": true}}),
            SweepOptions {
                dry_run: true,
                ..d()
            },
        );
        // Wrong types and out-of-range values are ignored, the rest applies.
        check(
            json!({"dry_run": "yes", "segments": 0, "breaker_fraction": 7, "max_items": 5}),
            SweepOptions {
                max_items: Some(5),
                ..d()
            },
        );
        check(json!([1, 2]), d());
    }
}
