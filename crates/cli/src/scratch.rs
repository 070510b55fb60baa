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

/// A BEIR folder, its judgements and a scratch data dir: what the quality benchmarks take.
#[derive(clap::Args, Debug)]
pub struct Judged {
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
    #[arg(long, value_name = "FILE")]
    qrels: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
}

impl Judged {
    /// The BEIR folder.
    pub fn beir(&self) -> &std::path::Path {
        &self.beir
    }

    /// The corpus in its scratch engine (encoded if `encode`), the queries and the judgements.
    pub fn open(
        self,
        g: &Global,
        encode: bool,
    ) -> Result<(
        Engine,
        std::collections::HashMap<String, String>,
        paperscout_app::eval::Qrels,
    )> {
        let corpus = Input::resolve(&self.beir, Some(paperscout_app::Format::Beir))
            .map_err(paperscout_app::Error::from)?;
        let qrels_path = self
            .qrels
            .unwrap_or_else(|| self.beir.join("qrels").join("test.tsv"));
        let qrels = paperscout_app::eval::load_qrels(&qrels_path)?;
        let queries = paperscout_app::eval::load_queries(&self.beir.join("queries.jsonl"))?;
        let engine = scratch_engine(g, corpus, self.scratch_dir, encode)?;
        Ok((engine, queries, qrels))
    }
}
