//! Which vector index serves semantic search: exact for small corpora, approximate (HNSW,
//! int8 with an f16 re-score) from [`ANN_FROM`] papers on, saved next to the data so that a
//! restart serves at once instead of rebuilding.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use paperscout_index::{AnnIndex, AnnParams, Filter, FlatIndex, Key, VectorIndex};

/// From this many papers on, `auto` serves from the approximate index: below it an exact scan
/// answers within a few milliseconds on two cores and nothing is approximate
/// (`paperscout bench vectors`, BENCHMARKS.md "Vector search at scale").
pub const ANN_FROM: usize = 50_000;
/// `auto` goes back to exact search when the corpus shrinks below this (a margin, so that a
/// corpus near the crossover does not flip at every change).
pub const EXACT_BELOW: usize = ANN_FROM * 3 / 4;

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
        match self {
            VectorChoice::Exact => false,
            VectorChoice::Ann => true,
            VectorChoice::Auto if has_ann => len >= EXACT_BELOW,
            VectorChoice::Auto => len >= ANN_FROM,
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
        let has_ann = matches!(self, Vectors::Ann(_));
        let want_ann = choice.wants_ann(self.len(), has_ann);
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
