//! What browsing the corpus needs beyond the feeds: papers by publication date (the daily,
//! weekly and monthly pages), per-source counts (the operator's `/sources`), and removing a
//! whole source (the demo corpus stepping aside), with the tombstones that let other processes'
//! derived indexes drop what was removed.

use chrono::NaiveDate;

/// `listed_at` of the bundled demo corpus's papers: they never "entered the feed" (the demo
/// has no dates), so real papers always come before them in Trending and New.
pub const DEMO_LISTED_AT: i64 = 0;

/// How many papers one source holds, and when it last changed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCount {
    pub source: String,
    pub papers: usize,
    /// When the last paper of this source was added or changed (Unix seconds).
    pub last_change: Option<i64>,
}

/// The nearest publication dates with papers outside a date range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Neighbours {
    /// The latest date before the range that has papers.
    pub before: Option<NaiveDate>,
    /// The earliest date after it that has papers.
    pub after: Option<NaiveDate>,
}
