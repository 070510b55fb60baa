use paperscout_model::PaperId;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, `outer: cause: root cause`: how every front end
/// (logs, the CLI, the server) prints an error.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// What kind of failure, so each front end can answer in its own terms (an exit code, an HTTP
/// status): the user's mistake, something missing, or our own trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the user (a malformed query, file or flag).
    Invalid,
    /// A paper or file that does not exist.
    NotFound,
    /// A feature this server is not set up for (e.g. mail without an SMTP server).
    Unavailable,
    /// Not now: another process holds the store's write lock or the index writer, the
    /// database server is unreachable (down, restarting), or the
    /// work a request needs (loading the model, the vector index) is still running in the
    /// background. Try again in a few seconds.
    Busy,
    /// Everything else: IO, the store, the indexes, the model.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    /// Not ready yet (see [`ErrorKind::Busy`]).
    #[error("{0}")]
    Busy(String),
    #[error("no paper with id {0}")]
    PaperNotFound(PaperId),
    /// Something other than a paper that is not there (or not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Ingest(#[from] paperscout_ingest::Error),
    #[error(transparent)]
    Store(#[from] paperscout_store::Error),
    #[error(transparent)]
    Index(#[from] paperscout_index::Error),
    #[error(transparent)]
    Encoder(#[from] paperscout_encoder::Error),
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Store(e) if e.is_busy() || e.is_unavailable() => ErrorKind::Busy,
            Error::Index(paperscout_index::Error::Tantivy(
                paperscout_index::TantivyError::LockFailure(..),
            )) => ErrorKind::Busy,
            Error::Ingest(paperscout_ingest::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            Error::Ingest(_) => ErrorKind::Invalid,
            Error::PaperNotFound(_) | Error::NotFound(_) => ErrorKind::NotFound,
            Error::Store(_) | Error::Index(_) | Error::Encoder(_) | Error::Io { .. } => {
                ErrorKind::Internal
            }
        }
    }

    /// Whether the database server could not be reached (a [`ErrorKind::Busy`] error).
    pub fn is_database_down(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_unavailable())
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
