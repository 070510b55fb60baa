#![no_main]
//! Takes arbitrary bytes as a search query: parsing, the lexical search and the snippet; see
//! `paperscout_index::fuzz_search` for what must hold. (The whole HTTP path is fuzzed by
//! `.ci/api-fuzz` from the OpenAPI document.)

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| paperscout_index::fuzz_search(data));
