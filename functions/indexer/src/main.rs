//! `indexer`: without arguments, the Lambda function (one segment
//! invocation per event, see the crate docs for the driver contract); with a
//! subcommand, the CLI driver over every segment. Configuration is read
//! once here; the logic is in the library.

// The Lambda runtime's service future nests deeply.
#![recursion_limit = "256"]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Parser, Subcommand};
use indexer::{drive, Category, Deps, DriveOptions, Settings, Summary, WalkMode};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lambda_runtime::{service_fn, LambdaEvent};
use mlflow_ddb_aws::{describe_table, ClientOptions, Clients, DynamoStore};
use mlflow_ddb_core::format::FormatSetting;
use mlflow_ddb_engine::FormatResolver;
use mlflow_ddb_runtime::{deadline_instant, env_or, init_tracing};
use serde_json::Value;

/// Exit code of `verify` when it found drift.
const EXIT_DRIFT: u8 = 3;

#[derive(Parser)]
#[command(
    name = "indexer",
    about = "Backfill or verify the derived state (tags maps, FTS items) of an mlflow-dynamodbstore table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the missing and wrong derived state; a second run writes nothing.
    Backfill(WalkArgs),
    /// Report drift by category, read-only; exit 0 when clean, 3 on drift.
    Verify(WalkArgs),
}

#[derive(Args)]
struct WalkArgs {
    #[arg(long)]
    table: String,
    /// Parallel scan segments, walked concurrently.
    #[arg(long, default_value_t = 4)]
    segments: u32,
    /// Targets reconciled at once per segment.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Only the JSON summary on stdout (no human summary, no progress bar).
    #[arg(long)]
    json: bool,
    /// backfill: report what would be written, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// backfill: also delete FTS items written in the other table format's
    /// layout (verify reports them as foreign_format).
    #[arg(long)]
    remove_foreign: bool,
    /// Example keys per drift category.
    #[arg(long, default_value_t = indexer::state::DEFAULT_EXAMPLES)]
    examples: usize,
    /// Scan page size (default: DynamoDB's 1 MB pages).
    #[arg(long)]
    page_size: Option<u32>,
    /// Deadline of each emulated invocation, seconds (continuations past it).
    #[arg(long, default_value_t = 900)]
    invocation_timeout: u64,
}

/// Read once: TABLE_FORMAT (default auto: follow the table), CONCURRENCY,
/// RESERVE_SECONDS.
struct Env {
    format: FormatSetting,
    settings: Settings,
    function_name: String,
}

fn read_env() -> anyhow::Result<Env> {
    let format: FormatSetting = env_or("TABLE_FORMAT", "auto").parse()?;
    let concurrency: usize = env_or("CONCURRENCY", "16")
        .parse()
        .context("CONCURRENCY must be a positive integer")?;
    let reserve: u64 = env_or("RESERVE_SECONDS", "5")
        .parse()
        .context("RESERVE_SECONDS must be a whole number of seconds")?;
    Ok(Env {
        format,
        settings: Settings {
            concurrency: concurrency.max(1),
            reserve: Duration::from_secs(reserve),
        },
        function_name: env_or("AWS_LAMBDA_FUNCTION_NAME", "indexer"),
    })
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("indexer: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("indexer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let env = read_env()?;
    if std::env::args().len() <= 1 {
        run_lambda(env).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let cli = Cli::parse();
    let (mode, args) = match cli.command {
        Command::Backfill(a) => (WalkMode::Backfill, a),
        Command::Verify(a) => (WalkMode::Verify, a),
    };
    init_tracing(false, "warn");
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    let table = describe_table(&clients.ddb, &args.table).await?;
    let settings = Settings {
        concurrency: args.concurrency.max(1),
        ..env.settings
    };
    let store = Arc::new(DynamoStore::new(&clients, &args.table));
    let deps = Arc::new(Deps::new(
        store.clone(),
        FormatResolver::detect(env.format, store),
        settings,
    ));
    let mut opts = DriveOptions::new(mode, args.segments);
    opts.dry_run = args.dry_run;
    opts.remove_foreign = args.remove_foreign;
    opts.examples = args.examples;
    opts.page_size = args.page_size;
    opts.invocation_timeout = Duration::from_secs(args.invocation_timeout.max(1));

    let bar = progress_bar(&args, table.item_count);
    let ticker = bar.clone().map(|bar| {
        let progress = deps.progress.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let result = drive(deps.clone(), &opts).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.set_position(deps.progress.load(Ordering::Relaxed));
        bar.finish_and_clear();
    }
    let summary = result?;
    if !args.json {
        eprint!("{}", human(&args.table, &summary));
    }
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(exit_code(&summary))
}

/// 0: clean (verify) or done without errors (backfill); 3: verify found
/// drift; 1: errors.
fn exit_code(s: &Summary) -> ExitCode {
    if s.counts.errors > 0 || !s.done {
        return ExitCode::FAILURE;
    }
    match s.mode {
        WalkMode::Verify if !s.clean() => ExitCode::from(EXIT_DRIFT),
        _ => ExitCode::SUCCESS,
    }
}

/// A bar over the table's (approximate) item count, only on a terminal.
fn progress_bar(args: &WalkArgs, item_count: i64) -> Option<ProgressBar> {
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(item_count).unwrap_or(0).max(1)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} items scanned  {rate}  ETA {eta}")
    {
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} items/s", state.per_sec());
            },
        ));
    }
    Some(bar)
}

fn human(table: &str, s: &Summary) -> String {
    let c = &s.counts;
    let (verb, drift_label) = match (s.mode, s.dry_run) {
        (WalkMode::Verify, _) => ("verify", "drift found"),
        (WalkMode::Backfill, true) => ("backfill (dry run)", "drift found, nothing written"),
        (WalkMode::Backfill, false) => ("backfill", "drift repaired"),
        (WalkMode::Copy, _) => ("copy", "errors"),
    };
    let mut out = format!(
        "{verb} of {table} (format {}: {}): {} segments, {} items scanned, {} targets ({} drifted, {} right, {} gone), {} errors\n  {:.1} s, {:.0} items/s, {:.3} requests/item\n",
        s.format,
        s.format_evidence,
        s.segments,
        c.items_scanned,
        c.targets,
        c.drifted_targets,
        c.noop_targets,
        c.missing_targets,
        c.errors,
        s.elapsed_s,
        s.items_per_s,
        s.requests_per_item,
    );
    let repairs = format!(
        "map updates {}, FTS puts {}, FTS deletes {}",
        c.map_updates, c.fts_puts, c.fts_deletes
    );
    let foreign = s.drift.count(Category::ForeignFormat);
    if foreign > 0 {
        out.push_str(&match (s.mode, s.dry_run, c.foreign_removed) {
            (WalkMode::Backfill, false, removed) if removed > 0 => {
                format!("  {removed} FTS items in the other format's layout deleted\n")
            }
            (WalkMode::Backfill, true, _) => format!("  {foreign} FTS items in the other format's layout would be deleted with --remove-foreign\n"),
            _ => format!("  {foreign} FTS items in the other format's layout left in place: `indexer backfill --remove-foreign` deletes them\n"),
        });
    }
    out.push_str(&match (s.mode, s.dry_run) {
        (WalkMode::Backfill, false) => format!("  {} write requests: {repairs}\n", c.writes),
        (WalkMode::Backfill, true) => format!(
            "  nothing written; the backfill would make {} write requests: {repairs}\n",
            c.writes
        ),
        (WalkMode::Verify, _) => format!("  nothing written; a backfill would make {repairs}\n"),
        (WalkMode::Copy, _) => format!("  {} write requests to the target\n", c.writes),
    });
    if !s.drift.is_clean() {
        out.push_str(&format!("  {drift_label}:\n"));
    }
    for cat in Category::ALL {
        if let Some(r) = s.drift.categories.get(&cat).filter(|r| r.count > 0) {
            let name = serde_json::to_value(cat)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            out.push_str(&format!("    {name}: {}\n", r.count));
            for e in &r.examples {
                out.push_str(&format!("      {e}\n"));
            }
        }
    }
    out
}

async fn run_lambda(env: Env) -> anyhow::Result<()> {
    init_tracing(true, "info");
    let table = std::env::var("TABLE_NAME").context("TABLE_NAME is required")?;
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    let store = Arc::new(DynamoStore::new(&clients, &table));
    let mut deps = Deps::new(
        store.clone(),
        FormatResolver::detect(env.format, store),
        env.settings,
    );
    // Migration copy segments (payload mode "copy") write into TARGET_TABLE.
    if let Ok(target) = std::env::var("TARGET_TABLE") {
        deps.target = Some(Arc::new(DynamoStore::new(&clients, &target)));
    }
    let deps = Arc::new(deps);
    let function_name = Arc::new(env.function_name);
    let table = Arc::new(table);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        let function_name = function_name.clone();
        let table = table.clone();
        async move {
            let deadline = deadline_instant(event.context.deadline);
            indexer::handle_event(&deps, event.payload, deadline, &function_name, &table, true)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| anyhow!("lambda runtime: {e}"))
}
