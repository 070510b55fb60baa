//! `bench library`: the readers' simulation (see `paperscout_app::library::simulate`), with
//! the product's ranker, its ablations, the library's centroid and arxiv-sanity-lite's ranker
//! (bench/library_peer.py, scikit-learn) on the same readers.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use paperscout_app::library::simulate::{self, MethodRow, Tally};
use paperscout_app::library::{Doc, RankerParams};

use crate::args::Global;
use crate::output::print_json_line;
use crate::scratch::Judged;

#[derive(Args, Debug)]
pub struct BenchLibraryCmd {
    #[command(flatten)]
    judged: Judged,
    /// Seed of the random halves
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only the first N readers (by query id), for quicker tuning runs
    #[arg(long, value_name = "N")]
    readers: Option<usize>,
    /// The arxiv-sanity-lite peer script (needs python3 with scikit-learn:
    /// `python3 -m pip install -r bench/requirements-library.txt`)
    #[arg(long, value_name = "FILE", default_value = "bench/library_peer.py")]
    peer: PathBuf,
    /// Leave the arxiv-sanity-lite row out (no Python needed)
    #[arg(long)]
    no_peer: bool,
    /// The ranker's regularisation (logistic regression's C)
    #[arg(long, value_name = "C")]
    c: Option<f64>,
    /// How much a "not interested" paper weighs against a background paper
    #[arg(long, value_name = "W")]
    dismissed_weight: Option<f64>,
    /// One JSON object per method
    #[arg(long)]
    json: bool,
}

impl BenchLibraryCmd {
    pub fn run(self, g: &Global) -> Result<()> {
        let beir = self.judged.beir().to_path_buf();
        let (engine, _queries, qrels) = self.judged.open(g, true)?;
        let model = engine.model_key()?;
        let store = engine.store();
        let mut ids = Vec::new();
        let mut texts = Vec::new();
        let mut keys = Vec::new();
        store.for_each_since(0, |p| {
            ids.push(p.paper.id.value().to_string());
            texts.push(format!("{} {}", p.paper.title, p.paper.abstract_text));
            keys.push(p.key);
            Ok(())
        })?;
        let mut vectors: HashMap<_, Vec<f32>> = HashMap::new();
        store.for_each_embedding(&model, |k, v| {
            vectors.insert(k, v);
        })?;
        if let Some(k) = keys.iter().find(|k| !vectors.contains_key(k)) {
            bail!("paper {k} has no embedding: the scratch corpus was not fully encoded");
        }
        let pool: Vec<Doc> = keys
            .iter()
            .zip(&texts)
            .map(|(k, t)| Doc {
                vector: &vectors[k],
                text: t,
            })
            .collect();
        let mut readers = simulate::readers(&ids, &qrels, self.seed);
        if let Some(n) = self.readers {
            readers.truncate(n);
        }
        if readers.is_empty() {
            bail!(
                "no query has {} or more relevant documents in the corpus: no reader to simulate",
                simulate::MIN_RELEVANT
            );
        }
        let unrelated = simulate::unrelated(&readers, &ids, &qrels);
        let mut params = RankerParams::default();
        if let Some(c) = self.c {
            params.fit.c = c;
        }
        if let Some(w) = self.dismissed_weight {
            params.dismissed_weight = w;
        }
        eprintln!(
            "{} readers over {} papers ({model}); ranker: C {}, lexical {}, dismissed weight {}",
            readers.len(),
            pool.len(),
            params.fit.c,
            params.lexical,
            params.dismissed_weight
        );
        let total = readers.len();
        let mut rows = simulate::run(&pool, &readers, &unrelated, &params, |n| {
            if n % 25 == 0 || n == total {
                eprintln!("  {n}/{total} readers");
            }
        });
        if !self.no_peer {
            rows.push(peer(&self.peer, &beir, &ids, &readers)?);
        }
        for r in &rows {
            if self.json {
                print_json_line(r)?;
            } else {
                println!(
                    "{:<58} readers {:>4}  nDCG@10 {:.4}  MAP@100 {:.4}{}",
                    r.method,
                    r.readers,
                    r.ndcg_10,
                    r.map_100,
                    r.ms_per_reader
                        .map(|ms| format!("  {ms:.1} ms/reader"))
                        .unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

/// arxiv-sanity-lite's ranker on the same readers, through bench/library_peer.py.
fn peer(
    script: &std::path::Path,
    beir: &std::path::Path,
    ids: &[String],
    readers: &[simulate::Reader],
) -> Result<MethodRow> {
    if !script.is_file() {
        bail!(
            "the arxiv-sanity-lite peer {} is not there (run from the repository root, pass \
             --peer FILE, or --no-peer to leave the row out)",
            script.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let split = dir.path().join("split.json");
    let out = dir.path().join("rankings.jsonl");
    let readers_json: Vec<serde_json::Value> = readers
        .iter()
        .map(|r| {
            serde_json::json!({
                "query": r.query,
                "library": r.library.iter().map(|i| &ids[*i]).collect::<Vec<_>>(),
                "heldout": r.heldout.iter().map(|i| &ids[*i]).collect::<Vec<_>>(),
            })
        })
        .collect();
    std::fs::File::create(&split)?.write_all(
        serde_json::json!({ "readers": readers_json })
            .to_string()
            .as_bytes(),
    )?;
    let status = Command::new("python3")
        .arg(script)
        .arg("--beir")
        .arg(beir)
        .arg("--split")
        .arg(&split)
        .arg("--out")
        .arg(&out)
        .status()
        .context("running python3 for the arxiv-sanity-lite peer (or pass --no-peer)")?;
    if !status.success() {
        bail!(
            "the arxiv-sanity-lite peer failed ({status}); it needs numpy and scikit-learn: \
             python3 -m pip install -r bench/requirements-library.txt (or pass --no-peer)"
        );
    }
    let at: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let by_query: HashMap<&str, &simulate::Reader> =
        readers.iter().map(|r| (r.query.as_str(), r)).collect();
    let mut tally = Tally::default();
    for line in std::fs::read_to_string(&out)?.lines() {
        #[derive(serde::Deserialize)]
        struct Ranked {
            query: String,
            ranking: Vec<String>,
        }
        let r: Ranked = serde_json::from_str(line).context("reading the peer's rankings")?;
        let reader = by_query
            .get(r.query.as_str())
            .with_context(|| format!("the peer ranked unknown query {}", r.query))?;
        let ranking: Vec<usize> = r
            .ranking
            .iter()
            .filter_map(|d| at.get(d.as_str()).copied())
            .collect();
        tally.add(&ranking, &reader.heldout, 0.0);
    }
    let row = tally.row("arxiv-sanity-lite (tf-idf LinearSVC, C=0.01)", false);
    if row.readers != readers.len() {
        bail!(
            "the peer ranked {} readers of {}",
            row.readers,
            readers.len()
        );
    }
    Ok(row)
}
