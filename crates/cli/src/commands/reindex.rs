//! `reindex`: rebuild the indexes from the store.

use anyhow::Result;
use clap::Args;

use crate::args::Global;

#[derive(Args, Debug)]
pub struct ReindexCmd {
    /// Recompute every embedding, not only missing ones
    #[arg(long)]
    reencode: bool,
}

impl ReindexCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let engine = g.engine()?;
        let (indexed, encoded) = engine.reindex(self.reencode)?;
        println!("indexed {indexed} papers; encoded {encoded}");
        Ok(())
    }
}
