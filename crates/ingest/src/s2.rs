//! The Semantic Scholar Graph API's paper JSON: search pages (`{"total", "offset", "next",
//! "data"}`), bulk search pages (`{"total", "token", "data"}`), batch answers (an array with
//! `null` for each id not found), single papers, and title matches. Only the fields asked for
//! are present, so every field is optional but the title.

use paperscout_model::{Paper, PaperId, Source};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::common::{arxiv_id, date, document_text, finish, paper_with_ids};
use crate::json_doc::{self, str_field, url_field, Top};
use crate::lines::Fault;
use crate::RecordError;

pub fn parse_document(
    name: &str,
    bytes: &[u8],
) -> Result<Vec<Result<Paper, RecordError>>, RecordError> {
    let text = document_text(name, bytes)?;
    let items: Vec<&RawValue> = match json_doc::parse_top(name, text)? {
        Top::Array(items) => items,
        Top::Object(top) => {
            if let Some(error) = top.get("error").or_else(|| top.get("message")) {
                return Err(RecordError::new(
                    name,
                    json_doc::line(text, error),
                    format!("Semantic Scholar answered an error: {}", error.get()),
                ));
            }
            match top.get("data") {
                Some(data) => serde_json::from_str(data.get()).map_err(|e| {
                    RecordError::new(
                        name,
                        json_doc::line(text, data),
                        format!("field `data`: {e}"),
                    )
                })?,
                None if top.contains_key("paperId") => {
                    let raw: &RawValue = serde_json::from_str(text)
                        .map_err(|e| RecordError::new(name, e.line().max(1), e.to_string()))?;
                    vec![raw]
                }
                // `{"total": 0, "offset": 0}`: a search without results.
                None if top.contains_key("total") => Vec::new(),
                None => {
                    return Err(RecordError::new(
                        name,
                        1,
                        "neither a paper (`paperId`) nor a page of papers (`data`)",
                    ))
                }
            }
        }
    };
    let mut out = Vec::new();
    let mut lines = json_doc::Lines::new(text);
    for raw in items {
        let line = lines.of(raw);
        let v = json_doc::value(name, text, raw)?;
        // A batch answers `null` for an id it does not know: nothing to ingest.
        if v.is_null() {
            continue;
        }
        if v.get("authorId").is_some() && v.get("paperId").is_none() {
            return Err(RecordError::new(
                name,
                line,
                "this is a list of authors, not of papers",
            ));
        }
        let record = str_field(&v, "paperId").map(str::to_string);
        out.push(paper(&v).map_err(|f| f.record(record.as_deref()).at(name, line)));
    }
    Ok(out)
}

fn paper(v: &Value) -> Result<Paper, Fault> {
    if !v.is_object() {
        return Err(Fault::new("expected an object (a paper)"));
    }
    let title = str_field(v, "title").ok_or_else(|| {
        Fault::field(
            "title",
            "missing; ask the API for fields=title,abstract,authors,externalIds,publicationDate",
        )
    })?;
    let mut ids: Vec<PaperId> = Vec::new();
    let external = v.get("externalIds").filter(|e| e.is_object());
    if let Some(arxiv) = external.and_then(|e| str_field(e, "ArXiv")) {
        ids.push(arxiv_id(arxiv)?.0);
    }
    if let Some(doi) = external.and_then(|e| str_field(e, "DOI")) {
        ids.push(PaperId::doi(doi).map_err(|e| Fault::field("externalIds.DOI", e.to_string()))?);
    }
    let mut paper = paper_with_ids(
        ids,
        title,
        str_field(v, "abstract").unwrap_or_default().to_string(),
        Source::SemanticScholar,
    );
    paper.published = match (
        str_field(v, "publicationDate"),
        v.get("year").and_then(Value::as_i64),
    ) {
        (Some(d), _) => Some(date("publicationDate", d)?),
        // A year alone dates the paper from 1 January.
        (None, Some(year)) => i32::try_from(year)
            .ok()
            .and_then(|y| chrono::NaiveDate::from_ymd_opt(y, 1, 1)),
        (None, None) => None,
    };
    if let Some(Value::Array(authors)) = v.get("authors") {
        paper.authors = authors
            .iter()
            .filter_map(|a| str_field(a, "name"))
            .map(paperscout_model::clean_text)
            .collect();
    }
    if let Some(Value::Array(fields)) = v.get("fieldsOfStudy") {
        paper.categories = fields
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
    }
    paper.links.pdf = url_field(v.get("openAccessPdf").and_then(|p| p.get("url")));
    finish(paper)
}
