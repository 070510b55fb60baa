//! What a reader's library says they want next: a ranker learned per collection, the reasons
//! it gives, and the collection's rules.
//!
//! The ranker is what arxiv-sanity-lite, Semantic Scholar's feeds and Scholar Inbox do — a
//! linear classifier per collection — chosen and tuned on a simulation of readers built from
//! NFCorpus (`paperscout bench library`, BENCHMARKS.md "Library ranker"):
//!
//! - features: the paper's embedding (384 numbers for MiniLM) next to its tf-idf unigrams and
//!   bigrams (arxiv-sanity-lite's settings, [`tfidf`]); the two halves each have norm 1;
//! - model: logistic regression, L2, C = 1, classes balanced ([`logreg`]);
//! - positives: the collection's papers; negatives: every other paper of the pool (recent and
//!   background papers, unlabelled, as arxiv-sanity-lite trains), and the reader's "not
//!   interested" papers with [`RankerParams::dismissed_weight`] times a background paper's
//!   weight;
//! - cold start, up to [`RankerParams::cold_start`] papers: a candidate scores its highest
//!   cosine similarity to them, less half its highest similarity to a dismissed paper.
//!
//! On the simulation's dev judgements this scores above both the library's centroid
//! (zotero-arxiv-daily) and arxiv-sanity-lite's tf-idf SVM; the table of alternatives tried is
//! in BENCHMARKS.md.

mod collections;
pub mod logreg;
pub(crate) mod reader;
mod rules;
pub mod simulate;
pub mod tfidf;

use std::time::Instant;

pub use collections::{
    collection_name, tidy_rules, MAX_NAME_CHARS, MAX_RULE_CHARS, MAX_RULE_ITEMS,
};
pub use reader::{
    bibtex_entry, ForYou, ImportMatch, ImportMiss, ImportReport, Near, Reasons, Recommendation,
    MAX_TRAINING, POOL,
};
pub use rules::{matches_rules, RuleCheck};
pub use tfidf::{TfIdf, TfIdfParams};

/// One paper of the pool a ranker is trained and applied on.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    /// Its embedding (unit length).
    pub vector: &'a [f32],
    /// Its title and abstract.
    pub text: &'a str,
}

/// The ranker's knobs (defaults are the tuned ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankerParams {
    pub fit: logreg::FitParams,
    /// Use tf-idf features next to the embedding.
    pub lexical: bool,
    pub tfidf: TfIdfParams,
    /// How much a "not interested" paper weighs against a background paper.
    pub dismissed_weight: f64,
    /// Up to this many library papers, rank by similarity to them instead of a model.
    pub cold_start: usize,
}

impl Default for RankerParams {
    fn default() -> Self {
        RankerParams {
            fit: logreg::FitParams::default(),
            lexical: true,
            // arxiv-sanity-lite's settings but for terms in two documents or more rather
            // than five: a library is a few dozen papers, and its rarer terms are the telling
            // ones (+0.007 nDCG@10 on 400 training readers; BENCHMARKS.md).
            tfidf: TfIdfParams {
                min_df: 2,
                ..TfIdfParams::default()
            },
            dismissed_weight: 10.0,
            cold_start: 2,
        }
    }
}

/// How a ranker scored the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// No library papers: nothing to learn from.
    Empty,
    /// Similarity to one or two library papers.
    ColdStart,
    /// The learned model.
    Learned,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Empty => "empty",
            Method::ColdStart => "cold start",
            Method::Learned => "learned",
        }
    }
}

/// The lexical features of a pool, computed once for every ranker trained on it (they do not
/// depend on who reads).
pub fn features(pool: &[Doc<'_>], params: &RankerParams) -> TfIdf {
    if params.lexical {
        let texts: Vec<&str> = pool.iter().map(|d| d.text).collect();
        tfidf::fit_transform(&texts, &params.tfidf)
    } else {
        TfIdf {
            terms: Vec::new(),
            rows: vec![Vec::new(); pool.len()],
        }
    }
}

/// A ranker fitted on a pool, with every pool paper's score.
#[derive(Debug, Clone)]
pub struct Ranker {
    pub method: Method,
    /// One score per pool paper, higher is better (library and dismissed papers included:
    /// the caller leaves them out of what it shows).
    pub scores: Vec<f64>,
    model: Option<logreg::Linear>,
    /// Milliseconds spent fitting and scoring.
    pub train_ms: f64,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

impl Ranker {
    /// Fits a ranker on `pool` (with its [`features`]), whose papers `positives` are the
    /// collection's and `dismissed` the reader's "not interested" ones (indexes into `pool`;
    /// a paper in both counts as a positive).
    pub fn fit(
        pool: &[Doc<'_>],
        tfidf: &TfIdf,
        positives: &[usize],
        dismissed: &[usize],
        params: &RankerParams,
    ) -> Ranker {
        let started = Instant::now();
        let done = |method, scores, model| Ranker {
            method,
            scores,
            model,
            train_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        if positives.is_empty() {
            return done(Method::Empty, vec![0.0; pool.len()], None);
        }
        if positives.len() <= params.cold_start {
            let scores = pool
                .iter()
                .map(|d| {
                    let near = positives
                        .iter()
                        .map(|&p| cosine(d.vector, pool[p].vector))
                        .fold(f64::MIN, f64::max);
                    let away = dismissed
                        .iter()
                        .map(|&p| cosine(d.vector, pool[p].vector))
                        .fold(0.0, f64::max);
                    near - 0.5 * away
                })
                .collect();
            return done(Method::ColdStart, scores, None);
        }
        assert_eq!(tfidf.rows.len(), pool.len(), "features of another pool");
        let mut label = vec![0u8; pool.len()]; // 0 background, 1 positive, 2 dismissed
        for &d in dismissed {
            label[d] = 2;
        }
        for &p in positives {
            label[p] = 1;
        }
        let n = pool.len() as f64;
        let n_pos = label.iter().filter(|l| **l == 1).count() as f64;
        let n_neg = n - n_pos;
        // Balanced classes, as scikit-learn's class_weight="balanced": n / (2 · class size).
        let w_pos = n / (2.0 * n_pos);
        let w_neg = if n_neg > 0.0 { n / (2.0 * n_neg) } else { 1.0 };
        let examples: Vec<logreg::Example> = pool
            .iter()
            .zip(&tfidf.rows)
            .zip(&label)
            .map(|((d, row), l)| logreg::Example {
                dense: d.vector,
                sparse: row,
                positive: *l == 1,
                weight: match l {
                    1 => w_pos,
                    2 => w_neg * params.dismissed_weight,
                    _ => w_neg,
                },
            })
            .collect();
        let dim = pool.first().map_or(0, |d| d.vector.len());
        let model = logreg::fit(&examples, dim, tfidf.terms.len(), &params.fit);
        let scores = pool
            .iter()
            .zip(&tfidf.rows)
            .map(|(d, row)| model.score(d.vector, row))
            .collect();
        done(Method::Learned, scores, Some(model))
    }

    /// The terms that pushed pool paper `i` up most (largest positive weight × tf-idf), at
    /// most `k`; empty without lexical features.
    pub fn top_terms(&self, tfidf: &TfIdf, i: usize, k: usize) -> Vec<String> {
        let (Some(model), Some(row)) = (&self.model, tfidf.rows.get(i)) else {
            return Vec::new();
        };
        let mut parts: Vec<(f64, u32)> = row
            .iter()
            .map(|(t, x)| (model.sparse[*t as usize] * *x as f64, *t))
            .filter(|(c, _)| *c > 0.0)
            .collect();
        parts.sort_by(|a, b| b.0.total_cmp(&a.0));
        parts
            .into_iter()
            .take(k)
            .map(|(_, t)| tfidf.terms[t as usize].clone())
            .collect()
    }
}

/// The `k` papers of `library` (indexes into `pool`) nearest to pool paper `i`, with their
/// cosine similarity, nearest first.
pub fn nearest(pool: &[Doc<'_>], library: &[usize], i: usize, k: usize) -> Vec<(usize, f64)> {
    let mut near: Vec<(usize, f64)> = library
        .iter()
        .filter(|&&j| j != i)
        .map(|&j| (j, cosine(pool[i].vector, pool[j].vector)))
        .collect();
    near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    near.truncate(k);
    near
}

/// Similarity to the library's centroid (zotero-arxiv-daily's ranker): the benchmarks' peer.
pub fn centroid_scores(pool: &[Doc<'_>], library: &[usize]) -> Vec<f64> {
    let dim = pool.first().map_or(0, |d| d.vector.len());
    let mut c = vec![0.0f32; dim];
    for &j in library {
        for (c, x) in c.iter_mut().zip(pool[j].vector) {
            *c += x;
        }
    }
    pool.iter().map(|d| cosine(d.vector, &c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: [f32; 3]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn cold_start_ranks_by_similarity_and_the_model_takes_over_from_three_papers() {
        let vs = [
            unit([1.0, 0.0, 0.0]),
            unit([0.9, 0.1, 0.0]),
            unit([0.0, 1.0, 0.0]),
            unit([0.0, 0.0, 1.0]),
            unit([0.8, 0.2, 0.1]),
            unit([0.95, 0.0, 0.1]),
        ];
        let pool: Vec<Doc> = vs
            .iter()
            .map(|v| Doc {
                vector: v,
                text: "",
            })
            .collect();
        let params = RankerParams {
            lexical: false,
            ..RankerParams::default()
        };
        let f = features(&pool, &params);
        let r = Ranker::fit(&pool, &f, &[0], &[], &params);
        assert_eq!(r.method, Method::ColdStart);
        assert!(r.scores[1] > r.scores[2] && r.scores[1] > r.scores[3]);
        let r = Ranker::fit(&pool, &f, &[0, 1, 5], &[], &params);
        assert_eq!(r.method, Method::Learned);
        assert!(r.scores[4] > r.scores[2] && r.scores[4] > r.scores[3]);
        assert_eq!(
            Ranker::fit(&pool, &f, &[], &[], &params).method,
            Method::Empty
        );
    }
}
