//! `bench`: the benchmarks, one file each.

mod digest;
mod encode;
mod feedback;
mod lexical;
mod library;
mod query;
mod sentences;
mod snapshot;
mod threshold;
mod vectors;

use anyhow::Result;
use clap::Subcommand;

use crate::args::Global;

#[derive(Subcommand, Debug)]
pub enum Bench {
    /// Digest build and send for many subscribers, against the SMTP server of --smtp-url
    Digest(digest::BenchDigestCmd),
    /// How well cosine-similarity thresholds separate judged-relevant papers (the digest's
    /// match threshold)
    Threshold(threshold::BenchThresholdCmd),
    /// Write an arXiv metadata snapshot of N records for the ingest benchmark
    /// (bench/snapshot.sh), repeating the fixture's records with new ids and DOIs
    Snapshot(snapshot::BenchSnapshotCmd),
    /// Encoding throughput on the first N documents (title + " " + text) of a BEIR corpus
    Encode(encode::BenchEncodeCmd),
    /// Query latency per mode: each judged query searched alone, end to end (encoding
    /// included); then each query's encoding alone (mode `encode`)
    Query(query::BenchQueryCmd),
    /// Lexical quality of each text analysis (the causes of the gap to a standard BM25, one at
    /// a time), each indexed afresh in memory
    Lexical(lexical::BenchLexicalCmd),
    /// Pseudo-relevance feedback: Rocchio on the query vector, per setting, hybrid and
    /// semantic
    Feedback(feedback::BenchFeedbackCmd),
    /// Readers' libraries: the learned ranker against the library's centroid and
    /// arxiv-sanity-lite's ranker (bench/library_peer.py) on readers simulated from judgements
    Library(library::BenchLibraryCmd),
    /// Multi-vector papers: each abstract sentence embedded (with the title), a paper scored
    /// by its best sentence, against one vector per paper
    Sentences(sentences::BenchSentencesCmd),
    /// Exact against approximate vector search on N synthetic vectors shaped like real
    /// embeddings: build time, size, memory, recall@10, latency alone and concurrent
    Vectors(vectors::BenchVectorsCmd),
}

impl Bench {
    pub fn run(self, g: &Global) -> Result<()> {
        match self {
            Bench::Digest(cmd) => cmd.run(g),
            Bench::Threshold(cmd) => cmd.run(g),
            Bench::Snapshot(cmd) => cmd.run(),
            Bench::Encode(cmd) => cmd.run(g),
            Bench::Query(cmd) => cmd.run(g),
            Bench::Lexical(cmd) => cmd.run(g),
            Bench::Feedback(cmd) => cmd.run(g),
            Bench::Library(cmd) => cmd.run(g),
            Bench::Sentences(cmd) => cmd.run(g),
            Bench::Vectors(cmd) => cmd.run(g),
        }
    }
}
