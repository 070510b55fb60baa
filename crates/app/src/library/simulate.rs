//! The readers' simulation the library ranker is chosen and measured on (`paperscout bench
//! library`, and a small fixed one in the tests): for every query with at least
//! [`MIN_RELEVANT`] relevant documents, a random half of them is a reader's library and the
//! other half what they want next; every other document is a candidate.

use std::collections::{HashMap, HashSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use super::{centroid_scores, features, Doc, Ranker, RankerParams};
use crate::eval::Qrels;

/// Queries with fewer relevant documents make no reader.
pub const MIN_RELEVANT: usize = 8;
/// Papers a reader marks "not interested" in the feedback rows.
pub const DISMISSALS: usize = 5;

/// One simulated reader (indexes into the pool).
#[derive(Debug, Clone, Serialize)]
pub struct Reader {
    pub query: String,
    pub library: Vec<usize>,
    pub heldout: Vec<usize>,
}

/// The readers of `qrels` over a pool whose document ids are `ids`: documents judged
/// relevant (grade > 0) and in the pool, sorted, shuffled with `seed`, the first half the
/// library (rounded down).
pub fn readers(ids: &[String], qrels: &Qrels, seed: u64) -> Vec<Reader> {
    let at: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut queries: Vec<&String> = qrels.keys().collect();
    queries.sort();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for q in queries {
        let mut docs: Vec<&str> = qrels[q]
            .iter()
            .filter(|(d, g)| **g > 0 && at.contains_key(d.as_str()))
            .map(|(d, _)| d.as_str())
            .collect();
        if docs.len() < MIN_RELEVANT {
            continue;
        }
        docs.sort_unstable();
        docs.shuffle(&mut rng);
        let half = docs.len() / 2;
        out.push(Reader {
            query: q.clone(),
            library: docs[..half].iter().map(|d| at[d]).collect(),
            heldout: docs[half..].iter().map(|d| at[d]).collect(),
        });
    }
    out
}

/// nDCG@10 and MAP@100 of `ranking` (pool indexes, best first) against `heldout`.
pub fn metrics(ranking: &[usize], heldout: &[usize]) -> (f64, f64) {
    let held: HashSet<usize> = heldout.iter().copied().collect();
    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, d)| held.contains(d))
        .map(|(i, _)| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let idcg: f64 = (0..held.len().min(10))
        .map(|i| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let (mut hits, mut ap) = (0usize, 0.0);
    for (i, d) in ranking.iter().take(100).enumerate() {
        if held.contains(d) {
            hits += 1;
            ap += hits as f64 / (i as f64 + 1.0);
        }
    }
    let ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    let map = if held.is_empty() {
        0.0
    } else {
        ap / held.len().min(100) as f64
    };
    (ndcg, map)
}

/// The top 100 of `scores`, leaving out `skip`.
pub fn top(scores: &[f64], skip: &HashSet<usize>) -> Vec<usize> {
    let mut order = ranked(scores, skip);
    order.truncate(100);
    order
}

/// Every index of `scores` but `skip`, best first (ties by index).
fn ranked(scores: &[f64], skip: &HashSet<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|i| !skip.contains(i)).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    order
}

/// A method's averages over the readers.
#[derive(Debug, Clone, Serialize)]
pub struct MethodRow {
    pub method: String,
    pub readers: usize,
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "map@100")]
    pub map_100: f64,
    /// Mean milliseconds per reader to train and score (None for peers run elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_per_reader: Option<f64>,
}

/// Accumulates one method's per-reader metrics.
#[derive(Debug, Default)]
pub struct Tally {
    ndcg: f64,
    map: f64,
    n: usize,
    ms: f64,
}

impl Tally {
    pub fn add(&mut self, ranking: &[usize], heldout: &[usize], ms: f64) {
        let (n, m) = metrics(ranking, heldout);
        self.ndcg += n;
        self.map += m;
        self.ms += ms;
        self.n += 1;
    }

    pub fn row(&self, method: &str, timed: bool) -> MethodRow {
        let d = self.n.max(1) as f64;
        MethodRow {
            method: method.to_string(),
            readers: self.n,
            ndcg_10: self.ndcg / d,
            map_100: self.map / d,
            ms_per_reader: timed.then(|| self.ms / d),
        }
    }
}

/// For each reader, the documents relevant to an unrelated query (one sharing no relevant
/// document with the reader's), which is where their "not interested" marks come from.
pub fn unrelated(readers: &[Reader], ids: &[String], qrels: &Qrels) -> Vec<Vec<usize>> {
    let at: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let relevant: Vec<HashSet<usize>> = {
        let mut qs: Vec<&String> = qrels.keys().collect();
        qs.sort();
        qs.into_iter()
            .map(|q| {
                qrels[q]
                    .iter()
                    .filter(|(_, g)| **g > 0)
                    .filter_map(|(d, _)| at.get(d.as_str()).copied())
                    .collect()
            })
            .collect()
    };
    readers
        .iter()
        .map(|r| {
            let mine: HashSet<usize> = r.library.iter().chain(&r.heldout).copied().collect();
            let mut out: HashSet<usize> = HashSet::new();
            for rel in &relevant {
                if rel.is_disjoint(&mine) {
                    out.extend(rel.iter().copied());
                }
            }
            let mut out: Vec<usize> = out.into_iter().collect();
            out.sort_unstable();
            out
        })
        .collect()
}

/// The built-in methods' rows over `readers`: the product's ranker (`paperscout`), the same
/// without lexical features, the library's centroid, and the feedback rows — the reader marks
/// "not interested" the [`DISMISSALS`] highest-ranked papers of their feed that are relevant
/// to unrelated queries (what a reader skimming the top of the feed would dismiss); the
/// "removed only" row leaves them out without retraining, to show what the model's learning
/// adds beyond hiding them.
pub fn run(
    pool: &[Doc<'_>],
    readers: &[Reader],
    unrelated: &[Vec<usize>],
    params: &RankerParams,
    mut on_reader: impl FnMut(usize),
) -> Vec<MethodRow> {
    let mut ours = Tally::default();
    let mut dense = Tally::default();
    let mut centroid = Tally::default();
    let mut removed = Tally::default();
    let mut feedback = Tally::default();
    let dense_params = RankerParams {
        lexical: false,
        ..*params
    };
    let tfidf = features(pool, params);
    let no_terms = features(pool, &dense_params);
    for (n, r) in readers.iter().enumerate() {
        let library: HashSet<usize> = r.library.iter().copied().collect();
        let ranker = Ranker::fit(pool, &tfidf, &r.library, &[], params);
        // The reader's whole feed, sorted once: its top 100 is what is scored, and the
        // dismissal rows below read it too.
        let order = ranked(&ranker.scores, &library);
        ours.add(&order[..order.len().min(100)], &r.heldout, ranker.train_ms);

        let d = Ranker::fit(pool, &no_terms, &r.library, &[], &dense_params);
        dense.add(&top(&d.scores, &library), &r.heldout, d.train_ms);

        let t = std::time::Instant::now();
        let c = centroid_scores(pool, &r.library);
        centroid.add(
            &top(&c, &library),
            &r.heldout,
            t.elapsed().as_secs_f64() * 1e3,
        );

        // The reader's five dismissals: the best-ranked unrelated papers in their feed.
        let unrelated: HashSet<usize> = unrelated[n].iter().copied().collect();
        let dismissed: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| unrelated.contains(i))
            .take(DISMISSALS)
            .collect();
        let mut skip = library.clone();
        skip.extend(dismissed.iter().copied());
        let hidden: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| !dismissed.contains(i))
            .take(100)
            .collect();
        removed.add(&hidden, &r.heldout, 0.0);
        let f = Ranker::fit(pool, &tfidf, &r.library, &dismissed, params);
        feedback.add(&top(&f.scores, &skip), &r.heldout, f.train_ms);
        on_reader(n + 1);
    }
    vec![
        ours.row("paperscout", true),
        dense.row("paperscout, embeddings only", true),
        centroid.row("centroid", true),
        removed.row(
            "paperscout, 5 unrelated papers hidden (no retraining)",
            false,
        ),
        feedback.row("paperscout + 5 not interested", true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// A fixed pool shaped like real embeddings: every paper shares a common direction in
    /// varying amount (real sentence embeddings are anisotropic), plus its topic's direction
    /// and noise; its text names its topic and some generic words. Four topics of 30 papers
    /// (each one reader's interest, all judged relevant), a sub-area of topic 1 (20 papers,
    /// relevant to a fifth query only) and 60 generic papers strong in the common direction.
    fn pool() -> (Vec<Vec<f32>>, Vec<String>, Vec<String>, Qrels) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let dim = 24;
        let axis = |i: usize| -> Vec<f32> { (0..dim).map(|d| (d == i) as u8 as f32).collect() };
        let words = ["kinase", "glacier", "sonnet", "lattice", "enzyme"];
        let generic = ["study", "results", "method", "analysis", "data", "effect"];
        let (mut vectors, mut texts, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        let mut qrels = Qrels::new();
        let mut add = |direction: Vec<f32>,
                       common: f32,
                       topic_words: &[&str],
                       id: String,
                       q: Option<String>| {
            let mut v: Vec<f32> = (0..dim)
                .map(|d| {
                    common * (d == 0) as u8 as f32 + direction[d] + rng.random_range(-0.45..0.45)
                })
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            vectors.push(v);
            let g: Vec<&str> = (0..4).map(|_| generic[rng.random_range(0..6)]).collect();
            texts.push(format!("{} {}", topic_words.join(" "), g.join(" ")));
            if let Some(q) = q {
                qrels.entry(q).or_default().insert(id.clone(), 1);
            }
            ids.push(id);
        };
        for (t, word) in words.iter().take(4).enumerate() {
            for j in 0..30 {
                let c = (j % 10) as f32 * 0.3;
                add(
                    axis(t + 1),
                    c,
                    &[word],
                    format!("d{t}-{j}"),
                    Some(format!("q{t}")),
                );
            }
        }
        for j in 0..20 {
            let dir: Vec<f32> = axis(1)
                .iter()
                .zip(axis(5))
                .map(|(a, b)| 0.8 * a + 0.8 * b)
                .collect();
            add(
                dir,
                0.5,
                &[words[0], words[4]],
                format!("sub-{j}"),
                Some("q5".into()),
            );
        }
        for j in 0..60 {
            let dir: Vec<f32> = (0..dim)
                .map(|d| if d == 6 + j % 10 { 0.6 } else { 0.0 })
                .collect();
            add(dir, 2.5, &[], format!("hub-{j}"), None);
        }
        (vectors, texts, ids, qrels)
    }

    #[test]
    fn the_learned_ranker_beats_the_centroid_and_not_interested_demotes_neighbours() {
        let (vectors, texts, ids, qrels) = pool();
        let docs: Vec<Doc> = vectors
            .iter()
            .zip(&texts)
            .map(|(v, t)| Doc { vector: v, text: t })
            .collect();
        let readers = readers(&ids, &qrels, 0);
        assert_eq!(readers.len(), 5);
        assert!(readers[..4]
            .iter()
            .all(|r| r.library.len() == 15 && r.heldout.len() == 15));
        let unrelated = unrelated(&readers, &ids, &qrels);
        let rows = run(
            &docs,
            &readers,
            &unrelated,
            &RankerParams::default(),
            |_| {},
        );
        let row = |m: &str| rows.iter().find(|r| r.method == m).unwrap();
        let (ours, centroid) = (row("paperscout"), row("centroid"));
        assert!(
            ours.ndcg_10 > centroid.ndcg_10 + 0.05 && ours.map_100 > centroid.map_100,
            "learned {ours:?} against centroid {centroid:?}"
        );

        // "Not interested": a reader of topic 0 dismisses one paper of its sub-area; the other
        // sub-area papers (its neighbours) fall against the ranking without the dismissal,
        // and topic 0's own papers stay on top.
        let params = RankerParams::default();
        let tfidf = features(&docs, &params);
        let library: Vec<usize> = (0..15).collect();
        let sub = 120..140;
        let before = Ranker::fit(&docs, &tfidf, &library, &[], &params);
        let after = Ranker::fit(&docs, &tfidf, &library, &[sub.start], &params);
        let rank_of = |scores: &[f64], i: usize| scores.iter().filter(|s| **s > scores[i]).count();
        let mean_rank = |scores: &[f64]| {
            (sub.start + 1..sub.end)
                .map(|i| rank_of(scores, i) as f64)
                .sum::<f64>()
                / 19.0
        };
        assert!(
            mean_rank(&after.scores) > mean_rank(&before.scores) + 1.5,
            "the sub-area ranked {} on average before the dismissal, {} after",
            mean_rank(&before.scores),
            mean_rank(&after.scores)
        );
        let skip: HashSet<usize> = library.iter().copied().chain([sub.start]).collect();
        let shown = top(&after.scores, &skip);
        assert!(shown[..10].iter().all(|i| *i < 30), "{shown:?}");
    }
}
