//! Preflight against the local endpoint: a reference-like table without a
//! stream is not up to date; enable-stream makes it so, and is idempotent.
//! Run with `scripts/emulator.sh run -- cargo test -p preflight`.

use std::process::Command;

use mlflow_ddb_aws::mappings::Mappings;
use mlflow_ddb_aws::testkit::{self, item, s, TestTable};
use mlflow_ddb_aws::Store;
use preflight::{Report, Status};

/// The CONFIG items the reference store seeds.
async fn seed_config(t: &TestTable) {
    let puts = vec![
        item(
            "CONFIG",
            "DENORMALIZE_TAGS",
            [(
                "patterns",
                mlflow_ddb_core::item::AttributeValue::L(vec![s("mlflow.*")]),
            )],
        ),
        item("CONFIG", "TTL_POLICY", []),
        item(
            "CONFIG",
            "FTS_TRIGRAM_FIELDS",
            [("fields", mlflow_ddb_core::item::AttributeValue::L(vec![]))],
        ),
    ];
    t.store().batch_write(puts, vec![]).await.unwrap();
}

fn status(r: &Report, name: &str) -> Status {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
        .status
}

#[tokio::test]
async fn no_stream_then_enable_then_up_to_date() {
    let t = TestTable::new("v0.1", false).await;
    seed_config(&t).await;
    let store = t.store();

    let before = preflight::check(&t.clients, &store, &t.name, None, Default::default())
        .await
        .unwrap();
    assert!(!before.is_up_to_date, "{}", preflight::render(&before));
    assert_eq!(status(&before, "stream"), Status::Fail);
    for ok in ["table", "ttl", "config", "pitr"] {
        assert_eq!(status(&before, ok), Status::Ok, "{ok}");
    }
    assert_eq!(status(&before, "mapping"), Status::Skipped);
    assert_eq!(before.stream_arn, None);

    let first = preflight::enable_stream(&t.clients, &t.name).await.unwrap();
    assert!(first.changed);
    let again = preflight::enable_stream(&t.clients, &t.name).await.unwrap();
    assert!(!again.changed, "second enable must change nothing");
    assert_eq!(again.stream_arn, first.stream_arn);

    let after = preflight::check(&t.clients, &store, &t.name, None, Default::default())
        .await
        .unwrap();
    assert!(after.is_up_to_date, "{}", preflight::render(&after));
    assert_eq!(after.stream_arn.as_deref(), Some(first.stream_arn.as_str()));
    assert_eq!(
        after.stream_view_type.as_deref(),
        Some(preflight::NEEDED_VIEW_TYPE)
    );

    // Asking for the materializer's mapping lists Lambda's mappings on the
    // stream: none exist here, so that check fails.
    let lambda = Mappings::from_env(&testkit::client_options())
        .await
        .unwrap();
    let with_mapping = preflight::check(
        &t.clients,
        &store,
        &t.name,
        Some((&lambda, "materializer-preflight-test")),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(status(&with_mapping, "mapping"), Status::Fail);
    assert!(!with_mapping.is_up_to_date);
}

#[tokio::test]
async fn a_table_without_config_items_is_not_up_to_date() {
    let t = TestTable::new("v0.1", true).await;
    let r = preflight::check(&t.clients, &t.store(), &t.name, None, Default::default())
        .await
        .unwrap();
    assert_eq!(status(&r, "stream"), Status::Ok);
    assert_eq!(status(&r, "config"), Status::Fail);
    assert!(!r.is_up_to_date);
}

fn preflight_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(args)
        .output()
        .expect("run preflight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_exits_non_zero_until_the_stream_is_on() {
    let t = TestTable::new("v0.1", false).await;
    seed_config(&t).await;

    let (code, out, err) = preflight_cli(&["check", "--table", &t.name, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["is_up_to_date"], false);

    let (code, out, err) = preflight_cli(&["enable-stream", "--table", &t.name, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"], true);
    let arn = v["stream_arn"].as_str().unwrap().to_owned();

    let (code, out, err) = preflight_cli(&["check", "--table", &t.name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("up to date: yes"), "{out}");
    assert!(out.contains(&arn), "{out}");

    let (code, out, err) = preflight_cli(&["check", "--table", "no-such-table-preflight"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no-such-table-preflight"), "{err}");
}
