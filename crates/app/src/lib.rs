//! The application: wires ingest, encoder, indexes and store into the operations users run
//! (ingest, search, similar, reindex, export, eval). No HTTP, no terminal: front ends call in
//! and render; long work reports through [`Progress`].

pub mod digest;
mod engine;
mod error;
pub mod eval;
mod feed;
pub mod harvest;
pub mod library;
mod progress;
mod vectors;

pub use engine::{
    Activity, Config, Engine, Filter, IngestOptions, IngestReport, ModelState, QueueStats, Ranking,
    SearchPage, Status, Timings, DEMO_LISTING, FUSION_DEPTH, MAX_QUERY_CHARS, MAX_RESULTS,
};
pub use error::{error_chain, Error, ErrorKind, Result};
pub use feed::{normalize_name, FeedItem, TrendingParams, VoteState, Window, MAX_AUTHOR_PAPERS};
pub use paperscout_store::{Neighbours, SourceCount};
pub use progress::{NoProgress, Progress};
pub use vectors::{VectorChoice, ANN_FROM};

pub use digest::{paper_path, DigestConfig, Digests, SmtpUrl, SubscriptionRequest};
pub use harvest::{HarvestConfig, HarvestPlan, HarvestReport, HarvestSchedule, HarvestSpec};
pub use paperscout_encoder::{kernel_path, ModelSpec, Precision, DEFAULT_REPO};
pub use paperscout_index::{self as index, Fusion};
pub use paperscout_ingest::{Format, Input};
pub use paperscout_model::{
    math_to_unicode, sync, Hit, Links, Paper, PaperId, SearchMode, Snippet, Source,
};
pub use paperscout_store::{self as store, redact_url, DatabaseUrl, Leader};
pub use paperscout_store::{HarvestRun, HarvestStatus};

/// Peak resident memory of this process so far, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

/// Resident memory of this process now, in MiB (Linux; `None` elsewhere).
pub fn rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Finds (fetching if needed) the model files; see `paperscout_encoder::resolve`.
pub fn resolve_model(spec: &ModelSpec) -> Result<paperscout_encoder::ResolvedModel> {
    Ok(paperscout_encoder::resolve(spec)?)
}
