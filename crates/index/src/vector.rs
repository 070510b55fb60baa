use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap};

use crate::{Error, Key, Result};

/// A predicate on keys: which papers a filtered search may return.
pub type Filter<'a> = &'a (dyn Fn(Key) -> bool + Sync);

/// Nearest-neighbour search over unit-length embeddings by inner product (= cosine).
///
/// [`FlatIndex`] answers exactly; [`crate::AnnIndex`] approximately (HNSW), for corpora where
/// a scan of every vector per query is too slow.
pub trait VectorIndex: Send + Sync {
    fn dim(&self) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds or replaces the vector of `key`.
    fn upsert(&mut self, key: Key, vector: &[f32]) -> Result<()>;
    /// Removes `key`'s vector; false when it had none.
    fn remove(&mut self, key: Key) -> Result<bool>;
    /// `key`'s vector (borrowed where the index holds f32, decoded where it holds less).
    fn get(&self, key: Key) -> Option<Cow<'_, [f32]>>;
    /// The `k` keys with the highest inner product with `query`, best first.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(Key, f32)>>;
    /// The `k` best keys among those `filter` accepts, best first: a full page as long as
    /// that many keys pass, however selective the filter.
    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Filter<'_>,
    ) -> Result<Vec<(Key, f32)>>;
    /// Exact search over every vector the index holds (the reference an approximate index is
    /// measured against), optionally filtered.
    fn exact(&self, query: &[f32], k: usize, filter: Option<Filter<'_>>)
        -> Result<Vec<(Key, f32)>>;
}

/// The best `k` of a stream of candidates.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, c: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(worst) = self.heap.peek() {
            if c.0 > worst.0 {
                self.heap.pop();
                self.heap.push(c);
            }
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<(Key, f32)> {
        let mut out: Vec<(Key, f32)> = self.heap.into_iter().map(|c| (c.1, c.0)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Exact search: every vector in one contiguous matrix, scanned per query.
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dim: usize,
    keys: Vec<Key>,
    data: Vec<f32>,
    rows: HashMap<Key, usize>,
}

impl FlatIndex {
    pub fn new(dim: usize) -> Self {
        FlatIndex {
            dim,
            keys: Vec::new(),
            data: Vec::new(),
            rows: HashMap::new(),
        }
    }
}

/// A (score, key) pair ordered so that a `BinaryHeap` of them is a min-heap on score: the
/// worst of the current top k sits on top and is cheap to replace.
#[derive(PartialEq)]
pub(crate) struct Candidate(pub(crate) f32, pub(crate) Key);

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reverse on score for a min-heap; ties broken by key so results are deterministic.
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| self.1.cmp(&other.1))
    }
}

/// The inner product of two vectors of one length (cosine, for unit vectors): how every
/// similarity in paperscout is computed, so that all of them agree to the bit.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise without reassociating floats.
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

impl VectorIndex for FlatIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn upsert(&mut self, key: Key, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                found: vector.len(),
            });
        }
        match self.rows.get(&key) {
            Some(&row) => self.data[row * self.dim..(row + 1) * self.dim].copy_from_slice(vector),
            None => {
                self.rows.insert(key, self.keys.len());
                self.keys.push(key);
                self.data.extend_from_slice(vector);
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: Key) -> Result<bool> {
        let Some(row) = self.rows.remove(&key) else {
            return Ok(false);
        };
        // The last row takes the removed one's place.
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last];
            self.keys[row] = moved;
            self.rows.insert(moved, row);
            self.data
                .copy_within(last * self.dim..(last + 1) * self.dim, row * self.dim);
        }
        self.keys.pop();
        self.data.truncate(last * self.dim);
        Ok(true)
    }

    fn get(&self, key: Key) -> Option<Cow<'_, [f32]>> {
        self.rows
            .get(&key)
            .map(|&row| Cow::Borrowed(&self.data[row * self.dim..(row + 1) * self.dim]))
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(Key, f32)>> {
        self.exact(query, k, None)
    }

    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Filter<'_>,
    ) -> Result<Vec<(Key, f32)>> {
        self.exact(query, k, Some(filter))
    }

    fn exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> Result<Vec<(Key, f32)>> {
        if query.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                found: query.len(),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut top = TopK::new(k);
        for (row, &key) in self.data.chunks_exact(self.dim).zip(&self.keys) {
            if filter.is_some_and(|f| !f(key)) {
                continue;
            }
            top.push(Candidate(dot(query, row), key));
        }
        Ok(top.into_sorted())
    }
}

impl FlatIndex {
    /// Bytes held: the vectors, their keys and the key map.
    pub fn memory_bytes(&self) -> usize {
        self.data.len() * 4 + self.keys.len() * (8 + 8 + 16)
    }

    /// Every key with its vector.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Key, &[f32])> {
        self.keys
            .iter()
            .copied()
            .zip(self.data.chunks_exact(self.dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn flat_search_matches_brute_force_sort() {
        // A deterministic pseudo-random set, checked against a plain sort of all scores.
        let dim = 19;
        let mut idx = FlatIndex::new(dim);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut all = Vec::new();
        for key in 0..500 {
            let v = unit(&(0..dim).map(|_| next()).collect::<Vec<_>>());
            idx.upsert(key, &v).unwrap();
            all.push((key, v));
        }
        let q = unit(&(0..dim).map(|_| next()).collect::<Vec<_>>());
        let mut expected: Vec<(Key, f32)> = all
            .iter()
            .map(|(k, v)| (*k, v.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1));
        let got = idx.search(&q, 10).unwrap();
        assert_eq!(
            got.iter().map(|h| h.0).collect::<Vec<_>>(),
            expected[..10].iter().map(|h| h.0).collect::<Vec<_>>()
        );
        for (g, e) in got.iter().zip(&expected) {
            assert!((g.1 - e.1).abs() < 1e-5);
        }
        assert_eq!(idx.search(&q, 1000).unwrap().len(), 500);
    }

    #[test]
    fn remove_moves_the_last_row_into_the_gap() {
        let mut idx = FlatIndex::new(2);
        for (k, v) in [(1, [1.0, 0.0]), (2, [0.0, 1.0]), (3, [0.6, 0.8])] {
            idx.upsert(k, &v).unwrap();
        }
        assert!(idx.remove(1).unwrap());
        assert!(!idx.remove(1).unwrap());
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.get(3).unwrap().as_ref(), &[0.6, 0.8]);
        assert_eq!(idx.search(&[1.0, 0.0], 5).unwrap()[0].0, 3);
        assert!(idx.remove(3).unwrap() && idx.remove(2).unwrap());
        assert!(idx.is_empty());
    }

    #[test]
    fn upsert_replaces_and_dimensions_are_checked() {
        let mut idx = FlatIndex::new(2);
        idx.upsert(1, &[1.0, 0.0]).unwrap();
        idx.upsert(2, &[0.0, 1.0]).unwrap();
        idx.upsert(1, &[0.0, -1.0]).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.get(1).as_deref(), Some(&[0.0, -1.0][..]));
        assert_eq!(
            idx.search(&[0.0, 1.0], 2).unwrap(),
            vec![(2, 1.0), (1, -1.0)]
        );
        assert!(idx.upsert(3, &[1.0]).is_err());
        assert!(idx.search(&[1.0, 2.0, 3.0], 1).is_err());
        assert!(idx.search(&[1.0, 0.0], 0).unwrap().is_empty());
    }
}
