//! Turns bytes into [`Paper`]s: one module per source format. Pure: it reads what it is given
//! and never touches the store, the network or the clock.
//!
//! Every parser is a streaming iterator of `Result<Paper, RecordError>`, so that a caller can
//! stop at the first bad record (all-or-nothing ingest) or skip bad records and report them,
//! and so that a multi-gigabyte file is parsed in constant memory.

mod beir;
mod error;
mod jsonl;
mod lines;
mod listing;

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
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Listing, Format::Beir, Format::Jsonl];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Listing => "listing",
            Format::Beir => "beir",
            Format::Jsonl => "jsonl",
        }
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownFormat(s.to_string()))
    }
}

/// A stream of parsed records from one input.
pub type Records<'a> =
    Box<dyn Iterator<Item = std::result::Result<Paper, RecordError>> + Send + 'a>;

/// Parses `reader` as `format`. `name` is how errors refer to the input (usually its path);
/// `source` is recorded on every paper.
pub fn parse<'a, R: BufRead + Send + 'a>(
    format: Format,
    name: &str,
    reader: R,
    source: Source,
) -> Records<'a> {
    let lines = lines::Lines::new(name, reader);
    match format {
        Format::Listing => Box::new(listing::parse(lines, source)),
        Format::Beir => Box::new(beir::parse(lines, source)),
        Format::Jsonl => Box::new(jsonl::parse(lines)),
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
        let file = File::open(&self.path).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })?;
        let source = source.unwrap_or(match self.format {
            Format::Listing => Source::Listing,
            Format::Beir => Source::Beir,
            Format::Jsonl => Source::Jsonl,
        });
        Ok(parse(
            self.format,
            &self.path.display().to_string(),
            BufReader::new(file),
            source,
        ))
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

fn detect_bytes(head: &[u8]) -> std::result::Result<Format, String> {
    let text = String::from_utf8_lossy(head);
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err("the file is empty".into());
    };
    if !first.starts_with('{') {
        return Ok(Format::Listing);
    }
    let value: serde_json::Value = serde_json::from_str(first).map_err(|e| {
        format!("the first line looks like JSON but does not parse ({e}); pass --format")
    })?;
    match value.as_object() {
        Some(obj) if obj.contains_key("_id") => Ok(Format::Beir),
        Some(obj) if obj.contains_key("id") && obj.contains_key("title") => Ok(Format::Jsonl),
        _ => Err("a JSON line that is neither a BEIR record (`_id`) nor a paperscout paper (`id`, `title`); pass --format".into()),
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
            .contains("listing, beir, jsonl"));
    }
}
