//! `ingest`: add papers from files.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use paperscout_app::{Format, IngestOptions, Input};

use crate::args::Global;

#[derive(Args, Debug)]
pub struct IngestCmd {
    /// Files to read, or BEIR dataset folders (holding corpus.jsonl)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// listing, beir, jsonl, arxiv-api, arxiv-oai, arxiv-snapshot, arxiv-rss, hf-daily,
    /// openalex, semantic-scholar (or s2), bibtex, ris, csl-json [default: detected from the
    /// content]
    #[arg(long, value_name = "F")]
    format: Option<Format>,
    /// Ingest the good records and list the bad ones instead of refusing the whole ingest
    #[arg(long)]
    skip_bad: bool,
    /// Do not encode now; papers are encoded on first semantic search or `reindex`
    #[arg(long)]
    no_encode: bool,
}

impl IngestCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let inputs = self
            .paths
            .iter()
            .map(|p| Input::resolve(p, self.format).map_err(paperscout_app::Error::from))
            .collect::<Result<Vec<_>, _>>()?;
        let engine = g.engine()?;
        let r = engine.ingest(
            &inputs,
            IngestOptions {
                skip_bad: self.skip_bad,
                encode: !self.no_encode,
                ..Default::default()
            },
        )?;
        for e in &r.skipped {
            eprintln!("skipped {e}");
        }
        if r.skipped_total > r.skipped.len() {
            eprintln!(
                "… and {} more bad records (only the first {} are listed)",
                r.skipped_total - r.skipped.len(),
                r.skipped.len()
            );
        }
        let t = r.timings;
        println!(
            "{} records: {} added, {} updated, {} unchanged, {} skipped; {} encoded \
             (parse {:.1}s, store {:.1}s, index {:.1}s, encode {:.1}s)",
            r.records,
            r.added,
            r.updated,
            r.unchanged,
            r.skipped_total,
            r.encoded,
            t.parse_s,
            t.store_s,
            t.index_s,
            t.encode_s
        );
        Ok(())
    }
}
