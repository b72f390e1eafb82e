//! `migrate`: the operator's command for carrying a live `v0.1` table into a
//! new `main` table (see the library docs and the README's runbook).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlflow_ddb_aws::{ClientOptions, Clients};
use mlflow_ddb_runtime::init_tracing;

/// Exit code when not up to date (status) or not clean (verify).
const EXIT_NOT_YET: u8 = 3;

#[derive(Parser)]
#[command(
    name = "migrate",
    about = "Carry a live v0.1 mlflow-dynamodbstore table into a new main-format table, with no downtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum To {
    Main,
}

#[derive(Args)]
struct Tables {
    /// The v0.1 table (never written, except by `sync --reverse`).
    #[arg(long)]
    source: String,
    /// The main table (created by `copy`).
    #[arg(long)]
    target: String,
}

#[derive(Subcommand)]
enum Command {
    /// Create the target like the main store's template and copy every item
    /// (resumable); then rebuild the derived state in main's layout.
    Copy {
        #[command(flatten)]
        tables: Tables,
        #[arg(long, value_enum)]
        to: To,
        #[arg(long, default_value_t = 4)]
        segments: u32,
        /// Targets reconciled at once per segment (derived state).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Scan page size (default: DynamoDB's 1 MB pages).
        #[arg(long)]
        page_size: Option<u32>,
        /// Only check, create the target and record the stream position; the
        /// copy itself then runs in AWS (the indexer's state machine, mode
        /// copy, the same --segments), and `migrate copy` run again afterwards
        /// finds the segments done and rebuilds the derived state.
        #[arg(long)]
        prepare: bool,
        #[arg(long)]
        json: bool,
    },
    /// Carry the source's changes since the copy started into the target.
    Sync {
        #[command(flatten)]
        tables: Tables,
        /// Exit once every shard is caught up.
        #[arg(long)]
        until_idle: bool,
        /// Carry the target's changes back into the source, in v0.1 form (rollback).
        #[arg(long)]
        reverse: bool,
        /// Stream checkpoint file (default: .migrate/<source>--<target>[.reverse].json).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Formats, copy progress, sync lag, last verify; exit 0 when up to date, 3 when not.
    Status {
        #[command(flatten)]
        tables: Tables,
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Check the target against the source; exit 0 when clean, 3 when not.
    Verify {
        #[command(flatten)]
        tables: Tables,
        /// Fraction of the keys checked (0 < F <= 1).
        #[arg(long, default_value_t = 1.0)]
        sample: f64,
        #[arg(long, default_value_t = 4)]
        segments: u32,
        #[arg(long)]
        json: bool,
    },
}

fn default_checkpoint(t: &Tables, reverse: bool) -> PathBuf {
    let suffix = if reverse { ".reverse" } else { "" };
    PathBuf::from(".migrate").join(format!("{}--{}{suffix}.json", t.source, t.target))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(false, "warn");
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("migrate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    match cli.command {
        Command::Copy {
            tables,
            to: To::Main,
            segments,
            concurrency,
            page_size,
            prepare,
            json,
        } => {
            let opts = migrate::CopyOptions {
                source: tables.source,
                target: tables.target,
                segments,
                concurrency,
                page_size,
                invocation_timeout: Duration::from_secs(900),
            };
            if prepare {
                let p = migrate::prepare(&clients, &opts).await?;
                if !json {
                    eprintln!(
                        "prepared {} → {}{}: position recorded (stream {}, {} segments). Next: start the indexer's state machine with {{\"mode\": \"copy\", \"total_segments\": {}}}, then run `migrate copy --source {} --target {} --to main --segments {}` (it finds the segments done and rebuilds the derived state)",
                        opts.source,
                        opts.target,
                        if p.created_target { " (target created)" } else { "" },
                        p.meta.stream_arn,
                        p.meta.segments,
                        p.meta.segments,
                        opts.source,
                        opts.target,
                        p.meta.segments
                    );
                }
                println!("{}", serde_json::to_string_pretty(&p.meta)?);
                return Ok(ExitCode::SUCCESS);
            }
            let progress = Arc::new(AtomicU64::new(0));
            // A bar over the source's (approximate) item count, on a terminal:
            // items, items/s, ETA. The count covers the copy; the rebuild of
            // the derived state that follows scans the target again.
            let bar = if !json && std::io::stderr().is_terminal() {
                let total = mlflow_ddb_aws::describe_table(&clients.ddb, &opts.source)
                    .await
                    .map_or(0, |t| u64::try_from(t.item_count).unwrap_or(0));
                let bar =
                    ProgressBar::with_draw_target(Some(total.max(1)), ProgressDrawTarget::stderr());
                if let Ok(style) =
                    ProgressStyle::with_template("{bar:40} {pos}/{len} items  {per_sec}  ETA {eta}")
                {
                    bar.set_style(style);
                }
                Some(bar)
            } else {
                None
            };
            let ticker = bar.clone().map(|bar| {
                let p = progress.clone();
                tokio::spawn(async move {
                    loop {
                        bar.set_position(p.load(Ordering::Relaxed));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                })
            });
            let r = migrate::copy(&clients, &opts, progress).await;
            if let Some(t) = ticker {
                t.abort();
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let s = r?;
            if !json {
                let c = &s.copy.counts;
                eprintln!(
                    "copy {} → {}{}{}: {} items scanned in {} segments, {} copied, {} derived (rebuilt), {} skipped, {} unknown (copied unchanged), {} errors; {:.1} s, {:.0} items/s, {:.3} requests/item\n  derived state rebuilt: {} targets, {} FTS puts, {} map updates\n  {}",
                    s.source,
                    s.target,
                    if s.created_target { " (created)" } else { "" },
                    if s.resumed { " (resumed)" } else { "" },
                    c.items_scanned,
                    s.copy.segments,
                    c.copy.copied,
                    c.copy.derived,
                    c.copy.skipped,
                    c.copy.unknown,
                    c.errors,
                    s.copy.elapsed_s,
                    s.copy.items_per_s,
                    s.copy.requests_per_item,
                    s.derive.counts.targets,
                    s.derive.counts.fts_puts,
                    s.derive.counts.map_updates,
                    if s.copy_done {
                        format!("copy complete: next, `migrate sync --source {} --target {} --until-idle`", s.source, s.target)
                    } else {
                        "copy NOT complete: see the errors above, then run copy again (it resumes)".to_owned()
                    }
                );
                for r in s.copy.drift.categories.values() {
                    for e in &r.examples {
                        eprintln!("    {e}");
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(if s.copy_done {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sync {
            tables,
            until_idle,
            reverse,
            checkpoint,
            batch_size,
            concurrency,
        } => {
            let checkpoint = checkpoint.unwrap_or_else(|| default_checkpoint(&tables, reverse));
            let opts = migrate::SyncOptions {
                source: tables.source,
                target: tables.target,
                reverse,
                until_idle,
                checkpoint,
                batch_size,
                concurrency,
            };
            let s = migrate::sync(&clients, &opts).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status {
            tables,
            checkpoint,
            json,
        } => {
            let checkpoint = checkpoint.or_else(|| Some(default_checkpoint(&tables, false)));
            let s = migrate::status(
                &clients,
                &tables.source,
                &tables.target,
                checkpoint.as_ref(),
            )
            .await?;
            if !json {
                eprintln!(
                    "{} ({}) → {} ({}): copy {} ({}/{} segments), sync lag {} records / {:.0} s, last verify {}; up to date: {}",
                    s.source,
                    s.source_format.map_or("?".into(), |f| f.to_string()),
                    s.target,
                    s.target_format.map_or("?".into(), |f| f.to_string()),
                    if s.copy_done { "complete" } else { "not complete" },
                    s.segments_done,
                    s.segments,
                    s.sync_lag_records,
                    s.sync_lag_seconds,
                    s.last_verify
                        .as_ref()
                        .map_or("never".into(), |v| if v.clean { "clean".into() } else { "NOT clean".to_owned() }),
                    s.is_up_to_date
                );
            }
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(if s.is_up_to_date {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NOT_YET)
            })
        }
        Command::Verify {
            tables,
            sample,
            segments,
            json,
        } => {
            if !(sample > 0.0 && sample <= 1.0) {
                anyhow::bail!("--sample must be within (0, 1]");
            }
            let s = migrate::verify(
                &clients,
                &tables.source,
                &tables.target,
                sample,
                segments.max(1),
            )
            .await?;
            if !json {
                eprintln!(
                    "verify {} → {}: {} source items ({} checked), {} target items: {}",
                    tables.source,
                    tables.target,
                    s.source_items,
                    s.checked,
                    s.target_items,
                    if s.clean { "clean" } else { "NOT clean" }
                );
                for (name, c) in &s.categories {
                    eprintln!("  {name}: {}", c.count);
                    for e in &c.examples {
                        eprintln!("    {e}");
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(if s.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NOT_YET)
            })
        }
    }
}
