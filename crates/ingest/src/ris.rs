//! RIS files (Zotero, Mendeley, EndNote, most publishers' "export citation"): lines
//! `TAG  - value`, one entry from `TY` to `ER`. The format is a line protocol simple enough
//! that no crate for it is kept up; this reader follows the RIS specification's tags and the
//! habits of the exporters above (long values wrapped onto untagged lines, `DA` or `PY` as
//! `YYYY/MM/DD/`, the arXiv id in `UR` or a note).

use chrono::NaiveDate;
use paperscout_model::{Paper, PaperId, Source};

use crate::common::{arxiv_pdf, document_text, finish, given_first, line_of};
use crate::lines::Fault;
use crate::reference::{arxiv_ids_in, Entry};
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

/// `TY  - JOUR` → (`TY`, `JOUR`): two capitals or a capital and a digit, two spaces (some
/// exporters write one), a hyphen, then the value.
fn tag_line(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    if b.len() < 5
        || !b[0].is_ascii_uppercase()
        || !(b[1].is_ascii_uppercase() || b[1].is_ascii_digit())
    {
        return None;
    }
    let rest = line[2..].trim_start_matches(' ');
    if rest.len() == line.len() - 2 || !rest.starts_with('-') {
        return None;
    }
    Some((&line[..2], rest[1..].trim()))
}

/// One entry's fields in file order, with the line `TY` is on.
struct Raw {
    line: usize,
    fields: Vec<(String, String)>,
}

impl Raw {
    fn first(&self, tags: &[&str]) -> Option<&str> {
        tags.iter().find_map(|t| {
            self.fields
                .iter()
                .find(|(k, v)| k == t && !v.is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    fn all<'a>(&'a self, tags: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, v)| tags.contains(&k.as_str()) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Every entry of a RIS file, in order.
pub fn parse_entries(name: &str, bytes: &[u8]) -> Result<Vec<Entry>, RecordError> {
    let text = document_text(name, bytes)?;
    let mut out = Vec::new();
    let mut current: Option<Raw> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let at = line_of(text, offset);
        offset += line.len();
        let line = line.trim_end_matches(['\r', '\n']);
        match tag_line(line) {
            Some(("TY", kind)) => {
                if let Some(open) = current.take() {
                    // A `TY` before the last entry's `ER`: that entry ended without it.
                    out.push(entry(name, open));
                }
                current = Some(Raw {
                    line: at,
                    fields: vec![("TY".into(), kind.to_string())],
                });
            }
            Some(("ER", _)) => match current.take() {
                Some(open) => out.push(entry(name, open)),
                None => out.push(Entry {
                    key: None,
                    line: at,
                    paper: Err(RecordError::new(
                        name,
                        at,
                        "`ER` (end of entry) without a `TY` line starting it",
                    )),
                }),
            },
            Some((tag, value)) => match current.as_mut() {
                Some(open) => open.fields.push((tag.to_string(), value.to_string())),
                None => out.push(Entry {
                    key: None,
                    line: at,
                    paper: Err(RecordError::new(
                        name,
                        at,
                        format!(
                            "`{tag}` outside an entry: every entry starts with a `TY  - ` line"
                        ),
                    )),
                }),
            },
            // A wrapped value goes on with the previous field.
            None if !line.trim().is_empty() => {
                if let Some((_, value)) = current.as_mut().and_then(|o| o.fields.last_mut()) {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            }
            None => {}
        }
    }
    if let Some(open) = current.take() {
        out.push(entry(name, open));
    }
    // Entries outside `TY`…`ER` were each reported once; a file with nothing RIS in it has none.
    Ok(out)
}

fn entry(name: &str, raw: Raw) -> Entry {
    let key = raw.first(&["ID"]).map(str::to_string);
    let paper = paper(&raw).map_err(|f| f.record(key.as_deref()).at(name, raw.line));
    Entry {
        key,
        line: raw.line,
        paper,
    }
}

fn paper(raw: &Raw) -> Result<Paper, Fault> {
    let title = raw
        .first(&["TI", "T1", "CT", "BT"])
        .ok_or_else(|| Fault::field("TI", "missing: the entry has no title (TI or T1)"))?;
    let mut ids: Vec<PaperId> = Vec::new();
    for (_, value) in &raw.fields {
        arxiv_ids_in(value, &mut ids);
    }
    if let Some(doi) = raw.first(&["DO"]) {
        let doi = PaperId::doi(doi).map_err(|e| Fault::field("DO", e.to_string()))?;
        if !ids.contains(&doi) {
            ids.push(doi);
        }
    }
    let id = ids
        .first()
        .cloned()
        .unwrap_or_else(|| PaperId::from_title(title));
    let mut paper = Paper::new(
        id,
        title.to_string(),
        raw.first(&["AB", "N2"]).unwrap_or_default().to_string(),
        Source::Ris,
    );
    for alias in ids.into_iter().skip(1) {
        paper.add_alias(alias);
    }
    // `AU  - Vaswani, Ashish` (family first, as the specification asks).
    paper.authors = raw
        .all(&["AU", "A1"])
        .map(given_first)
        .filter(|n| !n.is_empty())
        .collect();
    paper.published = raw.first(&["DA", "PY", "Y1"]).and_then(ris_date);
    paper.links.pdf = arxiv_pdf(&paper.id).or_else(|| {
        raw.all(&["L1", "UR"])
            .find(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_string)
    });
    finish(paper)
}

/// `2017/06/12/`, `2017/06//`, `2017///note`, `2017`: the most the date gives (a year alone
/// dates the paper from 1 January, as BibTeX's `year` does). A date that cannot be read is
/// left out rather than failing the entry: exporters fill it with free text.
fn ris_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.trim().split(['/', '-']);
    let year: i32 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u32 = parts
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(1);
    let day: u32 = parts
        .next()
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(1);
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| NaiveDate::from_ymd_opt(year, 1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_with_one_or_two_spaces() {
        assert_eq!(tag_line("TY  - JOUR"), Some(("TY", "JOUR")));
        assert_eq!(tag_line("ER  - "), Some(("ER", "")));
        assert_eq!(
            tag_line("ER  -"),
            Some(("ER", "")),
            "trailing space trimmed by an editor"
        );
        assert_eq!(tag_line("ER -"), None, "five characters at least");
        assert_eq!(tag_line("A1 - Smith, J."), Some(("A1", "Smith, J.")));
        assert_eq!(tag_line("Ty  - x"), None);
        assert_eq!(tag_line("continued text - here"), None);
    }

    #[test]
    fn dates_take_what_they_give() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(ris_date("2017/06/12/"), d(2017, 6, 12));
        assert_eq!(ris_date("2017/06//"), d(2017, 6, 1));
        assert_eq!(ris_date("2017"), d(2017, 1, 1));
        assert_eq!(ris_date("2017-02-31"), d(2017, 1, 1));
        assert_eq!(ris_date("Spring"), None);
    }
}
