//! The `fts-tokens` binary, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fts-tokens"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fts-tokens");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait fts-tokens")
}

fn check(args: &[&str], stdin: &str, expected_stdout: &str) {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected_stdout);
}

#[test]
fn prints_one_object_per_line_with_levels_in_format_order() {
    check(
        &[],
        "Bold Zebra\n\nthe\n",
        concat!(
            r#"{"W":["bold","zebra"],"3":["bol","bra","ebr","old","zeb"]}"#,
            "\n",
            r#"{"W":[],"3":[]}"#,
            "\n",
            r#"{"W":[],"3":["the"]}"#,
            "\n",
        ),
    );
    check(
        &["--format", "main"],
        "Bold Zebra\n",
        concat!(
            r#"{"W":["bold","zebra"],"3":["bol","bra","ebr","old","zeb"],"2":["ld","ra"]}"#,
            "\n"
        ),
    );
    check(
        &["--format=v0.1"],
        "İstanbul",
        concat!(
            r#"{"W":["stanbul"],"3":["anb","bul","nbu","sta","tan"]}"#,
            "\n"
        ),
    );
}

#[test]
fn bad_flags_are_refused_with_usage() {
    for args in [&["--format", "v9"][..], &["--frmat"], &["--format"]] {
        let out = run(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage: fts-tokens"), "{err}");
    }
    let out = run(&["--format", "v9"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"v0.1\" and \"main\""));
}

#[test]
fn help_prints_usage() {
    let out = run(&["--help"], "");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: fts-tokens"));
}
