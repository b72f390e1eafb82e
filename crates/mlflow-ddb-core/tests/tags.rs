//! Which META item a tag item denormalizes into, and under which rule
//! (contract §3 for `v0.1`, §7 for `main`).

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat, TagKind};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_core::keys::ItemKind;
use mlflow_ddb_core::tags::*;

fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}
fn main_() -> &'static Profile {
    Profile::of(TableFormat::Main)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Config with global patterns and, for experiment `e1`, extra ones.
fn config(global: &[&str], e1: &[&str]) -> Config {
    let list = |ps: &[&str]| AttributeValue::L(ps.iter().map(|p| s(p)).collect());
    let item = |sk: &str, ps: &[&str]| {
        Item::from(std::collections::HashMap::from([
            ("PK".to_owned(), s("CONFIG")),
            ("SK".to_owned(), s(sk)),
            ("patterns".to_owned(), list(ps)),
        ]))
    };
    Config::from_items([
        &item("DENORMALIZE_TAGS", global),
        &item("DENORMALIZE_TAGS#EXP#e1", e1),
    ])
    .expect("config")
}

/// `(pk, sk)` of a tag item → its target, pattern scope and kind.
fn check(
    profile: &Profile,
    pk: &str,
    sk: &str,
    expected: Option<(&str, &str, Option<&str>, TagKind, &str)>,
) {
    let kind = ItemKind::parse(profile, pk, sk);
    let got = tag_target(&kind).map(|t| {
        (
            t.target,
            t.experiment_id.map(|e| e.as_str().to_owned()),
            t.kind,
            t.key.as_str().to_owned(),
        )
    });
    let want = expected.map(|(tpk, tsk, e, kind, key)| {
        (
            ItemKey::new(tpk, tsk),
            e.map(str::to_owned),
            kind,
            key.to_owned(),
        )
    });
    assert_eq!(got, want, "{pk} / {sk}");
}

#[test]
fn targets_of_tag_items() {
    let p = v01();
    check(
        p,
        "EXP#e1",
        "E#TAG#mlflow.note.content",
        Some((
            "EXP#e1",
            "E#META",
            None,
            TagKind::Experiment,
            "mlflow.note.content",
        )),
    );
    check(
        p,
        "EXP#e1",
        "R#r1#TAG#a#b c/é",
        Some(("EXP#e1", "R#r1", Some("e1"), TagKind::Run, "a#b c/é")),
    );
    check(
        p,
        "EXP#e1",
        "T#tr-1#TAG#mlflow.traceName",
        Some((
            "EXP#e1",
            "T#tr-1",
            Some("e1"),
            TagKind::Trace,
            "mlflow.traceName",
        )),
    );
    check(
        p,
        "RM#m1",
        "M#TAG#team",
        Some(("RM#m1", "M#META", None, TagKind::RegisteredModel, "team")),
    );
    check(
        p,
        "RM#m1",
        "V#00000002#TAG#x",
        Some(("RM#m1", "V#00000002", None, TagKind::ModelVersion, "x")),
    );
    check(
        p,
        "EXP#e1",
        "LM#m-1#TAG#x",
        Some(("EXP#e1", "LM#m-1", Some("e1"), TagKind::LoggedModel, "x")),
    );
    check(
        p,
        "DS#d1",
        "DS#TAG#x",
        Some(("DS#d1", "DS#META", None, TagKind::Dataset, "x")),
    );
    check(
        p,
        "GW_ENDPOINT#g1",
        "GW#TAG#x",
        Some((
            "GW_ENDPOINT#g1",
            "GW#META",
            None,
            TagKind::GatewayEndpoint,
            "x",
        )),
    );
    // Not tags: params, input tags, request metadata, aliases.
    for (pk, sk) in [
        ("EXP#e1", "R#r1#PARAM#x"),
        ("EXP#e1", "R#r1#INPUT#u#ITAG#x"),
        ("EXP#e1", "T#tr-1#RMETA#x"),
        ("RM#m1", "M#ALIAS#x"),
        ("EXP#e1", "R#r1"),
    ] {
        check(p, pk, sk, None);
    }
}

#[test]
fn v0_1_rules() {
    let p = v01();
    let cfg = config(&["mlflow.*", "team.*"], &["proj*"]);
    let wants = |pk: &str, sk: &str| {
        let kind = ItemKind::parse(p, pk, sk);
        let tt = tag_target(&kind).expect("a tag item");
        is_denormalized(p, &cfg, &tt)
    };
    // Global patterns everywhere.
    assert!(wants("EXP#e1", "E#TAG#mlflow.note"));
    assert!(wants("RM#m1", "M#TAG#team.owner"));
    assert!(wants("RM#m1", "V#1#TAG#team.owner"));
    // Experiment patterns for runs and traces of that experiment only.
    assert!(wants("EXP#e1", "R#r1#TAG#project"));
    assert!(wants("EXP#e1", "T#t1#TAG#project"));
    assert!(!wants("EXP#e2", "R#r1#TAG#project"));
    assert!(!wants("EXP#e1", "E#TAG#project"));
    // fnmatch: anchored, case-sensitive.
    assert!(!wants("EXP#e1", "R#r1#TAG#MLflow.user"));
    assert!(!wants("EXP#e1", "R#r1#TAG#x.mlflow.user"));
    // The empty key never (DynamoDB rejects an empty attribute name).
    let everything = config(&["*"], &[]);
    let kind = ItemKind::parse(p, "EXP#e1", "R#r1#TAG#");
    let tt = tag_target(&kind).expect("a tag item");
    assert!(!is_denormalized(p, &everything, &tt));
    // v0.1 does not denormalize main's kinds.
    let kind = ItemKind::parse(p, "EXP#e1", "LM#m#TAG#mlflow.x");
    let tt = tag_target(&kind).expect("a tag item");
    assert!(!is_denormalized(p, &cfg, &tt));
    assert!(map_attrs(p, TagKind::LoggedModel).is_empty());
    assert_eq!(map_attrs(p, TagKind::Experiment), [MapAttr::Tags]);
}

#[test]
fn main_rules() {
    let p = main_();
    let cfg = Config::default();
    let tt = |pk: &str, sk: &str| tag_target(&ItemKind::parse(p, pk, sk)).expect("a tag item");
    // Experiment, logged model, dataset and gateway tags: always.
    assert!(is_denormalized(p, &cfg, &tt("EXP#e1", "E#TAG#anything")));
    assert!(is_denormalized(p, &cfg, &tt("EXP#e1", "LM#m#TAG#anything")));
    assert!(is_denormalized(p, &cfg, &tt("DS#d", "DS#TAG#anything")));
    assert!(is_denormalized(
        p,
        &cfg,
        &tt("GW_ENDPOINT#g", "GW#TAG#anything")
    ));
    // Runs still by pattern.
    assert!(!is_denormalized(p, &cfg, &tt("EXP#e1", "R#r#TAG#anything")));
    assert_eq!(
        map_attrs(p, TagKind::Experiment),
        [MapAttr::Tags, MapAttr::TagsLower, MapAttr::TagsLowerRev]
    );
    assert_eq!(map_attrs(p, TagKind::Run), [MapAttr::Tags]);
}

#[test]
fn desired_entries_copy_and_lower() {
    assert_eq!(
        desired_entries(v01(), TagKind::Experiment, &s("MiXeD")),
        [(MapAttr::Tags, s("MiXeD"))]
    );
    for (value, lower, rev) in [
        (s("Hello World"), "hello world", "dlrow olleh"),
        (s("ΣΑΣ"), "σας", "ςασ"),
        (s("İx"), "i\u{307}x", "x\u{307}i"),
        (s(""), "", ""),
        (AttributeValue::Null(true), "", ""),
    ] {
        assert_eq!(
            desired_entries(main_(), TagKind::Experiment, &value),
            [
                (MapAttr::Tags, value.clone()),
                (MapAttr::TagsLower, s(lower)),
                (MapAttr::TagsLowerRev, s(rev)),
            ],
            "{value:?}"
        );
    }
    assert_eq!(
        tag_prefix(&ItemKind::parse(v01(), "EXP#e1", "R#r1")).as_deref(),
        Some("R#r1#TAG#")
    );
    assert_eq!(
        tag_prefix(&ItemKind::parse(v01(), "RM#m", "V#0001")).as_deref(),
        Some("V#0001#TAG#")
    );
    assert_eq!(
        tag_prefix(&ItemKind::parse(v01(), "EXP#e1", "E#META")).as_deref(),
        Some("E#TAG#")
    );
}
