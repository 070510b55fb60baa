//! `bench query`: query latency per search mode, and of the query's encoding alone.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use paperscout_app::eval::{load_qrels, load_queries};
use paperscout_app::{Format, Input, SearchMode};
use serde::Serialize;

use crate::args::Global;
use crate::output::print_json_line;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct BenchQueryCmd {
    /// The dataset folder (corpus.jsonl, queries.jsonl)
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    /// Use the queries judged here [default: every query in queries.jsonl]
    #[arg(long, value_name = "FILE")]
    qrels: Option<PathBuf>,
    /// At most this many queries
    #[arg(long, default_value_t = 300)]
    limit: usize,
    /// Scratch data dir for the corpus [default: as for `eval`]
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct QueryBench {
    /// A search mode, or `encode`: the query's encoding alone (what the peer measures).
    mode: &'static str,
    precision: String,
    queries: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

impl BenchQueryCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let beir = &self.beir;
        let corpus = Input::resolve(beir, Some(Format::Beir))?;
        let queries = load_queries(&beir.join("queries.jsonl"))?;
        let mut ids: Vec<&String> = match &self.qrels {
            Some(path) => {
                let judged = load_qrels(path)?;
                queries.keys().filter(|q| judged.contains_key(*q)).collect()
            }
            None => queries.keys().collect(),
        };
        ids.sort();
        ids.truncate(self.limit);
        if ids.is_empty() {
            bail!("no queries to run");
        }
        let engine = scratch_engine(g, corpus, self.scratch_dir, true)?;
        // Warm up: load the model and the vector index outside the measurement.
        engine.search("warm up", SearchMode::Hybrid, 10)?;
        let encoder = engine.encoder()?;
        for mode in [
            Some(SearchMode::Lexical),
            Some(SearchMode::Semantic),
            Some(SearchMode::Hybrid),
            None,
        ] {
            let mut ms: Vec<f64> = Vec::with_capacity(ids.len());
            for q in &ids {
                let start = Instant::now();
                match mode {
                    Some(mode) => drop(engine.search(&queries[*q], mode, 10)?),
                    None => drop(encoder.embed_owned(vec![queries[*q].clone()])?),
                }
                ms.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            ms.sort_by(f64::total_cmp);
            let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
            let r = QueryBench {
                mode: mode.map_or("encode", |m| m.as_str()),
                precision: g.precision.to_string(),
                queries: ms.len(),
                p50_ms: pct(0.50),
                p99_ms: pct(0.99),
                mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            };
            if self.json {
                print_json_line(&r)?;
            } else {
                println!(
                    "{:<8}  p50 {:.2} ms  p99 {:.2} ms  mean {:.2} ms  ({} queries, one at a time)",
                    r.mode, r.p50_ms, r.p99_ms, r.mean_ms, r.queries
                );
            }
        }
        Ok(())
    }
}
