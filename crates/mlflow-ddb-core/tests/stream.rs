//! Stream record decoding, driven by fixtures in `tests/fixtures/events/`:
//! - `reference_v0_1_session.json`: every record a session of the `v0.1`
//!   reference store produced on a table with a NEW_AND_OLD_IMAGES stream
//!   (moto_server), in Lambda's shape (see `tests/fixtures/plan/gen_reference_v0_1.py`);
//! - `handcrafted.json`: TTL removals, view types, and malformed records,
//!   each annotated with the outcome it must decode to (`_expect`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::AttributeValue;
use mlflow_ddb_core::keys::{ItemKind, Relevance};
use mlflow_ddb_core::stream::*;
use mlflow_ddb_core::CoreError;
use proptest::prelude::*;
use serde_json::Value;

fn profile() -> &'static Profile {
    Profile::of(TableFormat::V0_1)
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn records(event: &Value) -> Vec<Value> {
    event["Records"].as_array().cloned().unwrap_or_default()
}

/// The variant name of a kind (`RunTag`, `ExperimentMeta` …).
fn kind_name(kind: &ItemKind) -> String {
    let debug = format!("{kind:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn problem_name(problem: &RecordProblem) -> String {
    kind_name_of(&format!("{problem:?}"))
}

fn kind_name_of(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Decode `record` and compare with its `_expect` annotation.
fn check(record: &Value, expect: &Value) {
    let got = decode_json_record(profile(), record);
    let s = |name: &str| expect.get(name).and_then(Value::as_str);
    match (s("error"), got) {
        (Some(error), Err(e)) => {
            let CoreError::StreamRecord { seq, key, problem } = &e else {
                panic!("unexpected error variant {e:?}");
            };
            assert_eq!(problem_name(problem), error, "{record}");
            assert_eq!(seq.as_ref().map(|s| s.as_str()), s("seq"), "{record}");
            assert_eq!(key.as_ref().map(|k| k.pk.as_str()), s("pk"), "{record}");
            assert_eq!(key.as_ref().map(|k| k.sk.as_str()), s("sk"), "{record}");
            let message = e.to_string();
            assert!(!message.contains("secret-value"), "{message}");
            assert!(!format!("{e:?}").contains("secret-value"), "{e:?}");
        }
        (None, Ok(change)) => {
            assert_eq!(change.event.as_str(), s("event").unwrap_or_default());
            assert_eq!(Some(change.key.pk.as_str()), s("pk"));
            assert_eq!(Some(change.key.sk.as_str()), s("sk"));
            assert_eq!(Some(kind_name(&change.kind).as_str()), s("kind"));
            assert_eq!(
                Some(change.by_ttl_service),
                expect.get("by_ttl_service").and_then(Value::as_bool)
            );
        }
        (want, got) => panic!("record {record}: expected {want:?}, got {got:?}"),
    }
}

#[test]
fn handcrafted_records_decode_as_annotated() {
    let event = fixture("handcrafted.json");
    let all = records(&event);
    assert!(all.len() >= 20);
    for record in &all {
        check(record, &record["_expect"]);
    }
    // The whole event decodes record by record: the bad ones do not hide
    // the good ones.
    let decoded = decode_json_event(profile(), &event).expect("a Records array");
    assert_eq!(decoded.len(), all.len());
    assert_eq!(decoded.iter().filter(|r| r.is_ok()).count(), 7);
}

/// `tail` and the on-failure read-back get typed records from the Streams
/// API (`aws_lambda_events`' `EventRecord`) and hand the handler their
/// Lambda JSON: through that round trip the one decoder sees the same change.
#[test]
fn a_typed_record_round_trip_decodes_to_the_same_change() {
    let mut compared = 0;
    for name in ["handcrafted.json", "reference_v0_1_session.json"] {
        for record in records(&fixture(name)) {
            // Only records the typed model can represent (lower-case
            // `userIdentity` keys, well-formed images, a SizeBytes).
            let Ok(typed) = serde_json::from_value::<EventRecord>(record.clone()) else {
                continue;
            };
            if record["userIdentity"].get("Type").is_some() {
                continue;
            }
            let again = serde_json::to_value(&typed).expect("a typed record is JSON");
            assert_eq!(
                decode_json_record(profile(), &again),
                decode_json_record(profile(), &record),
                "{record}"
            );
            compared += 1;
        }
    }
    // 306 session records, and the handcrafted ones the typed model holds.
    assert!(compared >= 306 + 12, "{compared}");
}

#[test]
fn reference_session_decodes_completely() {
    let event = fixture("reference_v0_1_session.json");
    // Lambda's typed event deserializes too.
    let typed: Event = serde_json::from_value(event.clone()).expect("a Lambda event");
    assert_eq!(typed.records.len(), records(&event).len());

    let mut relevance: BTreeMap<String, usize> = BTreeMap::new();
    let mut last: Option<SequenceNumber> = None;
    for record in records(&event) {
        let change = decode_json_record(profile(), &record).expect("a valid record");
        // Every key the reference store wrote is a kind we know.
        assert!(
            !matches!(change.kind, ItemKind::Other(_)),
            "unknown kind for {}",
            change.key
        );
        assert!(!change.by_ttl_service);
        match change.event {
            EventName::Insert => assert!(change.old.is_none() && change.new.is_some()),
            EventName::Modify => assert!(change.old.is_some() && change.new.is_some()),
            EventName::Remove => assert!(change.old.is_some() && change.new.is_none()),
        }
        // One shard: sequence numbers increase.
        if let Some(prev) = &last {
            assert!(*prev < change.seq, "{prev} then {}", change.seq);
        }
        last = Some(change.seq.clone());
        *relevance
            .entry(format!("{:?}", change.kind.relevance()))
            .or_default() += 1;
    }
    // Most of what the store writes is FTS items: derived, skipped cheaply.
    let derived = relevance
        .get(&format!("{:?}", Relevance::Derived))
        .copied()
        .unwrap_or_default();
    assert_eq!(derived, 252, "{relevance:?}");
}

#[test]
fn not_json_and_not_an_event() {
    let err = decode_json_slice(profile(), b"{not json").expect_err("not JSON");
    assert!(matches!(
        err,
        CoreError::StreamRecord {
            problem: RecordProblem::NotJson,
            ..
        }
    ));
    let err = decode_json_record(profile(), &Value::from(3)).expect_err("not an object");
    assert!(matches!(
        err,
        CoreError::StreamRecord {
            problem: RecordProblem::NotJson,
            ..
        }
    ));
    let err =
        decode_json_event(profile(), &serde_json::json!({"records": []})).expect_err("no Records");
    assert!(matches!(
        err,
        CoreError::StreamRecord {
            problem: RecordProblem::NoRecords,
            ..
        }
    ));
    let bytes = serde_json::to_vec(&records(&fixture("handcrafted.json"))[0]).expect("bytes");
    let change = decode_json_slice(profile(), &bytes).expect("a valid record");
    assert!(change.by_ttl_service);
}

#[test]
fn error_messages_name_sequence_and_key() {
    let record = &records(&fixture("handcrafted.json"))[10];
    let message = decode_json_record(profile(), record)
        .expect_err("unknown event name")
        .to_string();
    assert_eq!(
        message,
        "stream record 1100000000017454423204 (EXP#01kfz3kq7w5ts4h0d5wq0gq1nn/E#TAG#x): \
         unknown eventName \"UPSERT\""
    );
}

#[test]
fn sequence_numbers_order_numerically() {
    let n = SequenceNumber::new;
    assert!(n("9") < n("10"));
    assert!(n("1100000000017454423009") < n("1100000000017454423100"));
    assert!(n("99999999999999999999") < n("100000000000000000000"));
    assert_eq!(n("5").cmp(&n("5")), std::cmp::Ordering::Equal);
}

#[test]
fn change_helpers() {
    let session = records(&fixture("reference_v0_1_session.json"));
    let changes: Vec<Change> = session
        .iter()
        .filter_map(|r| decode_json_record(profile(), r).ok())
        .collect();
    // The experiment rename is a MODIFY of E#META whose name changed.
    let rename = changes
        .iter()
        .find(|c| {
            matches!(c.kind, ItemKind::ExperimentMeta { .. })
                && c.event == EventName::Modify
                && c.attr_changed("name")
        })
        .expect("the rename");
    assert_eq!(rename.old_s("name"), Some("Churn model / v2"));
    assert_eq!(rename.new_s("name"), Some("Churn model v3"));
    assert!(!rename.is_noop());
}

// ---------------------------------------------------------------------------
// Never panics, never leaks values
// ---------------------------------------------------------------------------

/// A random JSON value, nested a little (never the secret, which only the
/// images hold).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "S|N|M|L|BOOL|NULL|PK|SK|INSERT|REMOVE|[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                "S|N|M|L|BOOL|NULL|SS|B|PK|SK|value|[a-z]{1,3}",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Paths into a record worth mutating.
const PATHS: &[&[&str]] = &[
    &["eventName"],
    &["userIdentity"],
    &["dynamodb"],
    &["dynamodb", "Keys"],
    &["dynamodb", "Keys", "PK"],
    &["dynamodb", "Keys", "SK"],
    &["dynamodb", "NewImage"],
    &["dynamodb", "NewImage", "value"],
    &["dynamodb", "OldImage"],
    &["dynamodb", "OldImage", "PK"],
    &["dynamodb", "SequenceNumber"],
    &["dynamodb", "StreamViewType"],
];

fn set_path(v: &mut Value, path: &[&str], new: Option<Value>) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in init {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(obj) = cur.as_object_mut() {
        match new {
            Some(n) => {
                obj.insert((*last).to_owned(), n);
            }
            None => {
                obj.remove(*last);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Mutated fixture records (fields removed or replaced by random JSON)
    /// decode to a change or an error, never a panic, and an error never
    /// carries a value.
    #[test]
    fn mutated_records_never_panic(
        index in 0usize..27,
        mutations in proptest::collection::vec((0..PATHS.len(), proptest::option::of(json())), 1..4),
    ) {
        let all = records(&fixture("handcrafted.json"));
        let mut record = all[index % all.len()].clone();
        // Put a secret in every image first.
        for image in ["NewImage", "OldImage"] {
            set_path(&mut record, &["dynamodb", image, "value"], Some(serde_json::json!({"S": "secret-value"})));
        }
        for (path, new) in mutations {
            set_path(&mut record, PATHS[path], new);
        }
        match decode_json_record(profile(), &record) {
            Ok(change) => {
                // Images, when kept, are of the key the change names.
                for image in [&change.old, &change.new].into_iter().flatten() {
                    prop_assert_eq!(image.get("PK"), Some(&AttributeValue::S(change.key.pk.clone())));
                    prop_assert_eq!(image.get("SK"), Some(&AttributeValue::S(change.key.sk.clone())));
                }
            }
            Err(e) => {
                prop_assert!(!e.to_string().contains("secret-value"), "{}", e);
                prop_assert!(!format!("{e:?}").contains("secret-value"), "{:?}", e);
            }
        }
        if let Err(e) = decode_json_record_with(profile(), &record, Images::ForModify) {
            prop_assert!(!e.to_string().contains("secret-value"), "{}", e);
        }
        let _ = decode_json_slice(profile(), record.to_string().as_bytes());
    }

    /// Arbitrary JSON never panics either.
    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        let _ = decode_json_record(profile(), &v);
        let _ = decode_json_record_with(profile(), &v, Images::ForModify);
        let _ = decode_json_record_gated(profile(), &v, Images::ForModify, |k| !k.is_derived());
        let _ = decode_json_event(profile(), &v);
    }
}

/// `Images::ForModify` accepts and refuses exactly what `Images::All` does on
/// every fixture record, and differs only in leaving INSERT and REMOVE images
/// unbuilt.
#[test]
fn for_modify_decodes_like_all_without_insert_and_remove_images() {
    let mut checked = (0, 0, 0);
    for name in ["reference_v0_1_session.json", "handcrafted.json"] {
        for record in records(&fixture(name)) {
            let all = decode_json_record(profile(), &record);
            let lazy = decode_json_record_with(profile(), &record, Images::ForModify);
            match (all, lazy) {
                (Ok(mut a), Ok(l)) => {
                    if a.event != EventName::Modify {
                        a.new = None;
                        a.old = None;
                        checked.0 += 1;
                    } else {
                        checked.1 += 1;
                    }
                    assert_eq!(a, l, "{record}");
                }
                (Err(a), Err(l)) => {
                    assert_eq!(a.to_string(), l.to_string(), "{record}");
                    checked.2 += 1;
                }
                (a, l) => panic!("{record}: all {a:?} / for-modify {l:?}"),
            }
        }
    }
    let (unbuilt, modify, refused) = checked;
    assert!(unbuilt > 10 && modify > 5 && refused > 3, "{checked:?}");
}

#[test]
fn for_modify_still_refuses_a_malformed_insert_image() {
    let record = serde_json::json!({"eventName": "INSERT", "dynamodb": {
        "SequenceNumber": "4", "StreamViewType": "NEW_AND_OLD_IMAGES",
        "Keys": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#TAG#k"}},
        "NewImage": {"PK": {"S": "EXP#1"}, "SK": {"S": "E#TAG#k"}, "value": {"S": 5}}}});
    for images in [Images::All, Images::ForModify] {
        match decode_json_record_with(profile(), &record, images) {
            Err(CoreError::StreamRecord { problem, .. }) => {
                assert_eq!(problem, RecordProblem::MalformedImage("NewImage"))
            }
            other => panic!("{images:?}: {other:?}"),
        }
    }
    let mut other_key = record.clone();
    other_key["dynamodb"]["NewImage"]["value"] = serde_json::json!({"S": "v"});
    other_key["dynamodb"]["NewImage"]["SK"] = serde_json::json!({"S": "E#TAG#other"});
    match decode_json_record_with(profile(), &other_key, Images::ForModify) {
        Err(CoreError::StreamRecord { problem, .. }) => {
            assert_eq!(problem, RecordProblem::ImageKeyMismatch("NewImage"))
        }
        other => panic!("{other:?}"),
    }
}

/// The gated decoder parses the key once and either skips the record (its
/// kind, exactly as a full decode names it) or decodes it exactly as
/// `decode_json_record_with` does: on every fixture record, with a gate
/// that wants only sources and targets.
#[test]
fn gated_decoding_skips_by_kind_and_otherwise_decodes_like_the_full_decoder() {
    let wanted = |k: &ItemKind| matches!(k.relevance(), Relevance::Source | Relevance::Target);
    let (mut skipped, mut decoded) = (0, 0);
    for name in ["reference_v0_1_session.json", "handcrafted.json"] {
        for record in records(&fixture(name)) {
            let full = decode_json_record_with(profile(), &record, Images::ForModify);
            match decode_json_record_gated(profile(), &record, Images::ForModify, wanted) {
                Gated::Skipped(kind) => {
                    assert!(!wanted(&kind), "{record}");
                    // What the key alone says: the kind a full decode finds.
                    let pk = record["dynamodb"]["Keys"]["PK"]["S"].as_str().expect("pk");
                    let sk = record["dynamodb"]["Keys"]["SK"]["S"].as_str().expect("sk");
                    assert_eq!(kind, ItemKind::parse(profile(), pk, sk), "{record}");
                    if let Ok(c) = &full {
                        assert_eq!(c.kind, kind, "{record}");
                    }
                    skipped += 1;
                }
                Gated::Decoded(got) => {
                    match (&got, &full) {
                        (Ok(g), Ok(f)) => assert_eq!(g, f, "{record}"),
                        (Err(g), Err(f)) => assert_eq!(g.to_string(), f.to_string(), "{record}"),
                        _ => panic!("{record}: gated {got:?} / full {full:?}"),
                    }
                    decoded += 1;
                }
            }
        }
    }
    assert!(
        skipped > 10 && decoded > 20,
        "{skipped} skipped, {decoded} decoded"
    );
}

#[test]
fn a_skipped_record_is_not_checked_beyond_its_key_and_an_unreadable_key_is_decoded() {
    // An FTS item (our own write) with a malformed image and no sequence
    // number: skipped on its key, the rest is never checked.
    let own = serde_json::json!({"eventName": "BOGUS", "dynamodb": {
        "Keys": {"PK": {"S": "EXP#01m7y1sy3cva228k21dbkxmgca"}, "SK": {"S": "FTS#W#churn#E#01m7y1sy3cva228k21dbkxmgca"}},
        "NewImage": {"PK": {"S": 1}}}});
    let wanted = |k: &ItemKind| matches!(k.relevance(), Relevance::Source | Relevance::Target);
    match decode_json_record_gated(profile(), &own, Images::ForModify, wanted) {
        Gated::Skipped(kind) => assert!(kind.is_derived(), "{kind:?}"),
        other => panic!("{other:?}"),
    }
    // The same record, wanted: the decoder says what is wrong with it.
    match decode_json_record_gated(profile(), &own, Images::ForModify, |_| true) {
        Gated::Decoded(Err(CoreError::StreamRecord { .. })) => {}
        other => panic!("{other:?}"),
    }
    // A key that is not a string cannot be gated: decoded, and refused.
    let bad_key = serde_json::json!({"eventName": "INSERT", "dynamodb": {
        "SequenceNumber": "7", "Keys": {"PK": {"N": "1"}, "SK": {"S": "E#META"}}}});
    match decode_json_record_gated(profile(), &bad_key, Images::ForModify, |_| false) {
        Gated::Decoded(Err(CoreError::StreamRecord { problem, .. })) => {
            assert_eq!(problem, RecordProblem::KeyNotString("PK"))
        }
        other => panic!("{other:?}"),
    }
    // Not an object at all.
    assert!(matches!(
        decode_json_record_gated(profile(), &Value::from(3), Images::All, |_| true),
        Gated::Decoded(Err(_))
    ));
}
