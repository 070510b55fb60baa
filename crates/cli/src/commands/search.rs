//! `search`: papers matching a query.

use anyhow::Result;
use clap::Args;
use paperscout_app::SearchMode;

use crate::args::Global;
use crate::output::print_hits;

#[derive(Args, Debug)]
pub struct SearchCmd {
    /// What to look for (at most 1,000 characters; quotes make phrases in lexical matching)
    query: String,
    /// hybrid (both fused), semantic (by meaning) or lexical (BM25)
    #[arg(long, short, default_value_t = SearchMode::Hybrid)]
    mode: SearchMode,
    /// How many papers to show (1 to 1,000)
    #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// One JSON object per hit
    #[arg(long)]
    json: bool,
}

impl SearchCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let engine = g.engine()?;
        let hits = engine.search(&self.query, self.mode, self.limit as usize)?;
        print_hits(&hits, self.json, Some(self.mode))
    }
}
