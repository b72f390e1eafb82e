//! Co-existence: the reference store writes real MLflow data through MLflow's
//! API (tests/coexist.py) and materializes inline; the materializer then
//! processes the whole stream. Its derived state must equal the store's,
//! and it must send zero write requests (every target is already right).

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use mlflow_ddb_aws::testkit::{clients, unique_name, TestTable};
use mlflow_ddb_aws::{describe_table, Store};
use mlflow_ddb_engine::MeteredStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_writes_cost_zero_materializer_writes() {
    let name = unique_name("coexist");
    let out = Command::new(python())
        .arg(root().join("functions/materializer/tests/coexist.py"))
        .arg(&name)
        .env("MLFLOW_LOGGING_LEVEL", "WARNING")
        .output()
        .expect("run the reference session");
    assert!(
        out.status.success(),
        "reference session failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clients = clients().await;
    let summary = describe_table(&clients.ddb, &name).await.expect("describe");
    assert!(summary.stream_arn.is_some(), "no stream on {name}");
    let table = TestTable {
        name: name.clone(),
        clients,
        summary,
    };
    let inner: Arc<dyn Store> = Arc::new(table.store());
    let before = scan_all(&*inner).await;

    let metered = Arc::new(MeteredStore::new(inner.clone()));
    let deps = deps(metered.clone(), None, None);
    let tail = run_tail(&deps, &table, &tail_options(&table, None)).await;

    // The session touched experiments, runs, a trace, a model and its version.
    assert!(tail.stats.targets >= 7, "{tail:?}");
    assert_eq!(tail.stats.failed, 0, "{tail:?}");
    assert_eq!(
        metered.counts().writes(),
        0,
        "write requests: {:?}; {tail:?}",
        metered.counts()
    );
    assert_eq!(tail.stats.noop_targets, tail.stats.targets, "{tail:?}");
    assert!(metered.counts().reads() > 0);

    // And the derived state is the store's, untouched.
    let after = scan_all(&*inner).await;
    assert_eq!(derived_of(&before), derived_of(&after));
    assert!(!derived_of(&after).fts.is_empty());
}
