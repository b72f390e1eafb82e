//! Table formats against the local endpoint, both directions: with no
//! `TABLE_FORMAT` the indexer follows the table; with the wrong one it
//! writes nothing and says why; FTS items in the other format's layout are
//! reported as `foreign_format` and deleted only with `--remove-foreign`;
//! `main`'s run-name sync is restored by a backfill.
//! Run with `scripts/emulator.sh run -- cargo test -p indexer --test format`.

mod common;

use std::sync::Arc;

use indexer::*;
use mlflow_ddb_aws::testkit::{item, key, load, s, scan_all, TestTable};
use mlflow_ddb_aws::Store;
use mlflow_ddb_core::format::{FormatSetting, TableFormat};
use mlflow_ddb_core::item::AttributeValue;
use mlflow_ddb_core::plan::memory::Table;
use mlflow_ddb_engine::FormatResolver;

const FORMATS: [(TableFormat, &str); 2] =
    [(TableFormat::V0_1, "v0.1"), (TableFormat::Main, "main")];

/// Source items only, valid in both formats (no `lsi2sk`): an experiment
/// with an odd-Unicode tag key, a run renamed through its `mlflow.runName`
/// tag, and the seeded CONFIG item.
fn sources() -> Table {
    [
        item(
            "CONFIG",
            "DENORMALIZE_TAGS",
            [("patterns", AttributeValue::L(vec![s("mlflow.*")]))],
        ),
        item(
            "EXP#e1",
            "E#META",
            [
                ("name", s("Bold Falcon")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ),
        item(
            "EXP#e1",
            "E#TAG#mlflow.note#ü 𝔘",
            [("key", s("mlflow.note#ü 𝔘")), ("value", s("Ünïcode NOTE"))],
        ),
        item(
            "EXP#e1",
            "R#r1",
            [
                ("run_name", s("old name")),
                ("tags", AttributeValue::M(Default::default())),
            ],
        ),
        item(
            "EXP#e1",
            "R#r1#TAG#mlflow.runName",
            [("key", s("mlflow.runName")), ("value", s("Quiet Heron"))],
        ),
    ]
    .into_iter()
    .map(|i| (mlflow_ddb_aws::testkit::key_of(&i), i))
    .collect()
}

async fn walk(
    t: &TestTable,
    setting: FormatSetting,
    mode: WalkMode,
    remove_foreign: bool,
) -> Result<Summary, IndexerError> {
    let store = Arc::new(t.store());
    let deps = Deps::new(
        store.clone(),
        FormatResolver::detect(setting, store),
        Settings {
            concurrency: 4,
            reserve: std::time::Duration::ZERO,
        },
    );
    let mut opts = DriveOptions::new(mode, 2);
    opts.remove_foreign = remove_foreign;
    opts.examples = 1000;
    drive(Arc::new(deps), &opts).await
}

async fn table(format: &str) -> (TestTable, Arc<dyn Store>) {
    let t = TestTable::new(format, false).await;
    let store: Arc<dyn Store> = Arc::new(t.store());
    load(&*store, &sources()).await;
    (t, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_table_format_is_refused_before_anything_is_written() {
    for (format, name) in FORMATS {
        let (t, store) = table(name).await;
        let before = scan_all(&*store).await;
        for mode in [WalkMode::Backfill, WalkMode::Verify] {
            let err = walk(&t, FormatSetting::Fixed(format.other()), mode, true)
                .await
                .expect_err("the wrong format must be refused");
            let msg = err.to_string();
            for word in [
                name,
                format.other().as_str(),
                "TABLE_FORMAT",
                "lsi2sk declared",
            ] {
                assert!(msg.contains(word), "{msg:?} lacks {word:?}");
            }
        }
        assert_eq!(
            scan_all(&*store).await,
            before,
            "{name}: nothing may be written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_follows_the_table_and_main_gets_the_run_name_sync() {
    for (format, name) in FORMATS {
        let (t, store) = table(name).await;
        let backfill = walk(&t, FormatSetting::Auto, WalkMode::Backfill, false)
            .await
            .expect("backfill");
        assert_eq!(backfill.format, format);
        assert!(backfill.counts.writes > 0, "{name}: {backfill:?}");
        let verify = walk(&t, FormatSetting::Auto, WalkMode::Verify, false)
            .await
            .expect("verify");
        assert!(verify.clean(), "{name}: {:?}", verify.drift);
        let again = walk(&t, FormatSetting::Fixed(format), WalkMode::Backfill, false)
            .await
            .expect("second backfill");
        assert_eq!(
            again.counts.writes, 0,
            "{name}: a second backfill writes nothing"
        );

        let table = scan_all(&*store).await;
        let run = &table[&key("EXP#e1", "R#r1")];
        let fts: Vec<&String> = table
            .keys()
            .filter(|k| k.sk.starts_with("FTS#W#"))
            .map(|k| &k.sk)
            .collect();
        match format {
            TableFormat::Main => {
                assert_eq!(run.get("run_name"), Some(&s("Quiet Heron")));
                assert_eq!(run.get("lsi4sk"), Some(&s("quiet heron")));
                assert!(
                    fts.iter().any(|sk| sk.as_str() == "FTS#W#R#heron#r1"),
                    "{fts:?}"
                );
                assert!(!fts.iter().any(|sk| sk.contains("#old#")), "{fts:?}");
                // Experiment tags: all three maps, every key.
                let e = &table[&key("EXP#e1", "E#META")];
                let lower = match e.get("tags_lower_rev") {
                    Some(AttributeValue::M(m)) => m.get("mlflow.note#ü 𝔘").cloned(),
                    _ => None,
                };
                assert_eq!(lower, Some(s("eton edocïnü")));
            }
            TableFormat::V0_1 => {
                assert_eq!(run.get("run_name"), Some(&s("old name")));
                assert_eq!(run.get("lsi4sk"), None);
                assert!(
                    fts.iter().any(|sk| sk.as_str() == "FTS#W#old#R#r1"),
                    "{fts:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_layout_items_are_reported_and_removed_only_when_asked() {
    for (format, name) in FORMATS {
        let (t, store) = table(name).await;
        walk(&t, FormatSetting::Auto, WalkMode::Backfill, false)
            .await
            .expect("backfill");
        // What a run with the wrong TABLE_FORMAT would have left behind.
        let foreign_sk = match format {
            TableFormat::V0_1 => "FTS#W#E#falcon#e1",
            TableFormat::Main => "FTS#W#falcon#E#e1",
        };
        store
            .batch_write(vec![item("EXP#e1", foreign_sk, [])], Vec::new())
            .await
            .expect("put");
        let verify = walk(&t, FormatSetting::Auto, WalkMode::Verify, false)
            .await
            .expect("verify");
        assert_eq!(verify.drift.count(Category::ForeignFormat), 1, "{name}");
        assert!(!verify.clean());
        let kept = walk(&t, FormatSetting::Auto, WalkMode::Backfill, false)
            .await
            .expect("backfill without --remove-foreign");
        assert_eq!(kept.counts.foreign_removed, 0);
        assert!(scan_all(&*store)
            .await
            .contains_key(&key("EXP#e1", foreign_sk)));
        let removed = walk(&t, FormatSetting::Auto, WalkMode::Backfill, true)
            .await
            .expect("backfill --remove-foreign");
        assert_eq!(removed.counts.foreign_removed, 1, "{name}");
        assert!(!scan_all(&*store)
            .await
            .contains_key(&key("EXP#e1", foreign_sk)));
        let clean = walk(&t, FormatSetting::Auto, WalkMode::Verify, false)
            .await
            .expect("verify");
        assert!(clean.clean(), "{name}: {:?}", clean.drift);
    }
}
