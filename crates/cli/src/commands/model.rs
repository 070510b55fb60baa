//! `model`: fetch the model if needed and say where it is.

use anyhow::Result;
use clap::Args;

use crate::args::Global;

#[derive(Args, Debug)]
pub struct ModelCmd {}

impl ModelCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let m = paperscout_app::resolve_model(&g.model_spec()?)?;
        println!("{} ({})", m.dir.display(), m.how);
        Ok(())
    }
}
