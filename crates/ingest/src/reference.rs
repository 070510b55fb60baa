//! Reference-manager exports (Zotero, Mendeley, JabRef, EndNote): BibTeX, RIS and CSL-JSON,
//! read entry by entry so that a library import can report on each one (its key and the line
//! it starts on) and go on past a broken one. The format is told from the content, never from
//! the file name a browser happened to send.

use paperscout_model::{Paper, PaperId};

use crate::common::{arxiv_id, document_text};
use crate::{Format, RecordError};

/// One entry of a reference file: its key (when it has a readable one), the line it starts on,
/// and its paper or what is wrong with it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Option<String>,
    pub line: usize,
    pub paper: Result<Paper, RecordError>,
}

/// The formats [`parse_entries`] reads.
pub const FORMATS: [Format; 3] = [Format::Bibtex, Format::Ris, Format::CslJson];

/// Every entry of a BibTeX, RIS or CSL-JSON file, in order, and which of the three it is.
pub fn parse_entries(name: &str, bytes: &[u8]) -> Result<(Format, Vec<Entry>), RecordError> {
    let text = document_text(name, bytes)?;
    let head = &text.as_bytes()[..text.len().min(1 << 20)];
    let format = match crate::detect_bytes(head) {
        Ok(f) if FORMATS.contains(&f) => f,
        Ok(other) => {
            return Err(RecordError::new(
                name,
                1,
                format!(
                    "this looks like {} data, not a reference list: export BibTeX, RIS or CSL-JSON from your reference manager",
                    other.as_str()
                ),
            ))
        }
        Err(reason) => {
            return Err(RecordError::new(
                name,
                1,
                format!("not a BibTeX, RIS or CSL-JSON file: {reason}"),
            ))
        }
    };
    let entries = match format {
        Format::Ris => crate::ris::parse_entries(name, bytes)?,
        Format::CslJson => crate::csl_json::parse_entries(name, bytes)?,
        _ => crate::bibtex::parse_entries(name, bytes)?,
    };
    Ok((format, entries))
}

/// Every arXiv id written in `value` as an abstract-page URL (`arxiv.org/abs/2401.00001`) or
/// an `arXiv:` label (`arXiv:2401.00001 [cs]`, as Zotero writes in notes and report numbers),
/// added to `ids` once each. Words that only look like a label are ignored: a note is not a
/// field whose errors should fail the entry.
pub(crate) fn arxiv_ids_in(value: &str, ids: &mut Vec<PaperId>) {
    let lower = value.to_ascii_lowercase();
    for marker in ["arxiv.org/abs/", "arxiv:"] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(marker) {
            let start = from + pos + marker.len();
            let token: String = value[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-'))
                .collect();
            if let Ok((id, _)) = arxiv_id(token.trim_end_matches('.')) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            from = start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arxiv_ids_are_found_in_urls_and_labels() {
        let mut ids = Vec::new();
        arxiv_ids_in("arXiv:1706.03762 [cs]", &mut ids);
        arxiv_ids_in("http://arxiv.org/abs/1706.03762v5", &mut ids);
        arxiv_ids_in("see arXiv:hep-th/9901001.", &mut ids);
        arxiv_ids_in("arXiv: preprint, arxiv:notanid", &mut ids);
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        assert_eq!(ids, ["arxiv:1706.03762", "arxiv:hep-th/9901001"]);
    }

    #[test]
    fn other_data_is_not_taken_for_a_reference_list() {
        let e = parse_entries("x.txt", b"A title\nAn abstract\n").unwrap_err();
        assert!(e.message.contains("listing data"), "{e}");
        let e = parse_entries("x.json", b"[{\"paperId\": \"1\", \"title\": \"x\"}]").unwrap_err();
        assert!(e.message.contains("semantic-scholar"), "{e}");
        assert!(parse_entries("x", b"").is_err());
    }
}
