//! `ItemKind::parse` / `ItemKind::key`: data-driven cases from the keys the
//! reference store writes, and property tests of the round trip.

use mlflow_ddb_core::config::ConfigKey;
use mlflow_ddb_core::format::{FtsEntityType, FtsKey, FtsLevel, Profile, TableFormat};
use mlflow_ddb_core::item::ItemKey;
use mlflow_ddb_core::keys::*;
use proptest::prelude::*;

fn v01() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}
fn main_() -> &'static Profile {
    Profile::of(TableFormat::Main)
}

fn e(s: &str) -> ExperimentId {
    ExperimentId::parse(s).expect("test id")
}
fn r(s: &str) -> RunId {
    RunId::parse(s).expect("test id")
}
fn t(s: &str) -> TraceId {
    TraceId::parse(s).expect("test id")
}
fn m(s: &str) -> ModelId {
    ModelId::parse(s).expect("test id")
}
fn k(s: &str) -> TagKey {
    TagKey::new(s)
}

/// Parse `(pk, sk)` with `profile`, compare with `expected`, and format back.
fn check(profile: &Profile, pk: &str, sk: &str, expected: ItemKind) {
    let kind = ItemKind::parse(profile, pk, sk);
    assert_eq!(kind, expected, "{pk} / {sk}");
    assert_eq!(kind.key(), ItemKey::new(pk, sk), "{pk} / {sk}");
}

const E: &str = "EXP#01kfz3kq7w5ts4h0d5wq0gq1nn";
const RUN: &str = "01hf7yat000g8dht58zxfc6esx";

#[test]
fn experiment_partition() {
    let ex = || e("01kfz3kq7w5ts4h0d5wq0gq1nn");
    let p = v01();
    check(
        p,
        E,
        "E#META",
        ItemKind::ExperimentMeta { experiment: ex() },
    );
    check(
        p,
        E,
        "E#NAME_REV",
        ItemKind::ExperimentNameRev { experiment: ex() },
    );
    check(
        p,
        E,
        "E#TAG#mlflow.note.content",
        ItemKind::ExperimentTag {
            experiment: ex(),
            key: k("mlflow.note.content"),
        },
    );
    // Everything after the marker is the key, `#TAG#` included.
    check(
        p,
        E,
        "E#TAG#a#TAG#b",
        ItemKind::ExperimentTag {
            experiment: ex(),
            key: k("a#TAG#b"),
        },
    );
    check(
        p,
        E,
        &format!("R#{RUN}"),
        ItemKind::RunMeta {
            experiment: ex(),
            run: r(RUN),
        },
    );
    check(
        p,
        E,
        &format!("R#{RUN}#TAG#k#1 é/x.y"),
        ItemKind::RunTag {
            experiment: ex(),
            run: r(RUN),
            key: k("k#1 é/x.y"),
        },
    );
    check(
        p,
        E,
        &format!("R#{RUN}#TAG#"),
        ItemKind::RunTag {
            experiment: ex(),
            run: r(RUN),
            key: k(""),
        },
    );
    check(
        p,
        E,
        &format!("R#{RUN}#PARAM#lr"),
        ItemKind::RunParam {
            experiment: ex(),
            run: r(RUN),
            key: k("lr"),
        },
    );
    for (rest, child) in [
        ("METRIC#acc", RunChildKind::Metric),
        (
            "MHIST#acc#P#00000000000000000001#1700000001000",
            RunChildKind::MetricHistory,
        ),
        ("INPUT#01abc", RunChildKind::Input),
        ("INPUT#01abc#ITAG#mlflow.data.context", RunChildKind::Input),
        ("LM#m-1", RunChildKind::LoggedModel),
        ("OUTPUT#m-1", RunChildKind::Output),
        ("TAGS", RunChildKind::Unknown),
        ("", RunChildKind::Unknown),
    ] {
        let kind = ItemKind::RunChild {
            experiment: ex(),
            run: r(RUN),
            rest: rest.to_owned(),
        };
        assert_eq!(kind.run_child_kind(), Some(child), "{rest}");
        check(p, E, &format!("R#{RUN}#{rest}"), kind);
    }
    check(
        p,
        E,
        "T#tr-0123abcd",
        ItemKind::TraceMeta {
            experiment: ex(),
            trace: t("tr-0123abcd"),
        },
    );
    check(
        p,
        E,
        "T#tr-0123abcd#TAG#mlflow.traceName",
        ItemKind::TraceTag {
            experiment: ex(),
            trace: t("tr-0123abcd"),
            key: k("mlflow.traceName"),
        },
    );
    check(
        p,
        E,
        "T#tr-0123abcd#ASSESS#01m7y1g0khs2ekkf8s3qz2q8v6",
        ItemKind::TraceAssessment {
            experiment: ex(),
            trace: t("tr-0123abcd"),
            assessment: AssessmentId::parse("01m7y1g0khs2ekkf8s3qz2q8v6").expect("id"),
        },
    );
    for (rest, child) in [
        ("RMETA#mlflow.sourceRun", TraceChildKind::RequestMetadata),
        ("CLIENTPTR", TraceChildKind::ClientPointer),
        ("SPANS", TraceChildKind::Spans),
        // An assessment id never contains `#`.
        ("ASSESS#a#b", TraceChildKind::Unknown),
        ("ASSESS#", TraceChildKind::Unknown),
    ] {
        let kind = ItemKind::TraceChild {
            experiment: ex(),
            trace: t("tr-0123abcd"),
            rest: rest.to_owned(),
        };
        assert_eq!(kind.trace_child_kind(), Some(child), "{rest}");
        check(p, E, &format!("T#tr-0123abcd#{rest}"), kind);
    }
    check(
        p,
        E,
        &format!("RANK#m#acc#0000009999999999.8999#{RUN}"),
        ItemKind::Rank {
            experiment: ex(),
            rest: format!("m#acc#0000009999999999.8999#{RUN}"),
        },
    );
    check(
        p,
        E,
        "D#iris#abc123",
        ItemKind::Dataset {
            experiment: ex(),
            rest: "iris#abc123".to_owned(),
        },
    );
    check(
        p,
        E,
        &format!("DLINK#iris#abc123#R#{RUN}"),
        ItemKind::DatasetLink {
            experiment: ex(),
            rest: format!("iris#abc123#R#{RUN}"),
        },
    );
    // Keys no writer produces.
    for sk in ["R#", "T#", "R##TAG#x", "E#METADATA", "X#1", "", "E#TAGS"] {
        check(p, E, sk, ItemKind::Other(ItemKey::new(E, sk)));
    }
    check(
        p,
        "EXP#",
        "E#META",
        ItemKind::Other(ItemKey::new("EXP#", "E#META")),
    );
    check(
        p,
        "EXP#a#b",
        "E#META",
        ItemKind::Other(ItemKey::new("EXP#a#b", "E#META")),
    );
}

#[test]
fn model_partition() {
    let pk = "RM#01kfz3m0aa1q2w3e4r5t6y7u8i";
    let mo = || m("01kfz3m0aa1q2w3e4r5t6y7u8i");
    let p = v01();
    check(p, pk, "M#META", ItemKind::ModelMeta { model: mo() });
    check(p, pk, "M#NAME_REV", ItemKind::ModelNameRev { model: mo() });
    check(
        p,
        pk,
        "M#TAG#mlflow.domain",
        ItemKind::ModelTag {
            model: mo(),
            key: k("mlflow.domain"),
        },
    );
    check(
        p,
        pk,
        "M#ALIAS#champion",
        ItemKind::ModelAlias {
            model: mo(),
            alias: Alias::new("champion"),
        },
    );
    check(
        p,
        pk,
        "V#00000001",
        ItemKind::ModelVersion {
            model: mo(),
            version: VersionId::parse("00000001").expect("id"),
        },
    );
    check(
        p,
        pk,
        "V#00000001#TAG#mlflow.stage.note",
        ItemKind::VersionTag {
            model: mo(),
            version: VersionId::parse("00000001").expect("id"),
            key: k("mlflow.stage.note"),
        },
    );
    for sk in ["V#00000001#X", "V#", "E#META", "R#abc"] {
        check(p, pk, sk, ItemKind::Other(ItemKey::new(pk, sk)));
    }
}

#[test]
fn fts_config_ops_and_other_partitions() {
    let p = v01();
    let fts = |level, token: &str, entity, id: &str, field: Option<&str>| FtsKey {
        level,
        token: token.to_owned(),
        entity_type: entity,
        entity_id: id.to_owned(),
        field: field.map(str::to_owned),
    };
    check(
        p,
        E,
        "FTS#W#churn#E#01kfz3kq7w5ts4h0d5wq0gq1nn",
        ItemKind::FtsForward {
            pk: E.to_owned(),
            fts: fts(
                FtsLevel::W,
                "churn",
                FtsEntityType::E,
                "01kfz3kq7w5ts4h0d5wq0gq1nn",
                None,
            ),
            format: TableFormat::V0_1,
        },
    );
    check(
        p,
        E,
        &format!("FTS_REV#R#{RUN}#k#1 é/x.y#3#odd"),
        ItemKind::FtsReverse {
            pk: E.to_owned(),
            fts: fts(
                FtsLevel::Three,
                "odd",
                FtsEntityType::R,
                RUN,
                Some("k#1 é/x.y"),
            ),
            format: TableFormat::V0_1,
        },
    );
    // A main-format forward key read with the v0.1 profile is not FTS.
    check(
        p,
        E,
        "FTS#W#E#churn#01kfz",
        ItemKind::Other(ItemKey::new(E, "FTS#W#E#churn#01kfz")),
    );
    check(
        main_(),
        E,
        "FTS#2#E#rn#01kfz",
        ItemKind::FtsForward {
            pk: E.to_owned(),
            fts: fts(FtsLevel::Two, "rn", FtsEntityType::E, "01kfz", None),
            format: TableFormat::Main,
        },
    );
    check(
        p,
        "CONFIG",
        "DENORMALIZE_TAGS",
        ItemKind::Config(ConfigKey::DenormalizeTags),
    );
    check(
        p,
        "CONFIG",
        "DENORMALIZE_TAGS#EXP#01kfz",
        ItemKind::Config(ConfigKey::ExperimentDenormalizeTags("01kfz".to_owned())),
    );
    check(
        p,
        "CONFIG",
        "FTS_TRIGRAM_FIELDS",
        ItemKind::Config(ConfigKey::FtsTrigramFields),
    );
    check(
        p,
        "CONFIG",
        "TTL_POLICY",
        ItemKind::Config(ConfigKey::TtlPolicy),
    );
    check(
        p,
        "CONFIG",
        "SOMETHING_ELSE",
        ItemKind::Other(ItemKey::new("CONFIG", "SOMETHING_ELSE")),
    );
    check(
        p,
        "OPS#checkpoint",
        "shard-0001",
        ItemKind::Ops {
            pk: "OPS#checkpoint".to_owned(),
            sk: "shard-0001".to_owned(),
        },
    );
    for (pk, sk) in [
        ("WORKSPACE#default", "META"),
        ("USER#ana", "U#META"),
        ("USER#ana", "U#PERM#1"),
        ("", ""),
    ] {
        check(p, pk, sk, ItemKind::Other(ItemKey::new(pk, sk)));
    }
}

#[test]
fn main_kinds() {
    let p = main_();
    check(
        p,
        E,
        "LM#m-1",
        ItemKind::LoggedModelMeta {
            experiment: e("01kfz3kq7w5ts4h0d5wq0gq1nn"),
            model: LoggedModelId::parse("m-1").expect("id"),
        },
    );
    check(
        p,
        E,
        "LM#m-1#TAG#mlflow.x",
        ItemKind::LoggedModelTag {
            experiment: e("01kfz3kq7w5ts4h0d5wq0gq1nn"),
            model: LoggedModelId::parse("m-1").expect("id"),
            key: k("mlflow.x"),
        },
    );
    check(
        p,
        "DS#d-1",
        "DS#TAG#owner",
        ItemKind::EvalDatasetTag {
            dataset: DatasetId::parse("d-1").expect("id"),
            key: k("owner"),
        },
    );
    check(
        p,
        "GW_ENDPOINT#g-1",
        "GW#META",
        ItemKind::GatewayEndpointMeta {
            endpoint: GatewayEndpointId::parse("g-1").expect("id"),
        },
    );
}

#[test]
fn relevance_and_derived() {
    let p = v01();
    for (sk, relevance) in [
        ("E#META", Relevance::Target),
        ("E#TAG#x", Relevance::Source),
        ("R#r1", Relevance::Target),
        ("R#r1#TAG#x", Relevance::Source),
        ("R#r1#PARAM#x", Relevance::Source),
        ("R#r1#METRIC#acc", Relevance::Irrelevant),
        ("R#r1#MHIST#acc#P#1#2", Relevance::Irrelevant),
        ("RANK#m#acc#1#r1", Relevance::Irrelevant),
        ("T#tr-1", Relevance::Target),
        ("T#tr-1#ASSESS#a1", Relevance::Source),
        ("T#tr-1#SPANS", Relevance::Irrelevant),
        ("FTS#W#churn#E#1", Relevance::Derived),
        ("FTS_REV#E#1#W#churn", Relevance::Derived),
        ("E#NAME_REV", Relevance::Irrelevant),
    ] {
        let kind = ItemKind::parse(p, "EXP#1", sk);
        assert_eq!(kind.relevance(), relevance, "{sk}");
        assert_eq!(kind.is_derived(), relevance == Relevance::Derived, "{sk}");
    }
    assert_eq!(
        ItemKind::parse(p, "OPS#x", "y").relevance(),
        Relevance::Derived
    );
    assert!(ItemKind::parse(p, "OPS#x", "y").is_derived());
    assert_eq!(
        ItemKind::parse(p, "CONFIG", "TTL_POLICY").relevance(),
        Relevance::Config
    );
}

#[test]
fn accessors() {
    let p = v01();
    let kind = ItemKind::parse(p, E, &format!("R#{RUN}#MHIST#acc"));
    assert_eq!(kind.run_id(), Some(&r(RUN)));
    assert_eq!(
        kind.experiment_id().map(|e| e.as_str()),
        Some("01kfz3kq7w5ts4h0d5wq0gq1nn")
    );
    assert_eq!(kind.trace_id(), None);
    let kind = ItemKind::parse(p, E, "T#tr-1#RMETA#x");
    assert_eq!(kind.trace_id(), Some(&t("tr-1")));
    assert_eq!(
        Pk::new(E).experiment_id(),
        Some(e("01kfz3kq7w5ts4h0d5wq0gq1nn"))
    );
    assert_eq!(Pk::new("RM#x").experiment_id(), None);
    assert!(ExperimentId::parse("").is_none());
    assert!(RunId::parse("a#b").is_none());
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Strings made of the pieces keys are made of, so that generated keys hit
/// every branch of the parser: prefixes, markers, `#`, `.`, `/`, spaces,
/// Unicode, and empty pieces.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("#".to_owned()),
        Just("EXP#".to_owned()),
        Just("RM#".to_owned()),
        Just("DS#".to_owned()),
        Just("GW_ENDPOINT#".to_owned()),
        Just("OPS#".to_owned()),
        Just("CONFIG".to_owned()),
        Just("E#META".to_owned()),
        Just("E#TAG#".to_owned()),
        Just("E#NAME_REV".to_owned()),
        Just("R#".to_owned()),
        Just("T#".to_owned()),
        Just("#TAG#".to_owned()),
        Just("#PARAM#".to_owned()),
        Just("#ASSESS#".to_owned()),
        Just("#METRIC#".to_owned()),
        Just("M#META".to_owned()),
        Just("M#TAG#".to_owned()),
        Just("M#ALIAS#".to_owned()),
        Just("V#".to_owned()),
        Just("LM#".to_owned()),
        Just("DS#META".to_owned()),
        Just("GW#TAG#".to_owned()),
        Just("RANK#".to_owned()),
        Just("DLINK#".to_owned()),
        Just("D#".to_owned()),
        Just("FTS#".to_owned()),
        Just("FTS_REV#".to_owned()),
        Just("W#".to_owned()),
        Just("3#".to_owned()),
        Just("2#".to_owned()),
        Just("E#".to_owned()),
        Just("R#".to_owned()),
        Just("DENORMALIZE_TAGS".to_owned()),
        Just("DENORMALIZE_TAGS#EXP#".to_owned()),
        Just("TTL_POLICY".to_owned()),
        "[a-z0-9]{1,6}",
        "[A-Za-z0-9_.\\-/ ]{1,6}",
        "\\PC{1,3}",
    ]
}

fn key_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..7).prop_map(|v| v.concat())
}

fn a_profile() -> impl Strategy<Value = &'static Profile> {
    prop_oneof![Just(v01()), Just(main_())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Every pair of strings parses (never panics) and formats back to itself.
    #[test]
    fn parse_then_format_is_identity(p in a_profile(), pk in key_string(), sk in key_string()) {
        let kind = ItemKind::parse(p, &pk, &sk);
        prop_assert_eq!(kind.key(), ItemKey::new(pk.clone(), sk.clone()), "{:?}", kind);
        // And parsing is stable: the formatted key parses to the same kind.
        let again = ItemKind::parse(p, &pk, &sk);
        prop_assert_eq!(again, kind);
    }

    /// Any tag key (with `#`, `.`, `/`, spaces, Unicode, empty) survives the
    /// trip through every tag kind.
    #[test]
    fn tag_keys_round_trip(key in "\\PC{0,12}", id in "[a-z0-9\\-]{1,12}") {
        let p = v01();
        let ex = e(&id);
        let kinds = [
            ItemKind::ExperimentTag { experiment: ex.clone(), key: k(&key) },
            ItemKind::RunTag { experiment: ex.clone(), run: r(&id), key: k(&key) },
            ItemKind::RunParam { experiment: ex.clone(), run: r(&id), key: k(&key) },
            ItemKind::TraceTag { experiment: ex.clone(), trace: t(&id), key: k(&key) },
            ItemKind::ModelTag { model: m(&id), key: k(&key) },
            ItemKind::VersionTag {
                model: m(&id),
                version: VersionId::parse(&id).expect("id"),
                key: k(&key),
            },
        ];
        for kind in kinds {
            let key = kind.key();
            prop_assert_eq!(ItemKind::parse(p, &key.pk, &key.sk), kind);
        }
    }
}
