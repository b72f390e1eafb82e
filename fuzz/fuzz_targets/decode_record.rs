//! Any bytes as a stream record or a whole event, through the decoder and
//! the first planning step, in both table formats: never a panic, and the
//! decoders agree (the claims are in `fuzz/checks/decode_record.rs`, which
//! the stable harness in `make test` checks too).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/decode_record.rs"]
mod decode_record;

fuzz_target!(|data: &[u8]| decode_record::check(data));
