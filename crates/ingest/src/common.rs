//! What several formats share: arXiv ids with versions, dates, author lists, whole-document
//! input.

use chrono::{DateTime, NaiveDate};
use paperscout_model::{clean_text, Paper, PaperId, Source};

use crate::lines::Fault;
use crate::RecordError;

/// Refuses documents (one API page, one BibTeX file) larger than this: a page of any source is
/// at most a few MB; anything bigger is not what it claims to be. The bulk snapshot is read a
/// line at a time and has no such limit.
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// `2202.12139v3` → (`2202.12139`, Some(3)); `hep-th/9901001` → (…, None).
pub(crate) fn split_version(id: &str) -> (&str, Option<u32>) {
    if let Some(pos) = id.rfind('v') {
        let (head, tail) = id.split_at(pos);
        if !head.is_empty() && tail.len() > 1 && tail[1..].bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(v) = tail[1..].parse() {
                return (head, Some(v));
            }
        }
    }
    (id, None)
}

/// The arXiv id (with its version, if given) inside the forms feeds use:
/// `http://arxiv.org/abs/2202.12139v1`, `oai:arXiv.org:2508.13426v1`, `arXiv:2508.13426v1`.
pub(crate) fn arxiv_id_in(s: &str) -> &str {
    let s = s.trim();
    for marker in ["/abs/", "/pdf/", "oai:arXiv.org:", "arXiv:", "arxiv:"] {
        if let Some(pos) = s.find(marker) {
            return s[pos + marker.len()..].trim_end_matches(".pdf");
        }
    }
    s
}

/// An arXiv id (`2202.12139v2`, `math/0309136`) as the paper's id and its version.
pub(crate) fn arxiv_id(raw: &str) -> Result<(PaperId, Option<u32>), Fault> {
    let raw = arxiv_id_in(raw);
    let (base, version) = split_version(raw);
    let id = PaperId::arxiv(base).map_err(|e| Fault::field("id", e.to_string()))?;
    Ok((id, version))
}

/// A date at the start of `s` (`2022-02-24T15:05:19Z`, `2024-01-25`).
pub(crate) fn date_prefix(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// An RFC 2822 date (`Tue, 3 Apr 2007 22:04:11 GMT`), as arXiv's version lists and RSS write.
pub(crate) fn rfc2822_date(s: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.date_naive())
}

/// A date field, in either of the forms above; an error naming `field` otherwise.
pub(crate) fn date(field: &str, s: &str) -> Result<NaiveDate, Fault> {
    date_prefix(s)
        .or_else(|| rfc2822_date(s))
        .ok_or_else(|| Fault::field(field, format!("`{}` is not a date", s.trim())))
}

/// `D.V. Shetty, S.J. Yennello, and G.A. Souliotis` → three names. arXiv writes author lists
/// as one string; affiliations in parentheses are dropped.
pub(crate) fn split_authors(s: &str) -> Vec<String> {
    let s = strip_parenthesised(s);
    s.split(',')
        .flat_map(|part| part.split(" and "))
        .map(|name| {
            let name = name.trim();
            clean_text(name.strip_prefix("and ").unwrap_or(name))
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn strip_parenthesised(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `Liepins, Vilnis` → `Vilnis Liepins` (Dublin Core and BibTeX write family name first).
pub(crate) fn given_first(name: &str) -> String {
    match name.split_once(',') {
        Some((family, given)) if !given.trim().is_empty() => {
            clean_text(&format!("{} {}", given.trim(), family.trim()))
        }
        _ => clean_text(name),
    }
}

/// A person's name from its parts in display order (given, family, suffix), blanks skipped.
pub(crate) fn join_name(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    clean_text(&parts.join(" "))
}

/// arXiv's space-separated category list, primary first.
pub(crate) fn categories(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

pub(crate) fn arxiv_pdf(id: &PaperId) -> Option<String> {
    (id.scheme() == "arxiv").then(|| format!("https://arxiv.org/pdf/{}", id.value()))
}

/// A paper known by `ids` (the first is its id, the others its aliases) or, without any, by
/// its title.
pub(crate) fn paper_with_ids(
    ids: Vec<PaperId>,
    title: &str,
    abstract_text: String,
    source: Source,
) -> Paper {
    let id = ids
        .first()
        .cloned()
        .unwrap_or_else(|| PaperId::from_title(title));
    let mut paper = Paper::new(id, title.to_string(), abstract_text, source);
    for alias in ids.into_iter().skip(1) {
        paper.add_alias(alias);
    }
    paper
}

/// Checks the parts every paper needs and tidies the text: the title must not be empty.
pub(crate) fn finish(mut paper: Paper) -> Result<Paper, Fault> {
    paper.title = clean_text(&paper.title);
    paper.abstract_text = clean_text(&paper.abstract_text);
    paperscout_model::check_paper_text(
        &mut paper.title,
        &mut paper.abstract_text,
        &mut paper.authors,
    )
    .map_err(|(field, message)| Fault::field(field, message))?;
    if paper.title.is_empty() {
        return Err(Fault::field("title", "missing or empty"));
    }
    paper.settle_id();
    Ok(paper)
}

/// A whole document as text, or an error naming the file.
pub(crate) fn document_text<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, RecordError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        RecordError::new(name, line, format!("not UTF-8 text: {e}"))
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_versions_and_finds_ids() {
        assert_eq!(split_version("2202.12139v12"), ("2202.12139", Some(12)));
        assert_eq!(split_version("hep-th/9901001"), ("hep-th/9901001", None));
        assert_eq!(split_version("v2"), ("v2", None));
        assert_eq!(
            arxiv_id_in("http://arxiv.org/abs/2202.12139v1"),
            "2202.12139v1"
        );
        assert_eq!(
            arxiv_id_in("oai:arXiv.org:hep-th/9901001"),
            "hep-th/9901001"
        );
        let (id, v) = arxiv_id("https://arxiv.org/pdf/2101.00001v3.pdf").unwrap();
        assert_eq!((id.as_str(), v), ("arxiv:2101.00001", Some(3)));
        assert!(arxiv_id("http://arxiv.org/abs/garbage").is_err());
    }

    #[test]
    fn reads_dates_and_authors() {
        assert_eq!(
            date_prefix("2022-02-24T15:05:19Z"),
            NaiveDate::from_ymd_opt(2022, 2, 24)
        );
        assert_eq!(
            rfc2822_date("Tue, 3 Apr 2007 22:04:11 GMT"),
            NaiveDate::from_ymd_opt(2007, 4, 3)
        );
        assert!(date("published", "yesterday").is_err());
        assert_eq!(
            split_authors("D.V. Shetty, S.J. Yennello, and G.A. Souliotis (Texas A&M)"),
            ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]
        );
        assert_eq!(split_authors("A. One and B. Two"), ["A. One", "B. Two"]);
        assert_eq!(given_first("Liepins, Vilnis"), "Vilnis Liepins");
        assert_eq!(given_first("Plato"), "Plato");
    }
}
