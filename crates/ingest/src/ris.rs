//! RIS files (Zotero, Mendeley, EndNote, most publishers' "export citation"): lines
//! `TAG  - value`, one entry from `TY` to `ER`. The format is a line protocol simple enough
//! that no crate for it is kept up; this reader follows the RIS specification's tags and the
//! habits of the exporters above (long values wrapped onto untagged lines, `DA` or `PY` as
//! `YYYY/MM/DD/`, the arXiv id in `UR` or a note).

use chrono::NaiveDate;
use paperscout_model::{Paper, PaperId, Source};

use crate::common::{arxiv_pdf, document_text, finish, join_name, paper_with_ids};
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

/// `TY  - JOUR` → (`TY`, `JOUR`): two capitals or a capital and a digit, two spaces, a
/// hyphen, then (after a space) the value, as the specification has it. Only that exact
/// shape is a tag: a wrapped abstract line such as `AI - based methods …` stays text.
fn tag_line(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    if b.len() < 5
        || !b[0].is_ascii_uppercase()
        || !(b[1].is_ascii_uppercase() || b[1].is_ascii_digit())
        || &b[2..5] != b"  -"
        || b.get(5).is_some_and(|&c| c != b' ')
    {
        return None;
    }
    Some((&line[..2], line[5..].trim()))
}

/// Whether `line` opens a RIS entry (`TY  - …`).
pub(crate) fn starts_entry(line: &str) -> bool {
    tag_line(line).is_some_and(|(tag, _)| tag == "TY")
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
    for (i, line) in text.split('\n').enumerate() {
        let at = i + 1;
        let line = line.trim_end_matches('\r');
        // Some exporters end an entry with a bare `ER`.
        let tagged = tag_line(line).or_else(|| (line.trim_end() == "ER").then_some(("ER", "")));
        match tagged {
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
    // The entry's own identifiers only, in this order: links, arXiv's DOI, report numbers,
    // then a note that is an arXiv label (Zotero writes `N1  - arXiv:1706.03762 [cs]`). An
    // abstract or a longer note may cite other papers' ids, which must not become this one's.
    let mut ids: Vec<PaperId> = Vec::new();
    for value in raw.all(&["UR", "L1", "L2", "LK", "DO", "M1", "SN"]) {
        arxiv_ids_in(value, &mut ids);
    }
    for note in raw.all(&["N1"]).filter(|n| starts_with_arxiv_label(n)) {
        arxiv_ids_in(note, &mut ids);
    }
    // A DOI that cannot be read is left out (the entry may still match by title).
    if let Some(doi) = raw.first(&["DO"]).and_then(|d| PaperId::doi(d).ok()) {
        if !ids.contains(&doi) {
            ids.push(doi);
        }
    }
    let mut paper = paper_with_ids(
        ids,
        title,
        raw.first(&["AB", "N2"]).unwrap_or_default().to_string(),
        Source::Ris,
    );
    paper.authors = raw
        .all(&["AU", "A1"])
        .map(person)
        .filter(|n| !n.is_empty())
        .collect();
    // EndNote writes `DA  - Jun 12` next to `PY  - 2017`: the first date that reads.
    paper.published = ["DA", "PY", "Y1"]
        .iter()
        .find_map(|t| raw.all(&[t]).find_map(ris_date));
    paper.links.pdf = arxiv_pdf(&paper.id).or_else(|| {
        raw.all(&["L1", "UR"])
            .find(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_string)
    });
    finish(paper)
}

/// `Vaswani, Ashish` or `King, Martin Luther, Jr.` (family, given, suffix, as the
/// specification asks) → `Ashish Vaswani`; a name without commas stays as written.
fn person(name: &str) -> String {
    let mut parts = name.splitn(3, ',').map(str::trim);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(family), Some(given), suffix) => {
            join_name(&[given, family, suffix.unwrap_or_default()])
        }
        _ => join_name(&[name]),
    }
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
        assert_eq!(tag_line("AI - based methods"), None, "one space: text");
        assert_eq!(tag_line("AU  -Smith"), None);
        assert_eq!(tag_line("Ty  - x"), None);
        assert_eq!(tag_line("continued text - here"), None);
    }

    #[test]
    fn ids_come_from_the_entrys_own_fields_never_its_abstract() {
        let text = "TY  - JOUR\r\nTI  - Retrieval for all\r\nAB  - We build on arXiv:2005.11401 and\r\nAI - based readers.\r\nN1  - <p>Compare arXiv:1706.03762</p>\r\nDA  - Jun 12\r\nPY  - 2021\r\nDO  - https://dx.doi.org/10.1000/ABC\r\nER\r\nTY  - JOUR\r\nTI  - Second\r\nDO  - not a doi\r\nER  - \r\n";
        let entries = parse_entries("r.ris", text.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2, "a bare `ER` ends the first entry");
        let first = entries[0].paper.as_ref().unwrap();
        assert_eq!(first.id.to_string(), "doi:10.1000/abc");
        assert_eq!(first.ids().count(), 1, "{:?}", first);
        assert!(first.abstract_text.ends_with("and AI - based readers."));
        assert_eq!(first.published, NaiveDate::from_ymd_opt(2021, 1, 1));
        let second = entries[1].paper.as_ref().unwrap();
        assert!(second.id.is_title(), "an unreadable DOI is left out");
    }

    #[test]
    fn names_are_family_given_suffix() {
        assert_eq!(person("Vaswani, Ashish"), "Ashish Vaswani");
        assert_eq!(person("King, Martin Luther, Jr."), "Martin Luther King Jr.");
        assert_eq!(person("The BEIR team"), "The BEIR team");
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
