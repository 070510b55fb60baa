//! CSL-JSON (Zotero's and Mendeley's "CSL JSON" export, citeproc's input): an array of items
//! with `id`, `type`, `title`, `author` (`family`/`given` or `literal`), `issued`
//! (`date-parts` or `raw`), `DOI`, `URL`, `abstract`, and for arXiv preprints
//! `number: "arXiv:…"`. Each item is parsed on its own, so a broken one is named by its `id`
//! and line and the rest still import.

use chrono::NaiveDate;
use paperscout_model::{Paper, PaperId, Source};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::common::{arxiv_pdf, date_prefix, document_text, finish, join_name, paper_with_ids};
use crate::json_doc::{self, str_field, url_field, Top};
use crate::lines::Fault;
use crate::reference::{arxiv_ids_in, starts_with_arxiv_label, Entry};
use crate::RecordError;

pub fn parse_document(
    name: &str,
    bytes: &[u8],
) -> Result<Vec<Result<Paper, RecordError>>, RecordError> {
    Ok(parse_entries(name, bytes)?
        .into_iter()
        .map(|e| e.paper)
        .collect())
}

/// Every item of a CSL-JSON file (an array, or one item alone), in order.
pub fn parse_entries(name: &str, bytes: &[u8]) -> Result<Vec<Entry>, RecordError> {
    let text = document_text(name, bytes)?;
    let items: Vec<&RawValue> = match json_doc::parse_top(name, text)? {
        Top::Array(items) => items,
        Top::Object(_) => vec![serde_json::from_str(text)
            .map_err(|e| RecordError::new(name, e.line().max(1), e.to_string()))?],
    };
    let mut out = Vec::new();
    let mut lines = json_doc::Lines::new(text);
    for raw in items {
        let line = lines.of(raw);
        let entry = match json_doc::value(name, text, raw) {
            Ok(v) => {
                let key = match v.get("id") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                let paper = paper(&v).map_err(|f| f.record(key.as_deref()).at(name, line));
                Entry { key, line, paper }
            }
            Err(e) => Entry {
                key: None,
                line,
                paper: Err(e),
            },
        };
        out.push(entry);
    }
    Ok(out)
}

fn paper(v: &Value) -> Result<Paper, Fault> {
    if !v.is_object() {
        return Err(Fault::new("expected an object (a CSL item)"));
    }
    let title = str_field(v, "title").ok_or_else(|| Fault::field("title", "missing or empty"))?;
    // Only the fields that carry the item's own identifiers (an abstract or note may cite
    // another paper's arXiv id); a note counts when it starts with the label, as Zotero
    // writes `arXiv:1706.03762 [cs]` there.
    let mut ids: Vec<PaperId> = Vec::new();
    for field in ["number", "URL", "archive_location", "DOI"] {
        if let Some(value) = str_field(v, field) {
            arxiv_ids_in(value, &mut ids);
        }
    }
    if let Some(note) = str_field(v, "note").filter(|n| starts_with_arxiv_label(n)) {
        arxiv_ids_in(note, &mut ids);
    }
    // A DOI that cannot be read is left out (the entry may still match by title).
    if let Some(doi) = str_field(v, "DOI").and_then(|d| PaperId::doi(d).ok()) {
        if !ids.contains(&doi) {
            ids.push(doi);
        }
    }
    let mut paper = paper_with_ids(
        ids,
        title,
        str_field(v, "abstract").unwrap_or_default().to_string(),
        Source::CslJson,
    );
    paper.authors = match v.get("author") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(people)) => people
            .iter()
            .map(|p| match str_field(p, "literal") {
                Some(literal) => join_name(&[literal]),
                None => join_name(&[
                    str_field(p, "given").unwrap_or_default(),
                    str_field(p, "non-dropping-particle").unwrap_or_default(),
                    str_field(p, "family").unwrap_or_default(),
                    str_field(p, "suffix").unwrap_or_default(),
                ]),
            })
            .filter(|n| !n.is_empty())
            .collect(),
        Some(_) => return Err(Fault::field("author", "expected an array of names")),
    };
    paper.published = v.get("issued").and_then(issued);
    paper.links.pdf = arxiv_pdf(&paper.id).or_else(|| url_field(v.get("URL")));
    finish(paper)
}

/// `{"date-parts": [[2017, 6, 12]]}` (parts may be numbers or strings, month and day may be
/// missing) or `{"raw": "2017-06-12"}`; anything else leaves the paper undated.
fn issued(v: &Value) -> Option<NaiveDate> {
    if let Some(first) = json_doc::path(v, &["date-parts"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_array)
    {
        let part = |i: usize| -> Option<i64> {
            match first.get(i)? {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
        };
        let year = i32::try_from(part(0)?).ok()?;
        let month = part(1).and_then(|m| u32::try_from(m).ok()).unwrap_or(1);
        let day = part(2).and_then(|d| u32::try_from(d).ok()).unwrap_or(1);
        return NaiveDate::from_ymd_opt(year, month, day)
            .or_else(|| NaiveDate::from_ymd_opt(year, 1, 1));
    }
    let raw = str_field(v, "raw")?;
    date_prefix(raw).or_else(|| {
        raw.get(..4)
            .and_then(|y| y.parse().ok())
            .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_dates_in_parts_or_raw() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(
            issued(&v(r#"{"date-parts": [[2017, 6, 12]]}"#)),
            d(2017, 6, 12)
        );
        assert_eq!(
            issued(&v(r#"{"date-parts": [["2017", "6"]]}"#)),
            d(2017, 6, 1)
        );
        assert_eq!(issued(&v(r#"{"date-parts": [[2017]]}"#)), d(2017, 1, 1));
        assert_eq!(issued(&v(r#"{"raw": "2019-03-04"}"#)), d(2019, 3, 4));
        assert_eq!(issued(&v(r#"{"raw": "2019 spring"}"#)), d(2019, 1, 1));
        assert_eq!(issued(&v(r#"{"literal": "soon"}"#)), None);
        assert_eq!(issued(&v(r#"{"date-parts": [[99999999999]]}"#)), None);
    }
}
