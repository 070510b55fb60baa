//! Retrieval quality on public relevance judgements (BEIR layout): nDCG@10, Recall@100 and
//! MRR@10 per search mode, computed as trec_eval does (linear gain, judged-relevant = score > 0).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use paperscout_index::{Analysis, Fusion, Key, LexicalDoc, LexicalIndex, VectorIndex};
use paperscout_model::SearchMode;
use serde::Serialize;

use crate::{Engine, Error, Filter, Progress, Ranking, Result};

/// query id -> (document id -> relevance).
pub type Qrels = HashMap<String, HashMap<String, i32>>;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModeMetrics {
    pub mode: SearchMode,
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    pub queries: usize,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io(format!("cannot read {}", path.display())))
}

/// BEIR `queries.jsonl`: `{"_id", "text"}` per line.
pub fn load_queries(path: &Path) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (i, line) in read(path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| Error::Invalid(format!("{}:{}: {what}", path.display(), i + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not valid JSON: {e}")))?;
        let id = match &v["_id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(bad("field `_id`: missing or not a string")),
        };
        let text = v["text"]
            .as_str()
            .ok_or_else(|| bad("field `text`: missing or not a string"))?;
        out.insert(id, text.to_string());
    }
    Ok(out)
}

/// BEIR qrels TSV: `query-id corpus-id score`, with a header line.
pub fn load_qrels(path: &Path) -> Result<Qrels> {
    let mut out: Qrels = HashMap::new();
    for (i, line) in read(path)?.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let bad = |what: &str| Error::Invalid(format!("{}:{}: {what}", path.display(), i + 1));
        let [q, d, s] = cols[..] else {
            return Err(bad(&format!(
                "expected 3 tab-separated columns (query-id, corpus-id, score), found {}",
                cols.len()
            )));
        };
        let score: i32 = s
            .parse()
            .map_err(|_| bad(&format!("column `score`: `{s}` is not an integer")))?;
        out.entry(q.to_string())
            .or_default()
            .insert(d.to_string(), score);
    }
    Ok(out)
}

/// nDCG@k with linear gain.
pub fn ndcg(ranked: &[&str], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let gain = |rel: i32| rel.max(0) as f64;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gain(*judged.get(*d).unwrap_or(&0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| gain(r) / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

pub fn recall(ranked: &[&str], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| judged.get(**d).is_some_and(|&r| r > 0))
        .count();
    found as f64 / relevant as f64
}

pub fn mrr(ranked: &[&str], judged: &HashMap<String, i32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| judged.get(*d).is_some_and(|&r| r > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// Judged queries with at least one relevant document, in a stable order; an error names a
/// judged query missing from `queries`.
fn judged_queries<'q>(
    queries: &HashMap<String, String>,
    qrels: &'q Qrels,
) -> Result<Vec<&'q String>> {
    let mut ids: Vec<&String> = qrels
        .iter()
        .filter(|(_, j)| j.values().any(|&r| r > 0))
        .map(|(q, _)| q)
        .collect();
    ids.sort();
    if let Some(missing) = ids.iter().find(|q| !queries.contains_key(**q)) {
        return Err(Error::Invalid(format!(
            "the qrels judge query `{missing}`, which is not in the queries file"
        )));
    }
    Ok(ids)
}

/// Store key -> BEIR document id for the corpus in `engine`; an error when no judged document
/// is in it (qrels of another corpus).
fn corpus_ids(engine: &Engine, qrels: &Qrels) -> Result<HashMap<Key, String>> {
    let mut doc_ids: HashMap<Key, String> = HashMap::new();
    engine.store().for_each_since(0, |p| {
        if p.paper.id.scheme() == "beir" {
            doc_ids.insert(p.key, p.paper.id.value().to_string());
        }
        Ok(())
    })?;
    let judged_docs: HashSet<&String> = qrels.values().flat_map(|j| j.keys()).collect();
    if !judged_docs.is_empty() && !doc_ids.values().any(|d| judged_docs.contains(d)) {
        return Err(Error::Invalid(
            "no judged document is in the corpus: do the qrels belong to this corpus?".into(),
        ));
    }
    Ok(doc_ids)
}

/// The three metrics summed over queries, then averaged.
#[derive(Default)]
struct Totals {
    ndcg: f64,
    recall: f64,
    mrr: f64,
    queries: usize,
}

impl Totals {
    fn add(&mut self, ranked: &[&str], judged: &HashMap<String, i32>) {
        self.ndcg += ndcg(ranked, judged, 10);
        self.recall += recall(ranked, judged, 100);
        self.mrr += mrr(ranked, judged, 10);
        self.queries += 1;
    }

    fn metrics(&self, mode: SearchMode) -> ModeMetrics {
        let count = self.queries.max(1) as f64;
        ModeMetrics {
            mode,
            ndcg_10: self.ndcg / count,
            recall_100: self.recall / count,
            mrr_10: self.mrr / count,
            queries: self.queries,
        }
    }
}

/// One query's lines of a TREC run file (`qid Q0 docid rank score tag`). trec_eval ignores
/// the rank and sorts by score (ties by document id), so tied scores are written strictly
/// decreasing (each a hair below the previous) to keep paperscout's order.
fn write_run(
    out: &mut impl std::io::Write,
    query: &str,
    ranked: &[(&str, f32)],
    tag: &str,
) -> std::io::Result<()> {
    let mut previous = f64::INFINITY;
    for (rank, (doc, score)) in ranked.iter().enumerate() {
        let mut s = f64::from(*score);
        if s >= previous {
            s = previous - 1e-6 * previous.abs().max(1.0);
        }
        previous = s;
        writeln!(out, "{query} Q0 {doc} {} {s:.9} {tag}", rank + 1)?;
    }
    Ok(())
}

/// How [`evaluate`] ranks: the hybrid fusion, and the relevance floor (0: none, as BEIR
/// scores; above 0, what the site shows).
#[derive(Debug, Clone, Copy)]
pub struct Scoring {
    pub fusion: Fusion,
    pub floor: f32,
}

/// Scores `engine` (holding a BEIR corpus) on `qrels` for each mode. With `runs`, each mode's
/// rankings (top 100 per query) are also written to `runs/MODE.run` in the TREC run format
/// (`qid Q0 docid rank score tag`), for trec_eval and its kin. `floor` above 0 scores what the
/// site shows ([`Engine::rank_floored`]); BEIR's figures are unfloored (0).
pub fn evaluate(
    engine: &Engine,
    queries: &HashMap<String, String>,
    qrels: &Qrels,
    modes: &[SearchMode],
    scoring: Scoring,
    runs: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Vec<ModeMetrics>> {
    let Scoring { fusion, floor } = scoring;
    let ids = judged_queries(queries, qrels)?;
    let doc_ids = corpus_ids(engine, qrels)?;

    let vectors: Vec<Vec<f32>> = if modes.iter().any(|m| m.needs_encoder()) {
        engine.ensure_embeddings()?;
        let texts: Vec<String> = ids.iter().map(|q| queries[*q].clone()).collect();
        progress.begin("encoding queries", texts.len() as u64);
        let v = engine.encoder()?.embed_owned(texts)?;
        progress.advance(ids.len() as u64);
        progress.end();
        v
    } else {
        Vec::new()
    };
    if let Some(dir) = runs {
        std::fs::create_dir_all(dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }

    let mut out = Vec::new();
    for &mode in modes {
        let mut totals = Totals::default();
        let mut run = match runs {
            Some(dir) => {
                let path = dir.join(format!("{mode}.run"));
                let file = std::fs::File::create(&path)
                    .map_err(Error::io(format!("cannot write {}", path.display())))?;
                Some((std::io::BufWriter::new(file), path))
            }
            None => None,
        };
        progress.begin(&format!("evaluating {mode}"), ids.len() as u64);
        for (i, q) in ids.iter().enumerate() {
            let text = queries[*q].trim();
            let vector = vectors.get(i).map(Vec::as_slice);
            let ranked = engine.rank_floored(
                &Ranking {
                    text,
                    vector,
                    mode,
                    depth: 100,
                    filter: &Filter::default(),
                    fusion,
                },
                floor,
            )?;
            let scored: Vec<(&str, f32)> = ranked
                .iter()
                .filter_map(|(k, s)| doc_ids.get(k).map(|d| (d.as_str(), *s)))
                .collect();
            let docs: Vec<&str> = scored.iter().map(|d| d.0).collect();
            totals.add(&docs, &qrels[*q]);
            if let Some((file, path)) = &mut run {
                write_run(file, q, &scored, &format!("paperscout-{mode}"))
                    .map_err(Error::io(format!("cannot write {}", path.display())))?;
            }
            progress.advance(1);
        }
        progress.end();
        if let Some((mut file, path)) = run {
            std::io::Write::flush(&mut file)
                .map_err(Error::io(format!("cannot write {}", path.display())))?;
        }
        out.push(totals.metrics(mode));
    }
    Ok(out)
}

/// One lexical analysis measured by [`lexical_ablation`].
#[derive(Debug, Clone, Serialize)]
pub struct AblationRow {
    pub name: String,
    #[serde(flatten)]
    pub metrics: ModeMetrics,
    /// Documents and postings as tantivy stores them in memory (the index's size).
    pub index_bytes: u64,
}

/// Lexical quality of each `(name, analysis)`: the corpus in `engine` indexed afresh in memory
/// with that analysis and searched with each judged query (top 100) — how each cause of the gap
/// to a standard BM25 was measured (BENCHMARKS.md).
pub fn lexical_ablation(
    engine: &Engine,
    queries: &HashMap<String, String>,
    qrels: &Qrels,
    variants: &[(&str, Analysis)],
    progress: &dyn Progress,
) -> Result<Vec<AblationRow>> {
    let ids = judged_queries(queries, qrels)?;
    let doc_ids = corpus_ids(engine, qrels)?;
    let mut out = Vec::new();
    for (name, analysis) in variants {
        let index = LexicalIndex::in_memory_with(*analysis)?;
        let mut batch = index.batch()?;
        engine.store().for_each_since(0, |p| {
            batch
                .add(LexicalDoc {
                    key: p.key,
                    title: &p.paper.title,
                    abstract_text: &p.paper.abstract_text,
                    authors: &p.paper.authors,
                })
                .map_err(|e| paperscout_store::Error::Corrupt {
                    key: p.key,
                    message: e.to_string(),
                })
        })?;
        batch.commit(1)?;
        let mut totals = Totals::default();
        progress.begin(&format!("lexical: {name}"), ids.len() as u64);
        for q in &ids {
            let ranked = index.search(queries[*q].trim(), 100)?;
            let docs: Vec<&str> = ranked
                .iter()
                .filter_map(|(k, _)| doc_ids.get(k).map(String::as_str))
                .collect();
            totals.add(&docs, &qrels[*q]);
            progress.advance(1);
        }
        progress.end();
        out.push(AblationRow {
            name: name.to_string(),
            metrics: totals.metrics(SearchMode::Lexical),
            index_bytes: index.size_bytes()?,
        });
    }
    Ok(out)
}

/// One setting of pseudo-relevance feedback measured by [`feedback_ablation`].
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackRow {
    /// Papers of the first ranking taken as relevant (0: no feedback).
    pub top: usize,
    /// Weight of their mean vector added to the query's (Rocchio's β; the query's α is 1).
    pub beta: f32,
    pub hybrid: ModeMetrics,
    pub semantic: ModeMetrics,
}

/// Rocchio feedback on the query vector: rank (hybrid), take the top `top` papers' vectors,
/// move the query towards their mean by `beta`, normalise, and rank again. Measured for each
/// `(top, beta)` through [`Engine::rank`], the one ranking path.
pub fn feedback_ablation(
    engine: &Engine,
    queries: &HashMap<String, String>,
    qrels: &Qrels,
    fusion: Fusion,
    settings: &[(usize, f32)],
    progress: &dyn Progress,
) -> Result<Vec<FeedbackRow>> {
    let ids = judged_queries(queries, qrels)?;
    let doc_ids = corpus_ids(engine, qrels)?;
    engine.ensure_embeddings()?;
    let texts: Vec<String> = ids.iter().map(|q| queries[*q].clone()).collect();
    progress.begin("encoding queries", texts.len() as u64);
    let vectors = engine.encoder()?.embed_owned(texts)?;
    progress.end();
    let rank = |text: &str, vector: &[f32], mode| {
        engine.rank(&Ranking {
            text,
            vector: Some(vector),
            mode,
            depth: 100,
            filter: &Filter::default(),
            fusion,
        })
    };
    let mut out = Vec::new();
    for &(top, beta) in settings {
        let (mut hybrid, mut semantic) = (Totals::default(), Totals::default());
        progress.begin(&format!("feedback top {top} beta {beta}"), ids.len() as u64);
        for (q, v) in ids.iter().zip(&vectors) {
            let text = queries[*q].trim();
            let first = rank(text, v, SearchMode::Hybrid)?;
            let moved = engine.with_vectors(|index| {
                let mut sum = v.clone();
                let taken: Vec<_> = first
                    .iter()
                    .take(top)
                    .filter_map(|(k, _)| index.get(*k))
                    .collect();
                for d in &taken {
                    for (s, x) in sum.iter_mut().zip(d.iter()) {
                        *s += beta * x / taken.len() as f32;
                    }
                }
                let norm = sum
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::EPSILON);
                sum.iter_mut().for_each(|x| *x /= norm);
                Ok(sum)
            })?;
            for (mode, totals) in [
                (SearchMode::Hybrid, &mut hybrid),
                (SearchMode::Semantic, &mut semantic),
            ] {
                let ranked = rank(text, &moved, mode)?;
                let docs: Vec<&str> = ranked
                    .iter()
                    .filter_map(|(k, _)| doc_ids.get(k).map(String::as_str))
                    .collect();
                totals.add(&docs, &qrels[*q]);
            }
            progress.advance(1);
        }
        progress.end();
        out.push(FeedbackRow {
            top,
            beta,
            hybrid: hybrid.metrics(SearchMode::Hybrid),
            semantic: semantic.metrics(SearchMode::Semantic),
        });
    }
    Ok(out)
}

/// The sentences of an abstract: split after `.`, `?` or `!` followed by white space and an
/// upper-case letter, a digit or an opening bracket; pieces under four words join the next.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        if matches!(bytes[i], b'.' | b'?' | b'!') && bytes[i + 1] == b' ' {
            let next = text[i + 2..].chars().next().unwrap_or(' ');
            if next.is_uppercase() || next.is_ascii_digit() || next == '(' || next == '[' {
                let piece = text[start..=i].trim();
                if piece.split_whitespace().count() >= 4 {
                    out.push(piece);
                    start = i + 2;
                }
            }
        }
        i += 1;
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        if rest.split_whitespace().count() < 4 && !out.is_empty() {
            // A short tail: part of the last sentence.
            let last = out.pop().expect("one");
            let from = last.as_ptr() as usize - text.as_ptr() as usize;
            out.push(text[from..].trim());
        } else {
            out.push(rest);
        }
    }
    out
}

/// One way of scoring papers by similarity, measured by [`sentence_ablation`].
#[derive(Debug, Clone, Serialize)]
pub struct SentenceRow {
    pub name: String,
    pub semantic: ModeMetrics,
    pub hybrid: ModeMetrics,
}

/// What [`sentence_ablation`] measured, and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct SentenceReport {
    pub rows: Vec<SentenceRow>,
    pub papers: usize,
    pub sentences: usize,
    pub encode_seconds: f64,
}

/// Multi-vector papers: each abstract sentence (after the title) embedded on its own, a paper
/// scored by its best sentence, alone or averaged with its whole-abstract vector; each
/// semantic ranking then fused with BM25 as hybrid search fuses (exact scores filled in for
/// both sides' candidates, the engine's fusion).
pub fn sentence_ablation(
    engine: &Engine,
    queries: &HashMap<String, String>,
    qrels: &Qrels,
    fusion: Fusion,
    progress: &dyn Progress,
) -> Result<SentenceReport> {
    let ids = judged_queries(queries, qrels)?;
    let doc_ids = corpus_ids(engine, qrels)?;
    engine.ensure_embeddings()?;
    let mut owners: Vec<Key> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    engine.store().for_each_since(0, |p| {
        for s in sentences(&p.paper.abstract_text) {
            owners.push(p.key);
            texts.push(if p.paper.title.is_empty() {
                s.to_string()
            } else {
                format!("{} {s}", p.paper.title)
            });
        }
        Ok(())
    })?;
    let sentence_count = texts.len();
    let encoder = engine.encoder()?;
    progress.begin("encoding sentences", sentence_count as u64);
    let t = std::time::Instant::now();
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(sentence_count);
    for chunk in texts.chunks(1024) {
        vectors.extend(encoder.embed_owned(chunk.to_vec())?);
        progress.advance(chunk.len() as u64);
    }
    let encode_seconds = t.elapsed().as_secs_f64();
    progress.end();
    let query_vectors = encoder.embed_owned(ids.iter().map(|q| queries[*q].clone()).collect())?;
    let keys: Vec<Key> = doc_ids.keys().copied().collect();
    let names = [
        "whole abstract",
        "best sentence",
        "mean of whole and best sentence",
    ];
    let mut totals: Vec<(Totals, Totals)> = names.iter().map(|_| Default::default()).collect();
    progress.begin("scoring", ids.len() as u64);
    for (q, v) in ids.iter().zip(&query_vectors) {
        let text = queries[*q].trim();
        let mut best: HashMap<Key, f32> = HashMap::with_capacity(keys.len());
        for (owner, s) in owners.iter().zip(&vectors) {
            let sim = paperscout_index::dot(s, v);
            let e = best.entry(*owner).or_insert(f32::NEG_INFINITY);
            *e = e.max(sim);
        }
        let whole: HashMap<Key, f32> = engine.with_vectors(|index| {
            Ok(keys
                .iter()
                .filter_map(|k| index.get(*k).map(|x| (*k, paperscout_index::dot(&x, v))))
                .collect())
        })?;
        let depth = engine.config.fusion_depth;
        let lexical = engine.lexical.search(text, depth)?;
        for (i, (sem_totals, hyb_totals)) in totals.iter_mut().enumerate() {
            // Papers without a vector have no similarity: left out, as the vector index does.
            let score = |k: &Key| -> Option<f32> {
                let w = *whole.get(k)?;
                let b = best.get(k).copied().unwrap_or(w);
                Some(match i {
                    0 => w,
                    1 => b,
                    _ => (w + b) / 2.0,
                })
            };
            let mut all: Vec<(Key, f32)> =
                keys.iter().filter_map(|k| Some((*k, score(k)?))).collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(100);
            let docs: Vec<&str> = all
                .iter()
                .filter_map(|(k, _)| doc_ids.get(k).map(String::as_str))
                .collect();
            sem_totals.add(&docs, &qrels[*q]);
            // Both sides over the same candidates, as Engine::rank does.
            let mut lex = lexical.clone();
            let mut sem: Vec<(Key, f32)> = all.iter().copied().take(depth).collect();
            if fusion.uses_scores() {
                engine.complete_bm25(text, &sem, &mut lex)?;
                let in_sem: HashSet<Key> = sem.iter().map(|a| a.0).collect();
                let extra: Vec<(Key, f32)> = lexical
                    .iter()
                    .filter(|l| !in_sem.contains(&l.0))
                    .filter_map(|l| Some((l.0, score(&l.0)?)))
                    .collect();
                sem.extend(extra);
                sem.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            }
            let fused = Engine::fuse(&lex, &sem, fusion, 100);
            let docs: Vec<&str> = fused
                .iter()
                .filter_map(|(k, _)| doc_ids.get(k).map(String::as_str))
                .collect();
            hyb_totals.add(&docs, &qrels[*q]);
        }
        progress.advance(1);
    }
    progress.end();
    Ok(SentenceReport {
        rows: names
            .iter()
            .zip(&totals)
            .map(|(n, (s, h))| SentenceRow {
                name: n.to_string(),
                semantic: s.metrics(SearchMode::Semantic),
                hybrid: h.metrics(SearchMode::Hybrid),
            })
            .collect(),
        papers: keys.len(),
        sentences: sentence_count,
        encode_seconds,
    })
}

/// How one similarity threshold separates judged-relevant papers from the rest.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRow {
    pub threshold: f32,
    /// Share of judged-relevant (query, paper) pairs at or above the threshold.
    pub recall: f64,
    /// Papers at or above the threshold per query, on average (out of the whole corpus).
    pub above_per_query: f64,
    /// Judged-relevant among the papers at or above it (a lower bound: unjudged papers count
    /// as not relevant).
    pub precision_lower_bound: f64,
    /// Share of judged queries with at least one paper at or above the threshold.
    pub queries_answered: f64,
    /// Share of nonsense queries ([`nonsense_queries`]) with no paper at or above it: how
    /// often gibberish is answered "no close matches" when this is the search's floor.
    pub nonsense_empty: f64,
    pub queries: usize,
}

/// `n` nonsense queries, the same for a seed: strings of random letters of word-like lengths,
/// as a user mashing keys or a bot probing would type.
pub fn nonsense_queries(n: usize, seed: u64) -> Vec<String> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    (0..n)
        .map(|_| {
            let words = 1 + next(3);
            (0..words)
                .map(|_| {
                    let len = 3 + next(8);
                    (0..len)
                        .map(|_| (b'a' + next(26) as u8) as char)
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// How many nonsense queries [`similarity_thresholds`] tries.
const NONSENSE: usize = 200;

/// Calibrates the digest's match threshold and the search's relevance floor: for each judged query, the cosine similarity of
/// every paper in the corpus, summarised per threshold.
pub fn similarity_thresholds(
    engine: &Engine,
    queries: &HashMap<String, String>,
    qrels: &Qrels,
    thresholds: &[f32],
    progress: &dyn Progress,
) -> Result<Vec<ThresholdRow>> {
    let mut ids: Vec<&String> = qrels
        .iter()
        .filter(|(q, j)| queries.contains_key(*q) && j.values().any(|&r| r > 0))
        .map(|(q, _)| q)
        .collect();
    ids.sort();
    let mut keys: HashMap<String, Key> = HashMap::new();
    engine.store().for_each_since(0, |p| {
        if p.paper.id.scheme() == "beir" {
            keys.insert(p.paper.id.value().to_string(), p.key);
        }
        Ok(())
    })?;
    engine.ensure_embeddings()?;
    let texts: Vec<String> = ids.iter().map(|q| queries[*q].clone()).collect();
    progress.begin("encoding queries", texts.len() as u64);
    let vectors = engine.encoder()?.embed_owned(texts)?;
    let nonsense = engine
        .encoder()?
        .embed_owned(nonsense_queries(NONSENSE, 7))?;
    progress.end();
    let n = thresholds.len();
    let (mut relevant_pairs, mut relevant_above, mut above) =
        (0usize, vec![0usize; n], vec![0usize; n]);
    let (mut answered, mut nonsense_empty) = (vec![0usize; n], vec![0usize; n]);
    let best = |v: &[f32]| -> Result<f32> {
        Ok(engine
            .rank(&Ranking {
                text: "",
                vector: Some(v),
                mode: SearchMode::Semantic,
                depth: 1,
                filter: &Filter::default(),
                fusion: Fusion::DEFAULT,
            })?
            .first()
            .map_or(f32::NEG_INFINITY, |r| r.1))
    };
    for v in &nonsense {
        let top = best(v)?;
        for (i, &t) in thresholds.iter().enumerate() {
            nonsense_empty[i] += usize::from(top < t);
        }
    }
    progress.begin("scoring", ids.len() as u64);
    for (q, v) in ids.iter().zip(&vectors) {
        let relevant: HashSet<Key> = qrels[*q]
            .iter()
            .filter(|(_, &r)| r > 0)
            .filter_map(|(d, _)| keys.get(d).copied())
            .collect();
        relevant_pairs += relevant.len();
        let ranked = engine.rank(&Ranking {
            text: "",
            vector: Some(v),
            mode: SearchMode::Semantic,
            depth: keys.len(),
            filter: &Filter::default(),
            fusion: Fusion::DEFAULT,
        })?;
        for (i, &t) in thresholds.iter().enumerate() {
            answered[i] += usize::from(ranked.first().is_some_and(|r| r.1 >= t));
            for (k, sim) in &ranked {
                if *sim < t {
                    break; // best first
                }
                above[i] += 1;
                if relevant.contains(k) {
                    relevant_above[i] += 1;
                }
            }
        }
        progress.advance(1);
    }
    progress.end();
    Ok(thresholds
        .iter()
        .enumerate()
        .map(|(i, &t)| ThresholdRow {
            threshold: t,
            recall: relevant_above[i] as f64 / relevant_pairs.max(1) as f64,
            above_per_query: above[i] as f64 / ids.len().max(1) as f64,
            precision_lower_bound: relevant_above[i] as f64 / above[i].max(1) as f64,
            queries_answered: answered[i] as f64 / ids.len().max(1) as f64,
            nonsense_empty: nonsense_empty[i] as f64 / nonsense.len().max(1) as f64,
            queries: ids.len(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    #[test]
    fn abstracts_split_into_sentences() {
        let text =
            "We study X. It works well (p < 0.05). Fig. 2 shows e.g. this. 3 tests pass! Ok.";
        assert_eq!(
            sentences(text),
            [
                "We study X. It works well (p < 0.05).",
                "Fig. 2 shows e.g. this.",
                "3 tests pass! Ok."
            ]
        );
        assert_eq!(sentences("One short line"), ["One short line"]);
        let mut run = Vec::new();
        write_run(
            &mut run,
            "q1",
            &[("d1", 0.5), ("d2", 0.5), ("d3", 0.25)],
            "t",
        )
        .unwrap();
        let scores: Vec<f64> = String::from_utf8(run)
            .unwrap()
            .lines()
            .map(|l| l.split(' ').nth(4).unwrap().parse().unwrap())
            .collect();
        assert!(scores[0] > scores[1] && scores[1] > scores[2], "{scores:?}");
        assert!(sentences("").is_empty());
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let j = judged(&[("a", 1), ("b", 1), ("z", 0)]);
        // Relevant at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3).
        let ranked = ["x", "a", "b", "z"];
        let expected = (1.0 / 3f64.log2() + 0.5) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg(&ranked, &j, 10) - expected).abs() < 1e-12);
        assert_eq!(mrr(&ranked, &j, 10), 0.5);
        assert_eq!(recall(&ranked, &j, 100), 1.0);
        assert_eq!(recall(&ranked, &j, 2), 0.5);
        assert_eq!(ndcg(&["a", "b"], &j, 10), 1.0);
        assert_eq!(ndcg(&["x"], &j, 10), 0.0);
        assert_eq!(mrr(&["x"; 11], &j, 10), 0.0);
        assert_eq!(ndcg(&["a"], &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn qrels_and_queries_parse_with_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("qrels.tsv");
        std::fs::write(&q, "query-id\tcorpus-id\tscore\n1\t10\t1\n1\t11\t2\n").unwrap();
        let qrels = load_qrels(&q).unwrap();
        assert_eq!(qrels["1"]["11"], 2);
        std::fs::write(&q, "query-id\tcorpus-id\tscore\n1\t10\n").unwrap();
        let err = load_qrels(&q).unwrap_err().to_string();
        assert!(
            err.contains("qrels.tsv:2") && err.contains("3 tab-separated"),
            "{err}"
        );
        std::fs::write(&q, "1\t10\thigh\n").unwrap();
        assert!(load_qrels(&q).unwrap_err().to_string().contains("`high`"));

        let p = dir.path().join("queries.jsonl");
        std::fs::write(
            &p,
            "{\"_id\": \"1\", \"text\": \"claim\"}\n{\"_id\": \"2\"}\n",
        )
        .unwrap();
        let err = load_queries(&p).unwrap_err().to_string();
        assert!(
            err.contains("queries.jsonl:2") && err.contains("`text`"),
            "{err}"
        );
    }
}
