use std::io::Write;
use std::path::{Path, PathBuf};

use paperscout_ingest::{parse, Format, Input, RecordError};
use paperscout_model::{Paper, Source};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn parse_str(format: Format, text: &str) -> Vec<Result<Paper, RecordError>> {
    parse(format, "input.txt", text.as_bytes(), Source::Listing).collect()
}

fn only_error(format: Format, text: &str) -> RecordError {
    let errors: Vec<_> = parse_str(format, text)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn demo_listing_yields_228_papers_with_clean_titles() {
    let input = Input::resolve(&repo_file("data/encoder-papers.txt"), None).unwrap();
    assert_eq!(input.format, Format::Listing);
    let papers: Vec<Paper> = input
        .records(None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(papers.len(), 228);
    assert_eq!(
        papers[0].title,
        "Prototypical Extreme Multi-label Classification with a Dynamic Margin Loss"
    );
    assert!(papers[0]
        .abstract_text
        .starts_with("Extreme Multi-label Classification (XMC)"));
    assert_eq!(
        papers[1].title,
        "StRE: Self Attentive Edit Quality Prediction in Wikipedia"
    );
    for p in &papers {
        assert!(!p.title.starts_with("Subscribe"), "{}", p.title);
        assert!(!p.title.contains("Get trending"), "{}", p.title);
        assert_eq!(p.title.trim(), p.title);
        assert!(
            p.title.len() < 200 && p.abstract_text.len() > p.title.len(),
            "{}",
            p.title
        );
        assert_eq!(p.id.scheme(), "title");
    }
    let mut ids: Vec<_> = papers.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 228, "titles hash to distinct ids");
}

#[test]
fn listing_without_chrome_keeps_a_title_that_starts_with_subscribe() {
    let papers: Vec<_> = parse_str(
        Format::Listing,
        "Subscribe Me: A Study\nWe study subscriptions.\n\nSecond\nAbstract two.\n",
    )
    .into_iter()
    .collect::<Result<_, _>>()
    .unwrap();
    assert_eq!(papers[0].title, "Subscribe Me: A Study");
    assert_eq!(papers[1].title, "Second");
}

#[test]
fn listing_title_without_abstract_names_the_line() {
    let err = only_error(Format::Listing, "T1\nA1\nT2\n");
    assert_eq!((err.line, err.field.as_deref()), (3, Some("abstract")));
    assert!(
        err.to_string()
            .starts_with("input.txt:3: field `abstract`:"),
        "{err}"
    );
}

#[test]
fn listing_missing_title_line_is_reported_and_pairing_recovers() {
    let long = "word ".repeat(200);
    let results = parse_str(Format::Listing, &format!("T1\nA1\n{long}\nT3\nA3\n"));
    assert_eq!(results.len(), 3);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (3, Some("title")));
    assert_eq!(results[2].as_ref().unwrap().title, "T3");
}

#[test]
fn invalid_utf8_is_a_record_error_on_its_line() {
    let mut bytes = b"{\"_id\":\"1\",\"title\":\"t\",\"text\":\"x\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"_id\":\"2\",\"title\":\"\xff\",\"text\":\"x\"}\n");
    bytes.extend_from_slice(b"{\"_id\":\"3\",\"title\":\"t\",\"text\":\"x\"}\n");
    let results: Vec<_> = parse(Format::Beir, "c.jsonl", &bytes[..], Source::Beir).collect();
    assert_eq!(results.len(), 3);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("UTF-8"), "{err}");
    assert!(results[2].is_ok());
}

#[test]
fn beir_corpus_parses_with_ids_and_text() {
    let input = Input::resolve(
        &repo_file("crates/ingest/tests/data/scifact-head.jsonl"),
        None,
    )
    .unwrap();
    assert_eq!(input.format, Format::Beir);
    let papers: Vec<Paper> = input
        .records(None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(papers.len(), 40);
    assert_eq!(papers[0].id.as_str(), "beir:4983");
    assert!(papers[0]
        .title
        .starts_with("Microstructural development of human newborn"));
    assert!(papers[0]
        .abstract_text
        .starts_with("Alterations of the architecture"));
    assert!(papers.iter().all(|p| p.source == Source::Beir));
}

#[test]
fn beir_folder_resolves_to_its_corpus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corpus.jsonl"),
        "{\"_id\":\"7\",\"title\":\"\",\"text\":\"body\"}\n",
    )
    .unwrap();
    let input = Input::resolve(dir.path(), None).unwrap();
    assert_eq!(
        (input.format, input.path.file_name().unwrap().to_str()),
        (Format::Beir, Some("corpus.jsonl"))
    );
    let empty = tempfile::tempdir().unwrap();
    let err = Input::resolve(empty.path(), None).unwrap_err().to_string();
    assert!(err.contains("corpus.jsonl"), "{err}");
}

#[test]
fn beir_errors_name_line_and_field() {
    let check = |text: &str, line: usize, field: Option<&str>, needle: &str| {
        let err = only_error(Format::Beir, text);
        assert_eq!((err.line, err.field.as_deref()), (line, field), "{err}");
        assert!(err.message.contains(needle), "{err}");
    };
    check(
        "{\"_id\":\"1\",\"text\":\"ok\"}\n{\"title\":\"t\",\"text\":\"x\"}",
        2,
        Some("_id"),
        "missing",
    );
    check(
        "{\"_id\":\"1\",\"title\":5,\"text\":\"x\"}",
        1,
        Some("title"),
        "string",
    );
    check(
        "{\"_id\":\"1\",\"title\":\"t\"}",
        1,
        Some("text"),
        "missing",
    );
    check(
        "\n\n{\"_id\":\"1\",\"title\":\"\",\"text\":\"  \"}",
        3,
        Some("text"),
        "empty",
    );
    check("{\"_id\": \"1\", oops}", 1, None, "JSON");
    check("[1,2]", 1, None, "object");
}

#[test]
fn jsonl_round_trips_papers() {
    let text = r#"{"id":"2106.09685v2","title":"LoRA:  Low-Rank\nAdaptation","abstract":"We propose LoRA.","authors":["Edward J. Hu"],"published":"2021-06-17","categories":["cs.CL"],"links":{"pdf":"https://arxiv.org/pdf/2106.09685","code":"https://github.com/microsoft/LoRA"},"source":"jsonl"}"#;
    let papers: Vec<Paper> = parse_str(Format::Jsonl, text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let p = &papers[0];
    assert_eq!(p.id.as_str(), "arxiv:2106.09685");
    assert_eq!(p.title, "LoRA: Low-Rank Adaptation");
    assert_eq!(p.published.unwrap().to_string(), "2021-06-17");
    assert_eq!(
        p.links.code.as_deref(),
        Some("https://github.com/microsoft/LoRA")
    );
    // What serde writes, the parser reads back unchanged.
    let again: Vec<Paper> = parse_str(Format::Jsonl, &serde_json::to_string(p).unwrap())
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(&again[0], p);
}

#[test]
fn jsonl_errors_name_the_field() {
    let check = |text: &str, field: &str, needle: &str| {
        let err = only_error(Format::Jsonl, text);
        assert_eq!(err.field.as_deref(), Some(field), "{err}");
        assert!(err.message.contains(needle), "{err}");
    };
    check(r#"{"title":"t"}"#, "id", "missing");
    check(r#"{"id":"not an id","title":"t"}"#, "id", "not an arXiv id");
    check(r#"{"id":"2101.00001","title":""}"#, "title", "empty");
    check(
        r#"{"id":"2101.00001","title":"t","published":"yesterday"}"#,
        "published",
        "YYYY-MM-DD",
    );
    check(
        r#"{"id":"2101.00001","title":"t","authors":["a",3]}"#,
        "authors[1]",
        "string",
    );
    check(
        r#"{"id":"2101.00001","title":"t","links":{"pdf":"javascript:alert(1)"}}"#,
        "links.pdf",
        "http",
    );
    check(
        r#"{"id":"2101.00001","title":"t","tilte":"x"}"#,
        "tilte",
        "unknown field",
    );
    check(
        r#"{"id":"2101.00001","title":"t","source":"mars"}"#,
        "source",
        "unknown source",
    );
}

#[test]
fn resolve_reports_missing_files_by_path() {
    let err = Input::resolve(Path::new("/nonexistent/papers.txt"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/papers.txt"), "{err}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f).unwrap();
    let err = Input::resolve(f.path(), None).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
}
mod fuzz_corpus;
mod sources;

#[test]
fn giant_fields_are_refused_and_control_characters_cleaned_in_every_format() {
    let giant = "T".repeat(200_000);
    let cases = [
        (
            Format::Jsonl,
            format!("{{\"id\": \"2401.00001\", \"title\": \"{giant}\", \"abstract\": \"a\"}}"),
            "title",
        ),
        (
            Format::Beir,
            format!(
                "{{\"_id\": \"1\", \"title\": \"T\", \"text\": \"{}\"}}",
                "w ".repeat(30_000)
            ),
            "text",
        ),
        (
            Format::Listing,
            format!("A title\n{}\n", "w ".repeat(30_000)),
            "abstract",
        ),
    ];
    for (format, text, field) in cases {
        let e = only_error(format, &text);
        assert_eq!(e.field.as_deref(), Some(field), "{format:?}: {e}");
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.contains("characters long"), "{e}");
    }
    // Control characters never reach the store: Windows-1252 C1 codes (SciFact's U+0096) become
    // what they stood for, the rest are dropped.
    let cases = [
        (
            Format::Jsonl,
            "{\"id\": \"2401.00001\", \"title\": \"Bell\\u0007s\", \"abstract\": \"a\\u0096b\", \"authors\": [\"\\u001b[31mRed\"]}",
        ),
        (Format::Beir, "{\"_id\": \"1\", \"title\": \"Bell\\u0007s\", \"text\": \"a\\u0096b\"}"),
        (Format::Listing, "Bell\u{7}s\na\u{96}b\n"),
    ];
    for (format, text) in cases {
        let papers: Vec<Paper> = parse_str(format, text)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(papers[0].title, "Bells", "{format:?}");
        assert_eq!(papers[0].abstract_text, "a–b", "{format:?}");
        assert!(
            papers[0].authors.iter().all(|a| a == "[31mRed"),
            "{format:?}"
        );
    }
}
