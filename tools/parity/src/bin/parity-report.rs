//! `parity-report [--fixtures DIR]`: replay the reference store's vectors
//! (`tests/fixtures/parity`) and print one line per format and category:
//! `<format> <category>: <mismatches>/<vectors> mismatches`, the first few
//! mismatches in detail, and a final verdict. Exits non-zero on any mismatch,
//! on a missing file, or on a file with no vectors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mlflow_ddb_core::format::TableFormat;
use parity::{check_jsonl, Category};

const USAGE: &str = "usage: parity-report [--fixtures DIR]

Replays the parity vectors recorded from the reference store and prints
mismatches per format and category. DIR defaults to the repository's
tests/fixtures/parity.";

fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity")
}

fn read_gz(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

fn main() -> ExitCode {
    let mut dir = default_dir();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--fixtures" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => {
                    eprintln!("parity-report: --fixtures needs a directory\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("parity-report: unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let (mut vectors, mut mismatches, mut failed_files) = (0usize, 0usize, 0usize);
    for format in TableFormat::ALL {
        for &category in Category::for_format(format) {
            let path = dir.join(format.as_str()).join(category.file_name());
            let report = match read_gz(&path) {
                Ok(text) => check_jsonl(format, category, &text),
                Err(e) => {
                    println!("{format} {category}: cannot read vectors: {e}");
                    failed_files += 1;
                    continue;
                }
            };
            println!("{report}");
            for m in &report.details {
                println!("  line {}: {}", m.line, m.detail);
            }
            if report.vectors == 0 {
                println!("  no vectors");
            }
            if !report.is_clean() {
                failed_files += 1;
            }
            vectors += report.vectors;
            mismatches += report.mismatches;
        }
    }
    let verdict = if failed_files == 0 { "OK" } else { "FAIL" };
    println!("parity {verdict}: {mismatches}/{vectors} mismatches, {failed_files} failing files");
    if failed_files == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
