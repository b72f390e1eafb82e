//! The PartiQL path of `expire` on the emulator. Its own test binary: moto
//! 5.2.5 runs every PartiQL statement by iterating over all its tables, and
//! fails with a 500 ("OrderedDict mutated during iteration") when another
//! test creates a table meanwhile; test binaries run one after another.

use mlflow_ddb_aws::testkit::{item, key, TestTable};
use mlflow_ddb_aws::{DynamoStore, ExpireOutcome, ExpireVia, Store, StoreOptions};
use mlflow_ddb_core::item::{Item, ItemKey};

/// moto 5.2.5 cannot run the PartiQL statement (parameters in a non-key
/// WHERE condition): every statement comes back with `ValidationError`.
/// Pins both the emulator's limitation and that per-statement errors are
/// reported per key, classified, without failing the call.
#[tokio::test]
async fn expire_partiql_reports_per_statement_errors() {
    let t = TestTable::new("v0.1", false).await;
    let store = DynamoStore::with_options(
        &t.clients,
        &t.name,
        StoreOptions {
            expire_via: ExpireVia::PartiQl,
            ..TestTable::store_options()
        },
    );
    assert!(store.expires_via_partiql());
    let puts: Vec<Item> = (0..30)
        .map(|i| item("EXP#1", &format!("R#{i}"), []))
        .collect();
    store.batch_write(puts, vec![]).await.unwrap();
    let keys: Vec<ItemKey> = (0..30).map(|i| key("EXP#1", &format!("R#{i}"))).collect();
    let report = store.expire(&keys, 1000).await.unwrap();
    assert_eq!(report.requests, 2);
    assert_eq!(report.outcomes.len(), 30);
    for (k, o) in &report.outcomes {
        match o {
            ExpireOutcome::Failed(e) => {
                assert_eq!(e.code(), Some("ValidationError"), "{e}");
                assert_eq!(e.key(), Some(k));
                assert!(!e.is_transient());
            }
            other => panic!("moto now runs the statement ({other:?}): switch ExpireVia::Auto to PartiQL on the emulator and test it"),
        }
    }
    // Nothing was written.
    let got = store.get(&keys[0], true).await.unwrap().unwrap();
    assert_eq!(got.get("ttl"), None);
}
