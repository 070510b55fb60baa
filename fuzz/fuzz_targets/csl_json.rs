#![no_main]
//! Parses arbitrary bytes as `csl_json`; see `paperscout_ingest::fuzz_check` for what must hold.

use libfuzzer_sys::fuzz_target;
use paperscout_ingest::{fuzz_check, Format};

fuzz_target!(|data: &[u8]| fuzz_check(Format::CslJson, data));
