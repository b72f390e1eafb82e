//! `tail` resumes from its checkpoint file: a second run reads nothing
//! already done, a later write is read on the next run.

mod common;

use std::sync::Arc;

use common::*;
use mlflow_ddb_aws::testkit::{item, s, unique_name, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::item::AttributeValue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_from_its_checkpoint() {
    let table = TestTable::new("v0.1", true).await;
    let store: Arc<dyn Store> = Arc::new(table.store());
    let meta = item(
        "EXP#ck",
        "E#META",
        [
            ("name", s("checkpointed")),
            ("tags", AttributeValue::M(Default::default())),
        ],
    );
    let tag = |k: &str| {
        item(
            "EXP#ck",
            &format!("E#TAG#{k}"),
            [("key", s(k)), ("value", s("v"))],
        )
    };
    store
        .batch_write(vec![meta, tag("mlflow.a")], vec![])
        .await
        .expect("writes");

    let path = std::env::temp_dir()
        .join(unique_name("ckpt"))
        .join("tail.json");
    let d = deps(store.clone(), None, None);
    let mut opts = tail_options(&table, None);
    opts.checkpoint = Some(path.clone());
    let first = run_tail(&d, &table, &opts).await;
    assert!(first.stats.records >= 2, "{first:?}");
    let saved = std::fs::read_to_string(&path).expect("checkpoint written");
    assert!(saved.contains(table.stream_arn().expect("arn")), "{saved}");

    let again = run_tail(&d, &table, &opts).await;
    assert_eq!(again.stats.records, 0, "{again:?}");

    store
        .batch_write(vec![tag("mlflow.b")], vec![])
        .await
        .expect("write");
    let next = run_tail(&d, &table, &opts).await;
    assert!(
        next.stats.records >= 1 && next.stats.writes >= 1,
        "{next:?}"
    );
    let all = scan_all(&*store).await;
    let Some(AttributeValue::M(m)) = all
        .get(&mlflow_ddb_core::item::ItemKey::new("EXP#ck", "E#META"))
        .and_then(|i| i.get("tags"))
    else {
        panic!("no map")
    };
    assert_eq!(m.len(), 2);
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}
