//! The operator story, with the real reference store (mlflow-dynamodbstore
//! 0.1.0 from the project venv) on the local endpoint:
//!
//! 1. The store writes 6 runs with tags `team.name` (3 `risk`) and `note`
//!    (3 containing `zebra`); ``tags.`team.name` = 'risk'`` finds 3.
//! 2. An operator adds the pattern `team.*` with the reference CLI: a fresh
//!    store process now finds 0 (it searches the runs' `tags` maps, which
//!    the old runs lack).
//! 3. The operator enables `run_tag_value` FTS; 2 new runs are written:
//!    `tags.note LIKE '%zebra%'` finds the 2 new ones only.
//! 4. `indexer verify` reports exactly that drift (and exits 3); `indexer
//!    backfill` repairs it; the same searches in a fresh process find every
//!    matching run, old and new; `indexer verify` is clean (exit 0); a second
//!    backfill writes nothing.
//!
//! Store-side steps: `scripts/demo/indexer_story.py` (also `make demo`).
//! Run with `scripts/emulator.sh run -- cargo test -p indexer --test story`.
//!
//! The same for format `main` on a table the `main` store itself wrote
//! (`scripts/venv.sh main`): see the last test.

#[path = "../../materializer/tests/common/main_store.rs"]
mod main_store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use main_store::{main_derived, run_session, strip_main, table_diff};
use mlflow_ddb_aws::testkit::{self, unique_name};
use mlflow_ddb_aws::{DynamoStore, Store};
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::fts::token_set;
use mlflow_ddb_core::item::{AttributeValue, ItemKey};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/venv.sh emulator reference ({})",
        py.display(),
        testkit::HOW_TO_RUN
    );
    py
}

/// The store side, in a fresh Python process: its JSON answer.
fn story(command: &str, table: &str) -> Value {
    let out = Command::new(python())
        .arg(root().join("scripts/demo/indexer_story.py"))
        .args([command, "--table", table])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run indexer_story.py");
    assert!(
        out.status.success(),
        "indexer_story.py {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "indexer_story.py {command}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn searches(table: &str) -> (u64, u64, u64) {
    let v = story("search", table);
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (n("runs"), n("team_risk"), n("note_zebra"))
}

/// The reference's admin CLI (reaches the endpoint through AWS_ENDPOINT_URL).
fn reference_cli(args: &[&str], table: &str) {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let out = Command::new(root().join(".venv/bin/mlflow-dynamodbstore"))
        .args(args)
        .args(["--table", table, "--region", &region])
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run mlflow-dynamodbstore");
    assert!(
        out.status.success(),
        "mlflow-dynamodbstore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `indexer <mode> --table T --json ...`: exit code and JSON summary.
fn indexer(mode: &str, table: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_indexer"))
        .args([
            mode,
            "--table",
            table,
            "--segments",
            "3",
            "--json",
            "--examples",
            "1000",
        ])
        .output()
        .expect("run indexer");
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "indexer {mode}: {e}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), summary)
}

fn examples(summary: &Value, category: &str) -> BTreeSet<String> {
    summary["drift"]["categories"][category]["examples"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn count(summary: &Value, category: &str) -> u64 {
    summary["drift"]["categories"][category]["count"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn adding_a_pattern_hides_old_runs_until_the_indexer_backfills() {
    testkit::endpoint();
    let table = unique_name("story");

    // 1. Six runs, written by the reference store.
    let seeded = story("seed", &table);
    let exp = seeded["experiment_id"]
        .as_str()
        .expect("experiment id")
        .to_owned();
    let old_runs: Vec<String> = seeded["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    assert_eq!(old_runs.len(), 6);
    assert_eq!(searches(&table), (6, 3, 0));

    // 2. The pattern: old runs vanish from the search.
    reference_cli(&["denormalize-tags", "add", "team.*"], &table);
    assert_eq!(
        searches(&table),
        (6, 0, 0),
        "team.* makes old runs invisible"
    );

    // 3. Value FTS, then two new runs: only those are found.
    reference_cli(&["fts-trigrams", "add", "run_tag_value"], &table);
    story("write-new", &table);
    assert_eq!(
        searches(&table),
        (8, 2, 2),
        "only runs written after the change"
    );

    // 4a. verify: exactly the drift of the 6 old runs (their team.name map
    // entries, the FTS items of their tag values), plus the reference's own
    // gap on the seeded default experiment (no FTS items for its name).
    let (code, v) = indexer("verify", &table);
    assert_eq!(code, 3, "verify exits 3 on drift: {v}");
    let pk = format!("EXP#{exp}");
    let expected_entries: BTreeSet<String> = old_runs
        .iter()
        .map(|r| format!("{pk}/R#{r} tags[team.name]"))
        .collect();
    assert_eq!(examples(&v, "missing_map_entries"), expected_entries);
    for c in [
        "wrong_map_values",
        "stale_map_entries",
        "extra_fts_items",
        "errors",
    ] {
        assert_eq!(count(&v, c), 0, "{c}: {v}");
    }
    // Missing FTS items per old run: a forward and a reverse item per token
    // of each of its tag values, counted from the table itself.
    let clients = testkit::clients().await;
    let store = DynamoStore::new(&clients, &table);
    let profile = Profile::of(TableFormat::V0_1);
    let mut expected_fts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &old_runs {
        let tags = store
            .query_prefix(&pk, &format!("R#{r}#TAG#"), true, None)
            .await
            .expect("tags");
        let n: usize = tags
            .iter()
            .filter_map(|t| match t.get("value") {
                Some(AttributeValue::S(s)) => Some(2 * token_set(profile, s).len()),
                _ => None,
            })
            .sum();
        expected_fts.insert(format!("{pk}/R#{r}"), n);
    }
    expected_fts.insert("EXP#0/E#META".into(), 12);
    let expected_fts_examples: BTreeSet<String> = expected_fts
        .iter()
        .map(|(t, n)| format!("{t} ×{n}"))
        .collect();
    assert_eq!(examples(&v, "missing_fts_items"), expected_fts_examples);
    let missing_fts: usize = expected_fts.values().sum();
    assert_eq!(count(&v, "missing_fts_items"), missing_fts as u64);
    assert_eq!(v["counts"]["drifted_targets"], 7);

    // 4b. backfill, then the same searches in a fresh process.
    let (code, b) = indexer("backfill", &table);
    assert_eq!(code, 0, "{b}");
    assert_eq!(b["counts"]["fts_puts"], missing_fts as u64);
    assert_eq!(b["counts"]["map_updates"], 6);
    assert_eq!(
        searches(&table),
        (8, 5, 5),
        "every matching run, old and new"
    );

    // 4c. Clean, and idempotent.
    let (code, v) = indexer("verify", &table);
    assert_eq!(code, 0, "verify is clean: {v}");
    let (code, again) = indexer("backfill", &table);
    assert_eq!(code, 0);
    assert_eq!(again["counts"]["writes"], 0, "{again}");
}

// ----- format `main`: the `main` store itself (.venv-main) -----------------

/// The same story on a table written by the `main` store itself (MLflow's
/// API, tests/coexist_main.py `both` of the materializer; `scripts/venv.sh
/// main`), the indexer left to find the format:
///
/// 1. `verify` on the store's own table finds exactly the store's known
///    gaps and nothing else: the run renamed through its `mlflow.runName`
///    tag (a bug of `main`: its new name's tokens missing, its old name's
///    and the tag's old value's left) and the seeded experiment's name (the
///    seed indexes nothing). Every other map entry, FTS item and run name
///    the store wrote is what our planner wants.
/// 2. Drift: every derived item removed (FTS items; the `tags`,
///    `tags_lower`, `tags_lower_rev` maps emptied; the runs' `run_name` /
///    `lsi4sk` that `main` syncs from the tag removed): `verify` counts all
///    of it.
/// 3. `backfill` restores the store's table exactly, item for item, with
///    those two gaps corrected; `verify` is then clean and a second
///    `backfill` writes nothing.
#[tokio::test]
async fn main_store_table_is_verified_and_backfilled_to_the_stores_state() {
    testkit::endpoint();
    let table = unique_name("story-main");
    let session = run_session(&root(), "both", &table);
    let case = session.run_name.as_ref().expect("the renamed run");
    let clients = testkit::clients().await;
    let store = DynamoStore::new(&clients, &table);
    let written = testkit::scan_all(&store).await;
    case.assert_store_bug(&written);
    let expected = session.corrected(&written);

    // 1. The store's own table: only its known gaps.
    let (code, v) = indexer("verify", &table);
    assert_eq!(code, 3, "{v}");
    let run = case.target();
    let default_fts = session.default_experiment.len();
    assert_eq!(
        examples(&v, "missing_fts_items"),
        BTreeSet::from([
            format!("EXP#0/E#META ×{default_fts}"),
            format!("{run} ×{}", case.missing().len()),
        ])
    );
    assert_eq!(
        examples(&v, "extra_fts_items"),
        BTreeSet::from([format!("{run} ×{}", case.stale().len())])
    );
    for c in [
        "missing_map_entries",
        "wrong_map_values",
        "stale_map_entries",
        "stale_attributes",
        "foreign_format",
        "errors",
    ] {
        assert_eq!(count(&v, c), 0, "{c}: {v}");
    }
    assert_eq!(v["counts"]["drifted_targets"], 2, "{v}");

    // 2. Drift: no derived state at all.
    let raw = strip_main(&written);
    let gone: Vec<ItemKey> = written
        .keys()
        .filter(|k| !raw.contains_key(*k))
        .cloned()
        .collect();
    let changed: Vec<_> = raw
        .iter()
        .filter(|(k, i)| written.get(*k) != Some(*i))
        .map(|(_, i)| i.clone())
        .collect();
    assert!(!gone.is_empty() && !changed.is_empty());
    store.batch_write(changed, gone).await.expect("strip");
    let want = main_derived(&expected);
    let (code, v) = indexer("verify", &table);
    assert_eq!(code, 3, "{v}");
    assert_eq!(count(&v, "missing_fts_items"), want.fts.len() as u64, "{v}");
    assert_eq!(
        count(&v, "missing_map_entries"),
        want.map_entries.len() as u64,
        "{v}"
    );
    assert_eq!(
        count(&v, "stale_attributes"),
        want.run_names.len() as u64,
        "{v}"
    );
    for c in ["extra_fts_items", "wrong_map_values", "errors"] {
        assert_eq!(count(&v, c), 0, "{c}: {v}");
    }

    // 3. backfill: the store's table, its gaps corrected.
    let (code, b) = indexer("backfill", &table);
    assert_eq!(code, 0, "{b}");
    assert_eq!(b["counts"]["fts_puts"], want.fts.len() as u64, "{b}");
    assert_eq!(b["counts"]["fts_deletes"], 0, "{b}");
    let actual = testkit::scan_all(&store).await;
    let d = table_diff(&expected, &actual);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));

    let (code, v) = indexer("verify", &table);
    assert_eq!(code, 0, "verify is clean: {v}");
    let (code, again) = indexer("backfill", &table);
    assert_eq!(code, 0);
    assert_eq!(again["counts"]["writes"], 0, "{again}");
}
