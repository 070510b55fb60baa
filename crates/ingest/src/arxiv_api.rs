//! The arXiv API's Atom answers (`export.arxiv.org/api/query`), in both layouts: the one
//! before 2025 (namespaces declared on each element, `arxiv:doi` and friends) and the current
//! one. An error is answered as a feed with one entry titled `Error`; an empty result as a feed
//! with no entries.

use paperscout_model::{Paper, PaperId, Source};

use crate::common::{arxiv_id, arxiv_pdf, date, finish};
use crate::lines::Fault;
use crate::xml::{self, Element};
use crate::RecordError;

/// One page of API results.
#[derive(Debug)]
pub struct ApiPage {
    /// How many results the query has in all (`opensearch:totalResults`).
    pub total: Option<u64>,
    pub start: Option<u64>,
    pub records: Vec<Result<Paper, RecordError>>,
}

/// Parses one API answer. An error feed is an `Err` carrying arXiv's message.
pub fn parse_page(name: &str, bytes: &[u8]) -> Result<ApiPage, RecordError> {
    let root = xml::parse_document(name, bytes)?;
    if root.name != "feed" {
        return Err(RecordError::new(
            name,
            root.line,
            format!("expected an Atom <feed>, found <{}>", root.name),
        ));
    }
    let number = |tag: &str| root.child_text(tag).and_then(|t| t.parse().ok());
    let mut records = Vec::new();
    for entry in root.children("entry") {
        let id = entry.child_text("id").unwrap_or_default();
        if id.contains("/api/errors") || entry.child_text("title") == Some("Error") {
            let message = entry.child_text("summary").unwrap_or("no message");
            return Err(RecordError::new(
                name,
                entry.line,
                format!("the arXiv API answered an error: {message}"),
            ));
        }
        records.push(paper(entry).map_err(|f| {
            f.record(Some(crate::common::arxiv_id_in(id)))
                .at(name, entry.line)
        }));
    }
    Ok(ApiPage {
        total: number("totalResults"),
        start: number("startIndex"),
        records,
    })
}

fn paper(entry: &Element) -> Result<Paper, Fault> {
    let raw_id = entry
        .child_text("id")
        .ok_or_else(|| Fault::field("id", "missing"))?;
    let (id, version) = arxiv_id(raw_id)?;
    let mut paper = Paper::new(
        id,
        entry.child_text("title").unwrap_or_default().to_string(),
        entry.child_text("summary").unwrap_or_default().to_string(),
        Source::ArxivApi,
    );
    paper.version = version;
    paper.authors = entry
        .children("author")
        .filter_map(|a| a.child_text("name"))
        .map(paperscout_model::clean_text)
        .collect();
    if let Some(p) = entry.child_text("published") {
        paper.published = Some(date("published", p)?);
    }
    if let Some(u) = entry.child_text("updated") {
        paper.updated = Some(date("updated", u)?);
    }
    // The primary category first, then the others in the order given.
    let primary = entry
        .child("primary_category")
        .and_then(|c| c.attr("term"))
        .map(str::to_string);
    paper.categories.extend(primary.clone());
    for c in entry.children("category").filter_map(|c| c.attr("term")) {
        if primary.as_deref() != Some(c) {
            paper.categories.push(c.to_string());
        }
    }
    for doi in entry
        .children("doi")
        .flat_map(|d| d.text.split_whitespace())
    {
        if let Ok(alias) = PaperId::doi(doi) {
            paper.add_alias(alias);
        }
    }
    // The unversioned PDF link: it always serves the latest version.
    paper.links.pdf = arxiv_pdf(&paper.id);
    finish(paper)
}
