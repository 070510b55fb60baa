//! `similar`: papers nearest in meaning to a paper.

use anyhow::Result;
use clap::Args;
use paperscout_app::PaperId;

use crate::args::Global;
use crate::output::print_hits;

#[derive(Args, Debug)]
pub struct SimilarCmd {
    /// A paper id (arxiv:…, doi:…, beir:…, title:…, or a bare arXiv id or DOI)
    id: PaperId,
    /// How many papers to show (1 to 1,000)
    #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    #[arg(long)]
    json: bool,
}

impl SimilarCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let engine = g.engine()?;
        let hits = engine.similar(&self.id, self.limit as usize)?;
        print_hits(&hits, self.json, None)
    }
}
