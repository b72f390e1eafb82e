//! `migrate` against the endpoint (`scripts/emulator.sh run`), with both
//! real stores: the 0.1.0 store writes the source (scripts/migrate/history.py
//! and hot_writer.py, `.venv`), the `main` store reads the target
//! (judge.py, check_log.py, `.venv-main`). The binary under test is the
//! built `migrate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mlflow_ddb_aws::testkit::{clients, unique_name};
use mlflow_ddb_aws::{DynamoStore, ShardStart, Store, StreamReader};
use mlflow_ddb_core::item::{AttributeValue, Item};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python(venv: &str) -> PathBuf {
    let p = root().join(venv).join("bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/venv.sh reference main",
        p.display()
    );
    p
}

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("run under scripts/emulator.sh run")
}

fn script(name: &str) -> PathBuf {
    root().join("scripts/migrate").join(name)
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A 0.1.0 history in a new table with a NEW_AND_OLD_IMAGES stream.
fn history(table: &str, dir: &Path) {
    ok(
        Command::new(python(".venv"))
            .arg(script("history.py"))
            .args([&endpoint(), table])
            .arg(dir.join(format!("{table}.history.json")))
            .output()
            .expect("history.py"),
        "history.py",
    );
}

fn migrate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("migrate")
}

/// `migrate args` exits 1 and its message says every one of `says`.
fn assert_refused(args: &[&str], dir: &Path, says: &[&str]) {
    let out = migrate(args, dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?} does not say {s:?}: {err}");
    }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique_name(name));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

/// Every record the table's stream holds (the migration must add none to
/// its source).
async fn stream_records(table: &str) -> usize {
    let c = clients().await;
    let t = mlflow_ddb_aws::describe_table(&c.ddb, table)
        .await
        .expect("describe");
    let arn = t.stream_arn.expect("a stream");
    let r = StreamReader::new(&c);
    let mut n = 0;
    for shard in r.list_shards(&arn).await.expect("shards") {
        let mut it = Some(
            r.shard_iterator(&arn, &shard.shard_id, &ShardStart::TrimHorizon)
                .await
                .expect("iterator"),
        );
        while let Some(i) = it.take() {
            let page = r.get_records(&arn, &i, Some(1000)).await.expect("records");
            if page.records.is_empty() {
                break;
            }
            n += page.records.len();
            it = page.next_iterator;
        }
    }
    n
}

/// Every item of a table but our bookkeeping, by key.
async fn items(table: &str) -> BTreeMap<(String, String), Item> {
    let c = clients().await;
    let s = DynamoStore::new(&c, table);
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = s
            .scan_segment(0, 1, start, None, Some(1000))
            .await
            .expect("scan");
        for i in page.items {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (i.get("PK"), i.get("SK"))
            {
                if !pk.starts_with("OPS#") {
                    out.insert((pk.clone(), sk.clone()), i.clone());
                }
            }
        }
        start = page.last_key;
        if start.is_none() {
            return out;
        }
    }
}

/// What a user sees of a table through a store (judge.py), both stores at
/// once (two processes): (0.1.0 on the source, main on the target, whose
/// `--create-check` then writes an experiment and a run there).
fn judge_both(source: &str, target: &str, dir: &Path) -> (Value, Value) {
    let run = |venv: &str, table: &str, format: &str, create_check: bool| {
        let out = dir.join(format!("{table}.judge.json"));
        let mut cmd = Command::new(python(venv));
        cmd.arg(script("judge.py"))
            .args([&endpoint(), table, format])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if create_check {
            cmd.arg("--create-check");
        }
        (cmd.spawn().expect("judge.py"), out)
    };
    let (a, a_out) = run(".venv", source, "v0.1", false);
    let (b, b_out) = run(".venv-main", target, "main", true);
    let read = |child: std::process::Child, out: PathBuf| -> Value {
        ok(child.wait_with_output().expect("judge.py"), "judge.py");
        serde_json::from_slice(&std::fs::read(&out).expect("judge output")).expect("json")
    };
    (read(a, a_out), read(b, b_out))
}

/// Both dumps normalized ([`normalize`]). Searches by run name: 0.1.0 is
/// wrong there (named case): it keeps the tokens of a run's old names (a
/// rename, or `set_terminated`, which nulls the name) and returns the run
/// for them, e.g. a run named `hot1-renamed-5` for `'%OWL%'`, or a run with
/// no name for `'%renamed%'`. The correct answer is the runs whose name
/// matches the pattern: 0.1.0's answer keeps only those (it never misses
/// one), and the main store's must equal it.
fn comparable_views(mut v01: Value, mut main: Value) -> (Value, Value) {
    let names: BTreeMap<String, String> = v01["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let id = r["run_id"].as_str().unwrap_or_default().to_owned();
            (id, r["run_name"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    if let Some(Value::Object(searches)) = v01.get_mut("searches") {
        for (query, ids) in searches.iter_mut() {
            let Some(matches) = run_name_pattern(query) else {
                continue;
            };
            if let Value::Array(ids) = ids {
                ids.retain(|id| {
                    id.as_str()
                        .and_then(|id| names.get(id))
                        .is_some_and(|name| matches(name))
                });
            }
        }
    }
    normalize(&mut v01);
    normalize(&mut main);
    (v01, main)
}

/// For a judge query `runs [...] attributes.run_name (I)LIKE '<pattern>'`
/// whose pattern is `%x%`, `x%`, `%x` or `x`: whether a name matches it.
fn run_name_pattern(query: &str) -> Option<impl Fn(&str) -> bool> {
    if !query.starts_with("runs") {
        return None;
    }
    let (_, rest) = query.split_once("attributes.run_name ")?;
    let (op, pattern) = rest.split_once(' ')?;
    let fold = match op {
        "LIKE" => false,
        "ILIKE" => true,
        _ => return None,
    };
    let pattern = pattern.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let (any_start, p) = pattern
        .strip_prefix('%')
        .map_or((false, pattern), |p| (true, p));
    let (any_end, p) = p.strip_suffix('%').map_or((false, p), |p| (true, p));
    if p.contains('%') || p.contains('_') {
        return None;
    }
    let lit = if fold { p.to_lowercase() } else { p.to_owned() };
    Some(move |name: &str| {
        let name = if fold {
            name.to_lowercase()
        } else {
            name.to_owned()
        };
        match (any_start, any_end) {
            (true, true) => name.contains(&lit),
            (false, true) => name.starts_with(&lit),
            (true, false) => name.ends_with(&lit),
            (false, false) => name == lit,
        }
    })
}

fn normalize(v: &mut Value) {
    match v {
        // 0.1.0 returns "" where main returns None for an unset string
        // (a version's run_link, a model's description).
        Value::Null => *v = Value::String(String::new()),
        Value::Object(m) => {
            // 0.1.0's get_run returns no dataset inputs at all (a gap of
            // 0.1.0: the items are there, and main shows them).
            m.remove("inputs");
            // A run renamed through set_tag("mlflow.runName"): 0.1.0 keeps
            // the old run_name (its bug), main follows the tag, as MLflow
            // does. The name a user set is the tag's: compare that.
            if let Some(Value::Object(tags)) = m.get_mut("tags") {
                if let Some(name) = tags.remove("mlflow.runName") {
                    m.insert("run_name".into(), name);
                }
            }
            for x in m.values_mut() {
                normalize(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// The first differences between two JSON documents (paths).
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 20 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x
                .keys()
                .chain(y.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(p, q, &format!("{path}.{k}"), out),
                    (p, q) => out.push(format!("{path}.{k}: {p:?} vs {q:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// Runs `migrate` with `args`, SIGKILLs it after `after`, and says whether
/// it was still running then.
fn killed(args: &[&str], dir: &Path, after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("migrate");
    std::thread::sleep(after);
    let running = child.try_wait().expect("wait").is_none();
    if running {
        child.kill().expect("SIGKILL");
    }
    let _ = child.wait();
    running
}

/// One migration as an operator lives it, every property checked on it:
///
/// - **hot**: hot_writer.py keeps writing through the 0.1.0 store while the
///   copy and the syncs run; after it stops, a last sync;
/// - **crash**: the copy is SIGKILLed at several points and restarted (it
///   resumes from its checkpoints), the sync twice;
/// - **the consumer is the judge**: verify and status are clean; every
///   write the writer logged reads back through the main store on the
///   target; the main store shows what the 0.1.0 store shows of the source
///   (judge.py; the stores' own differences named in `normalize`), and can
///   write there;
/// - **same as uninterrupted**: a second, uninterrupted copy of the final
///   source equals the killed one item for item (bookkeeping aside), and
///   the source's stream holds no record more after it: nothing is written
///   to the source;
/// - unknown families are copied unchanged and counted;
/// - **rollback**: what the main store wrote into the target after the
///   cutover is carried back by `sync --reverse`, and the 0.1.0 store shows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_hot_migration_killed_and_resumed_shows_the_main_store_what_the_v0_1_store_showed() {
    let dir = tempdir("migrate-e2e");
    // Where the time goes (printed with --nocapture, and on failure).
    let t0 = std::time::Instant::now();
    let lap = |what: &str| eprintln!("[{:>6.1} s] {what}", t0.elapsed().as_secs_f64());
    let (s, t, again) = (
        unique_name("mig-src"),
        unique_name("mig-dst"),
        unique_name("mig-ref"),
    );
    history(&s, &dir);
    lap("history written by the 0.1.0 store");
    // An item of a family no store writes: copied unchanged, counted.
    let c = clients().await;
    let mut odd = Item::default();
    odd.insert("PK".into(), AttributeValue::S("FUTURE#1".into()));
    odd.insert("SK".into(), AttributeValue::S("THING#ü/#".into()));
    odd.insert("payload".into(), AttributeValue::S("kept as is".into()));
    DynamoStore::new(&c, &s)
        .batch_write(vec![odd.clone()], Vec::new())
        .await
        .expect("put");

    let log = dir.join("hot.json");
    let mut writer = Command::new(python(".venv"))
        .arg(script("hot_writer.py"))
        .args([&endpoint(), s.as_str()])
        .arg(&log)
        .args(["--seconds", "40", "--rate", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hot_writer.py");
    let copy = [
        "copy", "--source", &s, "--target", &t, "--to", "main", "--json",
    ];
    let mut kills = 0;
    for (i, ms) in [1500u64, 2500, 3500, 5000].into_iter().enumerate() {
        let mut args = copy.to_vec();
        args.extend(["--page-size", "40", "--segments", "2"]);
        kills += usize::from(killed(
            &args,
            &dir,
            Duration::from_millis(ms + 97 * i as u64),
        ));
    }
    assert!(
        kills >= 2,
        "only {kills} copies were still running to be killed"
    );
    lap("copies killed");
    let copied = ok(migrate(&copy, &dir), "copy after the kills");
    lap("copy resumed and done");
    let copied = json_of(&copied);
    assert_eq!(copied["copy_done"], true);
    assert_eq!(copied["resumed"], true);
    assert_eq!(copied["copy"]["counts"]["copy"]["unknown"], 1, "{copied}");
    let started_at = copied["started_at_ms"].as_i64().expect("started_at_ms");
    let sync = ["sync", "--source", &s, "--target", &t, "--until-idle"];
    for ms in [700u64, 1500] {
        let mut args = sync.to_vec();
        args.extend(["--batch-size", "5"]);
        killed(&args, &dir, Duration::from_millis(ms));
    }
    ok(migrate(&sync, &dir), "sync while the writer writes");
    assert!(
        writer.wait().expect("writer").success(),
        "hot_writer.py failed"
    );
    lap("writer done");
    ok(migrate(&sync, &dir), "the last sync");
    lap("last sync");

    let st = migrate(&["status", "--source", &s, "--target", &t, "--json"], &dir);
    assert_eq!(
        st.status.code(),
        Some(0),
        "status: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    assert_eq!(json_of(&st)["is_up_to_date"], true);
    let v = migrate(&["verify", "--source", &s, "--target", &t, "--json"], &dir);
    assert_eq!(
        v.status.code(),
        Some(0),
        "verify: {}",
        String::from_utf8_lossy(&v.stdout)
    );

    lap("status and verify");
    // Writes made after the copy's position was taken: only the sync could
    // carry them.
    let writes: Value = serde_json::from_slice(&std::fs::read(&log).expect("log")).expect("json");
    let after = writes["log"].as_array().map_or(0, |l| {
        l.iter()
            .filter(|w| w["t_ms"].as_i64().is_some_and(|t| t > started_at))
            .count()
    });
    assert!(
        after >= 1,
        "no write landed after the copy started: {writes}"
    );
    // The same source copied again without interruption: the same target,
    // and not one record more in the source's stream.
    let before = stream_records(&s).await;
    ok(
        migrate(
            &["copy", "--source", &s, "--target", &again, "--to", "main"],
            &dir,
        ),
        "uninterrupted copy",
    );
    ok(
        migrate(
            &["sync", "--source", &s, "--target", &again, "--until-idle"],
            &dir,
        ),
        "uninterrupted sync",
    );
    lap("uninterrupted copy and sync");
    let (a, b) = (items(&t).await, items(&again).await);
    let differ: Vec<_> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .take(10)
        .collect();
    assert!(
        differ.is_empty(),
        "killed and uninterrupted targets differ at {differ:?}"
    );
    assert_eq!(
        a.get(&("FUTURE#1".to_owned(), "THING#ü/#".to_owned())),
        Some(&odd),
        "the unknown item is copied unchanged"
    );
    assert_eq!(
        stream_records(&s).await,
        before,
        "the migration wrote to its source"
    );

    ok(
        Command::new(python(".venv-main"))
            .arg(script("check_log.py"))
            .args([&endpoint(), t.as_str()])
            .arg(&log)
            .output()
            .expect("check_log.py"),
        "check_log.py through the main store on the target",
    );

    lap("targets compared; check_log.py");
    let (v01, main) = judge_both(&s, &t, &dir);
    lap("judge.py on both stores");
    let (seen_v01, seen_main) = comparable_views(v01, main);
    let mut d = Vec::new();
    diff(&seen_v01, &seen_main, "", &mut d);
    assert!(
        d.is_empty(),
        "the main store on the target shows otherwise:\n{}",
        d.join("\n")
    );

    // Rollback a day later loses nothing: what the main store wrote into the
    // target after the cutover (the judge's create-check: an experiment and
    // a run) is carried back, and the 0.1.0 store on the source shows it.
    ok(
        migrate(
            &[
                "sync",
                "--source",
                &s,
                "--target",
                &t,
                "--reverse",
                "--until-idle",
            ],
            &dir,
        ),
        "migrate sync --reverse",
    );
    let seen = ok(
        Command::new(python(".venv"))
            .args(["-c", ROLLBACK_CHECK, &endpoint(), &s])
            .output()
            .expect("rollback check"),
        "the 0.1.0 store reading what was written after the cutover",
    );
    let seen: Value = serde_json::from_slice(&seen.stdout).expect("json");
    assert_eq!(seen["experiments"], 1, "{seen}");
    assert_eq!(seen["runs_tagged"], 1, "{seen}");
    lap("reverse sync and rollback check");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Through the 0.1.0 store on the source: the create-check's experiment
/// (by name) and its run (by tag).
const ROLLBACK_CHECK: &str = r#"
import json, os, sys
for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
    os.environ.setdefault(k, v)
endpoint, table = sys.argv[1], sys.argv[2]
from mlflow.tracking import MlflowClient
from mlflow.entities import ViewType
uri = f"dynamodb://{endpoint}/{table}"
c = MlflowClient(tracking_uri=uri, registry_uri=uri)
exps = [e for e in c.search_experiments(view_type=ViewType.ALL) if e.name.startswith("judge create-check")]
runs = []
for e in exps:
    runs += c.search_runs([e.experiment_id], filter_string="tags.check = 'ok'", run_view_type=ViewType.ALL)
print(json.dumps({"experiments": len(exps), "runs_tagged": len(runs)}))
"#;

/// Wrong inputs stop with a message that says what to do, and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_tables_are_refused_with_the_next_step() {
    let dir = tempdir("migrate-refusals");
    let c = clients().await;
    // A main-format source.
    let main = unique_name("mig-main");
    mlflow_ddb_aws::create_table(&c.ddb, &main, "main", true)
        .await
        .expect("main table");
    assert_refused(
        &[
            "copy", "--source", &main, "--target", "x-new", "--to", "main",
        ],
        &dir,
        &["is in format main"],
    );
    // A v0.1 source without a stream.
    let bare = unique_name("mig-bare");
    mlflow_ddb_aws::create_table(&c.ddb, &bare, "v0.1", false)
        .await
        .expect("v0.1 table");
    assert_refused(
        &[
            "copy", "--source", &bare, "--target", "x-new", "--to", "main",
        ],
        &dir,
        &["NEW_AND_OLD_IMAGES", "enable-stream"],
    );
    // A target that holds someone else's data.
    let src = unique_name("mig-src");
    mlflow_ddb_aws::create_table(&c.ddb, &src, "v0.1", true)
        .await
        .expect("v0.1 table");
    let busy = unique_name("mig-busy");
    mlflow_ddb_aws::create_table(&c.ddb, &busy, "main", true)
        .await
        .expect("main table");
    let mut item = Item::default();
    item.insert("PK".into(), AttributeValue::S("EXP#1".into()));
    item.insert("SK".into(), AttributeValue::S("E#META".into()));
    DynamoStore::new(&c, &busy)
        .batch_write(vec![item], Vec::new())
        .await
        .expect("put");
    assert_refused(
        &["copy", "--source", &src, "--target", &busy, "--to", "main"],
        &dir,
        &["is not empty"],
    );
    // A sync before any copy.
    assert_refused(
        &["sync", "--source", &src, "--target", &busy, "--until-idle"],
        &dir,
        &["migrate copy"],
    );
    // A copy that started more than 24 hours ago, never synced: the stream
    // was trimmed since.
    let src2 = unique_name("mig-src");
    mlflow_ddb_aws::create_table(&c.ddb, &src2, "v0.1", true)
        .await
        .expect("v0.1 table");
    let old = unique_name("mig-old");
    ok(
        migrate(
            &["copy", "--source", &src2, "--target", &old, "--to", "main"],
            &dir,
        ),
        "copy of an empty table",
    );
    let old_store = DynamoStore::new(&c, &old);
    let mut meta: migrate::ops::MigrationMeta = migrate::ops::load(&old_store, "META")
        .await
        .expect("meta")
        .expect("a migration");
    meta.started_at_ms -= migrate::STREAM_RETENTION_MS + 60_000;
    migrate::ops::save(&old_store, "META", &meta)
        .await
        .expect("age it");
    assert_refused(
        &["sync", "--source", &src2, "--target", &old, "--until-idle"],
        &dir,
        &["trimmed"],
    );
    // Nothing was written to the sources.
    assert_eq!(stream_records(&src).await, 0);
    assert_eq!(stream_records(&src2).await, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The copy as AWS runs it: `migrate copy --prepare`, then the indexer's
/// Lambda entry invoked per segment with `mode: copy` until done (what the
/// state machine's Map does), then `migrate copy` again: it finds every
/// segment done in the target's bookkeeping, copies nothing again, and
/// rebuilds the derived state.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_run_by_the_indexer_lambda_is_seen_and_finished_by_the_cli() {
    let dir = tempdir("migrate-lambda");
    let c = clients().await;
    let (s, t) = (unique_name("mig-src"), unique_name("mig-dst"));
    mlflow_ddb_aws::create_table(&c.ddb, &s, "v0.1", true)
        .await
        .expect("v0.1 table");
    let source = Arc::new(DynamoStore::new(&c, &s));
    let mut puts = Vec::new();
    for e in 1..=30 {
        let pk = format!("EXP#{e}");
        puts.push(item(
            &pk,
            "E#META",
            &[
                ("name", &format!("experiment {e}")),
                ("lifecycle_stage", "active"),
            ],
        ));
        puts.push(item(
            &pk,
            "E#TAG#team",
            &[("key", "team"), ("value", "blue")],
        ));
        puts.push(item(
            &pk,
            &format!("R#r{e}"),
            &[("run_name", "quiet lynx"), ("lifecycle_stage", "active")],
        ));
    }
    source.batch_write(puts, Vec::new()).await.expect("load");
    let prepared = ok(
        migrate(
            &[
                "copy",
                "--source",
                &s,
                "--target",
                &t,
                "--to",
                "main",
                "--segments",
                "2",
                "--prepare",
            ],
            &dir,
        ),
        "copy --prepare",
    );
    assert_eq!(json_of(&prepared)["segments"], 2);
    let target = Arc::new(DynamoStore::new(&c, &t));
    let deps = indexer::Deps::copy(
        source.clone(),
        mlflow_ddb_engine::FormatResolver::fixed(mlflow_ddb_core::format::TableFormat::V0_1),
        target.clone(),
        indexer::Settings::default(),
    );
    for segment in 0..2 {
        let mut payload = serde_json::json!({
            "mode": "copy", "segment": segment, "total_segments": 2, "page_size": 10
        });
        while payload["done"] != true {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            payload = indexer::handle_event(&deps, payload, deadline, "indexer", &s, false)
                .await
                .expect("invocation");
        }
    }
    let st = migrate(&["status", "--source", &s, "--target", &t, "--json"], &dir);
    assert_eq!(
        st.status.code(),
        Some(3),
        "the copy is not complete before the CLI finishes it"
    );
    let st = json_of(&st);
    assert_eq!(
        (st["segments_done"].as_u64(), st["copy_done"].as_bool()),
        (Some(2), Some(false)),
        "{st}"
    );
    let finished = ok(
        migrate(
            &[
                "copy", "--source", &s, "--target", &t, "--to", "main", "--json",
            ],
            &dir,
        ),
        "copy after the Lambda segments",
    );
    let f = json_of(&finished);
    assert_eq!(
        (f["resumed"].as_bool(), f["copy_done"].as_bool()),
        (Some(true), Some(true)),
        "{f}"
    );
    assert_eq!(f["copy"]["counts"]["copy"]["copied"], 90, "{f}");
    let v = migrate(&["verify", "--source", &s, "--target", &t, "--json"], &dir);
    assert_eq!(
        v.status.code(),
        Some(0),
        "verify: {}",
        String::from_utf8_lossy(&v.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn item(pk: &str, sk: &str, attrs: &[(&str, &str)]) -> Item {
    let mut i = Item::default();
    i.insert("PK".into(), AttributeValue::S(pk.into()));
    i.insert("SK".into(), AttributeValue::S(sk.into()));
    for (k, v) in attrs {
        i.insert((*k).into(), AttributeValue::S((*v).into()));
    }
    i
}
