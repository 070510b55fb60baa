//! Which vector index serves semantic search: exact for small corpora, approximate (HNSW,
//! int8 with an f16 re-score) from [`ANN_FROM`] papers on, saved next to the data so that a
//! restart serves at once instead of rebuilding.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use paperscout_index::{AnnIndex, AnnParams, Filter, FlatIndex, Key, VectorIndex};

/// From this many papers on, `auto` serves from the approximate index: below it an exact scan
/// answers within a few milliseconds on two cores and nothing is approximate
/// (`paperscout bench vectors`, BENCHMARKS.md "Vector search at scale").
/// `auto` goes back to exact search only below three quarters of it, so that a corpus near
/// the crossover does not flip at every change.
pub const ANN_FROM: usize = 50_000;

/// The `--vector-index` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorChoice {
    Exact,
    Ann,
    #[default]
    Auto,
}

impl VectorChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorChoice::Exact => "exact",
            VectorChoice::Ann => "ann",
            VectorChoice::Auto => "auto",
        }
    }

    /// Which index a corpus of `len` papers gets, given the one it has.
    pub(crate) fn wants_ann(self, len: usize, has_ann: bool) -> bool {
        self.wants_ann_from(len, has_ann, ANN_FROM)
    }

    /// As [`VectorChoice::wants_ann`] with the crossover at `ann_from`.
    fn wants_ann_from(self, len: usize, has_ann: bool, ann_from: usize) -> bool {
        match self {
            VectorChoice::Exact => false,
            VectorChoice::Ann => true,
            VectorChoice::Auto if has_ann => len >= ann_from * 3 / 4,
            VectorChoice::Auto => len >= ann_from,
        }
    }
}

impl std::str::FromStr for VectorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(VectorChoice::Exact),
            "ann" => Ok(VectorChoice::Ann),
            "auto" => Ok(VectorChoice::Auto),
            other => Err(format!(
                "unknown vector index {other:?}: expected exact, ann or auto"
            )),
        }
    }
}

impl std::fmt::Display for VectorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The vector index in use.
#[derive(Debug)]
pub(crate) enum Vectors {
    Exact(FlatIndex),
    Ann(AnnIndex),
}

impl Vectors {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Vectors::Exact(_) => "exact",
            Vectors::Ann(_) => "ann",
        }
    }

    fn inner(&self) -> &dyn VectorIndex {
        match self {
            Vectors::Exact(i) => i,
            Vectors::Ann(i) => i,
        }
    }

    /// Switches between exact and approximate when `choice` asks for the other one at this
    /// size; true when it switched (the caller then saves or drops the saved file).
    pub(crate) fn rebalance(&mut self, choice: VectorChoice) -> crate::Result<bool> {
        self.rebalance_from(choice, ANN_FROM)
    }

    fn rebalance_from(&mut self, choice: VectorChoice, ann_from: usize) -> crate::Result<bool> {
        let has_ann = matches!(self, Vectors::Ann(_));
        let want_ann = choice.wants_ann_from(self.len(), has_ann, ann_from);
        if want_ann == has_ann {
            return Ok(false);
        }
        let t = std::time::Instant::now();
        *self = match self {
            Vectors::Exact(flat) => {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                Vectors::Ann(AnnIndex::build(
                    flat.dim(),
                    AnnParams::default(),
                    flat.iter(),
                    threads,
                )?)
            }
            // (The engine rebuilds exact from the store's f32 vectors instead: without f16
            // copies these are the graph's int8 ones.)
            Vectors::Ann(ann) => {
                let mut flat = FlatIndex::new(ann.dim());
                let mut bad = None;
                ann.for_each(|key, v| {
                    if let Err(e) = flat.upsert(key, v) {
                        bad.get_or_insert(e);
                    }
                });
                if let Some(e) = bad {
                    return Err(e.into());
                }
                Vectors::Exact(flat)
            }
        };
        tracing::info!(
            papers = self.len(),
            index = self.kind(),
            seconds = t.elapsed().as_secs_f64(),
            "switched the vector index"
        );
        Ok(true)
    }

    /// Whether results are to be re-scored from the store's f32 embeddings (an approximate
    /// index that keeps no full-precision copies scores by int8).
    pub(crate) fn rescores_from_store(&self) -> bool {
        matches!(self, Vectors::Ann(a) if a.params().rescore == 0)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        match self {
            Vectors::Exact(i) => i.memory_bytes(),
            Vectors::Ann(i) => i.memory_bytes(),
        }
    }
}

impl VectorIndex for Vectors {
    fn dim(&self) -> usize {
        self.inner().dim()
    }
    fn len(&self) -> usize {
        self.inner().len()
    }
    fn upsert(&mut self, key: Key, vector: &[f32]) -> paperscout_index::Result<()> {
        match self {
            Vectors::Exact(i) => i.upsert(key, vector),
            Vectors::Ann(i) => i.upsert(key, vector),
        }
    }
    fn remove(&mut self, key: Key) -> paperscout_index::Result<bool> {
        match self {
            Vectors::Exact(i) => i.remove(key),
            Vectors::Ann(i) => i.remove(key),
        }
    }
    fn get(&self, key: Key) -> Option<Cow<'_, [f32]>> {
        self.inner().get(key)
    }
    fn search(&self, query: &[f32], k: usize) -> paperscout_index::Result<Vec<(Key, f32)>> {
        self.inner().search(query, k)
    }
    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Filter<'_>,
    ) -> paperscout_index::Result<Vec<(Key, f32)>> {
        self.inner().search_filtered(query, k, filter)
    }
    fn exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> paperscout_index::Result<Vec<(Key, f32)>> {
        self.inner().exact(query, k, filter)
    }
}

/// Where the approximate index of `model` is saved in `data_dir`.
pub(crate) fn saved_path(data_dir: &Path, model: &str) -> PathBuf {
    let name: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("vectors").join(format!("{name}.ann"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize) -> Vec<(Key, Vec<f32>)> {
        let mut state = 17u64;
        (0..n)
            .map(|i| {
                let mut v: Vec<f32> = (0..16)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                    })
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                (i as Key, v)
            })
            .collect()
    }

    #[test]
    fn auto_switches_to_the_approximate_index_at_the_crossover_and_back() {
        let all = vectors(120);
        let mut v = Vectors::Exact(FlatIndex::new(16));
        for (k, x) in &all[..99] {
            v.upsert(*k, x).unwrap();
        }
        assert!(!v.rebalance_from(VectorChoice::Auto, 100).unwrap());
        assert_eq!(v.kind(), "exact");
        let before = v.search(&all[5].1, 5).unwrap();
        v.upsert(all[99].0, &all[99].1).unwrap();
        assert!(v.rebalance_from(VectorChoice::Auto, 100).unwrap());
        assert_eq!((v.kind(), v.len()), ("ann", 100));
        // Same papers, same answers (scores to int8 precision without f16 copies).
        let after = v.search(&all[5].1, 5).unwrap();
        assert_eq!(after[0].0, before[0].0);
        assert!((after[0].1 - before[0].1).abs() < 2e-2);
        // A margin below the crossover: no flip back at 99 papers...
        let Vectors::Ann(ann) = &mut v else {
            unreachable!()
        };
        ann.remove(99).unwrap();
        assert!(!v.rebalance_from(VectorChoice::Auto, 100).unwrap());
        // ...but below three quarters of it, exact again, holding every vector.
        let Vectors::Ann(ann) = &mut v else {
            unreachable!()
        };
        for k in 74..99 {
            ann.remove(k).unwrap();
        }
        assert!(v.rebalance_from(VectorChoice::Auto, 100).unwrap());
        assert_eq!((v.kind(), v.len()), ("exact", 74));
        assert!(v.get(73).is_some() && v.get(80).is_none());
        // The explicit choices hold at any size.
        assert!(v.rebalance_from(VectorChoice::Ann, 100).unwrap());
        assert_eq!(v.kind(), "ann");
        assert!(v.rebalance_from(VectorChoice::Exact, 100).unwrap());
        assert_eq!(v.kind(), "exact");
        assert!(!v.rebalance_from(VectorChoice::Exact, 1).unwrap());
    }

    #[test]
    fn the_setting_parses_and_names_what_is_wrong() {
        assert_eq!("ANN".parse::<VectorChoice>().unwrap(), VectorChoice::Ann);
        assert_eq!(
            " exact ".parse::<VectorChoice>().unwrap(),
            VectorChoice::Exact
        );
        let e = "hnsw".parse::<VectorChoice>().unwrap_err();
        assert!(
            e.contains("\"hnsw\"") && e.contains("exact, ann or auto"),
            "{e}"
        );
        assert_eq!(VectorChoice::default().to_string(), "auto");
    }
}
