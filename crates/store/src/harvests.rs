//! Harvest runs (what `status` pages and `stats` report: when each source was last harvested,
//! what it added, and why nothing came) and each harvest's resume state (an OAI-PMH resumption
//! token), written in the same transaction as the page it follows.

/// A run stops counting as running when it has not written for this long (its process died):
/// the next run of the same harvest marks it interrupted and goes ahead.
pub const HARVEST_STALE_SECS: i64 = 600;

/// How a harvest run went; serialised (and stored) in lowercase: `running`, `ok`, `empty`,
/// `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HarvestStatus {
    Running,
    /// Papers came.
    Ok,
    /// The source answered, with nothing new (the message says why).
    Empty,
    /// The source could not be harvested (the message says why).
    Failed,
}

impl HarvestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HarvestStatus::Running => "running",
            HarvestStatus::Ok => "ok",
            HarvestStatus::Empty => "empty",
            HarvestStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> HarvestStatus {
        match s {
            "running" => HarvestStatus::Running,
            "ok" => HarvestStatus::Ok,
            "empty" => HarvestStatus::Empty,
            _ => HarvestStatus::Failed,
        }
    }
}

impl std::fmt::Display for HarvestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One harvest run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestRun {
    pub id: i64,
    /// Which harvest: `arxiv:cs`, `hf-daily`.
    pub harvest: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: HarvestStatus,
    pub pages: u64,
    pub records: u64,
    pub added: u64,
    pub updated: u64,
    pub message: Option<String>,
}

/// Counts to add to a running harvest after a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub records: u64,
    pub added: u64,
    pub updated: u64,
}
