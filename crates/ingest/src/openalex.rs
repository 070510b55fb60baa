//! OpenAlex works (`api.openalex.org/works?…` pages and single works). OpenAlex ships no
//! abstract text, only `abstract_inverted_index` (word → positions), which is turned back into
//! text here. A work's arXiv id is found among its locations, so that it merges with the arXiv
//! record of the same paper.

use paperscout_model::{Paper, PaperId, Source};
use serde_json::Value;

use crate::common::{arxiv_id, date, document_text, finish, paper_with_ids};
use crate::json_doc::{self, path, str_field, url_field, Top};
use crate::lines::Fault;
use crate::RecordError;

/// More words than any abstract: an index claiming more is refused rather than rebuilt.
const MAX_ABSTRACT_WORDS: usize = 20_000;

pub fn parse_document(
    name: &str,
    bytes: &[u8],
) -> Result<Vec<Result<Paper, RecordError>>, RecordError> {
    let text = document_text(name, bytes)?;
    let Top::Object(top) = json_doc::parse_top(name, text)? else {
        return Err(RecordError::new(
            name,
            1,
            "expected an OpenAlex object (a work, or a page with `results`)",
        ));
    };
    if let Some(error) = top.get("error") {
        let message = top.get("message").map(|m| m.get()).unwrap_or_default();
        return Err(RecordError::new(
            name,
            json_doc::line(text, error),
            format!("OpenAlex answered an error: {} {message}", error.get()),
        ));
    }
    let works: Vec<(usize, Value)> = match top.get("results") {
        Some(results) => {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(results.get())
                .map_err(|e| {
                    RecordError::new(
                        name,
                        json_doc::line(text, results),
                        format!("field `results`: {e}"),
                    )
                })?;
            let mut lines = json_doc::Lines::new(text);
            items
                .into_iter()
                .map(|raw| Ok((lines.of(raw), json_doc::value(name, text, raw)?)))
                .collect::<Result<_, RecordError>>()?
        }
        None if top.contains_key("id") => {
            vec![(
                1,
                serde_json::from_str(text)
                    .map_err(|e| RecordError::new(name, e.line().max(1), e.to_string()))?,
            )]
        }
        None => {
            return Err(RecordError::new(
                name,
                1,
                "neither a work (`id`) nor a page of works (`results`)",
            ))
        }
    };
    Ok(works
        .into_iter()
        .map(|(line, work)| {
            let record =
                str_field(&work, "id").map(|id| id.rsplit('/').next().unwrap_or(id).to_string());
            work_paper(&work).map_err(|f| f.record(record.as_deref()).at(name, line))
        })
        .collect())
}

fn work_paper(work: &Value) -> Result<Paper, Fault> {
    if !work.is_object() {
        return Err(Fault::new("expected an object (a work)"));
    }
    let title = str_field(work, "title")
        .or_else(|| str_field(work, "display_name"))
        .unwrap_or_default();
    let abstract_text = match work.get("abstract_inverted_index") {
        None | Some(Value::Null) => String::new(),
        Some(index) => rebuild_abstract(index)?,
    };
    let mut ids: Vec<PaperId> = Vec::new();
    if let Some(doi) =
        str_field(work, "doi").or_else(|| path(work, &["ids", "doi"]).and_then(Value::as_str))
    {
        ids.push(PaperId::doi(doi).map_err(|e| Fault::field("doi", e.to_string()))?);
    }
    // An arXiv location (`https://arxiv.org/abs/2312.07559`) names the arXiv paper.
    if let Some(Value::Array(locations)) = work.get("locations") {
        for url in locations
            .iter()
            .filter_map(|l| str_field(l, "landing_page_url"))
        {
            if url.contains("arxiv.org/abs/") {
                if let Ok((id, _)) = arxiv_id(url) {
                    ids.push(id);
                }
            }
        }
    }
    let mut paper = paper_with_ids(ids, title, abstract_text, Source::OpenAlex);
    if let Some(d) = str_field(work, "publication_date") {
        paper.published = Some(date("publication_date", d)?);
    }
    if let Some(Value::Array(authorships)) = work.get("authorships") {
        paper.authors = authorships
            .iter()
            .filter_map(|a| path(a, &["author", "display_name"]).and_then(Value::as_str))
            .map(paperscout_model::clean_text)
            .filter(|n| !n.is_empty())
            .collect();
    }
    paper.links.pdf = url_field(path(work, &["best_oa_location", "pdf_url"]))
        .or_else(|| url_field(path(work, &["primary_location", "pdf_url"])));
    finish(paper)
}

/// `{"Large": [0], "language": [1, 7], ...}` → `Large language ...`.
fn rebuild_abstract(index: &Value) -> Result<String, Fault> {
    let field = "abstract_inverted_index";
    let Value::Object(words) = index else {
        return Err(Fault::field(field, "must be an object of word → positions"));
    };
    let mut placed: Vec<(u64, &str)> = Vec::new();
    for (word, positions) in words {
        let Value::Array(positions) = positions else {
            return Err(Fault::field(
                field,
                format!("the positions of `{word}` must be an array"),
            ));
        };
        for p in positions {
            let p = p.as_u64().ok_or_else(|| {
                Fault::field(
                    field,
                    format!("a position of `{word}` is not a whole number: {p}"),
                )
            })?;
            placed.push((p, word));
            if placed.len() > MAX_ABSTRACT_WORDS {
                return Err(Fault::field(
                    field,
                    format!("more than {MAX_ABSTRACT_WORDS} words"),
                ));
            }
        }
    }
    placed.sort_unstable();
    let mut out = String::new();
    for (_, word) in placed {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_abstracts_from_the_inverted_index() {
        let index = serde_json::json!({"language": [1, 3], "Large": [0], "models": [2]});
        assert_eq!(
            rebuild_abstract(&index).unwrap(),
            "Large language models language"
        );
        assert!(rebuild_abstract(&serde_json::json!({"a": [-1]})).is_err());
        assert!(rebuild_abstract(&serde_json::json!([1])).is_err());
    }
}
