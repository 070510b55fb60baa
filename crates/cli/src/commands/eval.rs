//! `eval`: retrieval quality on a BEIR dataset.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::{evaluate, load_qrels, load_queries};
use paperscout_app::{Format, Input, SearchMode};

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct EvalCmd {
    /// The dataset folder (corpus.jsonl, queries.jsonl)
    #[arg(long, value_name = "DIR")]
    beir: PathBuf,
    /// The relevance judgements (TSV) [default: DIR/qrels/test.tsv]
    #[arg(long, value_name = "FILE")]
    qrels: Option<PathBuf>,
    /// Modes to score [default: all three]
    #[arg(long, value_delimiter = ',')]
    mode: Vec<SearchMode>,
    /// Scratch data dir for the corpus [default: in the cache dir, keyed by the corpus]
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    /// One JSON object per mode
    #[arg(long)]
    json: bool,
    /// Also write each mode's rankings (top 100 per query) as TREC run files, DIR/MODE.run,
    /// for trec_eval and compatible tools
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
    /// Score what the site shows: the rankings without what falls under --relevance-floor
    /// (BEIR's figures, the default, rank every paper)
    #[arg(long)]
    floored: bool,
}

impl EvalCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let beir = &self.beir;
        let corpus =
            Input::resolve(beir, Some(Format::Beir)).map_err(paperscout_app::Error::from)?;
        let qrels_path = self
            .qrels
            .unwrap_or_else(|| beir.join("qrels").join("test.tsv"));
        let queries_path = beir.join("queries.jsonl");
        let qrels = load_qrels(&qrels_path)?;
        let queries = load_queries(&queries_path)?;
        let modes = if self.mode.is_empty() {
            SearchMode::ALL.to_vec()
        } else {
            self.mode
        };
        let needs_encoder = modes.iter().any(|m| m.needs_encoder());
        let engine = scratch_engine(g, corpus, self.scratch_dir, needs_encoder)?;
        let metrics = evaluate(
            &engine,
            &queries,
            &qrels,
            &modes,
            paperscout_app::eval::Scoring {
                fusion: g.fusion,
                floor: if self.floored { g.relevance_floor } else { 0.0 },
            },
            self.runs.as_deref(),
            &Bars::new(),
        )?;
        for m in &metrics {
            if self.json {
                print_json_line(m)?;
            } else {
                println!(
                    "{:<8}  nDCG@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}  ({} queries)",
                    m.mode.as_str(),
                    m.ndcg_10,
                    m.recall_100,
                    m.mrr_10,
                    m.queries
                );
            }
        }
        Ok(())
    }
}
