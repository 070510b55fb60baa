//! Turns bytes into [`Paper`]s: one module per source format. Pure: it reads what it is given
//! and never touches the store, the network or the clock.
//!
//! Every parser is a streaming iterator of `Result<Paper, RecordError>`, so that a caller can
//! stop at the first bad record (all-or-nothing ingest) or skip bad records and report them,
//! and so that a multi-gigabyte file is parsed in constant memory.

pub mod arxiv_api;
pub mod arxiv_rss;
mod beir;
pub mod bibtex;
mod common;
pub mod csl_json;
mod error;
pub mod hf_daily;
mod json_doc;
mod jsonl;
mod lines;
mod listing;
pub mod oai;
mod openalex;
pub mod reference;
pub mod ris;
mod s2;
mod snapshot;
mod xml;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use error::{Error, RecordError, Result};
pub use paperscout_model::{Paper, Source};

/// The file formats `paperscout ingest` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A papers-page listing: a title line, then an abstract line, repeated.
    Listing,
    /// A BEIR `corpus.jsonl`: `{"_id", "title", "text"}` per line.
    Beir,
    /// paperscout's own JSONL: one [`Paper`] per line, as `paperscout export` writes.
    Jsonl,
    /// An arXiv API answer (Atom).
    ArxivApi,
    /// An arXiv OAI-PMH answer (`arXiv`, `arXivRaw` or `oai_dc` metadata).
    ArxivOai,
    /// The arXiv metadata snapshot (JSON lines).
    ArxivSnapshot,
    /// An arXiv listing feed (RSS 2.0 or Atom from `rss.arxiv.org`).
    ArxivRss,
    /// Hugging Face's `/api/daily_papers` JSON.
    HfDaily,
    /// OpenAlex works JSON.
    OpenAlex,
    /// Semantic Scholar Graph API paper JSON.
    SemanticScholar,
    /// BibTeX.
    Bibtex,
    /// RIS (`TY  - JOUR` … `ER  - `), as Zotero, Mendeley and EndNote export.
    Ris,
    /// CSL-JSON, as Zotero and Mendeley export ("CSL JSON").
    CslJson,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::Listing,
        Format::Beir,
        Format::Jsonl,
        Format::ArxivApi,
        Format::ArxivOai,
        Format::ArxivSnapshot,
        Format::ArxivRss,
        Format::HfDaily,
        Format::OpenAlex,
        Format::SemanticScholar,
        Format::Bibtex,
        Format::Ris,
        Format::CslJson,
    ];

    /// The format's name, which is also the [`Source`] its papers are recorded under.
    pub fn as_str(self) -> &'static str {
        self.source().as_str()
    }

    /// The source papers read in this format come from.
    pub fn source(self) -> Source {
        match self {
            Format::Listing => Source::Listing,
            Format::Beir => Source::Beir,
            Format::Jsonl => Source::Jsonl,
            Format::ArxivApi => Source::ArxivApi,
            Format::ArxivOai => Source::ArxivOai,
            Format::ArxivSnapshot => Source::ArxivSnapshot,
            Format::ArxivRss => Source::ArxivRss,
            Format::HfDaily => Source::HfDaily,
            Format::OpenAlex => Source::OpenAlex,
            Format::SemanticScholar => Source::SemanticScholar,
            Format::Bibtex => Source::Bibtex,
            Format::Ris => Source::Ris,
            Format::CslJson => Source::CslJson,
        }
    }

    /// Every format's name, comma-separated (for messages).
    pub fn names() -> String {
        Format::ALL.map(Format::as_str).join(", ")
    }

    /// Whether the format is one record per line, parsed as it is read (any size); the others
    /// are documents (one API answer, one BibTeX file) read whole.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Format::Listing | Format::Beir | Format::Jsonl | Format::ArxivSnapshot
        )
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("s2") {
            return Ok(Format::SemanticScholar);
        }
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownFormat(s.to_string()))
    }
}

/// What the fuzz targets (`fuzz/`) and their corpus replay test run on each input: parses
/// `data` as `format` and checks what every parser promises, whatever the bytes: no panic,
/// papers with an id and some text (a title; BEIR documents may have only a body), errors that
/// name the input and a line inside it.
#[doc(hidden)]
pub fn fuzz_check(format: Format, data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let check_error = |e: &RecordError| {
        assert_eq!(e.file, "fuzz");
        assert!(
            e.line >= 1 && e.line <= lines,
            "line {} of {lines}: {e}",
            e.line
        );
    };
    let check_paper = |p: &Paper| {
        assert!(
            !p.title.trim().is_empty() || (format == Format::Beir && !p.abstract_text.is_empty()),
            "a paper without a title: {p:?}"
        );
        assert_eq!(
            p.id.as_str().parse::<paperscout_model::PaperId>().as_ref(),
            Ok(&p.id)
        );
    };
    let records: Vec<std::result::Result<Paper, RecordError>> = if format.is_streaming() {
        parse(format, "fuzz", data, format.source()).collect()
    } else {
        match parse_document(format, "fuzz", data) {
            Ok(records) => records,
            Err(e) => vec![Err(e)],
        }
    };
    for r in &records {
        match r {
            Ok(p) => check_paper(p),
            Err(e) => check_error(e),
        }
    }
    let _ = detect_bytes(data);
}

/// A stream of parsed records from one input.
pub type Records<'a> =
    Box<dyn Iterator<Item = std::result::Result<Paper, RecordError>> + Send + 'a>;

/// Parses `reader` as `format`. `name` is how errors refer to the input (usually its path);
/// `source` is recorded on every paper.
pub fn parse<'a, R: BufRead + Send + 'a>(
    format: Format,
    name: &str,
    mut reader: R,
    source: Source,
) -> Records<'a> {
    if !format.is_streaming() {
        let mut bytes = Vec::new();
        let read = (&mut reader)
            .take(common::MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes);
        let records = match read {
            Err(e) => Err(RecordError::new(name, 1, format!("read failed: {e}"))),
            Ok(_) if bytes.len() as u64 > common::MAX_DOCUMENT_BYTES => Err(RecordError::new(
                name,
                1,
                format!(
                    "larger than {} MB: a {} document is one API answer or one file, never this big",
                    common::MAX_DOCUMENT_BYTES >> 20,
                    format.as_str()
                ),
            )),
            Ok(_) => parse_document(format, name, &bytes),
        };
        let records = records.unwrap_or_else(|e| vec![Err(e)]);
        return Box::new(records.into_iter().map(move |r| {
            r.map(|mut p| {
                p.source = source;
                p
            })
        }));
    }
    let lines = lines::Lines::new(name, reader);
    match format {
        Format::Listing => Box::new(listing::parse(lines, source)),
        Format::Beir => Box::new(beir::parse(lines, source)),
        Format::Jsonl => Box::new(jsonl::parse(lines)),
        Format::ArxivSnapshot => Box::new(snapshot::parse(lines).map(move |r| {
            r.map(|mut p| {
                p.source = source;
                p
            })
        })),
        _ => unreachable!("document formats are handled above"),
    }
}

/// Parses a whole document (one API answer or file) in a document format. A document-level
/// failure (not XML, an error answer) is an `Err`; a bad record is an `Err` in the list.
pub fn parse_document(
    format: Format,
    name: &str,
    bytes: &[u8],
) -> std::result::Result<Vec<std::result::Result<Paper, RecordError>>, RecordError> {
    match format {
        Format::ArxivApi => arxiv_api::parse_page(name, bytes).map(|p| p.records),
        Format::ArxivOai => match oai::parse_page(name, bytes)? {
            oai::OaiAnswer::Page(page) => Ok(page.records),
            // "No records match" is an empty answer, not a failure.
            oai::OaiAnswer::Error(e) if e.code == "noRecordsMatch" => Ok(Vec::new()),
            oai::OaiAnswer::Error(e) => Err(RecordError::new(
                name,
                e.line,
                format!("the OAI-PMH server answered {}: {}", e.code, e.message),
            )),
        },
        Format::ArxivRss => arxiv_rss::parse_page(name, bytes).map(|p| p.records),
        Format::HfDaily => hf_daily::parse_document(name, bytes),
        Format::OpenAlex => openalex::parse_document(name, bytes),
        Format::SemanticScholar => s2::parse_document(name, bytes),
        Format::Bibtex => bibtex::parse_document(name, bytes),
        Format::Ris => ris::parse_document(name, bytes),
        Format::CslJson => csl_json::parse_document(name, bytes),
        Format::Listing | Format::Beir | Format::Jsonl | Format::ArxivSnapshot => {
            let text = common::document_text(name, bytes)?;
            Ok(parse(format, name, text.as_bytes(), format.source()).collect())
        }
    }
}

/// An input file resolved to the file to read and its format.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub format: Format,
}

impl Input {
    /// Resolves `path` (a file, or a BEIR dataset folder holding `corpus.jsonl`) and its format:
    /// `format` when given, else detected from the content.
    pub fn resolve(path: &Path, format: Option<Format>) -> Result<Input> {
        let mut path = path.to_path_buf();
        if path.is_dir() {
            let corpus = path.join("corpus.jsonl");
            if !corpus.is_file() {
                return Err(Error::Detect {
                    path,
                    reason:
                        "it is a folder without corpus.jsonl; name a file, or a BEIR dataset folder"
                            .into(),
                });
            }
            path = corpus;
        }
        let format = match format {
            Some(f) => f,
            None => detect(&path)?,
        };
        Ok(Input { path, format })
    }

    /// Opens the file and returns its records.
    pub fn records(&self, source: Option<Source>) -> Result<Records<'static>> {
        self.records_with_progress(source, |_| {})
    }

    /// Like [`Input::records`], calling `on_read` with the number of bytes of each read.
    pub fn records_with_progress(
        &self,
        source: Option<Source>,
        on_read: impl FnMut(u64) + Send + 'static,
    ) -> Result<Records<'static>> {
        let file = File::open(&self.path).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })?;
        let source = source.unwrap_or(self.format.source());
        Ok(parse(
            self.format,
            &self.path.display().to_string(),
            BufReader::with_capacity(
                1 << 16,
                Counting {
                    inner: file,
                    on_read,
                },
            ),
            source,
        ))
    }
}

/// A reader that reports how much it has read.
struct Counting<R, F> {
    inner: R,
    on_read: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n as u64);
        Ok(n)
    }
}

/// Guesses the format of a file from its first non-blank line.
pub fn detect(path: &Path) -> Result<Format> {
    let file = File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut head = Vec::new();
    file.take(1 << 20)
        .read_to_end(&mut head)
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    detect_bytes(&head).map_err(|reason| Error::Detect {
        path: path.to_path_buf(),
        reason,
    })
}

pub(crate) fn detect_bytes(head: &[u8]) -> std::result::Result<Format, String> {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err("the file is empty".into());
    };
    let has = |needle: &str| text.contains(needle);
    if text.starts_with('<') {
        return if has("<OAI-PMH") {
            Ok(Format::ArxivOai)
        } else if has("<rss") || (has("<feed") && (has("rss.arxiv.org") || has("announce_type"))) {
            Ok(Format::ArxivRss)
        } else if has("<feed") && has("arxiv") {
            Ok(Format::ArxivApi)
        } else if has("<html") || has("<HTML") || has("<!DOCTYPE html") {
            Err("an HTML page, not data (an error page saved instead of an API answer?)".into())
        } else {
            Err("XML that is neither an arXiv API feed, an OAI-PMH answer nor an arXiv listing feed; pass --format".into())
        };
    }
    if text.starts_with('@') || (text.starts_with('%') && has("@") && has("{")) {
        return Ok(Format::Bibtex);
    }
    if let Some(items) = text.strip_prefix('[') {
        // Hugging Face's items hold a `"paper": {…}` object; a `"paper"` string elsewhere
        // (a CSL item's `"genre": "paper"`) is not one.
        let hf_paper_key = text
            .match_indices("\"paper\"")
            .any(|(i, m)| text[i + m.len()..].trim_start().starts_with(':'));
        return if has("\"submittedOnDailyAt\"") || hf_paper_key {
            Ok(Format::HfDaily)
        } else if has("\"paperId\"") || items.trim_start().starts_with("null") {
            Ok(Format::SemanticScholar)
        } else if has("\"type\"") && (has("\"issued\"") || has("\"author\"") || has("\"title\"")) {
            // CSL items all have a `type` ("article-journal", "article", "book"…).
            Ok(Format::CslJson)
        } else if items.trim_start().starts_with(']') {
            Err("an empty JSON array: nothing to read".into())
        } else {
            Err("a JSON array that is neither Hugging Face daily papers nor a Semantic Scholar batch; pass --format".into())
        };
    }
    if first.starts_with("TY ") && first[2..].trim_start().starts_with('-') {
        return Ok(Format::Ris);
    }
    if !text.starts_with('{') {
        return Ok(Format::Listing);
    }
    // The whole-document JSON answers (OpenAlex, Semantic Scholar), whether on one line or many.
    if has("\"abstract_inverted_index\"") || has("\"https://openalex.org/") {
        return Ok(Format::OpenAlex);
    }
    if has("\"paperId\"") {
        return Ok(Format::SemanticScholar);
    }
    let value: serde_json::Value = serde_json::from_str(first).map_err(|e| {
        format!("the first line looks like JSON but does not parse ({e}); pass --format")
    })?;
    match value.as_object() {
        Some(obj) if obj.contains_key("_id") => Ok(Format::Beir),
        Some(obj)
            if obj.contains_key("id")
                && (obj.contains_key("versions") || obj.contains_key("submitter")) =>
        {
            Ok(Format::ArxivSnapshot)
        }
        Some(obj) if obj.contains_key("id") && obj.contains_key("title") => Ok(Format::Jsonl),
        Some(obj) if obj.contains_key("total") && obj.contains_key("offset") => {
            Ok(Format::SemanticScholar)
        }
        _ => Err(format!(
            "JSON that is none of the formats paperscout reads; pass --format (one of {})",
            Format::names()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_from_content() {
        assert_eq!(
            detect_bytes(b"\n{\"_id\": \"1\", \"text\": \"x\"}\n"),
            Ok(Format::Beir)
        );
        assert_eq!(
            detect_bytes(b"{\"id\": \"arxiv:2101.00001\", \"title\": \"x\"}"),
            Ok(Format::Jsonl)
        );
        assert_eq!(
            detect_bytes(b"A Title\nAn abstract.\n"),
            Ok(Format::Listing)
        );
        assert_eq!(
            detect_bytes(b"\r\nTY  - JOUR\r\nTI  - A title\r\nER  - \r\n"),
            Ok(Format::Ris)
        );
        assert_eq!(
            detect_bytes(
                b"[\n\t{\n\t\t\"id\": \"x\",\n\t\t\"type\": \"article\",\n\t\t\"title\": \"A\"}]"
            ),
            Ok(Format::CslJson)
        );
        assert!(detect_bytes(b"[ ]")
            .unwrap_err()
            .contains("empty JSON array"));
        assert_eq!(
            detect_bytes(b"[{\"type\": \"report\", \"genre\": \"paper\", \"title\": \"T\"}]"),
            Ok(Format::CslJson)
        );
        assert_eq!(
            detect_bytes(b"[{\"paper\" : {\"id\": \"2401.00001\"}, \"title\": \"T\"}]"),
            Ok(Format::HfDaily)
        );
        assert!(detect_bytes(b"  \n \n").unwrap_err().contains("empty"));
        assert!(detect_bytes(b"{\"foo\": 1}")
            .unwrap_err()
            .contains("--format"));
        assert!(detect_bytes(b"{not json").unwrap_err().contains("--format"));
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("BEIR".parse::<Format>().unwrap(), Format::Beir);
        assert!("csv"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("listing, beir, jsonl, arxiv-api"));
        assert_eq!("s2".parse::<Format>().unwrap(), Format::SemanticScholar);
    }
}
