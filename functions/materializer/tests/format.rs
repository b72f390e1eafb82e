//! Table formats against the local endpoint, both directions: with no
//! `TABLE_FORMAT` the materializer follows the table; with the wrong one a
//! batch fails as a whole (Lambda retries it and the Errors alarm fires)
//! and nothing is written; `tail` stops before its first record.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use materializer::lambda::{stream_batch, HandlerError};
use materializer::tail::{tail, TailError};
use mlflow_ddb_aws::testkit::{item, key, s, TestTable};
use mlflow_ddb_aws::{Store, StreamReader};
use mlflow_ddb_core::format::{FormatSetting, TableFormat};
use mlflow_ddb_core::item::AttributeValue;
use mlflow_ddb_engine::FormatResolver;
use serde_json::Value;

const FORMATS: [TableFormat; 2] = [TableFormat::V0_1, TableFormat::Main];

/// Raw source writes valid in both formats: an experiment with a tag, and
/// a run renamed through its `mlflow.runName` tag.
async fn write_sources(store: &dyn Store) {
    let items = vec![
        item(
            "EXP#f1",
            "E#META",
            [
                ("name", s("Copper Lantern")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ),
        item(
            "EXP#f1",
            "E#TAG#mlflow.source.name",
            [("key", s("mlflow.source.name")), ("value", s("Train.py"))],
        ),
        item(
            "EXP#f1",
            "R#r9",
            [
                ("run_name", s("first try")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ),
        item(
            "EXP#f1",
            "R#r9#TAG#mlflow.runName",
            [("key", s("mlflow.runName")), ("value", s("Second Wind"))],
        ),
    ];
    store.batch_write(items, Vec::new()).await.expect("writes");
}

fn deps_for(t: &TestTable, setting: FormatSetting) -> materializer::handler::Deps {
    let store = Arc::new(t.store());
    let mut d = deps(store.clone(), None, None);
    d.format = FormatResolver::detect(setting, store);
    d
}

async fn stream_records(t: &TestTable) -> Vec<Value> {
    let reader = StreamReader::new(&t.clients);
    let arn = t.stream_arn().expect("stream");
    let mut out = Vec::new();
    for shard in reader.list_shards(arn).await.expect("shards") {
        let it = reader
            .shard_iterator(
                arn,
                &shard.shard_id,
                &mlflow_ddb_aws::ShardStart::TrimHorizon,
            )
            .await
            .expect("iterator");
        let page = reader
            .get_records(arn, &it, Some(1000))
            .await
            .expect("records");
        out.extend(
            page.records
                .iter()
                .map(|r| serde_json::to_value(r).expect("json")),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_format_fails_the_batch_and_writes_nothing() {
    for format in FORMATS {
        let t = TestTable::new(format.as_str(), true).await;
        let store = t.store();
        write_sources(&store).await;
        let before = scan_all(&store).await;
        let records = stream_records(&t).await;
        assert!(records.len() >= 4, "{format}: {} records", records.len());

        let wrong = deps_for(&t, FormatSetting::Fixed(format.other()));
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        let (response, stats) = stream_batch(&wrong, &records, deadline).await;
        let err = response.expect_err("the wrong format fails the invocation");
        assert!(matches!(err, HandlerError::Format(_)), "{err}");
        let msg = err.to_string();
        for word in [
            format.as_str(),
            format.other().as_str(),
            "TABLE_FORMAT",
            "nothing was written",
        ] {
            assert!(msg.contains(word), "{msg:?} lacks {word:?}");
        }
        assert_eq!(stats.writes, 0);

        let reader = StreamReader::new(&t.clients);
        let tailed = tail(&wrong, &reader, &tail_options(&t, None)).await;
        assert!(
            matches!(tailed, Err(TailError::Format(_))),
            "{format}: {tailed:?}"
        );
        assert_eq!(
            scan_all(&store).await,
            before,
            "{format}: nothing may be written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_follows_the_table_from_raw_writes() {
    for format in FORMATS {
        let t = TestTable::new(format.as_str(), true).await;
        let store = t.store();
        write_sources(&store).await;
        let d = deps_for(&t, FormatSetting::Auto);
        let summary = run_tail(&d, &t, &tail_options(&t, None)).await;
        assert_eq!(summary.format, Some(format));
        let table = scan_all(&store).await;
        let run = &table[&key("EXP#f1", "R#r9")];
        let has = |sk: &str| table.contains_key(&key("EXP#f1", sk));
        match format {
            TableFormat::Main => {
                assert_eq!(run.get("run_name"), Some(&s("Second Wind")));
                assert_eq!(run.get("lsi4sk"), Some(&s("second wind")));
                assert!(has("FTS#W#R#wind#r9") && has("FTS#2#R#nd#r9"));
                assert!(!has("FTS#W#R#tri#r9"), "the old name's tokens are gone");
                assert!(has("FTS#W#E#copper#f1"));
                let e = &table[&key("EXP#f1", "E#META")];
                for (attr, want) in [
                    ("tags", "Train.py"),
                    ("tags_lower", "train.py"),
                    ("tags_lower_rev", "yp.niart"),
                ] {
                    let got = match e.get(attr) {
                        Some(AttributeValue::M(m)) => m.get("mlflow.source.name").cloned(),
                        _ => None,
                    };
                    assert_eq!(got, Some(s(want)), "{attr}");
                }
            }
            TableFormat::V0_1 => {
                assert_eq!(run.get("run_name"), Some(&s("first try")));
                assert!(has("FTS#W#tri#R#r9") && has("FTS#W#copper#E#f1"));
                assert!(!has("FTS#W#R#wind#r9"));
            }
        }
        // Replaying the whole stream changes nothing.
        let mut opts = tail_options(&t, None);
        opts.checkpoint = None;
        let again = run_tail(&d, &t, &opts).await;
        assert_eq!(again.stats.writes, 0, "{format}: {again:?}");
        assert_eq!(scan_all(&store).await, table);
    }
}
