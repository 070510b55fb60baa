//! `bench lexical`: the causes of the lexical side's gap to a standard BM25, one at a time.

use anyhow::Result;
use clap::Args;
use paperscout_app::eval::lexical_ablation;
use paperscout_app::index::Analysis;

use crate::args::Global;
use crate::output::print_json_line;
use crate::progress::Bars;
use crate::scratch::Judged;

#[derive(Args, Debug)]
pub struct BenchLexicalCmd {
    #[command(flatten)]
    judged: Judged,
    /// One JSON object per analysis
    #[arg(long)]
    json: bool,
}

/// The analysis before issue 16, each change alone on top of it, and the shipped one with each
/// change taken back alone.
fn variants() -> Vec<(&'static str, Analysis)> {
    let before = Analysis::BEFORE;
    let now = Analysis::DEFAULT;
    vec![
        (
            "before: title x2 + abstract, joined words as phrases, stop words kept",
            before,
        ),
        (
            "before + joined words split",
            Analysis {
                split_joined: true,
                ..before
            },
        ),
        (
            "before + stop words dropped",
            Analysis {
                stopwords: true,
                ..before
            },
        ),
        (
            "before + one title+abstract field",
            Analysis {
                combined: true,
                title_boost: 0.0,
                ..before
            },
        ),
        (
            "before + title x1",
            Analysis {
                title_boost: 1.0,
                ..before
            },
        ),
        (
            "shipped: one field + title alone x0.2, stop words dropped, joined words split",
            now,
        ),
        (
            "shipped + one-character words dropped",
            Analysis {
                drop_single: true,
                ..now
            },
        ),
        (
            "shipped, no title alone (standard BM25)",
            Analysis {
                title_boost: 0.0,
                ..now
            },
        ),
        (
            "shipped, title alone x0.5",
            Analysis {
                title_boost: 0.5,
                ..now
            },
        ),
        (
            "shipped, joined words as phrases",
            Analysis {
                split_joined: false,
                ..now
            },
        ),
        (
            "shipped, stop words kept",
            Analysis {
                stopwords: false,
                ..now
            },
        ),
        (
            "shipped, title x1 + abstract fields",
            Analysis {
                combined: false,
                title_boost: 1.0,
                ..now
            },
        ),
        (
            "shipped, title x2 + abstract fields",
            Analysis {
                combined: false,
                title_boost: 2.0,
                ..now
            },
        ),
    ]
}

impl BenchLexicalCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let (engine, queries, qrels) = self.judged.open(g, false)?;
        let rows = lexical_ablation(&engine, &queries, &qrels, &variants(), &Bars::new())?;
        for r in &rows {
            if self.json {
                print_json_line(r)?;
            } else {
                println!(
                    "nDCG@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}  index {:>6.1} MiB  {}",
                    r.metrics.ndcg_10,
                    r.metrics.recall_100,
                    r.metrics.mrr_10,
                    r.index_bytes as f64 / (1 << 20) as f64,
                    r.name
                );
            }
        }
        Ok(())
    }
}
