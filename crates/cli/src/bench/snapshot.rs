//! `bench snapshot`: a large arXiv metadata snapshot for the ingest benchmark.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct BenchSnapshotCmd {
    /// Snapshot records to repeat
    #[arg(
        long,
        value_name = "FILE",
        default_value = "crates/ingest/tests/data/fixtures/kaggle-arxiv-snapshot/arxiv-metadata-oai-snapshot.json"
    )]
    fixture: PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// The file to write
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

impl BenchSnapshotCmd {
    pub fn run(self) -> Result<()> {
        let t = Instant::now();
        write_snapshot(&self.fixture, self.records, &self.out)?;
        let bytes = std::fs::metadata(&self.out)?.len();
        println!(
            "{}: {} records, {:.1} MiB, written in {:.1} s",
            self.out.display(),
            self.records,
            bytes as f64 / 1048576.0,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Writes a snapshot of `records` lines cycling through `fixture`'s records, each with a new
/// arXiv id (and its DOI made unique), so that every line is a distinct paper.
fn write_snapshot(fixture: &Path, records: usize, out: &Path) -> Result<()> {
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(fixture)
        .with_context(|| format!("cannot read {}", fixture.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not JSON lines", fixture.display()))?;
    if lines.is_empty() {
        bail!("{} holds no records", fixture.display());
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..records {
        let mut record = lines[i % lines.len()].clone();
        // YYMM.NNNNN: 100,000 ids per month from January 2010.
        let month = 1001 + i / 100_000;
        if month > 9912 {
            bail!("at most {} records", (9912 - 1001) * 100_000);
        }
        record["id"] = format!("{month:04}.{:05}", i % 100_000).into();
        if let Some(dois) = record["doi"].as_str() {
            let unique: Vec<String> = dois
                .split_whitespace()
                .map(|d| format!("{d}.r{i}"))
                .collect();
            record["doi"] = unique.join(" ").into();
        }
        serde_json::to_writer(&mut w, &record)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}
