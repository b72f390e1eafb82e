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
//! - **In flight.** A [`Limiter`] caps the requests in flight, additive
//!   increase (+1 per window of successes) and multiplicative decrease (x0.5
//!   on a throttle, a timeout or a 503, a partial success, or an answer
//!   slower than half the attempt timeout, once per window:
//!   [`AwsError::is_overload`]), so that more segments
//!   or more concurrency never push an endpoint that is already saturated:
//!   the run slows down instead of failing.
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

/// Adaptive bound on requests in flight (AIMD).
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<LimitState>,
    notify: Notify,
    min: f64,
    max: f64,
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    lowest: f64,
    in_flight: usize,
    /// Bumped at each decrease: a permit taken before it reports a failure
    /// of the load that was already answered, and does not halve again.
    epoch: u64,
    decreases: u64,
}

impl LimitState {
    fn allowed(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }
}

impl Limiter {
    /// Start at `initial` requests in flight, never below `min` or above `max`.
    pub fn new(initial: u32, min: u32, max: u32) -> Self {
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
            }),
            notify: Notify::new(),
            min,
            max,
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

    fn success(&self) {
        let mut s = self.lock();
        let before = s.allowed();
        s.limit = (s.limit + 1.0 / s.limit).min(self.max);
        if s.allowed() > before {
            drop(s);
            self.notify.notify_one();
        }
    }

    fn overloaded(&self, epoch: u64) {
        let mut s = self.lock();
        if epoch == s.epoch {
            s.limit = (s.limit / 2.0).max(self.min);
            s.lowest = s.lowest.min(s.limit);
            s.epoch += 1;
            s.decreases += 1;
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
}

impl Default for GateOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            slow_after: Duration::from_secs(5),
            initial_in_flight: 32,
            min_in_flight: 1,
            max_in_flight: 512,
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
                    if sent.elapsed() >= self.inner.slow_after {
                        self.inner.slow.fetch_add(1, Ordering::Relaxed);
                        self.inner.limiter.overloaded(permit.epoch);
                    } else {
                        self.inner.limiter.success();
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

    #[tokio::test]
    async fn the_limit_halves_once_per_epoch_and_grows_back_by_one_per_window() {
        let l = Limiter::new(16, 1, 64);
        let permits: Vec<_> = futures_lite_join(&l, 16).await;
        // 16 requests in flight fail together: one halving, not sixteen.
        let epochs: Vec<u64> = permits.iter().map(|p| p.epoch).collect();
        for e in epochs {
            l.overloaded(e);
        }
        drop(permits);
        assert_eq!(l.limit(), 8);
        // A window of successes (about one per request allowed) adds one.
        for _ in 0..7 {
            l.success();
        }
        assert_eq!(l.limit(), 8, "not yet a whole window");
        for _ in 0..2 {
            l.success();
        }
        assert_eq!(l.limit(), 9);
        // Repeated overload goes down to the floor, never below.
        for _ in 0..10 {
            let e = l.lock().epoch;
            l.overloaded(e);
        }
        assert_eq!(l.limit(), 1);
    }

    async fn futures_lite_join(l: &Limiter, n: usize) -> Vec<Permit<'_>> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(l.acquire().await);
        }
        v
    }

    #[tokio::test]
    async fn acquire_waits_for_room_and_wakes_on_release() {
        let l = Arc::new(Limiter::new(1, 1, 1));
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
