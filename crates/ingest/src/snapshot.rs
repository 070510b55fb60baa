//! The arXiv metadata snapshot (Kaggle's `arxiv-metadata-oai-snapshot.json`, ~4 GB): one JSON
//! object per line. Read a line at a time, so memory stays flat whatever the file's size.

use std::borrow::Cow;
use std::io::BufRead;

use paperscout_model::{Paper, PaperId, Source};
use serde::Deserialize;

use crate::common::{
    arxiv_id, arxiv_pdf, categories, date_prefix, finish, join_name, rfc2822_date, split_authors,
};
use crate::lines::{per_line, Fault, Lines};
use crate::RecordError;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "abstract")]
    abstract_text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    authors: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    authors_parsed: Option<Vec<Vec<Cow<'a, str>>>>,
    #[serde(borrow, default)]
    categories: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    doi: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    versions: Option<Vec<Version<'a>>>,
    #[serde(borrow, default)]
    update_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Version<'a> {
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    created: Cow<'a, str>,
}

pub(crate) fn parse<R: BufRead>(
    lines: Lines<R>,
) -> impl Iterator<Item = Result<Paper, RecordError>> {
    per_line(lines, record)
}

fn record(text: &str) -> Result<Paper, Fault> {
    let r: Record<'_> = serde_json::from_str(text).map_err(|e| {
        // Name the record even when a later field is bad.
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string));
        Fault::new(format!("not a snapshot record: {e}")).record(id.as_deref())
    })?;
    let raw_id =
        r.id.as_deref()
            .ok_or_else(|| Fault::field("id", "missing"))?;
    let (id, _) = arxiv_id(raw_id).map_err(|f| f.record(Some(raw_id)))?;
    let fault = |field: &str, message: String| Fault::field(field, message).record(Some(raw_id));
    let mut paper = Paper::new(
        id,
        r.title.as_deref().unwrap_or_default().to_string(),
        r.abstract_text.as_deref().unwrap_or_default().to_string(),
        Source::ArxivSnapshot,
    );
    for (i, v) in r.versions.iter().flatten().enumerate() {
        let number: u32 = v.version.trim_start_matches('v').parse().map_err(|_| {
            fault(
                &format!("versions[{i}].version"),
                format!("`{}` is not a version", v.version),
            )
        })?;
        let day = rfc2822_date(&v.created).ok_or_else(|| {
            fault(
                &format!("versions[{i}].created"),
                format!("`{}` is not a date", v.created),
            )
        })?;
        if number == 1 {
            paper.published = Some(day);
        }
        if paper.version.is_none_or(|known| number > known) {
            paper.version = Some(number);
            paper.updated = Some(day);
        }
    }
    if paper.updated.is_none() {
        paper.updated = r.update_date.as_deref().and_then(date_prefix);
    }
    paper.authors = match &r.authors_parsed {
        // [family, given, suffix] per author: cleaner than splitting the `authors` string.
        Some(parsed) if !parsed.is_empty() => parsed
            .iter()
            .map(|parts| {
                let part = |i: usize| parts.get(i).map(|s| s.as_ref()).unwrap_or_default();
                join_name(&[part(1), part(0), part(2)])
            })
            .filter(|n| !n.is_empty())
            .collect(),
        _ => split_authors(r.authors.as_deref().unwrap_or_default()),
    };
    paper.categories = categories(r.categories.as_deref().unwrap_or_default());
    for doi in r.doi.as_deref().unwrap_or_default().split_whitespace() {
        if let Ok(alias) = PaperId::doi(doi) {
            paper.add_alias(alias);
        }
    }
    paper.links.pdf = arxiv_pdf(&paper.id);
    finish(paper).map_err(|f| f.record(Some(raw_id)))
}
