//! The engine against the local endpoint (moto): a reference-built table,
//! its derived state stripped or corrupted, is reconciled to exactly what
//! the core's plan semantics give; a second run writes nothing.
//! It lives with the adapter, whose DynamoDB store it drives, so that the
//! engine itself compiles no AWS SDK. Run with
//! `scripts/emulator.sh run -- cargo test -p mlflow-ddb-aws --test engine_endpoint`.

// The engine's own test helpers (the core's plan semantics), shared as they are.
#[path = "../../mlflow-ddb-engine/tests/common/mod.rs"]
mod engine_common;

use engine_common::*;
use mlflow_ddb_aws::testkit::{
    config_of, diff, load, reference_table, scan_all, stripped, TestTable,
};
use mlflow_ddb_core::item::AttributeValue;
use mlflow_ddb_engine::*;

#[tokio::test]
async fn reference_table_is_repaired_on_the_endpoint() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    // Stripped of all derived state, plus a wrong map value and a stale FTS pair.
    let mut broken = stripped(p, &reference);
    let (model, mut meta) = broken
        .iter()
        .find(|(k, _)| k.sk == "M#META")
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a model");
    meta.insert(
        "tags".into(),
        AttributeValue::M([("mlflow.wrong".to_owned(), AttributeValue::S("x".into()))].into()),
    );
    broken.insert(model.clone(), meta);

    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    load(&store, &broken).await;
    assert_eq!(diff(&broken, &scan_all(&store).await), Vec::<String>::new());

    let metered = MeteredStore::new(std::sync::Arc::new(store.clone()));
    let loaded = load_config(&metered).await.expect("config");
    assert_eq!(loaded, config);
    let ts = targets(p, &config, &broken);
    let outcomes = reconcile_targets(&metered, p, &config, &ts, Mode::Apply, 4).await;
    for o in &outcomes {
        assert!(o.result.is_ok(), "{}: {:?}", o.target, o.result);
    }
    let model_report = outcomes
        .iter()
        .find(|o| o.target == model)
        .and_then(|o| o.result.as_ref().ok())
        .expect("model outcome");
    assert!(model_report
        .drift
        .stale_map_entries
        .contains(&("tags".to_owned(), "mlflow.wrong".to_owned())));

    let expected = reconciled(p, &config, &broken);
    assert_eq!(
        diff(&expected, &scan_all(&store).await),
        Vec::<String>::new()
    );

    // Again: reads only.
    let before = metered.counts();
    let again = reconcile_targets(&metered, p, &config, &ts, Mode::Apply, 4).await;
    for o in &again {
        let r = o.result.as_ref().expect("second run");
        assert!(r.noop && r.writes == 0, "{}: {r:?}", o.target);
    }
    let after = metered.counts();
    assert_eq!(after.writes(), before.writes());
    assert_eq!(after.batch_get - before.batch_get, 1);
}

#[tokio::test]
async fn verify_on_the_endpoint_reports_and_does_not_write() {
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let t = TestTable::new("v0.1", false).await;
    let store = t.store();
    load(&store, &reference).await;
    let ts = targets(p, &config, &reference);
    let outcomes = reconcile_targets(&store, p, &config, &ts, Mode::Verify, 4).await;
    // The reference's own table: only its two known gaps.
    let drifted: Vec<(&str, usize, usize)> = outcomes
        .iter()
        .filter_map(|o| {
            let r = o.result.as_ref().expect("verify");
            (!r.drift.is_empty()).then_some((
                o.target.sk.as_str(),
                r.drift.missing_fts_items,
                r.drift.extra_fts_items,
            ))
        })
        .collect();
    assert_eq!(drifted.len(), 2, "{drifted:?}");
    assert!(drifted.contains(&("E#META", 12, 0)), "{drifted:?}");
    assert!(drifted
        .iter()
        .any(|(sk, m, e)| sk.starts_with("R#") && *m == 0 && *e == 2));
    assert_eq!(
        diff(&reference, &scan_all(&store).await),
        Vec::<String>::new()
    );
}
