//! `bench threshold`: how well similarity thresholds separate judged-relevant papers.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::{load_qrels, load_queries};
use paperscout_app::{Format, Input};

use crate::args::Global;
use crate::progress::Bars;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct BenchThresholdCmd {
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
    #[arg(long, value_name = "FILE")]
    qrels: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
}

impl BenchThresholdCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let beir = &self.beir;
        let corpus = Input::resolve(beir, Some(Format::Beir))?;
        let qrels_path = self
            .qrels
            .unwrap_or_else(|| beir.join("qrels").join("test.tsv"));
        let qrels = load_qrels(&qrels_path)?;
        let queries = load_queries(&beir.join("queries.jsonl"))?;
        let engine = scratch_engine(g, corpus, self.scratch_dir, true)?;
        let thresholds: Vec<f32> = (4..=14).map(|i| i as f32 * 0.05).collect();
        let rows = paperscout_app::eval::similarity_thresholds(
            &engine,
            &queries,
            &qrels,
            &thresholds,
            &Bars::new(),
        )?;
        println!("threshold  recall(relevant)  above/query  precision(lower bound)");
        for r in &rows {
            println!(
                "{:>9.2}  {:>16.3}  {:>11.1}  {:>22.3}",
                r.threshold, r.recall, r.above_per_query, r.precision_lower_bound
            );
        }
        if let Some(r) = rows.first() {
            println!(
                "({} judged queries, {} papers)",
                r.queries,
                engine.store().count()?
            );
        }
        Ok(())
    }
}
