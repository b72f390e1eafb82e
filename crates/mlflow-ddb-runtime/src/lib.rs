//! What every binary of the suite does at start-up, written once: logging
//! set-up, reading optional settings from the environment, the wall clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Install the global `tracing` subscriber, writing to stderr.
///
/// `json` is for Lambda (CloudWatch Logs Insights reads the fields); plain
/// text is for a terminal. `RUST_LOG` overrides `default_level`.
pub fn init_tracing(json: bool, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// The value of environment variable `name`, or `default` when it is unset
/// or blank.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The wall clock in epoch milliseconds (a binary's edge; the core takes
/// time as a parameter).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A Lambda invocation's deadline (epoch milliseconds, from its context)
/// as an `Instant`; a deadline already past is now.
pub fn deadline_instant(deadline_ms: u64) -> Instant {
    let now = u64::try_from(now_ms()).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_or_falls_back_on_unset_and_blank() {
        // Names no other test or process sets.
        std::env::remove_var("MLFLOW_DDB_ENGINE_TEST_UNSET");
        assert_eq!(env_or("MLFLOW_DDB_ENGINE_TEST_UNSET", "d"), "d");
        std::env::set_var("MLFLOW_DDB_ENGINE_TEST_BLANK", "  ");
        assert_eq!(env_or("MLFLOW_DDB_ENGINE_TEST_BLANK", "d"), "d");
        std::env::set_var("MLFLOW_DDB_ENGINE_TEST_SET", "v");
        assert_eq!(env_or("MLFLOW_DDB_ENGINE_TEST_SET", "d"), "v");
    }

    #[test]
    fn deadline_instant_is_in_the_future_by_the_remaining_time() {
        let before = Instant::now();
        let later = deadline_instant(u64::try_from(now_ms()).unwrap_or(0) + 60_000);
        let d = later.duration_since(before);
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(61),
            "{d:?}"
        );
        let past = deadline_instant(1);
        assert!(past.duration_since(before) < Duration::from_secs(5));
    }
}
