//! `remove --source NAME`: every paper of one source out of the store and the indexes (the
//! bundled demo corpus, once real papers are in).

use anyhow::Result;
use clap::Args;
use paperscout_app::Source;

use crate::args::Global;
use crate::output::print_json_line;

#[derive(Args, Debug)]
pub struct RemoveCmd {
    /// The source whose papers go: `demo` (the bundled demo corpus), or any source `stats`
    /// lists (a paper that another source also listed belongs to that source and stays)
    #[arg(long, value_name = "NAME")]
    source: String,
    #[arg(long)]
    json: bool,
}

impl RemoveCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let Some(source) = Source::parse(&self.source) else {
            let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
            // A usage error (exit code 2), as other bad arguments are.
            return Err(paperscout_app::Error::Invalid(format!(
                "unknown source `{}`; expected one of: {}",
                self.source,
                names.join(", ")
            ))
            .into());
        };
        let engine = g.engine()?;
        let removed = engine.remove_source(source)?;
        let left = engine.store().count()?;
        if self.json {
            print_json_line(&serde_json::json!({
                "source": source.as_str(), "removed": removed, "papers_left": left
            }))?;
        } else if removed == 0 {
            println!(
                "no papers from {} to remove; {left} papers left",
                source.as_str()
            );
        } else {
            println!(
                "removed {removed} papers from {} (store and indexes); {left} papers left",
                source.as_str()
            );
        }
        Ok(())
    }
}
