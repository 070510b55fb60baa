//! `bench encode`: encoding throughput on the first documents of a BEIR corpus.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use paperscout_app::{peak_rss_mb, Engine, Format, Input, Progress};
use serde::Serialize;

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;

#[derive(Args, Debug)]
pub struct BenchEncodeCmd {
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EncodeBench {
    precision: String,
    /// The matrix-multiply kernel that ran (int8: portable, avx2 or avx512-vnni).
    kernel: &'static str,
    docs: usize,
    docs_per_s: f64,
    seconds: f64,
    batch_size: usize,
    threads: usize,
    peak_rss_mb: Option<f64>,
}

impl BenchEncodeCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let corpus = Input::resolve(&self.beir, Some(Format::Beir))?;
        let texts: Vec<String> = corpus
            .records(None)?
            .take(self.limit)
            .map(|r| r.map(|p| p.embedding_text()))
            .collect::<Result<_, _>>()?;
        let scratch = tempfile::tempdir()?;
        let engine = Engine::open(
            g.engine_config(Some(scratch.path().into()), false)?,
            Arc::new(paperscout_app::NoProgress),
        )?;
        let encoder = engine.encoder()?;
        let bars = Bars::new();
        bars.begin("encoding", texts.len() as u64);
        let start = Instant::now();
        for chunk in texts.chunks(256) {
            encoder.embed_owned(chunk.to_vec())?;
            bars.advance(chunk.len() as u64);
        }
        let seconds = start.elapsed().as_secs_f64();
        bars.end();
        let r = EncodeBench {
            precision: g.precision.to_string(),
            kernel: paperscout_app::kernel_path(g.precision),
            docs: texts.len(),
            docs_per_s: texts.len() as f64 / seconds,
            seconds,
            batch_size: g.batch_size,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            peak_rss_mb: peak_rss_mb(),
        };
        if self.json {
            print_json_line(&r)?;
        } else {
            println!(
                "{} docs in {:.1}s: {:.1} docs/s ({}, {} kernel, batch {}, {} threads, peak RSS {:.0} MiB)",
                r.docs,
                r.seconds,
                r.docs_per_s,
                r.precision,
                r.kernel,
                r.batch_size,
                r.threads,
                r.peak_rss_mb.unwrap_or(0.0)
            );
        }
        Ok(())
    }
}
