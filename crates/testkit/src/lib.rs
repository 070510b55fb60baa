//! What the test suites of several crates share. It depends on no other paperscout crate, so
//! every crate (the encoder included) can use it without a cycle.

pub mod postgres;

use std::path::PathBuf;

/// Where tests fetch and keep the model: `PAPERSCOUT_CACHE_DIR` (`.ci/run` points it into
/// `target/`), else one folder in the system's temp dir shared by every test run.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("PAPERSCOUT_CACHE_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("paperscout-test-cache"))
}

/// A local model folder to use instead of fetching one (`PAPERSCOUT_MODEL`), if set.
pub fn model_dir() -> Option<PathBuf> {
    std::env::var_os("PAPERSCOUT_MODEL").map(Into::into)
}
