use std::fmt;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell the format of {path}: {reason}")]
    Detect { path: PathBuf, reason: String },
    #[error("unknown format `{0}`: expected one of {formats}", formats = crate::Format::names())]
    UnknownFormat(String),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// One bad record: where it is (`file:line`), which record (its id, when it has one), which
/// field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordError {
    pub file: String,
    /// 1-based line number where the record starts.
    pub line: usize,
    /// The record's own id or key (`2101.00001`, `W2741809807`, a BibTeX key), when known.
    pub record: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

/// What a record with neither title nor text is told (see [`RecordError::is_empty_record`]).
pub(crate) const EMPTY_RECORD: &str = "both `title` and `text` are empty";

impl RecordError {
    /// Whether the record was refused only for having no text at all (a BEIR corpus may hold
    /// such documents; `eval` skips and counts them).
    pub fn is_empty_record(&self) -> bool {
        self.message == EMPTY_RECORD
    }

    pub fn new(file: &str, line: usize, message: impl Into<String>) -> RecordError {
        RecordError {
            file: file.to_string(),
            line,
            record: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn with_record(mut self, record: Option<&str>) -> RecordError {
        self.record = record.map(str::to_string);
        self
    }

    pub fn with_field(mut self, field: Option<&str>) -> RecordError {
        self.field = field.map(str::to_string);
        self
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(record) = &self.record {
            write!(f, "record `{record}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}
