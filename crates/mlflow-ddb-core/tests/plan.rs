//! Reconciliation plans.
//!
//! - The table the `v0.1` reference store wrote in a realistic session
//!   (`tests/fixtures/plan/reference_v0_1_table.json`) is planned target by
//!   target: co-existence must cost zero writes, except where the reference
//!   leaves a wrong state (listed and checked exactly).
//! - Replaying that session's stream through `targets_of` reaches every
//!   target that has derived state.
//! - Scenarios, one per rule of the policy (`check(state, expected plan)`).
//! - Properties: a plan applied to its state and re-planned is empty
//!   (idempotence), and applying twice changes nothing more.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::plan::memory::{apply, apply_expire, snapshot, Table};
use mlflow_ddb_core::plan::*;
use mlflow_ddb_core::stream::{decode_json_event, Change, EventName};
use proptest::prelude::*;
use serde_json::Value;

fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}

fn fixture(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn map(entries: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}
fn item(pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
    let mut m: HashMap<String, AttributeValue> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    m.insert("PK".to_owned(), s(pk));
    m.insert("SK".to_owned(), s(sk));
    Item::from(m)
}
fn key_of(item: &Item) -> ItemKey {
    match (item.get("PK"), item.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => ItemKey::new(pk, sk),
        _ => panic!("item without a key"),
    }
}
fn table_of(items: impl IntoIterator<Item = Item>) -> Table {
    items.into_iter().map(|i| (key_of(&i), i)).collect()
}

fn reference_table() -> Table {
    let items: Vec<Item> =
        serde_json::from_value(fixture("plan/reference_v0_1_table.json")).expect("items");
    table_of(items)
}

fn config_of(table: &Table) -> Config {
    Config::from_items(table.values().filter(|i| i.get("PK") == Some(&s("CONFIG"))))
        .expect("config items")
}

/// Every key of `table` that is a target in this format.
fn targets(profile: &Profile, config: &Config, table: &Table) -> Vec<ItemKey> {
    table
        .keys()
        .filter(|k| {
            ItemKind::parse_key(profile, k).relevance() == Relevance::Target
                && reads_for(profile, config, k).is_some()
        })
        .cloned()
        .collect()
}

fn plan(profile: &Profile, config: &Config, table: &Table, target: &ItemKey) -> TargetPlan {
    plan_target(profile, config, &snapshot(profile, config, table, target))
}

fn sks(keys: &[ItemKey]) -> Vec<&str> {
    keys.iter().map(|k| k.sk.as_str()).collect()
}
fn put_sks(plan: &TargetPlan) -> Vec<String> {
    plan.puts.iter().map(|i| key_of(i).sk).collect()
}

// ---------------------------------------------------------------------------
// The reference store's own table
// ---------------------------------------------------------------------------

const EXP: &str = "EXP#01kah2vqhqzp11nnkrn6dehbm8";

#[test]
fn reference_table_costs_zero_writes_except_its_known_gaps() {
    let p = v01();
    let table = reference_table();
    let config = config_of(&table);
    let targets = targets(p, &config, &table);
    // EXP#0 and the session's experiment, its run and trace, the model and
    // its version.
    assert_eq!(targets.len(), 6, "{targets:?}");

    let mut non_empty = BTreeMap::new();
    for target in &targets {
        let plan = plan(p, &config, &table, target);
        if !plan.is_empty() {
            non_empty.insert(target.clone(), plan);
        }
    }
    let exp0 = ItemKey::new("EXP#0", "E#META");
    let run = table
        .keys()
        .find(|k| matches!(ItemKind::parse_key(p, k), ItemKind::RunMeta { .. }))
        .expect("the run")
        .clone();
    assert_eq!(
        non_empty.keys().cloned().collect::<Vec<_>>(),
        vec![exp0.clone(), run.clone()],
        "{non_empty:#?}"
    );

    // 1. The seeded default experiment has no FTS items: its name gets them.
    let plan0 = &non_empty[&exp0];
    assert!(plan0.maps.is_empty() && plan0.deletes.is_empty());
    assert_eq!(
        put_sks(plan0),
        [
            "FTS#3#aul#E#0",
            "FTS#3#def#E#0",
            "FTS#3#efa#E#0",
            "FTS#3#fau#E#0",
            "FTS#3#ult#E#0",
            "FTS#W#default#E#0",
            "FTS_REV#E#0#3#aul",
            "FTS_REV#E#0#3#def",
            "FTS_REV#E#0#3#efa",
            "FTS_REV#E#0#3#fau",
            "FTS_REV#E#0#3#ult",
            "FTS_REV#E#0#W#default",
        ]
    );
    let forward = &plan0.puts[0];
    assert_eq!(forward.get("gsi2pk"), Some(&s("FTS_NAMES#default")));
    assert_eq!(forward.get("gsi2sk"), Some(&s("3#aul#E#0")));

    // 2. The run tag `project` went from "Atlas launch" to "Atlas
    //    relaunch": the reference adds the new tokens and leaves the stale
    //    word token `launch` behind.
    let plan_run = &non_empty[&run];
    assert!(plan_run.maps.is_empty() && plan_run.puts.is_empty());
    let run_id = run.sk.trim_start_matches("R#");
    assert_eq!(
        sks(&plan_run.deletes),
        [
            format!("FTS#W#launch#R#{run_id}#project"),
            format!("FTS_REV#R#{run_id}#project#W#launch"),
        ]
    );
    let drift = plan_run.drift();
    assert_eq!(drift.extra_fts_items, 2);
    assert_eq!(drift.missing_fts_items, 0);

    // Applied, the table is right: every plan is empty.
    let mut fixed = table.clone();
    for plan in non_empty.values() {
        apply(&mut fixed, plan);
    }
    for target in &targets {
        assert!(plan(p, &config, &fixed, target).is_empty(), "{target}");
    }
}

#[test]
fn reference_table_without_its_maps_and_fts_is_rebuilt_exactly() {
    // Strip every derived attribute and item the reference wrote; planning
    // every target must rebuild exactly what the reference wrote (plus the
    // known gaps above, which are then absent in both).
    let p = v01();
    let reference = reference_table();
    let config = config_of(&reference);
    let mut stripped: Table = reference
        .iter()
        .filter(|(_, i)| !ItemKind::parse_key(p, &key_of(i)).is_derived())
        .map(|(k, i)| {
            let mut i = i.clone();
            if let Some(AttributeValue::M(m)) = i.get_mut("tags") {
                m.clear();
            }
            (k.clone(), i)
        })
        .collect();
    for target in targets(p, &config, &stripped) {
        let plan = plan(p, &config, &stripped, &target);
        apply(&mut stripped, &plan);
    }
    let mut expected = reference.clone();
    // The known gaps, fixed the same way.
    for target in targets(p, &config, &expected) {
        let plan = plan(p, &config, &expected, &target);
        apply(&mut expected, &plan);
    }
    let diff: Vec<_> = expected
        .keys()
        .collect::<BTreeSet<_>>()
        .symmetric_difference(&stripped.keys().collect())
        .cloned()
        .collect();
    assert!(diff.is_empty(), "{diff:#?}");
    for (k, v) in &expected {
        assert_eq!(Some(v), stripped.get(k), "{k}");
    }
}

#[test]
fn replaying_the_reference_stream_reaches_every_target() {
    let p = v01();
    let table = reference_table();
    let config = config_of(&table);
    let event = fixture("events/reference_v0_1_session.json");
    let changes: Vec<Change> = decode_json_event(p, &event)
        .expect("records")
        .into_iter()
        .map(|r| r.expect("valid"))
        .collect();
    let mut touched = BTreeSet::new();
    for change in &changes {
        let targets = targets_of(p, &config, change);
        if change.kind.is_derived() {
            assert!(targets.is_empty());
        }
        if matches!(
            change.kind,
            ItemKind::Rank { .. } | ItemKind::RunChild { .. } | ItemKind::Config(_)
        ) {
            assert!(targets.is_empty(), "{}", change.key);
        }
        touched.extend(targets);
    }
    // Every target of the session (not the seeded EXP#0, written before the
    // stream existed).
    let expected: BTreeSet<ItemKey> = targets(p, &config, &table)
        .into_iter()
        .filter(|k| k.pk != "EXP#0")
        .collect();
    assert_eq!(touched, expected);
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const RUN: &str = "R#01hf7yat000g8dht58zxfc6esx";
const RID: &str = "01hf7yat000g8dht58zxfc6esx";

fn config(items: &[Item]) -> Config {
    Config::from_items(items.iter()).expect("config")
}
fn trigram(fields: &[&str]) -> Item {
    item(
        "CONFIG",
        "FTS_TRIGRAM_FIELDS",
        &[(
            "fields",
            AttributeValue::L(fields.iter().map(|f| s(f)).collect()),
        )],
    )
}
fn patterns(sk: &str, ps: &[&str]) -> Item {
    item(
        "CONFIG",
        sk,
        &[(
            "patterns",
            AttributeValue::L(ps.iter().map(|f| s(f)).collect()),
        )],
    )
}
fn run_meta(attrs: &[(&str, AttributeValue)]) -> Item {
    item(EXP, RUN, attrs)
}
fn run_tag(key: &str, value: &str) -> Item {
    item(
        EXP,
        &format!("{RUN}#TAG#{key}"),
        &[("key", s(key)), ("value", s(value))],
    )
}
fn run_param(key: &str, value: &str) -> Item {
    item(
        EXP,
        &format!("{RUN}#PARAM#{key}"),
        &[("key", s(key)), ("value", s(value))],
    )
}
/// The FTS items the reference writes for `text` in field `field` of the run.
fn run_fts(field: Option<&str>, text: &str) -> Vec<Item> {
    use mlflow_ddb_core::format::FtsEntityType;
    use mlflow_ddb_core::fts::{fts_items, FtsTarget};
    fts_items(
        v01(),
        &FtsTarget::new(EXP, FtsEntityType::R, RID, field),
        text,
    )
}

/// Plan the run target of `items` under `config`.
fn plan_run(config: &Config, items: Vec<Item>) -> TargetPlan {
    let table = table_of(items);
    plan(v01(), config, &table, &ItemKey::new(EXP, RUN))
}

#[test]
fn tag_map_rules() {
    let cfg = config(&[patterns("DENORMALIZE_TAGS", &["mlflow.*", "team.*"])]);
    // Set: matching tag missing from the map; wrong value; stale entry of a
    // deleted tag; non-matching tag left out; an entry whose tag exists but
    // no longer matches left alone.
    let plan = plan_run(
        &cfg,
        vec![
            run_meta(&[(
                "tags",
                map(&[
                    ("mlflow.user", s("bob")),
                    ("team.gone", s("x")),
                    ("legacy", s("kept")),
                    ("team.ok", s("same")),
                ]),
            )]),
            run_tag("mlflow.user", "ana"),
            run_tag("mlflow.source.name", "train.py"),
            run_tag("legacy", "kept"),
            run_tag("team.ok", "same"),
            run_tag("other", "not copied"),
        ],
    );
    assert_eq!(plan.maps.len(), 1);
    let m = &plan.maps[0];
    assert_eq!(m.attr, "tags");
    assert_eq!(
        m.set,
        BTreeMap::from([
            ("mlflow.source.name".to_owned(), s("train.py")),
            ("mlflow.user".to_owned(), s("ana")),
        ])
    );
    assert_eq!(m.remove, BTreeSet::from(["team.gone".to_owned()]));
    assert!(!m.needs_map);
    assert_eq!(
        m.expected,
        BTreeMap::from([
            ("mlflow.source.name".to_owned(), None),
            ("mlflow.user".to_owned(), Some(s("bob"))),
            ("team.gone".to_owned(), Some(s("x"))),
        ])
    );
    let drift = plan.drift();
    assert_eq!(
        drift.missing_map_entries,
        BTreeSet::from([("tags".to_owned(), "mlflow.source.name".to_owned())])
    );
    assert_eq!(
        drift.wrong_map_values,
        BTreeSet::from([("tags".to_owned(), "mlflow.user".to_owned())])
    );
    assert_eq!(
        drift.stale_map_entries,
        BTreeSet::from([("tags".to_owned(), "team.gone".to_owned())])
    );
    // No FTS: run name absent, no value indexing configured.
    assert!(plan.puts.is_empty() && plan.deletes.is_empty());
}

#[test]
fn experiment_patterns_apply_to_runs_and_traces_only() {
    let cfg = config(&[patterns(
        &format!("DENORMALIZE_TAGS#EXP#{}", &EXP[4..]),
        &["proj*"],
    )]);
    let run_plan = plan_run(
        &cfg,
        vec![run_meta(&[("tags", map(&[]))]), run_tag("project", "atlas")],
    );
    assert_eq!(run_plan.maps[0].set.keys().collect::<Vec<_>>(), ["project"]);
    // The experiment's own tags use the global patterns only.
    let table = table_of([
        item(EXP, "E#META", &[("name", s("x")), ("tags", map(&[]))]),
        item(
            EXP,
            "E#TAG#project",
            &[("key", s("project")), ("value", s("atlas"))],
        ),
    ]);
    let exp_plan = plan(v01(), &cfg, &table, &ItemKey::new(EXP, "E#META"));
    assert!(exp_plan.maps.is_empty());
}

#[test]
fn a_missing_map_is_created_first() {
    // The seeded EXP#0 has no `tags` map.
    let cfg = Config::default();
    let mut table = table_of([
        item("EXP#0", "E#META", &[("name", s("Default"))]),
        item(
            "EXP#0",
            "E#TAG#mlflow.note.content",
            &[("key", s("mlflow.note.content")), ("value", s("hi"))],
        ),
    ]);
    let target = ItemKey::new("EXP#0", "E#META");
    let p = plan(v01(), &cfg, &table, &target);
    assert!(p.maps[0].needs_map);
    assert_eq!(p.write_count(), 2 + p.puts.len());
    apply(&mut table, &p);
    assert_eq!(
        table[&target].get("tags"),
        Some(&map(&[("mlflow.note.content", s("hi"))]))
    );
    assert!(plan(v01(), &cfg, &table, &target).is_empty());
}

#[test]
fn a_gone_target_gets_nothing() {
    let cfg = Config::default();
    let plan = plan_run(&cfg, vec![run_tag("mlflow.user", "ana")]);
    assert!(plan.is_empty());
    // And the memory executor never resurrects it.
    let mut table = table_of([run_tag("mlflow.user", "ana")]);
    let mut forced = TargetPlan::empty(ItemKey::new(EXP, RUN));
    forced.maps.push(MapUpdate {
        target: ItemKey::new(EXP, RUN),
        attr: "tags".to_owned(),
        set: BTreeMap::from([("mlflow.user".to_owned(), s("ana"))]),
        remove: BTreeSet::new(),
        needs_map: true,
        expected: BTreeMap::new(),
    });
    apply(&mut table, &forced);
    assert!(!table.contains_key(&ItemKey::new(EXP, RUN)));
}

#[test]
fn run_name_tokens() {
    let cfg = Config::default();
    // A name: its tokens, nothing else.
    let plan = plan_run(&cfg, vec![run_meta(&[("run_name", s("brave-owl"))])]);
    let want: Vec<String> = run_fts(None, "brave-owl")
        .iter()
        .map(|i| key_of(i).sk)
        .collect();
    let mut got = put_sks(&plan);
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    assert!(plan
        .puts
        .iter()
        .all(|i| i.get("ttl").is_none() && i.get("gsi2pk").is_none()));
    // A rename: stale tokens go, new ones come.
    let mut items = vec![run_meta(&[("run_name", s("brave-lark"))])];
    items.extend(run_fts(None, "brave-owl"));
    let plan = plan_run(&cfg, items);
    assert_eq!(
        put_sks(&plan),
        [
            format!("FTS#3#ark#R#{RID}"),
            format!("FTS#3#lar#R#{RID}"),
            format!("FTS#W#lark#R#{RID}"),
            format!("FTS_REV#R#{RID}#3#ark"),
            format!("FTS_REV#R#{RID}#3#lar"),
            format!("FTS_REV#R#{RID}#W#lark"),
        ]
    );
    assert_eq!(
        sks(&plan.deletes),
        [
            format!("FTS#3#owl#R#{RID}"),
            format!("FTS#W#owl#R#{RID}"),
            format!("FTS_REV#R#{RID}#3#owl"),
            format!("FTS_REV#R#{RID}#W#owl"),
        ]
    );
    // `brave-owl-2` has the tokens of `brave-owl` (`2` is too short).
    let mut items = vec![run_meta(&[("run_name", s("brave-owl-2"))])];
    items.extend(run_fts(None, "brave-owl"));
    assert!(plan_run(&cfg, items).is_empty());
    // A run that ended has `run_name = NULL`: its tokens are left alone.
    let mut items = vec![run_meta(&[("run_name", AttributeValue::Null(true))])];
    items.extend(run_fts(None, "brave-owl"));
    assert!(plan_run(&cfg, items).is_empty());
    // A soft-deleted run's new tokens carry its ttl.
    let plan = plan_run(
        &cfg,
        vec![run_meta(&[
            ("run_name", s("x1")),
            ("ttl", n(1_800_000_000)),
        ])],
    );
    assert!(plan
        .puts
        .iter()
        .all(|i| i.get("ttl") == Some(&n(1_800_000_000))));
}

#[test]
fn run_tag_and_param_fields() {
    let tags_only = config(&[trigram(&["run_tag_value"])]);
    let both = config(&[trigram(&["run_tag_value", "run_param_value"])]);
    let none = Config::default();

    // Value changed: the stale token goes (the reference leaves it).
    let mut items = vec![run_meta(&[]), run_tag("project", "Atlas relaunch")];
    items.extend(run_fts(Some("project"), "Atlas launch"));
    items.extend(run_fts(Some("project"), "Atlas relaunch"));
    let p = plan_run(&tags_only, items.clone());
    assert_eq!(
        sks(&p.deletes),
        [
            format!("FTS#W#launch#R#{RID}#project"),
            format!("FTS_REV#R#{RID}#project#W#launch"),
        ]
    );
    // Indexing switched off: the field is left alone.
    assert!(plan_run(&none, items).is_empty());

    // Tag deleted while indexing is on: its tokens go.
    let mut items = vec![run_meta(&[])];
    items.extend(run_fts(Some("gone"), "some words"));
    let p = plan_run(&tags_only, items);
    assert_eq!(p.deletes.len(), run_fts(Some("gone"), "some words").len());

    // A tag and a param share the field `lr`. With params not indexed, the
    // param's presence blocks deletions: only missing tag tokens are put.
    let mut items = vec![
        run_meta(&[]),
        run_tag("lr", "high"),
        run_param("lr", "0.01"),
    ];
    items.extend(run_fts(Some("lr"), "stale"));
    let p = plan_run(&tags_only, items.clone());
    assert!(p.deletes.is_empty());
    assert_eq!(p.puts.len(), run_fts(Some("lr"), "high").len());
    // With both indexed the field is the union of both values.
    let p = plan_run(&both, items);
    let mut want: BTreeSet<String> = run_fts(Some("lr"), "high")
        .iter()
        .chain(run_fts(Some("lr"), "0.01").iter())
        .map(|i| key_of(i).sk)
        .collect();
    assert_eq!(put_sks(&p).into_iter().collect::<BTreeSet<_>>(), want);
    want.clear();
    let deleted: BTreeSet<String> = p.deletes.iter().map(|k| k.sk.clone()).collect();
    assert_eq!(
        deleted,
        run_fts(Some("lr"), "stale")
            .iter()
            .map(|i| key_of(i).sk)
            .collect()
    );

    // The run-name field is not touched by field items and vice versa:
    // `FTS_REV#R#<run>#` also lists field items.
    let mut items = vec![run_meta(&[("run_name", s("owl"))]), run_tag("k", "owl")];
    items.extend(run_fts(None, "owl"));
    items.extend(run_fts(Some("k"), "owl"));
    assert!(plan_run(&tags_only, items).is_empty());
}

const TRACE: &str = "T#tr-0123abcd";
const TID: &str = "tr-0123abcd";

fn trace_fts(field: &str, text: &str, ttl: Option<i64>) -> Vec<Item> {
    use mlflow_ddb_core::format::FtsEntityType;
    use mlflow_ddb_core::fts::{fts_items, FtsTarget};
    fts_items(
        v01(),
        &FtsTarget::new(EXP, FtsEntityType::T, TID, Some(field)).with_ttl(ttl),
        text,
    )
}

#[test]
fn trace_fields_assessments_and_spans() {
    let cfg = config(&[trigram(&["trace_tag_value"])]);
    let ttl = Some(1_797_823_119);
    let meta = item(EXP, TRACE, &[("tags", map(&[])), ("ttl", n(1_797_823_119))]);
    let assessment = |id: &str, value: AttributeValue| {
        item(
            EXP,
            &format!("{TRACE}#ASSESS#{id}"),
            &[("data", map(&[("feedback", map(&[("value", value)]))]))],
        )
    };
    let mut items = vec![
        meta.clone(),
        assessment("a1", s("Mostly correct answer")),
        assessment("a2", AttributeValue::Bool(true)),
        item(
            EXP,
            &format!("{TRACE}#TAG#color"),
            &[("key", s("color")), ("value", s("deep blue"))],
        ),
    ];
    // The store's span-name tokens, and a deleted assessment's leftovers.
    items.extend(trace_fts("spans", "predict retrieve", ttl));
    items.extend(trace_fts("assess_a0", "old feedback", ttl));
    let table = table_of(items);
    let target = ItemKey::new(EXP, TRACE);
    let p = plan(v01(), &cfg, &table, &target);
    let puts: BTreeSet<String> = put_sks(&p).into_iter().collect();
    let want: BTreeSet<String> = trace_fts("assess_a1", "Mostly correct answer", ttl)
        .iter()
        .chain(trace_fts("assess_a2", "True", ttl).iter())
        .chain(trace_fts("color", "deep blue", ttl).iter())
        .map(|i| key_of(i).sk)
        .collect();
    assert_eq!(puts, want);
    assert!(p
        .puts
        .iter()
        .all(|i| i.get("ttl") == Some(&n(1_797_823_119))));
    let deleted: BTreeSet<String> = p.deletes.iter().map(|k| k.sk.clone()).collect();
    assert_eq!(
        deleted,
        trace_fts("assess_a0", "old feedback", ttl)
            .iter()
            .map(|i| key_of(i).sk)
            .collect()
    );
    // Map: `color` does not match `mlflow.*`.
    assert!(p.maps.is_empty());
}

#[test]
fn model_names_and_versions() {
    let cfg = Config::default();
    let pk = "RM#01kfz3m0aa1q2w3e4r5t6y7u8i";
    let table = table_of([
        item(
            pk,
            "M#META",
            &[
                ("name", s("churn")),
                ("tags", map(&[])),
                ("workspace", s("default")),
            ],
        ),
        item(
            pk,
            "M#TAG#mlflow.domain",
            &[("key", s("mlflow.domain")), ("value", s("tabular"))],
        ),
        item(
            pk,
            "V#00000001",
            &[("tags", map(&[("mlflow.gone", s("x"))]))],
        ),
    ]);
    let p = plan(v01(), &cfg, &table, &ItemKey::new(pk, "M#META"));
    assert_eq!(p.maps[0].set.keys().collect::<Vec<_>>(), ["mlflow.domain"]);
    assert!(put_sks(&p).contains(&"FTS#W#churn#M#01kfz3m0aa1q2w3e4r5t6y7u8i".to_owned()));
    let p = plan(v01(), &cfg, &table, &ItemKey::new(pk, "V#00000001"));
    assert_eq!(p.maps[0].remove, BTreeSet::from(["mlflow.gone".to_owned()]));
    assert!(p.puts.is_empty() && p.deletes.is_empty());
    assert_eq!(
        reads_for(v01(), &cfg, &ItemKey::new(pk, "V#00000001")),
        Some(TargetReads {
            target: ItemKey::new(pk, "V#00000001"),
            source_prefixes: vec!["V#00000001#TAG#".to_owned()],
            fts_reverse_prefix: None,
        })
    );
}

#[test]
fn main_format_experiment_maps() {
    let p = Profile::of(TableFormat::Main);
    let cfg = Config::default();
    let table = table_of([
        item(
            EXP,
            "E#META",
            &[
                ("name", s("x")),
                ("tags", map(&[])),
                ("tags_lower", map(&[])),
                ("tags_lower_rev", map(&[])),
            ],
        ),
        item(
            EXP,
            "E#TAG#Any key",
            &[("key", s("Any key")), ("value", s("ÀbC"))],
        ),
    ]);
    let plan = plan(p, &cfg, &table, &ItemKey::new(EXP, "E#META"));
    let by_attr: BTreeMap<&str, &AttributeValue> = plan
        .maps
        .iter()
        .map(|m| (m.attr.as_str(), &m.set["Any key"]))
        .collect();
    assert_eq!(
        by_attr,
        BTreeMap::from([
            ("tags", &s("ÀbC")),
            ("tags_lower", &s("àbc")),
            ("tags_lower_rev", &s("cbà")),
        ])
    );
}

/// `main`: the `mlflow.runName` tag is the run's name. The plan sets
/// `run_name` and `lsi4sk` and indexes the tag's name, dropping the old
/// name's tokens. The `main` store itself leaves the old tokens and adds
/// none for the new name (contract §7, a bug of `main` we do not
/// reproduce): this is the correct state, not the store's.
#[test]
fn main_run_name_follows_the_run_name_tag_correcting_mains_stale_tokens() {
    let p = Profile::of(TableFormat::Main);
    let cfg = Config::default();
    let run = ItemKey::new(EXP, RUN);
    let id = &RUN[2..];
    let mut table = table_of([
        item(
            EXP,
            RUN,
            &[
                ("run_name", s("old name")),
                ("lsi4sk", s("old name")),
                ("tags", map(&[])),
            ],
        ),
        item(
            EXP,
            &format!("{RUN}#TAG#mlflow.runName"),
            &[("key", s("mlflow.runName")), ("value", s("Ĳssel Heron"))],
        ),
    ]);
    // The store's state after its rename: the old name's tokens.
    let old = plan(
        p,
        &cfg,
        &table_of([item(EXP, RUN, &[("run_name", s("old name"))])]),
        &run,
    );
    apply(&mut table, &old);
    let fix = plan(p, &cfg, &table, &run);
    let attrs = fix.attrs.as_ref().expect("the run's attributes are set");
    assert_eq!(
        attrs.set,
        BTreeMap::from([
            ("lsi4sk".to_owned(), s("ĳssel heron")),
            ("run_name".to_owned(), s("Ĳssel Heron")),
        ])
    );
    assert!(
        put_sks(&fix).contains(&format!("FTS#W#R#heron#{id}")),
        "{:?}",
        put_sks(&fix)
    );
    assert!(sks(&fix.deletes).contains(&format!("FTS#W#R#old#{id}").as_str()));
    assert_eq!(
        fix.drift().stale_attributes,
        BTreeSet::from(["lsi4sk".to_owned(), "run_name".to_owned()])
    );
    apply(&mut table, &fix);
    assert!(plan(p, &cfg, &table, &run).is_empty(), "converged");

    // An empty tag value, or v0.1: nothing of the kind.
    let mut empty = table.clone();
    empty.insert(
        ItemKey::new(EXP, format!("{RUN}#TAG#mlflow.runName")),
        item(
            EXP,
            &format!("{RUN}#TAG#mlflow.runName"),
            &[("key", s("mlflow.runName")), ("value", s(""))],
        ),
    );
    assert_eq!(plan(p, &cfg, &empty, &run).attrs, None);
    let v = plan(v01(), &cfg, &table, &run);
    assert_eq!(v.attrs, None);
}

/// `main`'s overflow pointer (`{"_s3_ref": ...}` for a value over 350,000
/// bytes) is neither copied into a map nor tokenized, and what the map and
/// FTS items already hold for that key stays.
#[test]
fn main_overflow_references_are_never_copied_or_tokenized() {
    let p = Profile::of(TableFormat::Main);
    let cfg = config(&[trigram(&["run_tag_value"])]);
    let run = ItemKey::new(EXP, RUN);
    let pointer = map(&[("_s3_ref", s("s3://bucket/.overflow/EXP/R/value"))]);
    let table = table_of([
        item(EXP, RUN, &[("tags", map(&[("mlflow.big", s("kept"))]))]),
        item(
            EXP,
            &format!("{RUN}#TAG#mlflow.big"),
            &[("key", s("mlflow.big")), ("value", pointer)],
        ),
    ]);
    let plan = plan(p, &cfg, &table, &run);
    assert!(plan.maps.is_empty(), "{:?}", plan.maps);
    assert!(
        !put_sks(&plan)
            .iter()
            .any(|sk| sk.contains("overflow") || sk.contains("bucket")),
        "{:?}",
        put_sks(&plan)
    );
    assert!(plan.deletes.is_empty());
}

// ---------------------------------------------------------------------------
// Targets of changes
// ---------------------------------------------------------------------------

fn change(event: EventName, old: Option<Item>, new: Option<Item>) -> Change {
    let key = key_of(old.as_ref().or(new.as_ref()).expect("an image"));
    Change {
        seq: mlflow_ddb_core::stream::SequenceNumber::new("1"),
        event,
        kind: ItemKind::parse_key(v01(), &key),
        key,
        old,
        new,
        by_ttl_service: false,
    }
}

#[test]
fn targets_of_changes() {
    let none = Config::default();
    let tags_on = config(&[trigram(&["run_tag_value", "run_param_value"])]);
    let run = ItemKey::new(EXP, RUN);
    let check = |cfg: &Config, c: Change, want: &[&ItemKey]| {
        let got = targets_of(v01(), cfg, &c);
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            want,
            "{:?} {}",
            c.event,
            c.key
        );
    };
    // Matching tag: its target; non-matching: nothing, unless values are
    // indexed; removal of any tag: its target.
    check(
        &none,
        change(EventName::Insert, None, Some(run_tag("mlflow.user", "a"))),
        &[&run],
    );
    check(
        &none,
        change(EventName::Insert, None, Some(run_tag("other", "a"))),
        &[],
    );
    check(
        &tags_on,
        change(EventName::Insert, None, Some(run_tag("other", "a"))),
        &[&run],
    );
    check(
        &none,
        change(EventName::Remove, Some(run_tag("other", "a")), None),
        &[&run],
    );
    // Unchanged MODIFY: nothing.
    check(
        &none,
        change(
            EventName::Modify,
            Some(run_tag("mlflow.user", "a")),
            Some(run_tag("mlflow.user", "a")),
        ),
        &[],
    );
    // Params only when indexed.
    check(
        &none,
        change(EventName::Insert, None, Some(run_param("lr", "1"))),
        &[],
    );
    check(
        &tags_on,
        change(EventName::Insert, None, Some(run_param("lr", "1"))),
        &[&run],
    );
    // Run META: insert, rename to a non-empty name; not a status change,
    // not the NULL name of a finished run.
    let m = |attrs: &[(&str, AttributeValue)]| run_meta(attrs);
    check(
        &none,
        change(EventName::Insert, None, Some(m(&[]))),
        &[&run],
    );
    check(
        &none,
        change(
            EventName::Modify,
            Some(m(&[("run_name", s("a"))])),
            Some(m(&[("run_name", s("b"))])),
        ),
        &[&run],
    );
    check(
        &none,
        change(
            EventName::Modify,
            Some(m(&[("run_name", s("a"))])),
            Some(m(&[
                ("run_name", AttributeValue::Null(true)),
                ("status", n(3)),
            ])),
        ),
        &[],
    );
    check(&none, change(EventName::Remove, Some(m(&[])), None), &[]);
    // Our own echoes: FTS items and META map updates.
    let fts = run_fts(None, "owl").remove(0);
    check(&none, change(EventName::Insert, None, Some(fts)), &[]);
    check(
        &none,
        change(
            EventName::Modify,
            Some(m(&[("run_name", s("a")), ("tags", map(&[]))])),
            Some(m(&[
                ("run_name", s("a")),
                ("tags", map(&[("mlflow.user", s("x"))])),
            ])),
        ),
        &[],
    );
    // Assessments: their trace.
    let a = item(EXP, &format!("{TRACE}#ASSESS#a1"), &[]);
    check(
        &none,
        change(EventName::Remove, Some(a), None),
        &[&ItemKey::new(EXP, TRACE)],
    );
}

// ---------------------------------------------------------------------------
// TTL cascade
// ---------------------------------------------------------------------------

#[test]
fn ttl_cascade_expires_orphans_once() {
    let pk = "EXP#01kfz3kq7w5ts4h0d5wq0gq1nn";
    let now = 1_800_000_000;
    let items = vec![
        item(pk, "E#NAME_REV", &[]),
        item(pk, RUN, &[("ttl", n(now + 100))]),
        item(pk, &format!("{RUN}#METRIC#acc"), &[("ttl", n(now - 5))]),
        item(pk, &format!("{RUN}#TAG#x"), &[("ttl", s("not a number"))]),
        item(pk, "FTS#W#churn#E#01kfz3kq7w5ts4h0d5wq0gq1nn", &[]),
        item("EXP#other", "E#TAG#x", &[]),
    ];
    let plan = ttl_cascade(pk, &items, now);
    assert_eq!(plan.ttl, now);
    assert_eq!(
        sks(&plan.keys),
        [
            "E#NAME_REV",
            "FTS#W#churn#E#01kfz3kq7w5ts4h0d5wq0gq1nn",
            RUN,
            &format!("{RUN}#TAG#x"),
        ]
    );
    let mut table = table_of(items.clone());
    apply_expire(&mut table, &plan);
    let listed: Vec<Item> = table.values().cloned().collect();
    assert!(ttl_cascade(pk, &listed, now).keys.is_empty());
    // The experiment exists: nothing is an orphan.
    let mut with_meta = items;
    with_meta.push(item(pk, "E#META", &[]));
    assert!(ttl_cascade(pk, &with_meta, now).keys.is_empty());
}

#[test]
fn cascade_only_on_ttl_removal_of_experiment_meta() {
    let meta = item(EXP, "E#META", &[]);
    let mut c = change(EventName::Remove, Some(meta.clone()), None);
    assert_eq!(cascade_partition(&c), None);
    c.by_ttl_service = true;
    assert_eq!(cascade_partition(&c), Some(EXP));
    let mut c = change(EventName::Remove, Some(run_meta(&[])), None);
    c.by_ttl_service = true;
    assert_eq!(cascade_partition(&c), None);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Tag keys that collide on purpose (tag and param `k`, `mlflow.*` and not,
/// `#`, spaces, Unicode).
fn tag_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("k".to_owned()),
        Just("mlflow.user".to_owned()),
        Just("mlflow.a#b".to_owned()),
        Just("team.x y".to_owned()),
        Just("é/ü".to_owned()),
        Just("spans".to_owned()),
        Just("assess_a1".to_owned()),
        "[a-z.]{1,4}",
    ]
}
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("owl".to_owned()),
        Just("Atlas launch".to_owned()),
        Just("Atlas relaunch".to_owned()),
        "[a-zA-Z0-9 .é-]{0,12}",
    ]
}

#[derive(Debug, Clone)]
struct RunState {
    run_name: Option<String>,
    tags: BTreeMap<String, String>,
    params: BTreeMap<String, String>,
    map: BTreeMap<String, String>,
    has_map: bool,
    stale_fts: Vec<(Option<String>, String)>,
    fields: Vec<&'static str>,
    patterns: Vec<&'static str>,
}

fn run_state() -> impl Strategy<Value = RunState> {
    (
        proptest::option::of(value()),
        proptest::collection::btree_map(tag_key(), value(), 0..5),
        proptest::collection::btree_map(tag_key(), value(), 0..3),
        proptest::collection::btree_map(tag_key(), value(), 0..4),
        any::<bool>(),
        proptest::collection::vec((proptest::option::of(tag_key()), value()), 0..3),
        proptest::sample::subsequence(
            vec!["run_tag_value", "run_param_value", "trace_tag_value"],
            0..=3,
        ),
        proptest::sample::subsequence(vec!["team.*", "k", "*"], 0..=3),
    )
        .prop_map(
            |(run_name, tags, params, map, has_map, stale_fts, fields, patterns)| RunState {
                run_name,
                tags,
                params,
                map,
                has_map,
                stale_fts,
                fields,
                patterns,
            },
        )
}

fn build(state: &RunState) -> (Config, Table) {
    let mut cfg_items = vec![trigram(&state.fields)];
    let mut ps = vec!["mlflow.*"];
    ps.extend(&state.patterns);
    cfg_items.push(patterns("DENORMALIZE_TAGS", &ps));
    let cfg = config(&cfg_items);
    let mut attrs = vec![];
    if let Some(name) = &state.run_name {
        attrs.push(("run_name", s(name)));
    }
    if state.has_map {
        let entries: Vec<(&str, AttributeValue)> =
            state.map.iter().map(|(k, v)| (k.as_str(), s(v))).collect();
        attrs.push(("tags", map(&entries)));
    }
    let mut items = vec![run_meta(&attrs)];
    items.extend(state.tags.iter().map(|(k, v)| run_tag(k, v)));
    items.extend(state.params.iter().map(|(k, v)| run_param(k, v)));
    for (field, text) in &state.stale_fts {
        items.extend(run_fts(field.as_deref(), text));
    }
    (cfg, table_of(items))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Apply a plan, plan again: nothing left to do. Apply the first plan a
    /// second time (a duplicate record): the table does not change.
    #[test]
    fn reconcile_is_idempotent(state in run_state()) {
        let p = v01();
        let (cfg, mut table) = build(&state);
        let target = ItemKey::new(EXP, RUN);
        let first = plan(p, &cfg, &table, &target);
        apply(&mut table, &first);
        let second = plan(p, &cfg, &table, &target);
        prop_assert!(second.is_empty(), "{:#?}", second);
        let before = table.clone();
        apply(&mut table, &first);
        prop_assert_eq!(&before, &table);
        // Every tag the config wants is in the map, with its value.
        let Some(AttributeValue::M(m)) = table[&target].get("tags") else {
            prop_assert!(first.maps.is_empty());
            return Ok(());
        };
        for (k, v) in &state.tags {
            if !k.is_empty() && cfg.should_denormalize(Some(&EXP[4..]), k) {
                prop_assert_eq!(m.get(k), Some(&s(v)));
            }
        }
        // No entry without a tag item.
        for k in m.keys() {
            prop_assert!(state.tags.contains_key(k), "{}", k);
        }
    }

    /// Planning never writes anything for a state that was planned and
    /// applied under another configuration, then re-planned under this one,
    /// twice in a row (config changes converge too).
    #[test]
    fn config_changes_converge(a in run_state(), b in run_state()) {
        let p = v01();
        let (cfg_a, mut table) = build(&a);
        let (cfg_b, _) = build(&b);
        let target = ItemKey::new(EXP, RUN);
        let under_a = plan(p, &cfg_a, &table, &target);
        apply(&mut table, &under_a);
        let first = plan(p, &cfg_b, &table, &target);
        apply(&mut table, &first);
        prop_assert!(plan(p, &cfg_b, &table, &target).is_empty());
    }
}
