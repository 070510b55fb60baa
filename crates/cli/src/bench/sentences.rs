//! `bench sentences`: multi-vector papers (each abstract sentence embedded), against one vector per paper.

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::sentence_ablation;

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::Judged;

#[derive(Args, Debug)]
pub struct BenchSentencesCmd {
    #[command(flatten)]
    judged: Judged,
    /// One JSON object
    #[arg(long)]
    json: bool,
}

impl BenchSentencesCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let (engine, queries, qrels) = self.judged.open(g, true)?;
        let report = sentence_ablation(&engine, &queries, &qrels, g.fusion, &Bars::new())?;
        if self.json {
            print_json_line(&report)?;
        } else {
            println!(
                "{} papers, {} sentences ({:.1} per paper), sentences encoded in {:.0} s",
                report.papers,
                report.sentences,
                report.sentences as f64 / report.papers.max(1) as f64,
                report.encode_seconds
            );
            for r in &report.rows {
                println!(
                    "{:<34} semantic nDCG@10 {:.4} R@100 {:.4} | hybrid nDCG@10 {:.4} R@100 {:.4} MRR@10 {:.4}",
                    r.name,
                    r.semantic.ndcg_10,
                    r.semantic.recall_100,
                    r.hybrid.ndcg_10,
                    r.hybrid.recall_100,
                    r.hybrid.mrr_10
                );
            }
        }
        Ok(())
    }
}
