use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::text::normalize_title;

/// A paper's stable identity, written `scheme:value`:
///
/// - `arxiv:2106.09685` — an arXiv id without its version suffix (`v2` of a paper is the same paper);
/// - `doi:10.18653/v1/n19-1423` — a DOI, lower-cased (DOIs are case-insensitive);
/// - `beir:4983` — the document id a BEIR corpus gives it (ids are the dataset's own keys, and
///   relevance judgements refer to them);
/// - `title:3f2a…` — the first 16 hex digits of the SHA-256 of the normalised title, when the
///   source gives no id at all.
///
/// `PaperId::from_str` also accepts a bare arXiv id (`2106.09685v2`, `hep-th/9901001`) and a
/// bare DOI (`10.1145/…`), so users can paste what they have.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaperId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaperIdError {
    #[error("empty paper id")]
    Empty,
    #[error("paper id `{0}` is not an arXiv id, a DOI or `scheme:value` with scheme arxiv, doi, beir or title")]
    Unrecognised(String),
}

impl PaperId {
    /// An arXiv id; a trailing version (`v3`) is dropped.
    pub fn arxiv(id: &str) -> Result<Self, PaperIdError> {
        let id = id.trim();
        let id = id
            .strip_prefix("arXiv:")
            .or_else(|| id.strip_prefix("arxiv:"))
            .unwrap_or(id);
        let base = strip_arxiv_version(id);
        if !looks_like_arxiv(base) {
            return Err(PaperIdError::Unrecognised(id.to_string()));
        }
        Ok(PaperId(format!("arxiv:{base}")))
    }

    pub fn doi(doi: &str) -> Result<Self, PaperIdError> {
        let doi = doi.trim();
        let doi = doi
            .strip_prefix("https://doi.org/")
            .or_else(|| doi.strip_prefix("http://doi.org/"))
            .or_else(|| doi.strip_prefix("https://dx.doi.org/"))
            .or_else(|| doi.strip_prefix("http://dx.doi.org/"))
            .or_else(|| doi.strip_prefix("doi:"))
            .unwrap_or(doi);
        if !doi.starts_with("10.") || !doi.contains('/') || doi.chars().any(char::is_whitespace) {
            return Err(PaperIdError::Unrecognised(doi.to_string()));
        }
        // arXiv's own DOIs (DataCite, `10.48550/arXiv.2312.07559`) name the arXiv paper.
        let lower = doi.to_ascii_lowercase();
        if let Some(arxiv) = lower.strip_prefix("10.48550/arxiv.") {
            if let Ok(id) = PaperId::arxiv(arxiv) {
                return Ok(id);
            }
        }
        Ok(PaperId(format!("doi:{}", doi.to_lowercase())))
    }

    /// The paper a search box's text names, when it is nothing but an arXiv id (new or old
    /// style, with or without `arXiv:` and a version), a DOI (`10.…/…`, `doi:…`), or the URL
    /// of one: arxiv.org's abs/pdf/html pages, doi.org, Hugging Face's paper pages. Anything
    /// else (words, a number like `1.5`) is `None`: a query.
    pub fn from_pasted(text: &str) -> Option<PaperId> {
        let t = text.trim();
        if t.is_empty() || t.chars().any(char::is_whitespace) {
            return None;
        }
        let lower = t.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .map(|r| r.strip_prefix("www.").unwrap_or(r));
        if let Some(rest) = rest {
            // The URL's path, as typed (DOIs keep their case until `doi` folds them).
            let path = &t[t.len() - rest.len()..];
            let (host, path) = path.split_once('/')?;
            let path = path.split(['?', '#']).next().unwrap_or("");
            let host = host.to_ascii_lowercase();
            return match host.as_str() {
                "arxiv.org" | "export.arxiv.org" => {
                    let (kind, id) = path.split_once('/')?;
                    if !matches!(kind, "abs" | "pdf" | "html") {
                        return None;
                    }
                    let id = id.trim_end_matches('/');
                    let id = id.strip_suffix(".pdf").unwrap_or(id);
                    PaperId::arxiv(id).ok()
                }
                "doi.org" | "dx.doi.org" => PaperId::doi(&percent_decode(path)).ok(),
                "huggingface.co" | "hf.co" => {
                    let id = path.strip_prefix("papers/")?.trim_end_matches('/');
                    PaperId::arxiv(id).ok()
                }
                _ => None,
            };
        }
        if let Some(doi) = lower.strip_prefix("doi:").map(|_| &t[4..]) {
            return PaperId::doi(doi).ok();
        }
        if lower.starts_with("10.") {
            return PaperId::doi(t).ok();
        }
        PaperId::arxiv(t).ok()
    }

    /// An id given by a BEIR corpus (`_id`).
    pub fn beir(id: &str) -> Result<Self, PaperIdError> {
        let id = id.trim();
        if id.is_empty() {
            return Err(PaperIdError::Empty);
        }
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PaperIdError::Unrecognised(id.to_string()));
        }
        Ok(PaperId(format!("beir:{id}")))
    }

    /// The fallback identity: a hash of the normalised title.
    pub fn from_title(title: &str) -> Self {
        let digest = Sha256::digest(normalize_title(title).as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        PaperId(format!("title:{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How strongly the id names one paper, lower is stronger: arXiv ids, then DOIs, then
    /// dataset ids, then title hashes (two papers can share a title).
    pub fn rank(&self) -> u8 {
        match self.scheme() {
            "arxiv" => 0,
            "doi" => 1,
            "beir" => 2,
            _ => 3,
        }
    }

    /// Whether the id is only a hash of the title.
    pub fn is_title(&self) -> bool {
        self.scheme() == "title"
    }

    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map(|(s, _)| s).unwrap_or("")
    }

    /// The part after `scheme:`.
    pub fn value(&self) -> &str {
        self.0.split_once(':').map(|(_, v)| v).unwrap_or(&self.0)
    }
}

fn strip_arxiv_version(id: &str) -> &str {
    if let Some(pos) = id.rfind('v') {
        let (head, tail) = id.split_at(pos);
        if tail.len() > 1 && tail[1..].bytes().all(|b| b.is_ascii_digit()) && !head.is_empty() {
            return head;
        }
    }
    id
}

/// New style `YYMM.NNNN(N)` or old style `archive(.SUBJ)/YYMMNNN`.
/// `%XX` escapes decoded (a DOI in a URL: `10.1000%2Fxyz`); anything malformed kept as is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn looks_like_arxiv(id: &str) -> bool {
    if let Some((yymm, num)) = id.split_once('.') {
        if yymm.len() == 4
            && yymm.bytes().all(|b| b.is_ascii_digit())
            && (4..=5).contains(&num.len())
            && num.bytes().all(|b| b.is_ascii_digit())
        {
            return true;
        }
    }
    if let Some((archive, num)) = id.split_once('/') {
        return !archive.is_empty()
            && archive.bytes().all(|b| {
                b.is_ascii_lowercase() || b == b'-' || b == b'.' || b.is_ascii_uppercase()
            })
            && num.len() == 7
            && num.bytes().all(|b| b.is_ascii_digit());
    }
    false
}

impl FromStr for PaperId {
    type Err = PaperIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PaperIdError::Empty);
        }
        if let Some((scheme, value)) = s.split_once(':') {
            match scheme.to_ascii_lowercase().as_str() {
                "arxiv" => return PaperId::arxiv(value),
                "doi" => return PaperId::doi(value),
                "beir" => return PaperId::beir(value),
                "title" => {
                    if value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Ok(PaperId(format!("title:{}", value.to_ascii_lowercase())));
                    }
                    return Err(PaperIdError::Unrecognised(s.to_string()));
                }
                "https" | "http" => return PaperId::doi(s),
                _ => {}
            }
        }
        if s.starts_with("10.") {
            return PaperId::doi(s);
        }
        PaperId::arxiv(s)
    }
}

impl TryFrom<String> for PaperId {
    type Error = PaperIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PaperId> for String {
    fn from(id: PaperId) -> String {
        id.0
    }
}

impl fmt::Display for PaperId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let id: PaperId = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(id.as_str(), expected, "input: {input:?}");
        // The canonical form parses to itself.
        assert_eq!(id.as_str().parse::<PaperId>().unwrap(), id);
    }

    #[test]
    fn pasted_ids_and_urls_name_papers_and_words_do_not() {
        let id = |s: &str| PaperId::from_pasted(s).map(|i| i.as_str().to_string());
        for s in [
            "2606.13681",
            " 2606.13681v2 ",
            "arXiv:2606.13681",
            "https://arxiv.org/abs/2606.13681",
            "http://arxiv.org/abs/2606.13681v3",
            "https://arxiv.org/pdf/2606.13681v1.pdf",
            "https://www.arxiv.org/pdf/2606.13681",
            "https://arxiv.org/html/2606.13681v1/",
            "https://huggingface.co/papers/2606.13681",
            "https://doi.org/10.48550/arXiv.2606.13681",
        ] {
            assert_eq!(id(s).as_deref(), Some("arxiv:2606.13681"), "{s}");
        }
        assert_eq!(
            id("hep-th/9901001").as_deref(),
            Some("arxiv:hep-th/9901001")
        );
        assert_eq!(
            id("https://arxiv.org/abs/hep-th/9901001").as_deref(),
            Some("arxiv:hep-th/9901001")
        );
        for s in [
            "10.1000/XYZ",
            "doi:10.1000/xyz",
            "https://doi.org/10.1000/xyz",
            "https://dx.doi.org/10.1000%2Fxyz",
        ] {
            assert_eq!(id(s).as_deref(), Some("doi:10.1000/xyz"), "{s}");
        }
        for s in [
            "",
            "1.5",
            "2606",
            "attention is all you need",
            "2606.13681 transformers",
            "https://example.org/abs/2606.13681",
            "https://arxiv.org/list/cs.IR",
            "https://arxiv.org",
            "javascript:alert(1)",
            "%",
            "https://doi.org/%",
            "10.",
            "https://huggingface.co/papers/",
        ] {
            assert_eq!(id(s), None, "{s:?}");
        }
    }

    #[test]
    fn parses_arxiv_ids_and_drops_versions() {
        check("2106.09685", "arxiv:2106.09685");
        check("2106.09685v3", "arxiv:2106.09685");
        check("arXiv:1810.04805v2", "arxiv:1810.04805");
        check("hep-th/9901001v1", "arxiv:hep-th/9901001");
        check("math.GT/0309136", "arxiv:math.GT/0309136");
        check("0704.0001", "arxiv:0704.0001");
    }

    #[test]
    fn parses_dois_case_insensitively() {
        check("10.18653/v1/N19-1423", "doi:10.18653/v1/n19-1423");
        check(
            "https://doi.org/10.1073/PNAS.1414271111",
            "doi:10.1073/pnas.1414271111",
        );
        check("doi:10.1000/xyz", "doi:10.1000/xyz");
        check("10.48550/arXiv.2312.07559", "arxiv:2312.07559");
        check("https://dx.doi.org/10.1000/XYZ", "doi:10.1000/xyz");
    }

    #[test]
    fn parses_beir_and_title_ids() {
        check("beir:4983", "beir:4983");
        check("title:00112233aabbccdd", "title:00112233aabbccdd");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "  ",
            "hello world",
            "1234",
            "doi:nope",
            "title:xyz",
            "beir: ",
            "ftp:thing",
        ] {
            assert!(
                bad.parse::<PaperId>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn title_ids_are_stable_under_formatting() {
        let a = PaperId::from_title("Attention Is All You Need");
        let b = PaperId::from_title("  attention is all   you need. ");
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), "title:".len() + 16);
        assert_ne!(a, PaperId::from_title("Attention Is Not All You Need"));
    }
}
