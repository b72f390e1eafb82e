//! The format resolver: reads the table once, keeps the answer, reads again
//! only when told to (after an index-key type mismatch), and refuses a
//! setting the table contradicts.

use std::sync::Arc;

use mlflow_ddb_core::format::{FormatSetting, TableFormat};
use mlflow_ddb_engine::{EngineError, FormatResolver};
use mlflow_ddb_ports::build::item;
use mlflow_ddb_ports::MemoryStore;

#[tokio::test]
async fn detects_once_caches_and_reads_again_after_invalidate() {
    let store = Arc::new(MemoryStore::new());
    store.declare_format(TableFormat::V0_1);
    let resolver = FormatResolver::detect(FormatSetting::Auto, store.clone());
    assert_eq!(
        resolver.resolve().await.expect("v0.1").format,
        TableFormat::V0_1
    );

    // The table under the name changes: the cached answer stays...
    store.declare_format(TableFormat::Main);
    assert_eq!(
        resolver.resolve().await.expect("cached").format,
        TableFormat::V0_1
    );
    // ...until a refused write makes the caller invalidate it.
    resolver.invalidate();
    let d = resolver.resolve().await.expect("main");
    assert_eq!(d.format, TableFormat::Main);
    assert!(d.evidence.contains("lsi2sk declared N"), "{}", d.evidence);
}

#[tokio::test]
async fn a_contradicted_setting_is_refused_and_undeclared_tables_use_the_keys() {
    let store = Arc::new(MemoryStore::new());
    store.declare_format(TableFormat::Main);
    let wrong = FormatResolver::detect(FormatSetting::Fixed(TableFormat::V0_1), store.clone());
    let err = wrong.resolve().await.expect_err("refused");
    assert!(matches!(err, EngineError::Format(_)), "{err}");
    assert!(!err.is_transient());

    // No declared lsi2sk (not the reference's template): the name keys decide.
    let bare = Arc::new(MemoryStore::with_items([item(
        "EXP#1",
        "FTS#W#E#bold#1",
        [("gsi2pk", mlflow_ddb_ports::build::s("FTS_NAMES#default"))],
    )]));
    let auto = FormatResolver::detect(FormatSetting::Auto, bare.clone());
    assert_eq!(
        auto.resolve().await.expect("main").format,
        TableFormat::Main
    );
    let empty = FormatResolver::detect(FormatSetting::Auto, Arc::new(MemoryStore::new()));
    let err = empty.resolve().await.expect_err("nothing to tell from");
    assert!(err.to_string().contains("TABLE_FORMAT=v0.1"), "{err}");

    // A fixed resolver never reads and never forgets.
    let fixed = FormatResolver::fixed(TableFormat::Main);
    fixed.invalidate();
    assert_eq!(
        fixed.resolve().await.expect("fixed").format,
        TableFormat::Main
    );
}
