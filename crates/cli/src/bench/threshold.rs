//! `bench threshold`: how well similarity thresholds separate judged-relevant papers.

use anyhow::Result;
use clap::Args;

use crate::args::Global;
use crate::progress::Bars;
use crate::scratch::Judged;

#[derive(Args, Debug)]
pub struct BenchThresholdCmd {
    #[command(flatten)]
    judged: Judged,
}

impl BenchThresholdCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let (engine, queries, qrels) = self.judged.open(g, true)?;
        let thresholds: Vec<f32> = (2..=14).map(|i| i as f32 * 0.05).collect();
        let rows = paperscout_app::eval::similarity_thresholds(
            &engine,
            &queries,
            &qrels,
            &thresholds,
            &Bars::new(),
        )?;
        println!("threshold  recall(relevant)  above/query  precision(lower bound)  queries answered  nonsense empty");
        for r in &rows {
            println!(
                "{:>9.2}  {:>16.3}  {:>11.1}  {:>22.3}  {:>16.3}  {:>14.3}",
                r.threshold,
                r.recall,
                r.above_per_query,
                r.precision_lower_bound,
                r.queries_answered,
                r.nonsense_empty
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
