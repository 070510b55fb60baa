//! BibTeX files (a reading list, a lab's publications). Each entry is parsed on its own (by
//! the `biblatex` crate) so that one broken entry is an error naming its key and line, not a
//! failed file. An entry's arXiv id is taken from `eprint` (with `archivePrefix = arXiv`) or
//! from an arXiv URL in any field (some lists put it in `journal`), its DOI from `doi`.

use biblatex::{Bibliography, ChunksExt};
use chrono::NaiveDate;
use paperscout_model::{Paper, PaperId, Source};

use crate::common::{
    arxiv_id, arxiv_pdf, document_text, finish, join_name, line_of, paper_with_ids,
};
use crate::lines::Fault;
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

pub use crate::reference::Entry;

/// Every entry of a BibTeX file, in order (what a library import reports on, entry by entry).
pub fn parse_entries(name: &str, bytes: &[u8]) -> Result<Vec<Entry>, RecordError> {
    let text = document_text(name, bytes)?;
    let chunks = split_entries(text);
    // `@string` abbreviations may be used by any entry: each entry is parsed after them.
    let strings: String = chunks
        .iter()
        .filter(|(_, c)| {
            c.get(..7)
                .is_some_and(|k| k.eq_ignore_ascii_case("@string"))
        })
        .map(|(_, c)| *c)
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (offset, chunk) in chunks {
        let lower = chunk.get(..9).unwrap_or(chunk).to_ascii_lowercase();
        if lower.starts_with("@string")
            || lower.starts_with("@comment")
            || lower.starts_with("@preamble")
        {
            continue;
        }
        let line = line_of(text, offset);
        let key = entry_key(chunk);
        let source = format!("{strings}\n{chunk}");
        let parsed = Bibliography::parse(&source).map_err(|e| {
            let at = e.span.start.saturating_sub(strings.len() + 1);
            RecordError::new(
                name,
                line_of(text, offset + at.min(chunk.len())),
                format!("not a BibTeX entry: {}", e.kind),
            )
            .with_record(key)
        });
        let bibliography = match parsed {
            Ok(b) => b,
            Err(e) => {
                out.push(Entry {
                    key: key.map(str::to_string),
                    line,
                    paper: Err(e),
                });
                continue;
            }
        };
        for entry in bibliography.iter() {
            out.push(Entry {
                key: Some(entry.key.clone()),
                line,
                paper: paper(entry).map_err(|f| f.record(Some(&entry.key)).at(name, line)),
            });
        }
    }
    Ok(out)
}

/// Splits a file at each `@` that starts an entry (first non-blank character of a line), with
/// each piece's byte offset. Text between entries is a comment in BibTeX and is dropped.
fn split_entries(text: &str) -> Vec<(usize, &str)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('@') {
            starts.push(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            (start, text[start..end].trim_end())
        })
        .collect()
}

/// `@article{key,` → `key`, for naming an entry that does not parse.
fn entry_key(chunk: &str) -> Option<&str> {
    let rest = &chunk[chunk.find('{')? + 1..];
    let key = rest[..rest.find(',')?].trim();
    (!key.is_empty() && !key.contains(char::is_whitespace)).then_some(key)
}

fn field(entry: &biblatex::Entry, name: &str) -> Option<String> {
    entry
        .get(name)
        .map(|chunks| chunks.format_verbatim())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn paper(entry: &biblatex::Entry) -> Result<Paper, Fault> {
    let title = field(entry, "title").ok_or_else(|| Fault::field("title", "missing"))?;
    let mut ids: Vec<PaperId> = Vec::new();
    let is_arxiv = field(entry, "archiveprefix")
        .or_else(|| field(entry, "eprinttype"))
        .is_some_and(|p| p.eq_ignore_ascii_case("arxiv"));
    if let Some(eprint) = field(entry, "eprint").filter(|_| is_arxiv) {
        ids.push(
            arxiv_id(&eprint)
                .map_err(|f| Fault::field("eprint", f.message))?
                .0,
        );
    }
    for (_, value) in entry.fields.iter() {
        let value = value.format_verbatim();
        if let Some(pos) = value.find("arxiv.org/abs/") {
            if let Ok((id, _)) = arxiv_id(&value[pos..]) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    if let Some(doi) = field(entry, "doi") {
        ids.push(PaperId::doi(&doi).map_err(|e| Fault::field("doi", e.to_string()))?);
    }
    let mut paper = paper_with_ids(
        ids,
        &title,
        field(entry, "abstract").unwrap_or_default(),
        Source::Bibtex,
    );
    paper.authors = match entry.author() {
        Ok(people) => people
            .iter()
            .map(|p| join_name(&[&p.given_name, &p.prefix, &p.name, &p.suffix]))
            .filter(|n| !n.is_empty())
            .collect(),
        Err(_) => Vec::new(),
    };
    paper.published = published(entry)?;
    if let Some(primary) = field(entry, "primaryclass") {
        paper.categories.push(primary);
    }
    paper.links.pdf = arxiv_pdf(&paper.id).or_else(|| {
        field(entry, "url").filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    });
    finish(paper)
}

/// `date = {2020-06-01}`, or `year` (and `month`): a year alone dates the paper from 1 January.
fn published(entry: &biblatex::Entry) -> Result<Option<NaiveDate>, Fault> {
    if let Some(date) = field(entry, "date") {
        if let Some(d) = crate::common::date_prefix(&date) {
            return Ok(Some(d));
        }
    }
    let Some(year) = field(entry, "year") else {
        return Ok(None);
    };
    // `2023a` (a second paper that year, in some lists) is 2023.
    let digits: String = year.chars().take_while(char::is_ascii_digit).collect();
    let year: i32 = digits
        .parse()
        .ok()
        .filter(|_| digits.len() == 4)
        .ok_or_else(|| Fault::field("year", format!("`{year}` is not a year")))?;
    let month = field(entry, "month")
        .and_then(|m| month_number(&m))
        .unwrap_or(1);
    Ok(NaiveDate::from_ymd_opt(year, month, 1))
}

fn month_number(m: &str) -> Option<u32> {
    if let Ok(n) = m.parse::<u32>() {
        return (1..=12).contains(&n).then_some(n);
    }
    let m = m.to_ascii_lowercase();
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|name| m.starts_with(name))
    .map(|i| i as u32 + 1)
}
