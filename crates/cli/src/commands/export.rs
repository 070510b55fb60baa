//! `export`: every paper as JSON lines, to standard output or a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::args::Global;

#[derive(Args, Debug)]
pub struct ExportCmd {
    /// Write here instead of standard output (replaced atomically)
    #[arg(long, short)]
    output: Option<PathBuf>,
}

impl ExportCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let engine = g.engine()?;
        match self.output {
            None => {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                engine.export(&mut out)?;
                out.flush()?;
            }
            Some(path) => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let mut tmp = tempfile::NamedTempFile::new_in(dir)
                    .with_context(|| format!("cannot write in {}", dir.display()))?;
                let n = {
                    let mut out = std::io::BufWriter::new(&mut tmp);
                    let n = engine.export(&mut out)?;
                    out.flush()?;
                    n
                };
                tmp.persist(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("exported {n} papers to {}", path.display());
            }
        }
        Ok(())
    }
}
