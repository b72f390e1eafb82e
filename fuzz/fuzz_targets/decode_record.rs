//! Any bytes as a stream record or a whole event, through the decoder and
//! the first planning step, in both table formats: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::plan::{cascade_partition, targets_of};
use mlflow_ddb_core::stream::{decode_json_event, decode_json_record, decode_json_slice};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    for format in TableFormat::ALL {
        let profile = format.profile();
        let _ = decode_json_slice(profile, data);
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
            continue;
        };
        let _ = decode_json_event(profile, &value);
        if let Ok(change) = decode_json_record(profile, &value) {
            let _ = targets_of(profile, &config, &change);
            let _ = cascade_partition(&change);
            let _ = change.to_owned().key.to_string();
        }
    }
});
