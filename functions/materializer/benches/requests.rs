//! Write requests per changed target, and write→materialized lag, on the
//! local endpoint (run under `scripts/emulator.sh run`). Prints figures;
//! asserts nothing about speed.
//!
//! 1. tags on existing targets: 100 experiments get 20 tags each (2,000
//!    records), then tailed once;
//! 2. fresh entities: 100 new experiments with 5 tags each (name FTS items
//!    and map entries);
//! 3. co-existence: the reference store's own session (tests/coexist.py),
//!    everything already right;
//! 4. lag: `tail` running (100 ms poll when idle, like an event source
//!    mapping's polling), one tag written at a time, polled until its map
//!    entry appears.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use materializer::handler::{Deps, Settings};
use materializer::lambda::MetricsSink;
use materializer::tail::{tail, TailOptions, TailSummary};
use mlflow_ddb_aws::testkit::{clients, item, s, unique_name, TestTable};
use mlflow_ddb_aws::{describe_table, Store, StreamReader};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, ItemKey};
use mlflow_ddb_engine::{ConfigCache, MeteredStore, RequestCounts};

fn deps(store: Arc<dyn Store>) -> Deps {
    Deps {
        store,
        dlq: None,
        streams: None,
        format: mlflow_ddb_engine::FormatResolver::fixed(TableFormat::V0_1),
        config: ConfigCache::default(),
        settings: Settings::default(),
        migrate: None,
    }
}

fn opts(arn: &str, until_idle: bool, checkpoint: Option<PathBuf>) -> TailOptions {
    TailOptions {
        stream_arn: arn.to_owned(),
        batch_size: 100,
        until_idle,
        idle_grace: Duration::ZERO,
        max_elapsed: None,
        checkpoint,
        max_retries: 3,
        bisect: true,
        invocation_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(100),
        on_failure: None,
        function_arn: "bench".into(),
        metrics: MetricsSink::Off,
    }
}

async fn metered_tail(table: &TestTable, checkpoint: &Path) -> (TailSummary, RequestCounts) {
    let m = Arc::new(MeteredStore::new(Arc::new(table.store())));
    let d = deps(m.clone());
    let reader = StreamReader::new(&table.clients);
    let arn = table.stream_arn().expect("stream");
    let summary = tail(
        &d,
        &reader,
        &opts(arn, true, Some(checkpoint.to_path_buf())),
    )
    .await
    .expect("tail");
    (summary, m.counts())
}

fn report(label: &str, s: &TailSummary, counts: &RequestCounts) {
    let writes = counts.writes();
    let changed = s.stats.targets - s.stats.noop_targets - s.stats.missing_targets;
    let per = if changed == 0 {
        0.0
    } else {
        writes as f64 / changed as f64
    };
    println!(
        "{label}: {} records, {} targets reconciled, {changed} changed, {writes} write requests => {per:.2} per changed target ({} no-op targets)",
        s.stats.records, s.stats.targets, s.stats.noop_targets
    );
    let fts = s.stats.fts_puts + s.stats.fts_deletes;
    let derived = changed + fts;
    println!(
        "  of which {} UpdateItem ({:.2} per changed target) and {} BatchWriteItem for {fts} FTS items ({:.1} items per request); {:.3} write requests per changed derived item (map or FTS item)",
        counts.update,
        if changed == 0 { 0.0 } else { counts.update as f64 / changed as f64 },
        counts.batch_write,
        if counts.batch_write == 0 { 0.0 } else { fts as f64 / counts.batch_write as f64 },
        if derived == 0 { 0.0 } else { writes as f64 / derived as f64 },
    );
}

fn tag(pk: &str, key: &str, value: &str) -> mlflow_ddb_core::item::Item {
    item(
        pk,
        &format!("E#TAG#{key}"),
        [("key", s(key)), ("value", s(value))],
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: the
    // measurement needs minutes and the emulator; only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("requests bench: skipped (run with cargo bench)");
        return;
    }
    let dir = std::env::temp_dir().join(unique_name("mat-bench"));
    let _ = std::fs::create_dir_all(&dir);

    // 1 and 2 on one table.
    let table = TestTable::new("v0.1", true).await;
    let store = table.store();
    let ck = dir.join("ck.json");
    let metas: Vec<_> = (0..100)
        .map(|e| {
            item(
                &format!("EXP#b{e:03}"),
                "E#META",
                [
                    ("name", s(format!("bench {e}"))),
                    ("tags", AttributeValue::M(Default::default())),
                ],
            )
        })
        .collect();
    store.batch_write(metas, vec![]).await.expect("metas");
    let _ = metered_tail(&table, &ck).await; // names indexed; not measured
    let tags: Vec<_> = (0..100)
        .flat_map(|e| {
            (0..20).map(move |t| tag(&format!("EXP#b{e:03}"), &format!("mlflow.t{t:02}"), "value"))
        })
        .collect();
    store.batch_write(tags, vec![]).await.expect("tags");
    let (s1, w1) = metered_tail(&table, &ck).await;
    report("tags on existing targets", &s1, &w1);

    let mut fresh = Vec::new();
    for e in 100..200 {
        let pk = format!("EXP#b{e:03}");
        fresh.push(item(
            &pk,
            "E#META",
            [
                ("name", s(format!("fresh experiment {e}"))),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ));
        for t in 0..5 {
            fresh.push(tag(&pk, &format!("mlflow.f{t}"), "v"));
        }
    }
    store.batch_write(fresh, vec![]).await.expect("fresh");
    let (s2, w2) = metered_tail(&table, &ck).await;
    report("fresh entities (name FTS + tags)", &s2, &w2);

    // 3. co-existence.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let name = unique_name("bench-coexist");
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("functions/materializer/tests/coexist.py"))
        .arg(&name)
        .env("MLFLOW_LOGGING_LEVEL", "WARNING")
        .output()
        .expect("reference session");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = clients().await;
    let summary = describe_table(&c.ddb, &name).await.expect("describe");
    let co = TestTable {
        name,
        clients: c,
        summary,
    };
    let (s3, w3) = metered_tail(&co, &dir.join("co.json")).await;
    report("co-existence with the reference store", &s3, &w3);
    println!(
        "co-existence: {} write requests for {} targets already right",
        w3.writes(),
        s3.stats.targets
    );

    // 4. lag.
    let lag_table = Arc::new(TestTable::new("v0.1", true).await);
    let st: Arc<dyn Store> = Arc::new(lag_table.store());
    st.batch_write(
        vec![item(
            "EXP#lag",
            "E#META",
            [
                ("name", s("lag")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        )],
        vec![],
    )
    .await
    .expect("meta");
    let runner = {
        let t = lag_table.clone();
        let st = st.clone();
        tokio::spawn(async move {
            let d = deps(st);
            let reader = StreamReader::new(&t.clients);
            let arn = t.stream_arn().expect("stream").to_owned();
            let _ = tail(&d, &reader, &opts(&arn, false, None)).await;
        })
    };
    let target = ItemKey::new("EXP#lag", "E#META");
    let mut lags = Vec::new();
    for i in 0..100 {
        let key = format!("mlflow.lag{i:03}");
        let t0 = Instant::now();
        st.batch_write(vec![tag("EXP#lag", &key, "x")], vec![])
            .await
            .expect("tag");
        loop {
            let got = st.get(&target, true).await.expect("get");
            let done = matches!(got.as_ref().and_then(|i| i.get("tags")), Some(AttributeValue::M(m)) if m.contains_key(&key));
            if done {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                panic!("tag {key} not materialized within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags.push(t0.elapsed().as_millis() as u64);
    }
    runner.abort();
    lags.sort_unstable();
    let q = |p: f64| lags[((lags.len() - 1) as f64 * p).round() as usize];
    println!(
        "lag write -> materialized (tail, 100 ms idle poll, moto): p50 {} ms, p99 {} ms, max {} ms over {} writes",
        q(0.5),
        q(0.99),
        lags[lags.len() - 1],
        lags.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
