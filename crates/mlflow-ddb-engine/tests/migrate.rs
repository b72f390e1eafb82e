//! The migration's writes (`mlflow_ddb_engine::migrate`) on the memory
//! store: what a change of one source item does to the target. The same
//! code against the endpoint: `tools/migrate/tests/endpoint.rs`.

use std::sync::Arc;

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_engine::migrate::{apply, Direction, Writes};
use mlflow_ddb_ports::{MemoryStore, Store};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.into())
}

fn item(pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
    let mut i = Item::default();
    i.insert("PK".into(), s(pk));
    i.insert("SK".into(), s(sk));
    for (k, v) in attrs {
        i.insert((*k).into(), v.clone());
    }
    i
}

fn main_profile() -> &'static Profile {
    Profile::of(TableFormat::Main)
}

async fn carry(store: &Arc<dyn Store>, writes: Writes) {
    apply(store, main_profile(), &Config::default(), writes)
        .await
        .expect("apply");
}

fn metric(value: &str) -> Item {
    item(
        "EXP#1",
        "R#r1#MHIST#loss#0#1000",
        &[("key", s("loss")), ("value", n(value)), ("step", n("0"))],
    )
}

#[tokio::test]
async fn a_changed_metric_point_replaces_its_old_key_and_a_removal_deletes_it() {
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let mut w = Writes::new();
    w.change(Direction::ToMain, None, Some(&metric("0.5")));
    carry(&store, w).await;
    let first = ItemKey::new("EXP#1", "R#r1#MHIST#loss#0#1000#0.5");
    assert!(mem.get(&first, true).await.expect("get").is_some());

    // The value is part of main's key: the old key must go.
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&metric("0.5")),
        Some(&metric("0.25")),
    );
    carry(&store, w).await;
    let second = ItemKey::new("EXP#1", "R#r1#MHIST#loss#0#1000#0.25");
    assert!(mem.get(&first, true).await.expect("get").is_none());
    assert!(mem.get(&second, true).await.expect("get").is_some());

    let mut w = Writes::new();
    w.change(Direction::ToMain, Some(&metric("0.25")), None);
    assert_eq!(w.counts.deleted, 1);
    carry(&store, w).await;
    assert!(mem.get(&second, true).await.expect("get").is_none());
}

#[tokio::test]
async fn the_derived_run_name_tag_never_overwrites_a_real_one_and_the_last_write_of_a_key_wins() {
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let tag_key = ItemKey::new("EXP#1", "R#r1#TAG#mlflow.runName");
    mem.put(item(
        &tag_key.pk,
        &tag_key.sk,
        &[("key", s("mlflow.runName")), ("value", s("set by a user"))],
    ));
    let run = |name: &str| {
        item(
            "EXP#1",
            "R#r1",
            &[
                ("run_name", s(name)),
                ("status", n("1")),
                ("lsi1sk", s("active#r1")),
            ],
        )
    };
    let mut w = Writes::new();
    // Two changes of the run in one batch: the second image is what stays.
    w.change(Direction::ToMain, None, Some(&run("first")));
    w.change(Direction::ToMain, Some(&run("first")), Some(&run("second")));
    carry(&store, w).await;
    let tag = mem.get(&tag_key, true).await.expect("get").expect("tag");
    assert_eq!(tag.get("value"), Some(&s("set by a user")));
    let meta = mem
        .get(&ItemKey::new("EXP#1", "R#r1"), true)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(meta.get("run_name"), Some(&s("second")));
    assert_eq!(meta.get("status"), Some(&s("RUNNING")));
}

#[tokio::test]
async fn next_version_is_raised_to_the_largest_version_and_never_lowered() {
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let model = item(
        "RM#m1",
        "M#META",
        &[("name", s("m")), ("gsi2sk", s("1000#m"))],
    );
    let version = |v: &str| item("RM#m1", &format!("V#{v:0>8}"), &[("source", s("s3://b/x"))]);
    let mut w = Writes::new();
    w.copy(Direction::ToMain, &version("3"));
    w.copy(Direction::ToMain, &version("2"));
    carry(&store, w).await;
    // The model arrives after its versions (another segment): its put
    // replaces the counter, which is raised again from the versions there.
    let mut w = Writes::new();
    w.copy(Direction::ToMain, &model);
    carry(&store, w).await;
    let meta_key = ItemKey::new("RM#m1", "M#META");
    let meta = mem.get(&meta_key, true).await.expect("get").expect("model");
    assert_eq!(meta.get("next_version"), Some(&n("3")));
    // An older version copied later never lowers it.
    let mut w = Writes::new();
    w.copy(Direction::ToMain, &version("1"));
    carry(&store, w).await;
    let meta = mem.get(&meta_key, true).await.expect("get").expect("model");
    assert_eq!(meta.get("next_version"), Some(&n("3")));
}

#[tokio::test]
async fn unknown_families_are_copied_unchanged_and_bad_items_are_named_not_written() {
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let odd = item("FUTURE#1", "THING#1", &[("x", s("y"))]);
    let bad = item("EXP#1", "R#r2", &[("status", n("77"))]);
    let fts = item("EXP#1", "FTS_REV#E#1#W#word", &[]);
    let mut w = Writes::new();
    for i in [&odd, &bad, &fts] {
        w.copy(Direction::ToMain, i);
    }
    assert_eq!(
        (w.counts.unknown, w.counts.errors, w.counts.derived),
        (1, 1, 1)
    );
    assert_eq!(w.errors[0].0, ItemKey::new("EXP#1", "R#r2"));
    assert!(!w.errors[0].1.contains("77"), "values are never named");
    carry(&store, w).await;
    assert_eq!(
        mem.get(&ItemKey::new("FUTURE#1", "THING#1"), true)
            .await
            .expect("get"),
        Some(odd)
    );
    assert!(mem
        .get(&ItemKey::new("EXP#1", "R#r2"), true)
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn a_run_deleted_at_the_source_takes_its_fts_items_ttl_along_and_restored_drops_it() {
    use mlflow_ddb_core::format::FtsEntityType;
    use mlflow_ddb_core::fts::{fts_items, FtsTarget};
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let run = |ttl: Option<&str>| {
        let mut i = item(
            "EXP#1",
            "R#r1",
            &[("run_name", s("quiet lynx")), ("status", s("FINISHED"))],
        );
        if let Some(t) = ttl {
            i.insert("ttl".into(), n(t));
        }
        i
    };
    let fts = fts_items(
        main_profile(),
        &FtsTarget::new("EXP#1", FtsEntityType::R, "r1", None),
        "quiet lynx",
    );
    assert!(!fts.is_empty());
    for i in &fts {
        mem.put(i.clone());
    }
    let ttl_of = |mem: &MemoryStore| {
        let mem = mem.snapshot();
        fts.iter()
            .map(|i| {
                let k = ItemKey::new(
                    match &i["PK"] {
                        AttributeValue::S(v) => v.as_str(),
                        _ => "",
                    },
                    match &i["SK"] {
                        AttributeValue::S(v) => v.as_str(),
                        _ => "",
                    },
                );
                mem.get(&k).and_then(|i| i.get("ttl").cloned())
            })
            .collect::<Vec<_>>()
    };
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&run(None)),
        Some(&run(Some("1900000000"))),
    );
    carry(&store, w).await;
    assert!(ttl_of(&mem).iter().all(|t| t == &Some(n("1900000000"))));
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&run(Some("1900000000"))),
        Some(&run(None)),
    );
    carry(&store, w).await;
    assert!(ttl_of(&mem).iter().all(Option::is_none));
}

#[tokio::test]
async fn a_renamed_or_deleted_run_carries_its_derived_run_name_tag_along() {
    let mem = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = mem.clone();
    let run = |name: &str, ttl: Option<&str>| {
        let mut i = item(
            "EXP#1",
            "R#r1",
            &[("run_name", s(name)), ("status", s("RUNNING"))],
        );
        if let Some(t) = ttl {
            i.insert("ttl".into(), n(t));
        }
        i
    };
    let tag_key = ItemKey::new("EXP#1", "R#r1#TAG#mlflow.runName");
    let tag = |mem: &MemoryStore| mem.snapshot().get(&tag_key).cloned().expect("the tag item");
    let mut w = Writes::new();
    w.change(Direction::ToMain, None, Some(&run("first", None)));
    carry(&store, w).await;
    assert_eq!(tag(&mem).get("value"), Some(&s("first")));
    // Renamed at the source (0.1.0 writes no tag item): the derived tag
    // follows, or main's run-name sync would put the old name back.
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&run("first", None)),
        Some(&run("second", None)),
    );
    carry(&store, w).await;
    assert_eq!(tag(&mem).get("value"), Some(&s("second")));
    // Soft-deleted: the tag item takes the run's ttl.
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&run("second", None)),
        Some(&run("second", Some("1900000000"))),
    );
    carry(&store, w).await;
    assert_eq!(tag(&mem).get("ttl"), Some(&n("1900000000")));
    // A user's tag of another value is never replaced.
    mem.put(item(
        &tag_key.pk,
        &tag_key.sk,
        &[("key", s("mlflow.runName")), ("value", s("mine"))],
    ));
    let mut w = Writes::new();
    w.change(
        Direction::ToMain,
        Some(&run("second", Some("1900000000"))),
        Some(&run("third", Some("1900000000"))),
    );
    carry(&store, w).await;
    assert_eq!(tag(&mem).get("value"), Some(&s("mine")));
}
