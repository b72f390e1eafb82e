//! The one retry policy of the suite, and the one limit on requests in flight.
//!
//! Every request any function sends to DynamoDB, DynamoDB Streams or SQS goes
//! through a [`Gate`] (one per service per process, built with the
//! [`Clients`](crate::Clients)). The SDK's own retries are off, so nothing
//! multiplies:
//!
//! - **Budget.** A logical request (one `GetItem`, one chunk of a
//!   `BatchWriteItem` with its unprocessed items resent, one Query page)
//!   gets [`RetryPolicy::max_attempts`] attempts in all: the first, the
//!   retries of transient errors ([`classify`](crate::classify)), and the
//!   resends of partial successes draw on the same [`Budget`].
//! - **Backoff.** Exponential with full jitter: before retry `n`, a uniform
//!   wait in `[0, min(max_delay, base_delay * 2^(n-1))]`.
//! - **Deadline.** A retry whose wait would end after the deadline is not
//!   made: the earlier of the policy's `deadline` (counted from the logical
//!   request's start) and the deadline of the surrounding invocation
//!   ([`with_deadline`], which the Lambda handlers set from the context).
//! - **In flight.** A [`Limiter`] caps the requests in flight. It starts
//!   low and doubles per window of successes (slow start), then grows by
//!   one per window (additive increase); it halves on a throttle, a timeout
//!   or a 503, a partial success, or an answer slower than half the attempt
//!   timeout, once per window ([`AwsError::is_overload`]); and it comes down
//!   to a few requests queued when latency shows a queue at the endpoint:
//!   the fastest answers of a window well above each operation's own base
//!   latency. So more segments or more concurrency never push an endpoint
//!   that is already saturated: the run slows down instead of failing, and
//!   an endpoint that serves one request at a time is not handed hundreds.
//!
//! Callers above the adapter do not retry requests: an error they see has
//! used its budget (or is permanent), and the function's job is to report it
//! (cut the batch, fail the invocation, DLQ the record).

use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use mlflow_ddb_core::item::ItemKey;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

use crate::AwsError;

/// How many attempts a logical request gets, and how long to wait between
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per logical request, the first included.
    pub max_attempts: u32,
    /// Largest wait before the first retry; doubles per retry (full jitter).
    pub base_delay: Duration,
    /// Largest wait.
    pub max_delay: Duration,
    /// Give up when this much time has passed since the logical request
    /// began (an invocation deadline, when set, may end it sooner).
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `retry` (1 = the first retry): uniform in
    /// `[0, min(max_delay, base_delay * 2^(retry-1))]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Run `f` with `deadline` as the invocation's deadline: no retry of a
/// request made inside it waits past it.
pub async fn with_deadline<F: Future>(deadline: Instant, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// The deadline set by the innermost [`with_deadline`] of this task.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// [`with_deadline`] when there is one: carries a deadline into a spawned
/// task (task-locals do not cross `spawn`).
pub async fn keep_deadline<F: Future>(deadline: Option<Instant>, f: F) -> F::Output {
    match deadline {
        Some(d) => with_deadline(d, f).await,
        None => f.await,
    }
}

/// The attempts left to one logical request.
#[derive(Debug)]
pub struct Budget {
    policy: RetryPolicy,
    attempts: u32,
    until: Instant,
}

impl Budget {
    pub fn new(policy: RetryPolicy) -> Self {
        let own = Instant::now() + policy.deadline;
        let until = match current_deadline() {
            Some(d) if d < own => d,
            _ => own,
        };
        Self {
            policy,
            attempts: 0,
            until,
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Count an attempt about to be sent.
    pub fn spend(&mut self) {
        self.attempts += 1;
    }

    /// After a failed or partial attempt: the wait before the next one, or
    /// `None` when the budget or the deadline does not allow one.
    pub fn next_wait(&self) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts.max(1) {
            return None;
        }
        let wait = self.policy.backoff(self.attempts);
        (Instant::now() + wait < self.until).then_some(wait)
    }
}

/// What a [`Gate`] has seen (the ports' type: `Store::gate_stats` returns it).
pub use mlflow_ddb_ports::GateStats;

/// How far the smallest latency of a window may rise above its operations'
/// base latency before the limiter reads it as a queue at the endpoint.
const QUEUE_TOLERANCE: f64 = 2.0;
/// Requests the limiter leaves queued at an endpoint whose latency grows
/// with the load: the limit settles where `limit * (1 - TOLERANCE / ratio)`
/// is this many.
const QUEUE_ALLOWANCE: f64 = 4.0;
/// A window is at least this many successes (and at least one per request
/// allowed).
const MIN_WINDOW: u32 = 8;

/// Adaptive bound on requests in flight.
///
/// - **Slow start.** The limit doubles per window of successes (one per
///   request allowed) until the first sign of load, then grows by one per
///   window (additive increase). It grows only when the window used at
///   least half of it: a caller that sends three requests at a time does not
///   earn a limit of 512.
/// - **Overload** (a throttle, a timeout, a 503, a partial success, an
///   answer slower than `slow_after`): the limit halves, once per epoch.
/// - **Queueing** (when the latency signal is on). Each operation keeps its
///   base latency, the fastest answer it ever had (a 1 MB Scan page and a
///   `GetItem` are compared with themselves, not with each other). At the
///   end of each window, the ratio of the window's fastest answers to those
///   bases (weighted by the samples of each operation) tells how long
///   requests waited in a queue at the endpoint. Above [`QUEUE_TOLERANCE`],
///   the limit drops to `limit * TOLERANCE / ratio + ALLOWANCE` (at most by
///   half): an endpoint that serves requests one after the other (the
///   emulator) gets a handful in flight, not hundreds queued until they time
///   out. An endpoint that scales (DynamoDB) keeps its latency and its limit.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<LimitState>,
    notify: Notify,
    min: f64,
    max: f64,
    latency_signal: bool,
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    lowest: f64,
    in_flight: usize,
    /// Bumped at each decrease: a permit taken before it reports on the
    /// load that was already answered; it does not lower the limit again,
    /// and its latency does not count in the next window.
    epoch: u64,
    decreases: u64,
    queue_decreases: u64,
    slow_start: bool,
    window: Window,
    ops: Vec<OpLatency>,
}

#[derive(Debug, Default)]
struct Window {
    successes: u32,
    /// The most requests in flight while the window ran (those in flight
    /// when it began included).
    busiest: usize,
}

#[derive(Debug)]
struct OpLatency {
    op: &'static str,
    base: Duration,
    window_fastest: Duration,
    window_samples: u32,
}

impl LimitState {
    fn allowed(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }

    fn lower_to(&mut self, limit: f64, min: f64) {
        self.limit = limit.max(min);
        self.lowest = self.lowest.min(self.limit);
        self.epoch += 1;
        self.slow_start = false;
        self.end_window();
    }

    fn end_window(&mut self) {
        self.window = Window {
            successes: 0,
            busiest: self.in_flight,
        };
        for o in &mut self.ops {
            o.window_samples = 0;
        }
    }

    /// The window's fastest answers over their operations' bases, weighted
    /// by the samples of each (1 when there are none).
    fn queue_ratio(&self) -> f64 {
        let (mut seen, mut base) = (0.0, 0.0);
        for o in self.ops.iter().filter(|o| o.window_samples > 0) {
            let n = f64::from(o.window_samples);
            seen += n * o.window_fastest.as_secs_f64();
            base += n * o.base.as_secs_f64();
        }
        if base > 0.0 {
            seen / base
        } else {
            1.0
        }
    }
}

impl Limiter {
    /// Start at `initial` requests in flight, never below `min` or above
    /// `max`; `latency_signal` turns on the reading of queues from latency
    /// (off where latency means something else: a long poll).
    pub fn new(initial: u32, min: u32, max: u32, latency_signal: bool) -> Self {
        let min = f64::from(min.max(1));
        let max = f64::from(max.max(1)).max(min);
        let limit = f64::from(initial).clamp(min, max);
        Self {
            state: Mutex::new(LimitState {
                limit,
                lowest: limit,
                in_flight: 0,
                epoch: 0,
                decreases: 0,
                queue_decreases: 0,
                slow_start: true,
                window: Window::default(),
                ops: Vec::new(),
            }),
            notify: Notify::new(),
            min,
            max,
            latency_signal,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for room under the limit.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.allowed() {
                    s.in_flight += 1;
                    s.window.busiest = s.window.busiest.max(s.in_flight);
                    return Permit {
                        limiter: self,
                        epoch: s.epoch,
                    };
                }
            }
            notified.await;
        }
    }

    /// The current limit (whole requests).
    pub fn limit(&self) -> u32 {
        self.lock().allowed() as u32
    }

    /// A success of `op` sent under `epoch`, answered in `latency`. An
    /// answer to a request sent before the last decrease only teaches its
    /// operation's base: it reports on a load already answered.
    fn success(&self, epoch: u64, op: &'static str, latency: Duration) {
        let mut s = self.lock();
        let current = epoch == s.epoch;
        if self.latency_signal {
            match s.ops.iter_mut().find(|o| o.op == op) {
                Some(o) => {
                    o.base = o.base.min(latency);
                    if current {
                        o.window_fastest = if o.window_samples == 0 {
                            latency
                        } else {
                            o.window_fastest.min(latency)
                        };
                        o.window_samples += 1;
                    }
                }
                None => s.ops.push(OpLatency {
                    op,
                    base: latency,
                    window_fastest: latency,
                    window_samples: u32::from(current),
                }),
            }
        }
        if !current {
            return;
        }
        let before = s.allowed();
        s.window.successes += 1;
        let used = s.window.busiest * 2 >= s.allowed();
        if !s.slow_start && used {
            s.limit = (s.limit + 1.0 / s.limit).min(self.max);
        }
        if s.window.successes >= (s.allowed() as u32).max(MIN_WINDOW) {
            let ratio = s.queue_ratio();
            if ratio > QUEUE_TOLERANCE {
                let target =
                    (s.limit * QUEUE_TOLERANCE / ratio + QUEUE_ALLOWANCE).max(s.limit / 2.0);
                if target < s.limit {
                    s.queue_decreases += 1;
                    s.lower_to(target, self.min);
                } else {
                    s.slow_start = false;
                    s.end_window();
                }
            } else {
                if s.slow_start && used {
                    s.limit = (s.limit * 2.0).min(self.max);
                }
                s.end_window();
            }
        }
        let after = s.allowed();
        drop(s);
        if after > before {
            self.notify.notify_waiters();
        }
    }

    fn overloaded(&self, epoch: u64) {
        let mut s = self.lock();
        if epoch == s.epoch {
            let halved = s.limit / 2.0;
            s.decreases += 1;
            s.lower_to(halved, self.min);
        }
    }

    fn release(&self) {
        self.lock().in_flight -= 1;
        self.notify.notify_one();
    }
}

/// Room for one request; released on drop.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    epoch: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

/// Options of a [`Gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateOptions {
    pub retry: RetryPolicy,
    /// A success slower than this counts as an overload signal (the
    /// clients set it to half the attempt timeout).
    pub slow_after: Duration,
    /// In-flight limit at start, and its bounds.
    pub initial_in_flight: u32,
    pub min_in_flight: u32,
    pub max_in_flight: u32,
    /// Lower the limit when latency shows a queue at the endpoint (see
    /// [`Limiter`]); off for a service whose latency is a long poll.
    pub latency_signal: bool,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            slow_after: Duration::from_secs(5),
            initial_in_flight: 4,
            min_in_flight: 1,
            max_in_flight: 512,
            latency_signal: true,
        }
    }
}

/// Where every request of one service goes out: the budget, the backoff,
/// the in-flight limit. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    policy: RetryPolicy,
    limiter: Limiter,
    slow_after: Duration,
    slow: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    transient: AtomicU64,
    exhausted: AtomicU64,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(GateOptions::default())
    }
}

impl Gate {
    pub fn new(opts: GateOptions) -> Self {
        Self {
            inner: Arc::new(GateInner {
                policy: opts.retry,
                limiter: Limiter::new(
                    opts.initial_in_flight,
                    opts.min_in_flight,
                    opts.max_in_flight,
                    opts.latency_signal,
                ),
                slow_after: opts.slow_after,
                slow: AtomicU64::new(0),
                attempts: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                transient: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
            }),
        }
    }

    pub fn policy(&self) -> RetryPolicy {
        self.inner.policy
    }

    /// A fresh budget for one logical request.
    pub fn budget(&self) -> Budget {
        Budget::new(self.inner.policy)
    }

    pub fn stats(&self) -> GateStats {
        let s = self.inner.limiter.lock();
        GateStats {
            attempts: self.inner.attempts.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
            transient: self.inner.transient.load(Ordering::Relaxed),
            exhausted: self.inner.exhausted.load(Ordering::Relaxed),
            slow: self.inner.slow.load(Ordering::Relaxed),
            decreases: s.decreases,
            queue_decreases: s.queue_decreases,
            limit: s.allowed() as u32,
            lowest_limit: (s.lowest.floor() as u32).max(1),
        }
    }

    /// One logical request with a budget of its own.
    pub async fn send<T, E, F, Fut>(
        &self,
        op: &'static str,
        key: Option<&ItemKey>,
        call: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut budget = self.budget();
        self.send_within(&mut budget, op, key, call).await
    }

    /// Attempts of a request drawing on `budget` (a batch whose unprocessed
    /// items are resent shares one budget across its requests). Transient
    /// errors are retried while the budget and the deadline allow; the
    /// error returned is the last one.
    pub async fn send_within<T, E, F, Fut>(
        &self,
        budget: &mut Budget,
        op: &'static str,
        key: Option<&ItemKey>,
        mut call: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        loop {
            let permit = self.inner.limiter.acquire().await;
            if budget.attempts() > 0 {
                self.inner.retries.fetch_add(1, Ordering::Relaxed);
            }
            budget.spend();
            self.inner.attempts.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let result = call().await;
            match result {
                Ok(v) => {
                    // An answer that took most of an attempt's timeout comes
                    // from a saturated endpoint: ease off before the next
                    // ones time out (a timed-out request still cost the
                    // endpoint its work).
                    let latency = sent.elapsed();
                    if latency >= self.inner.slow_after {
                        self.inner.slow.fetch_add(1, Ordering::Relaxed);
                        self.inner.limiter.overloaded(permit.epoch);
                    } else {
                        self.inner.limiter.success(permit.epoch, op, latency);
                    }
                    drop(permit);
                    return Ok(v);
                }
                Err(e) => {
                    let err = crate::error::from_sdk(op, key.cloned(), e);
                    if !err.is_transient() {
                        drop(permit);
                        return Err(err);
                    }
                    self.inner.transient.fetch_add(1, Ordering::Relaxed);
                    if err.is_overload() {
                        self.inner.limiter.overloaded(permit.epoch);
                    }
                    drop(permit);
                    debug!(op, attempt = budget.attempts(), error = %err, "transient failure");
                    if !self.back_off(budget).await {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// After a partial success (unprocessed items or keys, throttled
    /// statements): count it as an overload signal and wait before the
    /// resend; `None` when the budget is spent (the caller reports what is
    /// left).
    pub async fn partial(&self, budget: &Budget) -> Option<()> {
        self.inner.transient.fetch_add(1, Ordering::Relaxed);
        let epoch = self.inner.limiter.lock().epoch;
        self.inner.limiter.overloaded(epoch);
        self.back_off(budget).await.then_some(())
    }

    /// Wait before the next attempt of `budget`'s request; `false` (counted
    /// as exhausted) when the budget or the deadline allows none.
    async fn back_off(&self, budget: &Budget) -> bool {
        match budget.next_wait() {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            None => {
                self.inner.exhausted.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// The gate of control-plane calls (CreateTable, DescribeTable, ...):
/// the same policy, an in-flight limit of its own.
pub fn control_gate() -> &'static Gate {
    static GATE: std::sync::OnceLock<Gate> = std::sync::OnceLock::new();
    GATE.get_or_init(Gate::default)
}

/// `gated!(gate, "Op", key, builder)`: send an SDK fluent request through
/// `gate` ([`Gate::send`]), cloning the builder for each attempt.
#[macro_export]
macro_rules! gated {
    ($gate:expr, $op:expr, $key:expr, $req:expr $(,)?) => {{
        let req = $req;
        $gate.send($op, $key, || req.clone().send()).await
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_capped_and_growing() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            deadline: Duration::from_secs(10),
        };
        let mut seen_low = false;
        for _ in 0..500 {
            let b1 = p.backoff(1);
            assert!(b1 <= Duration::from_millis(100), "{b1:?}");
            let b3 = p.backoff(3);
            assert!(b3 <= Duration::from_millis(400), "{b3:?}");
            seen_low |= b3 < Duration::from_millis(100);
            let b30 = p.backoff(30);
            assert!(b30 <= Duration::from_millis(1000), "{b30:?}");
        }
        assert!(seen_low, "full jitter reaches below the previous cap");
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(3)).collect();
        assert!(distinct.len() > 1, "no jitter");
    }

    #[tokio::test]
    async fn a_budget_ends_at_its_attempts_or_its_deadline() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            deadline: Duration::from_secs(60),
        };
        let mut b = Budget::new(p);
        b.spend();
        assert!(b.next_wait().is_some());
        b.spend();
        b.spend();
        assert_eq!(b.next_wait(), None, "3 attempts spent");

        // The invocation's deadline wins over the policy's.
        let soon = Instant::now() + Duration::from_millis(5);
        let p = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
            ..p
        };
        let mut none = 0;
        for _ in 0..50 {
            let mut b = with_deadline(soon, async { Budget::new(p) }).await;
            b.spend();
            if b.next_wait().is_none() {
                none += 1;
            }
        }
        assert!(none > 40, "waits past the deadline are refused ({none}/50)");
    }

    const MS: Duration = Duration::from_millis(1);

    /// `n` permits held at once (the limit must allow them).
    async fn hold(l: &Limiter, n: usize) -> Vec<Permit<'_>> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(l.acquire().await);
        }
        v
    }

    /// `n` successes of `op` in `latency`, each from a permit of the
    /// current epoch, with the limit in use.
    async fn answer(l: &Limiter, n: usize, op: &'static str, latency: Duration) {
        let busy = hold(l, l.limit() as usize).await;
        for _ in 0..n {
            let epoch = l.lock().epoch;
            l.success(epoch, op, latency);
        }
        drop(busy);
    }

    #[tokio::test]
    async fn the_limit_halves_once_per_epoch_and_grows_back_by_one_per_window() {
        let l = Limiter::new(16, 1, 64, true);
        let permits = hold(&l, 16).await;
        // 16 requests in flight fail together: one halving, not sixteen.
        let epochs: Vec<u64> = permits.iter().map(|p| p.epoch).collect();
        for e in epochs {
            l.overloaded(e);
        }
        drop(permits);
        assert_eq!(l.limit(), 8);
        // After the first overload, a window of successes (about one per
        // request allowed) adds one.
        answer(&l, 7, "GetItem", 5 * MS).await;
        assert_eq!(l.limit(), 8, "not yet a whole window");
        answer(&l, 2, "GetItem", 5 * MS).await;
        assert_eq!(l.limit(), 9);
        // Repeated overload goes down to the floor, never below.
        for _ in 0..10 {
            let e = l.lock().epoch;
            l.overloaded(e);
        }
        assert_eq!(l.limit(), 1);
        assert_eq!(l.lock().decreases, 11);
    }

    #[tokio::test]
    async fn slow_start_doubles_per_window_while_used_and_latency_holds() {
        let l = Limiter::new(4, 1, 512, true);
        answer(&l, 8, "Query", 5 * MS).await;
        assert_eq!(l.limit(), 8);
        answer(&l, 8, "Query", 6 * MS).await;
        assert_eq!(l.limit(), 16);
        answer(&l, 16, "Query", 5 * MS).await;
        assert_eq!(l.limit(), 32);
        // A caller that keeps only two requests in flight earns nothing
        // (after the window that began with 16 in flight).
        let two_at_a_time = |n: usize| {
            let l = &l;
            async move {
                for _ in 0..n {
                    let _a = l.acquire().await;
                    let b = l.acquire().await;
                    l.success(b.epoch, "Query", 5 * MS);
                }
            }
        };
        two_at_a_time(64).await;
        let limit = l.limit();
        two_at_a_time(1_000).await;
        assert_eq!(l.limit(), limit, "unused room does not grow");
        // Without the latency signal the growth is the same (a long poll
        // is never read as a queue).
        let l = Limiter::new(4, 1, 512, false);
        answer(&l, 8, "ReceiveMessage", 20_000 * MS).await;
        answer(&l, 8, "ReceiveMessage", 5 * MS).await;
        answer(&l, 16, "ReceiveMessage", 20_000 * MS).await;
        assert_eq!(l.limit(), 32);
    }

    #[tokio::test]
    async fn a_queue_lowers_the_limit_to_a_few_waiting_by_half_a_window_at_most() {
        let l = Limiter::new(64, 1, 512, true);
        answer(&l, 64, "Query", 5 * MS).await;
        assert_eq!(l.limit(), 128);
        // Every answer of the next window waited: the fastest took 10x its
        // base. The limit drops, by half at most.
        answer(&l, 128, "Query", 50 * MS).await;
        assert_eq!(l.limit(), 64);
        {
            let st = l.lock();
            assert_eq!((st.queue_decreases, st.decreases), (1, 0));
            assert!(!st.slow_start, "the first queue ends the slow start");
        }
        // While it stays 10x, the limit settles where `limit * 2 / 10` plus
        // the allowance of 4 meets it: about 5.
        for _ in 0..30 {
            answer(&l, 16, "Query", 50 * MS).await;
        }
        let settled = l.limit();
        assert!((4..=7).contains(&settled), "{settled}");
        // Within the tolerance (1.5x), it grows again, by about one per window.
        for _ in 0..4 {
            answer(&l, 8, "Query", 7 * MS).await;
        }
        assert!(l.limit() > settled, "{} > {settled}", l.limit());
        // The signal alone never takes the limit below its allowance.
        for _ in 0..20 {
            answer(&l, 16, "Query", 5_000 * MS).await;
        }
        assert!(l.limit() >= QUEUE_ALLOWANCE as u32, "{}", l.limit());
        assert_eq!(l.lock().decreases, 0, "no halving without an overload");
    }

    #[tokio::test]
    async fn each_operation_is_compared_with_its_own_base() {
        let l = Limiter::new(16, 1, 512, true);
        // A 1 MB Scan page takes 40x a GetItem, every time: no queue.
        for _ in 0..10 {
            answer(&l, 8, "GetItem", 5 * MS).await;
            answer(&l, 8, "Scan", 200 * MS).await;
        }
        assert_eq!(l.lock().queue_decreases, 0);
        assert!(l.limit() > 16);
    }

    #[tokio::test]
    async fn answers_to_requests_sent_before_a_decrease_do_not_count_again() {
        let l = Limiter::new(32, 1, 512, true);
        answer(&l, 32, "Query", 5 * MS).await;
        assert_eq!(l.limit(), 64);
        let old = hold(&l, 40).await;
        for _ in 0..64 {
            l.success(0, "Query", 50 * MS);
        }
        assert_eq!(l.limit(), 32);
        // The 40 sent under the old limit answer slowly: no new window, no
        // growth either.
        for p in &old {
            l.success(p.epoch, "Query", 80 * MS);
        }
        drop(old);
        assert_eq!(l.limit(), 32);
        assert_eq!(l.lock().queue_decreases, 1);
    }

    /// An endpoint that serves one request at a time (3 ms each, as one
    /// emulator process does) behind a 5 ms round trip, on tokio's paused
    /// clock, called by `callers` loops through a limiter: the requests it
    /// served in 20 s, the median latency, the limit at the end. Every
    /// duration here is virtual (the clock only moves when all tasks wait):
    /// the figures are the same on any machine, so they can be asserted.
    async fn serial_endpoint(callers: usize, latency_signal: bool) -> (usize, Duration, u32) {
        let l = Arc::new(Limiter::new(4, 1, 512, latency_signal));
        let server = Arc::new(tokio::sync::Mutex::new(()));
        let end = Instant::now() + Duration::from_secs(20);
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let (l, server) = (l.clone(), server.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let p = l.acquire().await;
                    let sent = Instant::now();
                    tokio::time::sleep(Duration::from_micros(2500)).await;
                    {
                        let _serving = server.lock().await;
                        tokio::time::sleep(3 * MS).await;
                    }
                    tokio::time::sleep(Duration::from_micros(2500)).await;
                    l.success(p.epoch, "Query", sent.elapsed());
                    latencies.push(sent.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        (all.len(), all[all.len() / 2], l.limit())
    }

    #[tokio::test(start_paused = true)]
    async fn a_serial_endpoint_gets_a_handful_in_flight_however_many_call() {
        // Capacity: 20 s / 3 ms = 6,666 requests.
        let (few, few_p50, _) = serial_endpoint(16, true).await;
        let (many, many_p50, many_limit) = serial_endpoint(128, true).await;
        assert!(few > 6_000 && many > 6_000, "served {few} / {many}");
        assert!(many_limit <= 24, "limit {many_limit}");
        assert!(many_p50 <= 80 * MS, "median {many_p50:?}");
        // Without the signal, the 128 callers queue at the endpoint: the
        // same throughput, each answer ~128 x 3 ms late.
        let (blind, blind_p50, blind_limit) = serial_endpoint(128, false).await;
        assert!(blind > 6_000, "served {blind}");
        assert!(
            blind_limit >= 128 && blind_p50 >= 300 * MS,
            "{blind_limit} {blind_p50:?}"
        );
        eprintln!(
            "serial endpoint, 20 s: 16 callers {few} served, median {few_p50:?}; \
             128 callers {many} served, median {many_p50:?}, limit {many_limit}; \
             128 without the latency signal {blind} served, median {blind_p50:?}, limit {blind_limit}"
        );
    }

    #[tokio::test]
    async fn acquire_waits_for_room_and_wakes_on_release() {
        let l = Arc::new(Limiter::new(1, 1, 1, true));
        let first = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let _p = l2.acquire().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no room: it waits");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken on release")
            .unwrap();
    }
}
