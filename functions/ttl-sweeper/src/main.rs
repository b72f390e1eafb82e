//! ttl-sweeper: the Lambda (no arguments) or the CLI (with arguments).
//!
//! Environment: `TABLE_NAME` (Lambda; the CLI takes `--table`),
//! `TABLE_FORMAT` (`v0.1` default, or `main`), `SWEEP_SEGMENTS`,
//! `SWEEP_BREAKER_FRACTION` (defaults for events that do not set them),
//! `EXPIRE_VIA` (`auto` default: PartiQL on AWS, UpdateItem on an emulator),
//! `AWS_ENDPOINT_URL` (an emulator), `RUST_LOG`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lambda_runtime::{service_fn, LambdaEvent};
use mlflow_ddb_aws::{ClientOptions, Clients, DynamoStore, ExpireVia, StoreOptions};
use mlflow_ddb_core::format::FormatSetting;
use mlflow_ddb_core::sweep::Summary;
use mlflow_ddb_engine::FormatResolver;
use mlflow_ddb_runtime::{init_tracing, now_ms};
use ttl_sweeper::{emf, sweep, Budget, Deps, Progress, SweepOptions};

const FUNCTION: &str = "ttl-sweeper";

/// Find the items left behind by TTL-deleted experiments, models and runs,
/// and expire them (safely: consistent re-checks, conditional writes, a
/// circuit breaker).
#[derive(Debug, Parser)]
#[command(name = "ttl-sweeper", version)]
struct Cli {
    /// DynamoDB table name.
    #[arg(long)]
    table: String,
    /// Report the orphans, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Parallel scan segments.
    #[arg(long)]
    segments: Option<u32>,
    /// Stop after holding this many possible orphans (resume next run).
    #[arg(long)]
    max_items: Option<u64>,
    /// Abort, writing nothing, when more than this fraction of partitions look orphaned.
    #[arg(long)]
    breaker_fraction: Option<f64>,
    /// Requests in flight at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Stop after this many seconds (leaving a checkpoint).
    #[arg(long)]
    max_seconds: Option<u64>,
    /// Table format: auto (follow the table), v0.1 or main; a format the
    /// table is not in is refused (default: TABLE_FORMAT, else auto).
    #[arg(long)]
    format: Option<FormatSetting>,
}

fn env_opt<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        _ => Ok(None),
    }
}

fn defaults_from_env() -> anyhow::Result<SweepOptions> {
    let mut o = SweepOptions::default();
    if let Some(v) = env_opt("SWEEP_SEGMENTS")? {
        o.segments = v;
    }
    if let Some(v) = env_opt("SWEEP_BREAKER_FRACTION")? {
        o.breaker_fraction = v;
    }
    Ok(o)
}

async fn deps(
    table: String,
    format: FormatSetting,
    defaults: SweepOptions,
    attempt_timeout: Duration,
) -> anyhow::Result<Deps> {
    let clients = Clients::from_env(&ClientOptions {
        attempt_timeout,
        ..ClientOptions::default()
    })
    .await
    .context("AWS clients")?;
    // EXPIRE_VIA: auto (PartiQL on AWS, UpdateItem on an emulator), partiql, update-item.
    let expire_via = match std::env::var("EXPIRE_VIA").unwrap_or_default().as_str() {
        "" | "auto" => ExpireVia::Auto,
        "partiql" => ExpireVia::PartiQl,
        "update-item" => ExpireVia::UpdateItem,
        other => anyhow::bail!("EXPIRE_VIA={other:?}: expected auto, partiql or update-item"),
    };
    let store = DynamoStore::with_options(
        &clients,
        &table,
        StoreOptions {
            expire_via,
            ..StoreOptions::default()
        },
    );
    tracing::debug!(partiql = store.expires_via_partiql(), "expiry path");
    let store = Arc::new(store);
    Ok(Deps {
        store: store.clone(),
        table,
        format: Arc::new(FormatResolver::detect(format, store)),
        defaults,
    })
}

fn report(summary: &Summary) {
    // The summary as a structured log line, and the EMF metrics line.
    match serde_json::to_string(summary) {
        Ok(s) => tracing::info!(summary = %s, "sweep finished"),
        Err(e) => tracing::warn!(error = %e, "summary not serializable"),
    }
    println!("{}", emf::emf(FUNCTION, summary, now_ms()));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli_mode = std::env::args_os().len() > 1;
    init_tracing(!cli_mode, if cli_mode { "warn" } else { "info" });
    if cli_mode {
        return run_cli(Cli::parse()).await;
    }
    let table = std::env::var("TABLE_NAME").context("TABLE_NAME is not set")?;
    let format = env_opt("TABLE_FORMAT")?.unwrap_or_default();
    let deps = deps(
        table,
        format,
        defaults_from_env()?,
        ClientOptions::default().attempt_timeout,
    )
    .await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .ok();
            let deadline = deadline.map(|d| Instant::now() + d);
            let summary = ttl_sweeper::handle(deps, &event.payload, deadline).await?;
            report(&summary);
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(&summary).unwrap_or_default())
        },
    ))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// A progress bar on stderr, drawn only on a terminal.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} scanning: {pos} items ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }
}

impl Progress for Bar {
    fn scanned(&self, items: u64) {
        self.bar.inc(items);
    }
    fn expiring(&self, items: u64) {
        self.bar.set_position(0);
        self.bar.set_length(items);
        self.bar.set_style(
            ProgressStyle::with_template(
                "expiring [{bar:40}] {pos}/{len} orphans ({per_sec}) {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    }
    fn expired(&self, items: u64) {
        self.bar.inc(items);
    }
}

async fn run_cli(cli: Cli) -> anyhow::Result<()> {
    let mut opts = defaults_from_env()?;
    opts.dry_run = cli.dry_run;
    if let Some(v) = cli.segments {
        opts.segments = v.max(1);
    }
    opts.max_items = cli.max_items;
    if let Some(v) = cli.breaker_fraction {
        anyhow::ensure!(
            (0.0..=1.0).contains(&v),
            "--breaker-fraction must be in [0, 1]"
        );
        opts.breaker_fraction = v;
    }
    if let Some(v) = cli.concurrency {
        opts.concurrency = v.clamp(1, 64);
    }
    let format = match cli.format {
        Some(f) => f,
        None => env_opt("TABLE_FORMAT")?.unwrap_or_default(),
    };
    // A person waits for a CLI: slow pages (an emulator scans a big table in
    // seconds per page) should not fail on the Lambda's 10 s attempt timeout.
    let deps = deps(
        cli.table.clone(),
        format,
        opts.clone(),
        Duration::from_secs(120),
    )
    .await?;
    let budget = Budget {
        deadline: cli
            .max_seconds
            .map(|s| Instant::now() + Duration::from_secs(s)),
        reserve: Duration::from_secs(1),
        ..Budget::default()
    };
    let bar = Arc::new(Bar::new());
    let out = sweep(
        &deps,
        &opts,
        ttl_sweeper::epoch_seconds(),
        &budget,
        bar.clone(),
    )
    .await;
    bar.bar.finish_and_clear();
    let summary = out?.summary;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_human(&summary);
    }
    if summary.aborted {
        std::process::exit(2);
    }
    Ok(())
}

fn print_human(s: &Summary) {
    let mode = if s.dry_run { "dry run" } else { "sweep" };
    let format = s.format.map_or(String::new(), |f| format!(" (format {f})"));
    println!(
        "{mode} of {}{format}: {} items in {} EXP#/RM# partitions scanned ({} pages, {} segments{})",
        s.table,
        s.items_scanned,
        s.partitions_scanned,
        s.pages_scanned,
        s.total_segments,
        if s.resumed { ", resumed" } else { "" }
    );
    println!(
        "orphans: experiments {} partitions / {} items; registered models {} / {}; runs {} / {}",
        s.orphans.experiment.groups,
        s.orphans.experiment.items,
        s.orphans.registered_model.groups,
        s.orphans.registered_model.items,
        s.orphans.run.groups,
        s.orphans.run.items
    );
    if let Some(reason) = &s.abort_reason {
        println!("ABORTED: {reason}");
    } else if !s.dry_run {
        println!(
            "expired {}; skipped {} already expiring, {} whose META is back; {} failed, {} deferred",
            s.items_expired,
            s.items_skipped_already_expiring,
            s.items_skipped_meta_back,
            s.items_failed,
            s.items_deferred
        );
    }
    if let Some(why) = &s.stopped_early {
        println!("stopped early ({why}): the next run resumes from the checkpoint");
    } else if s.complete {
        println!("sweep complete");
    }
    println!("{} requests, {} ms", s.requests, s.duration_ms);
}
