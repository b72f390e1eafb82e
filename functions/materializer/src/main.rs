//! `materializer`: without arguments, the Lambda function (DynamoDB stream
//! and SQS DLQ events); with a subcommand, the local tools `tail` and
//! `replay`. Configuration is read once here; the logic is in the library.

// The Lambda runtime's service future nests deeply.
#![recursion_limit = "256"]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::{Parser, Subcommand};
use lambda_runtime::{service_fn, LambdaEvent};
use materializer::handler::{Deps, Settings};
use materializer::lambda::{handle, handle_json, Event, MetricsSink};
use materializer::replay::replay_queue;
use materializer::tail::{tail, TailOptions};
use mlflow_ddb_aws::{
    describe_table, ClientOptions, Clients, DynamoStore, Queue, SqsQueue, StreamReader,
};
use mlflow_ddb_core::format::FormatSetting;
use mlflow_ddb_engine::{ConfigCache, FormatResolver};
use mlflow_ddb_runtime::{deadline_instant, env_or, init_tracing};

#[derive(Parser)]
#[command(
    name = "materializer",
    about = "DynamoDB Streams consumer for mlflow-dynamodbstore tables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the table's stream and feed it to the handler, like Lambda's event source mapping.
    Tail {
        #[arg(long)]
        table: String,
        /// Exit when every shard is caught up, printing a JSON summary.
        #[arg(long)]
        until_idle: bool,
        /// With --until-idle: exit only once no record has arrived for this many milliseconds.
        #[arg(long, default_value_t = 0)]
        idle_ms: u64,
        /// Stop after this many seconds even if not caught up (the summary's `caught_up` says
        /// which).
        #[arg(long)]
        max_seconds: Option<u64>,
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        /// Checkpoint file (default .cache/materializer/<table>.json).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Start from TRIM_HORIZON and save nothing.
        #[arg(long)]
        no_checkpoint: bool,
        /// On-failure destination and DLQ (SQS queue URL).
        #[arg(long)]
        dlq_url: Option<String>,
        #[arg(long, default_value_t = 3)]
        max_retries: u32,
        #[arg(long)]
        no_bisect: bool,
        /// Deadline of each emulated invocation, seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Wait between polls of a caught-up stream, milliseconds (Lambda's event source
        /// mapping polls each shard four times a second).
        #[arg(long, default_value_t = 250)]
        poll_ms: u64,
    },
    /// Run the handler once on an event file (stream or SQS JSON) and print its response.
    Invoke {
        #[arg(long)]
        table: String,
        /// The event, as Lambda would deliver it.
        #[arg(long)]
        event: PathBuf,
        #[arg(long)]
        dlq_url: Option<String>,
        /// Deadline of the invocation, seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Replay the DLQ: envelopes and on-failure messages; delete what succeeds.
    Replay {
        #[arg(long)]
        dlq_url: String,
        #[arg(long)]
        table: String,
        #[arg(long, default_value_t = 1000)]
        max: u64,
    },
}

struct Env {
    format: FormatSetting,
    settings: Settings,
}

fn read_env() -> anyhow::Result<Env> {
    let format: FormatSetting = env_or("TABLE_FORMAT", "auto").parse()?;
    let concurrency: usize = env_or("CONCURRENCY", "16")
        .parse()
        .context("CONCURRENCY must be a positive integer")?;
    let settings = Settings {
        function_name: env_or("AWS_LAMBDA_FUNCTION_NAME", "materializer"),
        function_version: env_or("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        concurrency: concurrency.max(1),
        ..Settings::default()
    };
    Ok(Env { format, settings })
}

fn deps(clients: &Clients, table: &str, env: &Env, dlq: Option<Arc<dyn Queue>>) -> Deps {
    let store = Arc::new(DynamoStore::new(clients, table));
    Deps {
        store: store.clone(),
        dlq,
        streams: Some(StreamReader::new(clients)),
        format: FormatResolver::detect(env.format, store),
        config: ConfigCache::default(),
        settings: Settings {
            table_name: table.to_owned(),
            ..env.settings.clone()
        },
        migrate: migrate_sink(clients),
    }
}

/// A deployment as a migration's sync (`MIGRATE_TARGET_TABLE` set, and
/// `MIGRATE_DIRECTION` `to-main`, the default, or `to-v0-1`): the stream's
/// records are carried into the target table (`materializer::migrate`).
fn migrate_sink(clients: &Clients) -> Option<materializer::migrate::MigrateSink> {
    use mlflow_ddb_engine::migrate::Direction;
    let target = std::env::var("MIGRATE_TARGET_TABLE").ok()?;
    let direction = match env_or("MIGRATE_DIRECTION", "to-main").as_str() {
        "to-v0-1" => Direction::ToV0_1,
        _ => Direction::ToMain,
    };
    let store = Arc::new(DynamoStore::new(clients, &target));
    Some(materializer::migrate::MigrateSink {
        direction,
        target: store.clone(),
        target_name: target,
        target_format: FormatResolver::detect(
            mlflow_ddb_core::format::FormatSetting::Fixed(direction.target_format()),
            store,
        ),
        target_config: ConfigCache::default(),
        since_ms: std::env::var("MIGRATE_SINCE_MS")
            .ok()
            .and_then(|v| v.parse().ok()),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let env = read_env()?;
    if args.len() <= 1 {
        return run_lambda(env).await;
    }
    init_tracing(false, "info");
    let cli = Cli::parse();
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    match cli.command {
        Command::Tail {
            table,
            until_idle,
            idle_ms,
            max_seconds,
            batch_size,
            checkpoint,
            no_checkpoint,
            dlq_url,
            max_retries,
            no_bisect,
            timeout,
            poll_ms,
        } => {
            let summary = describe_table(&clients.ddb, &table).await?;
            let arn = summary.stream_arn.ok_or_else(|| {
                anyhow!("table {table} has no stream: enable NEW_AND_OLD_IMAGES first")
            })?;
            let dlq: Option<Arc<dyn Queue>> =
                dlq_url.map(|u| Arc::new(SqsQueue::new(&clients, u)) as Arc<dyn Queue>);
            let deps = deps(&clients, &table, &env, dlq.clone());
            let checkpoint = if no_checkpoint {
                None
            } else {
                Some(checkpoint.unwrap_or_else(|| {
                    PathBuf::from(".cache/materializer").join(format!("{table}.json"))
                }))
            };
            let opts = TailOptions {
                stream_arn: arn,
                batch_size: batch_size.clamp(1, 1000),
                until_idle,
                idle_grace: Duration::from_millis(idle_ms),
                max_elapsed: max_seconds.map(Duration::from_secs),
                checkpoint,
                max_retries,
                bisect: !no_bisect,
                invocation_timeout: Duration::from_secs(timeout.max(1)),
                poll_interval: Duration::from_millis(poll_ms.max(1)),
                on_failure: dlq,
                function_arn: format!("local:materializer:{table}"),
                metrics: MetricsSink::Off,
            };
            let reader = StreamReader::new(&clients);
            let summary = tail(&deps, &reader, &opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Command::Invoke {
            table,
            event,
            dlq_url,
            timeout,
        } => {
            let body =
                std::fs::read(&event).with_context(|| format!("reading {}", event.display()))?;
            let event: serde_json::Value =
                serde_json::from_slice(&body).context("the event is not JSON")?;
            let dlq: Option<Arc<dyn Queue>> =
                dlq_url.map(|u| Arc::new(SqsQueue::new(&clients, u)) as Arc<dyn Queue>);
            let deps = deps(&clients, &table, &env, dlq);
            // A table in the other format stops here, before any record.
            deps.format.resolve().await?;
            let deadline = Instant::now() + Duration::from_secs(timeout.max(1));
            let response = handle_json(&deps, event, deadline, MetricsSink::Stderr).await?;
            println!("{response}");
        }
        Command::Replay {
            dlq_url,
            table,
            max,
        } => {
            let dlq = Arc::new(SqsQueue::new(&clients, dlq_url));
            let deps = deps(&clients, &table, &env, Some(dlq.clone()));
            // A table in the other format stops here, before any message.
            deps.format.resolve().await?;
            let summary = replay_queue(&deps, &*dlq, max, Duration::from_secs(60)).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
    }
    Ok(())
}

async fn run_lambda(env: Env) -> anyhow::Result<()> {
    init_tracing(true, "info");
    let table = std::env::var("TABLE_NAME").context("TABLE_NAME is required")?;
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    let dlq: Option<Arc<dyn Queue>> = std::env::var("DLQ_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| Arc::new(SqsQueue::new(&clients, u)) as Arc<dyn Queue>);
    let deps = Arc::new(deps(&clients, &table, &env, dlq));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let deps = deps.clone();
        async move {
            let deadline = deadline_instant(event.context.deadline);
            handle(&deps, event.payload, deadline, MetricsSink::Stdout)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| anyhow!("lambda runtime: {e}"))
}
