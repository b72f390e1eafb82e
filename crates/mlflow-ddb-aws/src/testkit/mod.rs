//! Test support (feature `testkit`): clients for the local endpoint, a fresh
//! uniquely named table per test, small item builders, whole-table helpers
//! (the reference fixture, load, scan, diff), and the [`FaultProxy`]. For this crate's integration tests and the functions'.
//!
//! Integration tests need the endpoint that `scripts/emulator.sh` starts;
//! without `AWS_ENDPOINT_URL` they fail at once with a message saying how to
//! run them (never skip silently).

mod proxy;
mod rng;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use mlflow_ddb_ports::testkit::{
    config_of, diff, key_of, load, reference_table, scan_all, stripped,
};
pub use proxy::{Fault, FaultProxy, DYNAMODB_NS};
pub use rng::{seed_from_env, SplitMix64};

use crate::table::{create_table, TableSummary};
use crate::{ClientOptions, Clients, DynamoStore, ExpireVia, RetryPolicy, StoreOptions};

/// How to run the integration tests.
pub const HOW_TO_RUN: &str =
    "run via `make test` or `scripts/emulator.sh run -- cargo test` (it starts moto_server and exports AWS_ENDPOINT_URL)";

/// The local endpoint, from `AWS_ENDPOINT_URL`. Panics with [`HOW_TO_RUN`]
/// when unset: an integration test without its endpoint must fail loudly.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!("AWS_ENDPOINT_URL is not set: this integration test needs the local endpoint; {HOW_TO_RUN}"),
    }
}

/// Client options for tests: [`retry_policy`] in every gate.
pub fn client_options() -> ClientOptions {
    let mut opts = ClientOptions::default();
    opts.gate.retry = retry_policy();
    opts
}

/// The retry budget for tests: the default attempts, millisecond backoffs,
/// a generous deadline.
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        // The shared emulator of a loaded CI machine can take several
        // 10 s attempt timeouts in a row.
        deadline: Duration::from_secs(120),
        ..RetryPolicy::default()
    }
}

/// Clients on the local endpoint (from the environment, like a Lambda).
pub async fn clients() -> Clients {
    endpoint();
    clients_with(&client_options()).await
}

/// Clients with explicit options (e.g. `endpoint_url` = a [`FaultProxy`]).
pub async fn clients_with(opts: &ClientOptions) -> Clients {
    endpoint();
    match Clients::from_env(opts).await {
        Ok(c) => c,
        Err(e) => panic!("clients for the local endpoint: {e}; {HOW_TO_RUN}"),
    }
}

/// A [`FaultProxy`] in front of the local endpoint, and clients that go
/// through it (keep the proxy alive as long as the clients are used).
pub async fn proxied() -> (FaultProxy, Clients) {
    let proxy = match FaultProxy::start(&endpoint()).await {
        Ok(p) => p,
        Err(e) => panic!("fault proxy: {e}"),
    };
    let via = clients_with(&ClientOptions {
        endpoint_url: Some(proxy.url().to_owned()),
        ..client_options()
    })
    .await;
    (proxy, via)
}

/// A name no other test (in this or another process) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:09}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh table for one test.
#[derive(Debug)]
pub struct TestTable {
    pub name: String,
    pub clients: Clients,
    pub summary: TableSummary,
}

impl TestTable {
    /// Create a uniquely named table like the reference's (`"v0.1"` or
    /// `"main"`), with a NEW_AND_OLD_IMAGES stream when `stream`.
    pub async fn new(format: &str, stream: bool) -> Self {
        let clients = clients().await;
        let name = unique_name("t");
        let summary = match create_table(&clients.ddb, &name, format, stream).await {
            Ok(s) => s,
            Err(e) => panic!("create test table {name}: {e}; {HOW_TO_RUN}"),
        };
        Self {
            name,
            clients,
            summary,
        }
    }

    /// Store options for tests: expire through [`ExpireVia::Auto`]
    /// (UpdateItem on the emulator).
    pub fn store_options() -> StoreOptions {
        StoreOptions {
            expire_via: ExpireVia::Auto,
            ..StoreOptions::default()
        }
    }

    /// A store on this table.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::with_options(&self.clients, &self.name, Self::store_options())
    }

    /// A store on this table through other clients (e.g. via a proxy).
    pub fn store_via(&self, clients: &Clients, opts: StoreOptions) -> DynamoStore {
        DynamoStore::with_options(clients, &self.name, opts)
    }

    /// The stream ARN, when created with a stream.
    pub fn stream_arn(&self) -> Option<&str> {
        self.summary.stream_arn.as_deref()
    }
}

pub use mlflow_ddb_ports::build::{item, key, n, s};

/// For crash tests: SIGKILL `child` if it still runs, and say whether it
/// did. A child that ended on its own must have succeeded (`what` names it
/// in the failure).
pub fn kill_if_running(child: &mut std::process::Child, what: &str) -> bool {
    let running = child.try_wait().expect("wait").is_none();
    if running {
        child.kill().expect("SIGKILL");
    }
    let status = child.wait().expect("wait");
    assert!(
        running || status.success(),
        "{what} not killed failed: {status}"
    );
    running
}
