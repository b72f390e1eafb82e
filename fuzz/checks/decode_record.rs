//! What must hold for any bytes given to the stream record decoder, in both
//! table formats. Shared, by `#[path]`, by the `cargo fuzz` target
//! (`fuzz/fuzz_targets/decode_record.rs`, nightly) and by the stable harness
//! `make test` runs (`functions/materializer/tests/fuzz_records.rs`), so both
//! check the same claims:
//!
//! - nothing panics: the JSON decoders, the first planning step
//!   (`targets_of`, `cascade_partition`), an error's message;
//! - every input is decoded or refused with an error, and the decoders agree:
//!   bytes and their parsed JSON decode the same; a whole event decodes
//!   record by record as each record alone; the lean decoder the
//!   materializer uses (`Images::ForModify`, gated by the key's kind) refuses
//!   nothing the full decoder accepts, gives the same change (images aside
//!   for INSERT and REMOVE, which it only checks), and names the same
//!   sequence number and key when both refuse.
//!
//! `check` panics with a message naming the broken claim; the callers turn
//! that into a saved input.

use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::plan::{cascade_partition, targets_of};
use mlflow_ddb_core::stream::{
    decode_json_event, decode_json_record, decode_json_record_gated, decode_json_record_with,
    decode_json_slice, Change, EventName, Gated, Images,
};
use mlflow_ddb_core::CoreError;
use serde_json::Value;

/// Check every claim of the module on `data`.
pub fn check(data: &[u8]) {
    let config = Config::default();
    let value = serde_json::from_slice::<Value>(data).ok();
    for format in TableFormat::ALL {
        let profile = format.profile();
        let from_bytes = decode_json_slice(profile, data);
        let Some(value) = &value else {
            assert!(from_bytes.is_err(), "bytes that are not JSON were decoded");
            continue;
        };
        if let Ok(decoded) = decode_json_event(profile, value) {
            let records = value
                .get("Records")
                .and_then(Value::as_array)
                .expect("decode_json_event accepted an event without a Records array");
            assert_eq!(
                decoded.len(),
                records.len(),
                "a record lost by decode_json_event"
            );
            for (d, r) in decoded.iter().zip(records) {
                assert_eq!(
                    d,
                    &decode_json_record(profile, r),
                    "a record decodes differently within its event"
                );
            }
        }

        let full = decode_json_record(profile, value);
        assert_eq!(
            from_bytes, full,
            "decode_json_slice and decode_json_record disagree"
        );
        let lean = decode_json_record_with(profile, value, Images::ForModify);
        match (&full, &lean) {
            (Ok(f), Ok(l)) => same_change(f, l),
            (Ok(f), Err(e)) => panic!(
                "the lean decoder refuses a {} record the full decoder accepts: {e}",
                f.event.as_str()
            ),
            (Err(_), Ok(l)) => assert!(
                matches!(l.event, EventName::Insert | EventName::Remove),
                "the lean decoder accepts a {} record the full decoder refuses",
                l.event.as_str()
            ),
            (Err(f), Err(l)) => assert_eq!(
                seq_and_key(f),
                seq_and_key(l),
                "the decoders name different records in their errors: {f} / {l}"
            ),
        }

        // The materializer's gate: wanting every kind changes nothing;
        // wanting none skips exactly the records whose key can be read.
        match decode_json_record_gated(profile, value, Images::ForModify, |_| true) {
            Gated::Decoded(g) => assert_eq!(g, lean, "an open gate changes the decoding"),
            Gated::Skipped(kind) => panic!("an open gate skipped a {kind:?}"),
        }
        match decode_json_record_gated(profile, value, Images::ForModify, |_| false) {
            Gated::Skipped(kind) => {
                if let Ok(l) = &lean {
                    assert_eq!(
                        kind, l.kind,
                        "the gate and the decoder disagree on the kind"
                    );
                }
            }
            Gated::Decoded(g) => {
                assert!(g.is_err(), "a closed gate let a readable key through");
                assert_eq!(g, lean, "a closed gate changes the error");
            }
        }

        match &full {
            Ok(change) => {
                let _ = targets_of(profile, &config, change);
                let _ = cascade_partition(change);
                let _ = change.is_noop();
                let _ = change.key.to_string();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// The lean decoding of a record is the full one, without the images of an
/// INSERT or a REMOVE.
fn same_change(full: &Change, lean: &Change) {
    if matches!(full.event, EventName::Insert | EventName::Remove) {
        assert!(
            lean.new.is_none() && lean.old.is_none(),
            "the lean decoder built an image it only checks"
        );
        let without_images = Change {
            new: None,
            old: None,
            ..full.clone()
        };
        assert_eq!(&without_images, lean, "the decoders disagree");
    } else {
        assert_eq!(full, lean, "the decoders disagree on a MODIFY");
    }
}

fn seq_and_key(e: &CoreError) -> String {
    match e {
        CoreError::StreamRecord { seq, key, .. } => format!("{seq:?} {key:?}"),
        other => format!("not a stream record error: {other:?}"),
    }
}
