//! What trending and search filters read about papers and their upvotes.

use chrono::NaiveDate;

use crate::PaperKey;

/// A paper that may belong on a trending page: when it was listed and its votes in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub key: PaperKey,
    pub listed_at: i64,
    /// Votes cast at or after the window's start.
    pub votes: usize,
    /// Whether the paper was listed, or voted for, inside the window.
    pub in_window: bool,
}

/// The fields search filters look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facets {
    pub published: Option<NaiveDate>,
    pub categories: Vec<String>,
}
