//! The scratch engine that `eval` and the benchmarks run on: a BEIR corpus ingested into a data
//! dir of its own.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use paperscout_app::{Engine, IngestOptions, Input};
use sha2::{Digest, Sha256};

use crate::args::Global;
use crate::progress::Bars;

/// An engine over a BEIR corpus in a scratch data dir: by default one per corpus file (path,
/// size, mtime) in the cache dir, so a second run reuses the first one's embeddings.
pub fn scratch_engine(
    g: &Global,
    corpus: Input,
    scratch: Option<PathBuf>,
    encode: bool,
) -> Result<Engine> {
    let scratch = match scratch {
        Some(d) => d,
        None => {
            let meta = std::fs::metadata(&corpus.path)?;
            let canonical = corpus.path.canonicalize()?;
            let key = format!(
                "{}:{}:{:?}",
                canonical.display(),
                meta.len(),
                meta.modified().ok()
            );
            let digest: String = Sha256::digest(key.as_bytes())[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            g.cache_dir()?.join("eval").join(digest)
        }
    };
    let corpus_path = corpus.path.clone();
    let engine = Engine::open(
        g.engine_config(Some(scratch), false)?,
        Arc::new(Bars::new()),
    )?;
    let report = engine.ingest(
        &[corpus],
        IngestOptions {
            skip_bad: false,
            encode,
            skip_empty: true,
        },
    )?;
    if report.empty > 0 {
        eprintln!(
            "skipped {} empty document(s) (neither title nor text) in {}",
            report.empty,
            corpus_path.display()
        );
    }
    tracing::info!(
        added = report.added,
        unchanged = report.unchanged,
        encoded = report.encoded,
        "corpus ready"
    );
    Ok(engine)
}
