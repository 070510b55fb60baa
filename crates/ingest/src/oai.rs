//! arXiv's OAI-PMH interface (`export.arxiv.org/oai2?verb=ListRecords`), in its three metadata
//! formats: `arXiv` (structured authors, created/updated dates), `arXivRaw` (every version with
//! its date) and `oai_dc` (Dublin Core). A page ends with a resumption token unless it is the
//! last; an error is answered as `<error code="…">`.

use paperscout_model::{Paper, PaperId, Source};

use crate::common::{
    arxiv_id, arxiv_pdf, categories, date, date_prefix, finish, given_first, join_name,
    rfc2822_date, split_authors,
};
use crate::lines::Fault;
use crate::xml::{self, Element};
use crate::RecordError;

/// One OAI-PMH answer.
#[derive(Debug)]
pub struct OaiPage {
    pub records: Vec<Result<Paper, RecordError>>,
    /// Records the repository reports as deleted (skipped).
    pub deleted: usize,
    /// The token that fetches the next page; `None` on the last page.
    pub resumption: Option<Resumption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumption {
    pub token: String,
    pub cursor: Option<u64>,
    pub complete_list_size: Option<u64>,
}

/// An OAI-PMH error answer (`badResumptionToken`, `noRecordsMatch`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiError {
    pub code: String,
    pub message: String,
    pub line: usize,
}

/// What a page is: records, or an error the protocol defines.
#[derive(Debug)]
pub enum OaiAnswer {
    Page(OaiPage),
    Error(OaiError),
}

/// Parses one answer. Malformed XML, or XML that is not OAI-PMH, is an `Err`; a protocol
/// error is `Ok(OaiAnswer::Error)` (for `noRecordsMatch` is an answer, not a failure).
pub fn parse_page(name: &str, bytes: &[u8]) -> Result<OaiAnswer, RecordError> {
    let root = xml::parse_document(name, bytes)?;
    if root.name != "OAI-PMH" {
        return Err(RecordError::new(
            name,
            root.line,
            format!("expected an OAI-PMH answer, found <{}>", root.name),
        ));
    }
    if let Some(error) = root.child("error") {
        return Ok(OaiAnswer::Error(OaiError {
            code: error.attr("code").unwrap_or("unknown").to_string(),
            message: error.text.trim().to_string(),
            line: error.line,
        }));
    }
    let list = root
        .child("ListRecords")
        .or_else(|| root.child("GetRecord"))
        .ok_or_else(|| {
            RecordError::new(
                name,
                root.line,
                "neither <ListRecords> nor <GetRecord> in the answer",
            )
        })?;
    let mut page = OaiPage {
        records: Vec::new(),
        deleted: 0,
        resumption: None,
    };
    for record in list.children("record") {
        let header = record.child("header");
        if header.and_then(|h| h.attr("status")) == Some("deleted") {
            page.deleted += 1;
            continue;
        }
        let identifier = header.and_then(|h| h.child_text("identifier"));
        page.records.push(paper(record).map_err(|f| {
            f.record(identifier.map(crate::common::arxiv_id_in))
                .at(name, record.line)
        }));
    }
    if let Some(token) = list.child("resumptionToken") {
        let value = token.text.trim();
        // An empty token marks the last page of a list.
        if !value.is_empty() {
            page.resumption = Some(Resumption {
                token: value.to_string(),
                cursor: token.attr("cursor").and_then(|c| c.parse().ok()),
                complete_list_size: token.attr("completeListSize").and_then(|c| c.parse().ok()),
            });
        }
    }
    Ok(OaiAnswer::Page(page))
}

fn paper(record: &Element) -> Result<Paper, Fault> {
    let metadata = record
        .child("metadata")
        .and_then(|m| m.children.first())
        .ok_or_else(|| Fault::field("metadata", "missing"))?;
    let header = record.child("header");
    let mut paper = match metadata.name.as_str() {
        "arXiv" => arxiv(metadata)?,
        "arXivRaw" => arxiv_raw(metadata)?,
        "dc" => dublin_core(metadata, header)?,
        other => {
            return Err(Fault::field(
                "metadata",
                format!("unknown metadata format <{other}>; expected arXiv, arXivRaw or oai_dc"),
            ))
        }
    };
    paper.links.pdf = arxiv_pdf(&paper.id);
    finish(paper)
}

fn new_paper(meta: &Element, id: PaperId) -> Paper {
    Paper::new(
        id,
        meta.child_text("title").unwrap_or_default().to_string(),
        meta.child_text("abstract").unwrap_or_default().to_string(),
        Source::ArxivOai,
    )
}

fn add_dois(paper: &mut Paper, meta: &Element) {
    for doi in meta.children("doi").flat_map(|d| d.text.split_whitespace()) {
        if let Ok(alias) = PaperId::doi(doi) {
            paper.add_alias(alias);
        }
    }
}

fn arxiv(meta: &Element) -> Result<Paper, Fault> {
    let (id, _) = arxiv_id(
        meta.child_text("id")
            .ok_or_else(|| Fault::field("id", "missing"))?,
    )?;
    let mut paper = new_paper(meta, id);
    if let Some(created) = meta.child_text("created") {
        paper.published = Some(date("created", created)?);
    }
    paper.updated = match meta.child_text("updated") {
        Some(updated) => Some(date("updated", updated)?),
        None => paper.published,
    };
    paper.authors = meta
        .child("authors")
        .map(|a| {
            a.children("author")
                .map(|author| {
                    let part = |tag| author.child_text(tag).unwrap_or_default();
                    join_name(&[part("forenames"), part("keyname"), part("suffix")])
                })
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    paper.categories = categories(meta.child_text("categories").unwrap_or_default());
    add_dois(&mut paper, meta);
    Ok(paper)
}

fn arxiv_raw(meta: &Element) -> Result<Paper, Fault> {
    let (id, _) = arxiv_id(
        meta.child_text("id")
            .ok_or_else(|| Fault::field("id", "missing"))?,
    )?;
    let mut paper = new_paper(meta, id);
    // Every version with its date: the first dates the paper, the last is the current one.
    for version in meta.children("version") {
        let number = version
            .attr("version")
            .and_then(|v| v.trim_start_matches('v').parse::<u32>().ok())
            .ok_or_else(|| Fault::field("version", "a <version> without a version number"))?;
        let day = version
            .child_text("date")
            .and_then(rfc2822_date)
            .ok_or_else(|| Fault::field("version.date", "missing or not an RFC 2822 date"))?;
        if paper.version.is_none_or(|v| number > v) {
            paper.version = Some(number);
            paper.updated = Some(day);
        }
        if number == 1 {
            paper.published = Some(day);
        }
    }
    paper.authors = split_authors(meta.child_text("authors").unwrap_or_default());
    paper.categories = categories(meta.child_text("categories").unwrap_or_default());
    add_dois(&mut paper, meta);
    Ok(paper)
}

fn dublin_core(meta: &Element, header: Option<&Element>) -> Result<Paper, Fault> {
    let raw_id = header
        .and_then(|h| h.child_text("identifier"))
        .or_else(|| {
            meta.children("identifier")
                .map(|i| i.text.trim())
                .find(|i| i.contains("arxiv.org/abs/"))
        })
        .ok_or_else(|| Fault::field("identifier", "missing"))?;
    let (id, _) = arxiv_id(raw_id)?;
    let mut paper = Paper::new(
        id,
        meta.child_text("title").unwrap_or_default().to_string(),
        // The first description is the abstract; later ones are `Comment: …`.
        meta.children("description")
            .map(|d| d.text.trim())
            .find(|d| !d.starts_with("Comment:"))
            .unwrap_or_default()
            .to_string(),
        Source::ArxivOai,
    );
    paper.authors = meta
        .children("creator")
        .map(|c| given_first(&c.text))
        .collect();
    let dates: Vec<_> = meta
        .children("date")
        .filter_map(|d| date_prefix(&d.text))
        .collect();
    paper.published = dates.first().copied();
    paper.updated = dates.last().copied();
    for identifier in meta.children("identifier") {
        let text = identifier.text.trim();
        if let Some(doi) = text.strip_prefix("doi:") {
            if let Ok(alias) = PaperId::doi(doi) {
                paper.add_alias(alias);
            }
        }
    }
    // Dublin Core names subjects in words; the set (`cs`, `physics:hep-ex`) is the category.
    paper.categories = header
        .map(|h| {
            h.children("setSpec")
                .map(|s| {
                    s.text
                        .trim()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(paper)
}
