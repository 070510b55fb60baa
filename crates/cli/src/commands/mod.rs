//! The subcommands: one file per command, each with its flags and its `run`.

mod digest;
mod eval;
mod export;
mod harvest;
mod ingest;
mod migrate;
mod model;
mod reindex;
mod remove;
mod search;
mod serve;
mod similar;
mod stats;
mod worker;

use anyhow::Result;
use clap::Subcommand;

use crate::args::Global;
use crate::bench::Bench;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web site and JSON API (the demo corpus on a new data dir)
    Serve(serve::ServeCmd),
    /// Fetch new papers from a source now (`serve --harvest` does it on a schedule)
    Harvest(harvest::HarvestCmd),
    /// The daily digest (`serve` sends it by itself; these are for cron and for checking)
    Digest(digest::DigestCmd),
    /// Add papers from files (updating papers already known); all-or-nothing unless --skip-bad
    Ingest(ingest::IngestCmd),
    /// Search papers
    Search(search::SearchCmd),
    /// Papers nearest in meaning to a paper
    Similar(similar::SimilarCmd),
    /// Rebuild every index from the store (encoding only papers without a current embedding)
    Reindex(reindex::ReindexCmd),
    /// Remove every paper of one source (`--source demo`: the bundled demo corpus)
    Remove(remove::RemoveCmd),
    /// Write every paper as JSON lines (readable by `ingest --format jsonl`)
    Export(export::ExportCmd),
    /// Measure retrieval quality on a BEIR dataset (nDCG@10, Recall@100, MRR@10)
    Eval(eval::EvalCmd),
    /// Papers per source, and each source's last harvest
    Stats(stats::StatsCmd),
    /// Encode papers from the shared queue (beside `serve` replicas on one PostgreSQL
    /// database); keeps no index
    Worker(worker::WorkerCmd),
    /// Copy the data dir's SQLite store into an empty PostgreSQL database (all or nothing)
    Migrate(migrate::MigrateCmd),
    /// Benchmarks
    #[command(subcommand)]
    Bench(Bench),
    /// Make sure the model is available (fetching it if needed) and print where it is
    Model(model::ModelCmd),
}

impl Command {
    pub fn run(self, g: &Global) -> Result<()> {
        match self {
            Command::Serve(cmd) => cmd.run(g),
            Command::Harvest(cmd) => cmd.run(g),
            Command::Digest(cmd) => cmd.run(g),
            Command::Ingest(cmd) => cmd.run(g),
            Command::Search(cmd) => cmd.run(g),
            Command::Similar(cmd) => cmd.run(g),
            Command::Reindex(cmd) => cmd.run(g),
            Command::Remove(cmd) => cmd.run(g),
            Command::Export(cmd) => cmd.run(g),
            Command::Eval(cmd) => cmd.run(g),
            Command::Stats(cmd) => cmd.run(g),
            Command::Worker(cmd) => cmd.run(g),
            Command::Migrate(cmd) => cmd.run(g),
            Command::Bench(bench) => bench.run(g),
            Command::Model(cmd) => cmd.run(g),
        }
    }
}
