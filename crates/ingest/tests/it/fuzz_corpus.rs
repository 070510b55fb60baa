//! Replays the fuzz targets' seeds and every input that once broke a parser
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>--*`) through the checks the fuzz
//! targets run, on stable Rust, in every test run.

use std::path::Path;

use paperscout_ingest::{fuzz_check, Format};

/// Targets of other crates, replayed by their own tests.
const ELSEWHERE: &[&str] = &["search_query"];

fn format(target: &str) -> Format {
    match target {
        "arxiv_api" => Format::ArxivApi,
        "arxiv_oai" => Format::ArxivOai,
        "arxiv_snapshot" => Format::ArxivSnapshot,
        "arxiv_rss" => Format::ArxivRss,
        "hf_daily" => Format::HfDaily,
        "openalex" => Format::OpenAlex,
        "semantic_scholar" => Format::SemanticScholar,
        "bibtex" => Format::Bibtex,
        "ris" => Format::Ris,
        "csl_json" => Format::CslJson,
        "jsonl" => Format::Jsonl,
        "beir" => Format::Beir,
        "listing" => Format::Listing,
        other => panic!("no fuzz target `{other}`"),
    }
}

#[test]
fn seeds_and_regressions_pass_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for target in std::fs::read_dir(fuzz.join("seeds")).unwrap() {
        let target = target.unwrap();
        if !target.file_type().unwrap().is_dir() {
            continue;
        }
        let name = target.file_name().to_string_lossy().into_owned();
        if ELSEWHERE.contains(&name.as_str()) {
            continue;
        }
        for seed in std::fs::read_dir(target.path()).unwrap() {
            let bytes = std::fs::read(seed.unwrap().path()).unwrap();
            fuzz_check(format(&name), &bytes);
            replayed += 1;
        }
    }
    for input in std::fs::read_dir(fuzz.join("regressions")).unwrap() {
        let path = input.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((target, _)) = file.split_once("--") else {
            continue;
        };
        if ELSEWHERE.contains(&target) {
            continue;
        }
        fuzz_check(format(target), &std::fs::read(&path).unwrap());
        replayed += 1;
    }
    assert!(replayed >= 40, "{replayed}");
}
