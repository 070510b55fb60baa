//! `bench feedback`: pseudo-relevance feedback (Rocchio on the query vector), per setting.

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::feedback_ablation;

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::Judged;

#[derive(Args, Debug)]
pub struct BenchFeedbackCmd {
    #[command(flatten)]
    judged: Judged,
    /// One JSON object per setting
    #[arg(long)]
    json: bool,
}

impl BenchFeedbackCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let (engine, queries, qrels) = self.judged.open(g, true)?;
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
