//! `preflight check --table T [--function F] [--json]`: is the table ready
//! for (or upgraded to) the v2 functions? Exit 0 when up to date, 1 when
//! not, 2 on error.
//!
//! `preflight enable-stream --table T [--json]`: turn on the
//! `NEW_AND_OLD_IMAGES` stream (idempotent). Exit 0, or 2 on error.
//!
//! AWS settings come from the standard environment (`AWS_PROFILE`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` for a local endpoint).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mlflow_ddb_aws::mappings::Mappings;
use mlflow_ddb_aws::{ClientOptions, Clients, DynamoStore};

#[derive(Parser)]
#[command(
    name = "preflight",
    about = "Upgrade preflight for a mlflow-dynamodbstore table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report stream, TTL, CONFIG items, PITR and (with --function) the
    /// materializer's event source mapping; exit 1 when not up to date.
    Check {
        #[arg(long)]
        table: String,
        /// The materializer's function name or ARN: also check that an
        /// enabled mapping reads the table's current stream.
        #[arg(long)]
        function: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable a NEW_AND_OLD_IMAGES stream on the table (no change when one is on).
    EnableStream {
        #[arg(long)]
        table: String,
        #[arg(long)]
        json: bool,
    },
}

async fn run(cli: Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let opts = ClientOptions::default();
    let clients = Clients::from_env(&opts).await?;
    match cli.command {
        Command::Check {
            table,
            function,
            json,
        } => {
            let store = DynamoStore::new(&clients, table.as_str());
            let mappings = match &function {
                Some(_) => Some(Mappings::from_env(&opts).await?),
                None => None,
            };
            let mapping = mappings.as_ref().zip(function.as_deref());
            let setting = std::env::var("TABLE_FORMAT").unwrap_or_default().parse()?;
            let report = preflight::check(&clients, &store, &table, mapping, setting).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", preflight::render(&report));
            }
            Ok(report.is_up_to_date)
        }
        Command::EnableStream { table, json } => {
            let done = preflight::enable_stream(&clients, &table).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else if done.changed {
                println!(
                    "enable-stream: {} now has a {} stream: {}",
                    done.table, done.stream_view_type, done.stream_arn
                );
            } else {
                println!(
                    "enable-stream: {} already had a {} stream (unchanged): {}",
                    done.table, done.stream_view_type, done.stream_arn
                );
            }
            Ok(true)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let mut msg = format!("preflight: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
