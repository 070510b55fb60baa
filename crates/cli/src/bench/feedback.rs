//! `bench feedback`: pseudo-relevance feedback (Rocchio on the query vector), per setting.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::{feedback_ablation, load_qrels, load_queries};
use paperscout_app::{Format, Input};

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct BenchFeedbackCmd {
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
    #[arg(long, value_name = "FILE")]
    qrels: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    /// One JSON object per setting
    #[arg(long)]
    json: bool,
}

impl BenchFeedbackCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let beir = &self.beir;
        let corpus = Input::resolve(beir, Some(Format::Beir))?;
        let qrels_path = self
            .qrels
            .unwrap_or_else(|| beir.join("qrels").join("test.tsv"));
        let qrels = load_qrels(&qrels_path)?;
        let queries = load_queries(&beir.join("queries.jsonl"))?;
        let engine = scratch_engine(g, corpus, self.scratch_dir, true)?;
        let settings = [(0, 0.0), (3, 0.3), (3, 0.6), (5, 0.5), (10, 0.5), (10, 1.0)];
        let rows = feedback_ablation(&engine, &queries, &qrels, g.fusion, &settings, &Bars::new())?;
        for r in &rows {
            if self.json {
                print_json_line(r)?;
            } else {
                println!(
                    "top {:>2} beta {:.1}: hybrid nDCG@10 {:.4} R@100 {:.4} MRR@10 {:.4} | semantic nDCG@10 {:.4} R@100 {:.4}",
                    r.top,
                    r.beta,
                    r.hybrid.ndcg_10,
                    r.hybrid.recall_100,
                    r.hybrid.mrr_10,
                    r.semantic.ndcg_10,
                    r.semantic.recall_100
                );
            }
        }
        Ok(())
    }
}
