//! `fts-tokens [--format v0.1|main]`: for every line of stdin, print one JSON
//! object mapping each FTS level of the format (in its order) to the sorted
//! tokens the reference store would index that line under, e.g.
//! `{"W":["bold","zebra"],"3":["bol","bra","ebr","old","zeb"]}`.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::fts;

const USAGE: &str = "usage: fts-tokens [--format v0.1|main]

Reads lines on stdin and prints, per line, a JSON object mapping each FTS
level of the table format (default v0.1) to its sorted token list.";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("fts-tokens: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut format = TableFormat::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--format" => match args.next() {
                Some(v) => v,
                None => return usage_error("--format needs a value"),
            },
            other => match other.strip_prefix("--format=") {
                Some(v) => v.to_owned(),
                None => return usage_error(&format!("unknown argument {other:?}")),
            },
        };
        format = match value.parse() {
            Ok(f) => f,
            Err(e) => return usage_error(&e.to_string()),
        };
    }

    let profile = Profile::of(format);
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("fts-tokens: cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Written by hand: levels in profile order (a JSON map would sort them).
        let mut object = String::from("{");
        for (n, &level) in profile.levels().iter().enumerate() {
            let tokens: Vec<String> = fts::tokens(profile, level, &line).into_iter().collect();
            if n > 0 {
                object.push(',');
            }
            object.push_str(&format!("\"{level}\":{}", serde_json::Value::from(tokens)));
        }
        object.push('}');
        if writeln!(out, "{object}").is_err() {
            // stdout closed (e.g. piped into `head`): stop quietly.
            return ExitCode::SUCCESS;
        }
    }
    // A flush error means stdout went away; nothing is left to report to.
    let _ = out.flush();
    ExitCode::SUCCESS
}
