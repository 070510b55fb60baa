//! Approximate nearest-neighbour search for large corpora: an HNSW graph over int8 vectors
//! (usearch), with the best candidates re-scored from an f16 copy of each vector.
//!
//! Why usearch (see ARCHITECTURE.md, "Vector search at arXiv scale"): it is a maintained,
//! single-header HNSW with int8/f16/binary quantisation, removals, predicate-filtered search
//! and serialisation to one buffer, and its distance kernels dispatch on the CPU at run time.
//! The pure-Rust alternatives looked at (`hnsw_rs`, `instant-distance`) hold f32 only (no
//! quantisation) and `instant-distance` cannot add after building.
//!
//! Memory per paper: 384 bytes of int8 vector and ~150 bytes of graph in usearch, plus 768
//! bytes of f16 for the re-score: ~1.3 KB against the exact index's 1.5 KB of f32 plus its
//! key map — and a query reads a few hundred vectors instead of all of them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use half::f16;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::vector::{dot, Candidate, Filter, VectorIndex};
use crate::{Error, Key, Result};

/// How the graph is built and searched. The defaults are what `paperscout bench vectors`
/// measured to keep recall@10 ≥ 0.95 against exact search at a million synthetic vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnParams {
    /// Links per node (HNSW's M).
    pub connectivity: usize,
    /// Candidate list while inserting (efConstruction).
    pub expansion_add: usize,
    /// Candidate list while searching (ef); raised to the number of candidates asked for.
    pub expansion_search: usize,
    /// Candidates re-scored from the index's own f16 copies per result asked for; 0 keeps no
    /// copies (the default: half the memory), and the caller re-scores from its f32 vectors
    /// (see [`rescore_depth`]).
    pub rescore: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        AnnParams {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 96,
            rescore: 0,
        }
    }
}

/// How many candidates to take from the graph for `k` results when the caller re-scores them
/// exactly from full-precision vectors held elsewhere (paperscout's store): the graph's int8
/// distances misorder near-ties, and four times the page (at most 300 more) recovers them.
pub fn rescore_depth(k: usize) -> usize {
    k + (3 * k).min(300)
}

/// The magic and format version at the start of a saved index.
const MAGIC: &[u8; 8] = b"PSANN002";

/// An HNSW index (usearch, int8 cosine) with an exact re-score from f16 copies.
pub struct AnnIndex {
    dim: usize,
    params: AnnParams,
    graph: Index,
    /// f16 bits of each row's vector, `dim` per row.
    rows: Vec<u16>,
    keys: Vec<Key>,
    row_of: HashMap<Key, usize>,
    slots: Slots,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex")
            .field("dim", &self.dim)
            .field("len", &self.keys.len())
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn ann_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Ann(format!("{what}: {e}"))
}

/// Threads that may search or add at once; usearch keeps a small context per thread.
const THREADS: usize = 64;
/// Bounds on a loaded file's parameters: a damaged header must not make usearch allocate
/// without limit or the re-score overflow.
const MAX_CONNECTIVITY: usize = 256;
const MAX_EXPANSION: usize = 1 << 16;
const MAX_RESCORE: usize = 64;

/// Admits at most [`THREADS`] callers into the graph at once. usearch hands each call one of
/// its per-thread contexts, and a call that finds none left fails ("Reserve capacity ahead of
/// searches!") instead of waiting, so the wait happens here.
#[derive(Debug, Default)]
struct Slots {
    busy: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn take(&self) -> Slot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy >= THREADS {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

impl AnnIndex {
    pub fn new(dim: usize, params: AnnParams) -> Result<Self> {
        let graph = Self::graph(dim, params)?;
        Ok(AnnIndex {
            dim,
            params,
            graph,
            rows: Vec::new(),
            keys: Vec::new(),
            row_of: HashMap::new(),
            slots: Slots::default(),
        })
    }

    fn graph(dim: usize, params: AnnParams) -> Result<Index> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: ScalarKind::I8,
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let graph = Index::new(&options).map_err(|e| ann_error("creating the index", e))?;
        graph
            .reserve_capacity_and_threads(64, THREADS)
            .map_err(|e| ann_error("reserving", e))?;
        Ok(graph)
    }

    /// Builds from many vectors at once, adding from `threads` threads.
    pub fn build<'a>(
        dim: usize,
        params: AnnParams,
        vectors: impl ExactSizeIterator<Item = (Key, &'a [f32])>,
        threads: usize,
    ) -> Result<Self> {
        let mut index = AnnIndex::new(dim, params)?;
        let n = vectors.len();
        index.grow(n)?;
        for (key, v) in vectors {
            index.check_dim(v)?;
            index.push_row(key, v, true);
        }
        let threads = threads.clamp(1, THREADS);
        let chunk = index.keys.len().div_ceil(threads).max(1);
        let first_error = std::sync::Mutex::new(None);
        std::thread::scope(|s| {
            for (t, keys) in index.keys.chunks(chunk).enumerate() {
                let (graph, rows, dim, first_error, slots) = (
                    &index.graph,
                    &index.rows,
                    index.dim,
                    &first_error,
                    &index.slots,
                );
                s.spawn(move || {
                    let mut buf = vec![0f32; dim];
                    let _slot = slots.take();
                    for (i, &key) in keys.iter().enumerate() {
                        let row = t * chunk + i;
                        to_f32(&rows[row * dim..(row + 1) * dim], &mut buf);
                        if let Err(e) = graph.add(key as u64, &buf) {
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(ann_error("adding", e));
                            return;
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => {
                if !index.keeps_rows() {
                    index.rows = Vec::new();
                }
                Ok(index)
            }
        }
    }

    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// Changes the search-time candidate list (ef). (Whether f16 copies are kept is fixed
    /// when the index is built.)
    pub fn set_expansion_search(&mut self, expansion_search: usize) {
        self.params.expansion_search = expansion_search.clamp(1, MAX_EXPANSION);
        self.graph
            .change_expansion_search(self.params.expansion_search);
    }

    /// Bytes held in memory: the graph with its int8 vectors, the f16 copies and the keys.
    pub fn memory_bytes(&self) -> usize {
        self.graph.memory_usage() + self.rows.len() * 2 + self.keys.len() * (8 + 8 + 16)
    }

    fn check_dim(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                found: v.len(),
            });
        }
        Ok(())
    }

    fn grow(&self, extra: usize) -> Result<()> {
        let need = self.graph.size() + extra;
        if need > self.graph.capacity() {
            let capacity = need.max(self.graph.capacity() * 2).max(64);
            self.graph
                .reserve_capacity_and_threads(capacity, THREADS)
                .map_err(|e| ann_error("reserving", e))?;
        }
        Ok(())
    }

    /// Whether f16 copies are kept for the re-score (`rescore` > 0).
    fn keeps_rows(&self) -> bool {
        self.params.rescore > 0
    }

    fn push_row(&mut self, key: Key, v: &[f32], building: bool) -> usize {
        let keep = building || self.keeps_rows();
        match self.row_of.get(&key) {
            Some(&row) => {
                if keep {
                    write_f16(&mut self.rows[row * self.dim..(row + 1) * self.dim], v);
                }
                row
            }
            None => {
                let row = self.keys.len();
                self.keys.push(key);
                self.row_of.insert(key, row);
                if keep {
                    self.rows
                        .extend(v.iter().map(|&x| f16::from_f32(x).to_bits()));
                }
                row
            }
        }
    }

    /// `key`'s vector (at `row`) into `buf`: the f16 copy, or without one the graph's int8
    /// vector, dequantised and normalised.
    fn vector(&self, row: usize, key: Key, buf: &mut [f32]) -> bool {
        if self.keeps_rows() {
            to_f32(&self.rows[row * self.dim..(row + 1) * self.dim], buf);
            return true;
        }
        match self.graph.get(key as u64, buf) {
            Ok(1..) => {
                let n = dot(buf, buf).sqrt();
                if n > 0.0 {
                    buf.iter_mut().for_each(|x| *x /= n);
                }
                true
            }
            _ => false,
        }
    }

    /// Removes `key`'s vector; false when it had none.
    pub fn remove(&mut self, key: Key) -> Result<bool> {
        let Some(&row) = self.row_of.get(&key) else {
            return Ok(false);
        };
        self.graph
            .remove(key as u64)
            .map_err(|e| ann_error("removing", e))?;
        self.row_of.remove(&key);
        // The last row takes the removed one's place.
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last];
            self.keys[row] = moved;
            self.row_of.insert(moved, row);
            if self.keeps_rows() {
                let (head, tail) = self.rows.split_at_mut(last * self.dim);
                head[row * self.dim..(row + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
            }
        }
        self.keys.pop();
        if self.keeps_rows() {
            self.rows.truncate(last * self.dim);
        }
        Ok(true)
    }

    /// The exact (f16) similarity of `key`'s vector to `query`.
    fn rescore(&self, query: &[f32], key: Key, buf: &mut [f32]) -> Option<f32> {
        let &row = self.row_of.get(&key)?;
        to_f32(&self.rows[row * self.dim..(row + 1) * self.dim], buf);
        Some(dot(query, buf))
    }

    /// The best `k` of what the graph found: re-scored from the f16 copies when kept, else
    /// by the graph's own (int8) distances.
    fn finish(&self, query: &[f32], found: &usearch::ffi::Matches, k: usize) -> Vec<(Key, f32)> {
        if !self.keeps_rows() {
            let mut out: Vec<(Key, f32)> = found
                .keys
                .iter()
                .zip(&found.distances)
                .map(|(&key, &d)| (key as Key, 1.0 - d))
                .collect();
            out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            out.truncate(k);
            return out;
        }
        let mut buf = vec![0f32; self.dim];
        let mut out: Vec<(Key, f32)> = found
            .keys
            .iter()
            .filter_map(|&key| {
                let key = key as Key;
                self.rescore(query, key, &mut buf).map(|s| (key, s))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }

    fn fetch(&self, k: usize) -> usize {
        k.saturating_mul(self.params.rescore.max(1))
            .min(self.keys.len())
    }

    /// Writes the index to `path` atomically: a temporary file next to it, synced, then
    /// renamed over it, so a crash while saving leaves the previous file whole. `tag` is kept
    /// with it for the caller (which writes the index reflects). Returns the file's size.
    pub fn save(&self, path: &Path, tag: u64) -> Result<u64> {
        let io = |e: std::io::Error| ann_error(&format!("saving {}", path.display()), e);
        let mut graph = vec![0u8; self.graph.serialized_length()];
        self.graph
            .save_to_buffer(&mut graph)
            .map_err(|e| ann_error("serialising", e))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = (|| {
            let file = std::fs::File::create(&tmp)?;
            let mut out = Crc {
                inner: std::io::BufWriter::with_capacity(1 << 20, file),
                crc: crc32fast::Hasher::new(),
            };
            let header = [
                self.dim as u64,
                self.keys.len() as u64,
                graph.len() as u64,
                self.params.connectivity as u64,
                self.params.expansion_add as u64,
                self.params.expansion_search as u64,
                self.params.rescore as u64,
                tag,
            ];
            out.inner.write_all(MAGIC)?;
            for h in header {
                out.write_all(&h.to_le_bytes())?;
            }
            out.write_all(&graph)?;
            for k in &self.keys {
                out.write_all(&k.to_le_bytes())?;
            }
            for r in &self.rows {
                out.write_all(&r.to_le_bytes())?;
            }
            let crc = out.crc.clone().finalize();
            out.inner.write_all(&crc.to_le_bytes())?;
            out.inner.write_all(MAGIC)?;
            let file = out.inner.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok::<u64, std::io::Error>(file.metadata()?.len())
        })();
        let size = match written {
            Ok(size) => size,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(e));
            }
        };
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
            let _ = dir.sync_all();
        }
        Ok(size)
    }

    /// Reads an index written by [`AnnIndex::save`]; a truncated or foreign file is an error
    /// naming the file, never a panic. Returns the index and the `tag` it was saved with.
    pub fn load(path: &Path) -> Result<(Self, u64)> {
        let bad = |what: &str| ann_error(&format!("loading {}", path.display()), what);
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| bad(&e.to_string()))?;
        // The checksum first, so that nothing damaged reaches usearch, whose loader trusts
        // what it reads: MAGIC, the body, its CRC-32, MAGIC.
        if bytes.len() < 8 + 64 + 12 || !bytes.starts_with(MAGIC) {
            return Err(bad(
                "not a paperscout vector index (or another version), or truncated",
            ));
        }
        let body_end = bytes.len() - 12;
        let (tail_crc, tail_magic) = bytes[body_end..].split_at(4);
        if tail_magic != MAGIC {
            return Err(bad("the file is truncated or damaged"));
        }
        let crc = u32::from_le_bytes(tail_crc.try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[8..body_end]) != crc {
            return Err(bad("its checksum does not match (the file is damaged)"));
        }
        let bytes = &bytes[..body_end];
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let end = at.checked_add(n).filter(|&e| e <= bytes.len());
            let end = end.ok_or_else(|| bad("the file is truncated"))?;
            let s = &bytes[at..end];
            at = end;
            Ok(s)
        };
        if take(8)? != MAGIC {
            return Err(bad("not a paperscout vector index (or another version)"));
        }
        let mut header = [0u64; 8];
        for h in &mut header {
            *h = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        }
        let tag = header[7];
        let [dim, count, graph_len, connectivity, expansion_add, expansion_search, rescore, _] =
            header.map(|h| h as usize);
        if dim == 0
            || dim > 1 << 16
            || count > 1 << 40
            || !(2..=MAX_CONNECTIVITY).contains(&connectivity)
            || !(1..=MAX_EXPANSION).contains(&expansion_add)
            || !(1..=MAX_EXPANSION).contains(&expansion_search)
            || rescore > MAX_RESCORE
        {
            return Err(bad("its header is damaged"));
        }
        let params = AnnParams {
            connectivity,
            expansion_add,
            expansion_search,
            rescore,
        };
        let graph_bytes = take(graph_len)?;
        let keys: Vec<Key> = take(count.checked_mul(8).ok_or_else(|| bad("damaged"))?)?
            .chunks_exact(8)
            .map(|c| Key::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let row_values = if rescore > 0 { count } else { 0 };
        let rows: Vec<u16> = take(
            row_values
                .checked_mul(dim * 2)
                .ok_or_else(|| bad("its header is damaged"))?,
        )?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
        if at != bytes.len() {
            return Err(bad("its sections do not add up to its size (damaged)"));
        }
        let graph = Self::graph(dim, params)?;
        graph
            .load_from_buffer(graph_bytes)
            .map_err(|e| bad(&e.to_string()))?;
        if graph.size() != count || graph.dimensions() != dim {
            return Err(bad("its graph and its vectors disagree"));
        }
        graph
            .reserve_capacity_and_threads(graph.capacity().max(count + 64), THREADS)
            .map_err(|e| ann_error("reserving", e))?;
        graph.change_expansion_search(expansion_search);
        let row_of: HashMap<Key, usize> = keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();
        if row_of.len() != count {
            return Err(bad("it lists a paper twice"));
        }
        if !keys.iter().all(|&k| graph.contains(k as u64)) {
            return Err(bad("its graph and its key list disagree"));
        }
        Ok((
            AnnIndex {
                dim,
                params,
                graph,
                rows,
                keys,
                row_of,
                slots: Slots::default(),
            },
            tag,
        ))
    }

    /// Every key with its vector (f16, or int8 without the f16 copies), in row order.
    pub fn for_each(&self, mut f: impl FnMut(Key, &[f32])) {
        let mut buf = vec![0f32; self.dim];
        for (row, &key) in self.keys.iter().enumerate() {
            if self.vector(row, key, &mut buf) {
                f(key, &buf);
            }
        }
    }
}

/// A writer that checksums what passes through it (all but the leading magic).
struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn to_f32(bits: &[u16], out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(bits) {
        *o = f16::from_bits(b).to_f32();
    }
}

fn write_f16(out: &mut [u16], v: &[f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = f16::from_f32(x).to_bits();
    }
}

impl VectorIndex for AnnIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn remove(&mut self, key: Key) -> Result<bool> {
        AnnIndex::remove(self, key)
    }

    fn upsert(&mut self, key: Key, vector: &[f32]) -> Result<()> {
        self.check_dim(vector)?;
        // (`&mut self`: no search runs meanwhile, every usearch thread context is free.)
        if self.row_of.contains_key(&key) {
            self.graph
                .remove(key as u64)
                .map_err(|e| ann_error("replacing", e))?;
        }
        self.grow(1)?;
        self.graph
            .add(key as u64, vector)
            .map_err(|e| ann_error("adding", e))?;
        self.push_row(key, vector, false);
        Ok(())
    }

    fn get(&self, key: Key) -> Option<std::borrow::Cow<'_, [f32]>> {
        let &row = self.row_of.get(&key)?;
        let mut v = vec![0f32; self.dim];
        self.vector(row, key, &mut v)
            .then_some(std::borrow::Cow::Owned(v))
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(Key, f32)>> {
        self.check_dim(query)?;
        if k == 0 || self.keys.is_empty() {
            return Ok(Vec::new());
        }
        let fetch = self.fetch(k);
        let slot = self.slots.take();
        let found = self
            .graph
            .search(query, fetch)
            .map_err(|e| ann_error("searching", e))?;
        drop(slot);
        Ok(self.finish(query, &found, k))
    }

    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Filter<'_>,
    ) -> Result<Vec<(Key, f32)>> {
        self.check_dim(query)?;
        if k == 0 || self.keys.is_empty() {
            return Ok(Vec::new());
        }
        let fetch = self.fetch(k);
        let _slot = self.slots.take();
        let found = self
            .graph
            .filtered_search(query, fetch, |key| filter(key as Key))
            .map_err(|e| ann_error("searching", e))?;
        Ok(self.finish(query, &found, k))
    }

    fn exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> Result<Vec<(Key, f32)>> {
        self.check_dim(query)?;
        let mut top = crate::vector::TopK::new(k);
        let mut buf = vec![0f32; self.dim];
        for (row, &key) in self.keys.iter().enumerate() {
            if filter.is_some_and(|f| !f(key)) {
                continue;
            }
            if self.vector(row, key, &mut buf) {
                top.push(Candidate(dot(query, &buf), key));
            }
        }
        Ok(top.into_sorted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlatIndex;

    /// Deterministic unit vectors in `clusters` clusters: the shape of real embeddings
    /// (topics), which is what makes graph search non-trivial.
    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % clusters];
                unit(&c.iter().map(|x| x + 0.6 * next()).collect::<Vec<_>>())
            })
            .collect()
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn both(vectors: &[Vec<f32>]) -> (FlatIndex, AnnIndex) {
        let dim = vectors[0].len();
        let mut flat = FlatIndex::new(dim);
        for (k, v) in vectors.iter().enumerate() {
            flat.upsert(k as Key, v).unwrap();
        }
        let params = AnnParams {
            rescore: 4,
            ..AnnParams::default()
        };
        let ann = AnnIndex::build(dim, params, flat.iter(), 2).unwrap();
        (flat, ann)
    }

    fn recall(a: &[(Key, f32)], b: &[(Key, f32)]) -> f64 {
        let want: std::collections::HashSet<Key> = b.iter().map(|x| x.0).collect();
        a.iter().filter(|x| want.contains(&x.0)).count() as f64 / b.len().max(1) as f64
    }

    #[test]
    fn recall_against_exact_search_is_high_and_scores_are_exact_to_f16() {
        let vectors = clustered(4000, 64, 40, 11);
        let queries = clustered(50, 64, 40, 99);
        let (flat, ann) = both(&vectors);
        assert_eq!(ann.len(), 4000);
        let mut total = 0.0;
        for q in &queries {
            let exact = flat.search(q, 10).unwrap();
            let got = ann.search(q, 10).unwrap();
            assert_eq!(got.len(), 10);
            for (key, score) in &got {
                let truth = dot(q, flat.get(*key).unwrap().as_ref());
                assert!((truth - score).abs() < 2e-3, "{truth} vs {score}");
            }
            total += recall(&got, &exact);
        }
        let recall = total / queries.len() as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
    }

    #[test]
    fn the_slot_gate_admits_at_most_threads_callers() {
        let slots = Slots::default();
        let held: Vec<Slot<'_>> = (0..THREADS).map(|_| slots.take()).collect();
        let admitted = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _late = slots.take();
                admitted.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(
                !admitted.load(std::sync::atomic::Ordering::SeqCst),
                "a 65th caller got in"
            );
            drop(held);
        });
        assert!(admitted.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn more_concurrent_searches_than_usearch_has_thread_contexts_wait_their_turn() {
        let vectors = clustered(300, 16, 6, 9);
        let (flat, ann) = both(&vectors);
        let want = flat.search(&vectors[1], 5).unwrap();
        std::thread::scope(|s| {
            for _ in 0..THREADS * 2 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let got = ann.search(&vectors[1], 5).unwrap();
                        assert_eq!(got[0].0, want[0].0);
                    }
                });
            }
        });
    }

    #[test]
    fn without_f16_copies_the_graph_scores_and_the_caller_can_rescore() {
        let vectors = clustered(3000, 64, 30, 13);
        let (flat, _) = both(&vectors);
        let mut lean = AnnIndex::build(64, AnnParams::default(), flat.iter(), 2).unwrap();
        let queries = clustered(30, 64, 30, 77);
        let (mut direct, mut rescored) = (0.0, 0.0);
        for q in &queries {
            let exact = flat.search(q, 10).unwrap();
            let got = lean.search(q, 10).unwrap();
            assert_eq!(got.len(), 10);
            direct += recall(&got, &exact);
            // As the engine does: more candidates, re-scored from full-precision vectors.
            let mut wide: Vec<(Key, f32)> = lean
                .search(q, rescore_depth(10))
                .unwrap()
                .into_iter()
                .map(|(k, _)| (k, dot(q, flat.get(k).unwrap().as_ref())))
                .collect();
            wide.sort_by(|a, b| b.1.total_cmp(&a.1));
            wide.truncate(10);
            rescored += recall(&wide, &exact);
        }
        let n = queries.len() as f64;
        assert!(direct / n >= 0.8, "int8 alone: {}", direct / n);
        assert!(rescored / n >= 0.97, "re-scored: {}", rescored / n);
        // Vectors come back from the graph (int8), unit length and close to the original.
        let v = lean.get(7).unwrap();
        assert!((dot(&v, &v) - 1.0).abs() < 1e-4);
        assert!(dot(&v, &vectors[7]) > 0.99);
        // Updates, removal and a save/load round trip without the copies.
        lean.upsert(7, &vectors[8]).unwrap();
        assert!(dot(&lean.get(7).unwrap(), &vectors[8]) > 0.99);
        assert!(lean.remove(8).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let size = lean.save(&dir.path().join("lean.ann"), 1).unwrap();
        let (loaded, _) = AnnIndex::load(&dir.path().join("lean.ann")).unwrap();
        assert_eq!(loaded.len(), 2999);
        assert!(loaded.get(8).is_none());
        assert_eq!(
            loaded.search(&vectors[100], 5).unwrap(),
            lean.search(&vectors[100], 5).unwrap()
        );
        // The f16 copies are what the default leaves out: 2 bytes per dimension per paper.
        let (_, with_copies) = both(&vectors);
        let full = with_copies.save(&dir.path().join("full.ann"), 1).unwrap();
        // (Within 10%: the two graphs draw their HNSW levels at random, so their own sizes
        // differ by a few hundred bytes either way; a CI run drew 68 bytes short of exact.)
        assert!(
            full - size >= 2999 * 64 * 2 * 9 / 10,
            "{full} vs {size} bytes"
        );
    }

    #[test]
    fn insert_after_build_update_and_remove() {
        let vectors = clustered(500, 32, 10, 5);
        let (_, mut ann) = both(&vectors);
        let fresh = unit(&[1.0; 32]);
        ann.upsert(10_000, &fresh).unwrap();
        assert_eq!(ann.search(&fresh, 1).unwrap()[0].0, 10_000);
        // A re-encoded paper: its new vector replaces the old one, in the graph as well.
        let moved = unit(
            &(0..32)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect::<Vec<_>>(),
        );
        ann.upsert(3, &moved).unwrap();
        assert_eq!(ann.len(), 501);
        let top = ann.search(&moved, 1).unwrap();
        assert_eq!(top[0].0, 3);
        assert!((top[0].1 - 1.0).abs() < 1e-3);
        assert!(ann
            .search(&vectors[3], 20)
            .unwrap()
            .iter()
            .all(|h| h.0 != 3 || h.1 < 0.99));
        // Removal: gone from results, its row reused by the last one.
        assert!(ann.remove(10_000).unwrap());
        assert!(!ann.remove(10_000).unwrap());
        assert_eq!(ann.len(), 500);
        assert!(ann.get(10_000).is_none());
        assert!(ann
            .search(&fresh, 50)
            .unwrap()
            .iter()
            .all(|h| h.0 != 10_000));
        assert!(ann.remove(0).unwrap());
        let last = ann.get(499).unwrap();
        assert!((dot(&last, &vectors[499]) - 1.0).abs() < 1e-3);
        assert!(ann.upsert(1, &[1.0; 3]).is_err());
        assert!(ann.search(&[1.0; 3], 1).is_err());
    }

    #[test]
    fn a_selective_filter_still_fills_the_page() {
        let vectors = clustered(3000, 32, 30, 7);
        let (flat, ann) = both(&vectors);
        // One paper in a hundred passes: over-fetching the unfiltered top would come up short.
        let filter = |k: Key| k % 100 == 7;
        for q in clustered(10, 32, 30, 3) {
            let got = ann.search_filtered(&q, 20, &filter).unwrap();
            assert_eq!(got.len(), 20);
            assert!(got.iter().all(|h| filter(h.0)));
            let exact = flat.search_filtered(&q, 20, &filter).unwrap();
            assert!(recall(&got, &exact) >= 0.8, "{}", recall(&got, &exact));
            assert_eq!(
                ann.exact(&q, 20, Some(&filter))
                    .unwrap()
                    .iter()
                    .map(|h| h.0)
                    .collect::<Vec<_>>(),
                exact.iter().map(|h| h.0).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn saved_index_loads_identically_and_a_crash_while_saving_keeps_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.ann");
        let vectors = clustered(800, 48, 8, 21);
        let (_, mut ann) = both(&vectors);
        ann.save(&path, 42).unwrap();
        let (loaded, tag) = AnnIndex::load(&path).unwrap();
        assert_eq!(tag, 42);
        assert_eq!(loaded.len(), 800);
        for q in clustered(5, 48, 8, 4) {
            assert_eq!(ann.search(&q, 10).unwrap(), loaded.search(&q, 10).unwrap());
        }
        // A loaded index takes inserts.
        let mut loaded = loaded;
        loaded.upsert(5000, &unit(&[0.5; 48])).unwrap();
        assert_eq!(loaded.search(&unit(&[0.5; 48]), 1).unwrap()[0].0, 5000);

        // A save that dies half-way leaves its temporary file, never a half-written index.
        ann.upsert(9000, &unit(&[1.0; 48])).unwrap();
        let full = {
            ann.save(&dir.path().join("other.ann"), 43).unwrap();
            std::fs::read(dir.path().join("other.ann")).unwrap()
        };
        std::fs::write(path.with_extension("tmp999"), &full[..full.len() / 2]).unwrap();
        assert_eq!(AnnIndex::load(&path).unwrap().0.len(), 800);
        // A save that fails (here: its temporary file cannot be created) is an error and
        // leaves the previous index in place.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::create_dir(&tmp).unwrap();
        assert!(ann.save(&path, 44).is_err());
        assert_eq!(AnnIndex::load(&path).unwrap().1, 42);
        std::fs::remove_dir(&tmp).unwrap();
        // Damaged files are errors that name the file.
        for cut in [0, 7, 40, full.len() / 3, full.len() - 1] {
            std::fs::write(dir.path().join("cut.ann"), &full[..cut]).unwrap();
            let e = AnnIndex::load(&dir.path().join("cut.ann"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("cut.ann"), "{e}");
        }
        // A flipped byte anywhere is caught by the checksum before usearch reads the graph.
        let good = std::fs::read(&path).unwrap();
        for at in [8, 20, 100, good.len() / 2, good.len() - 20] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x40;
            std::fs::write(dir.path().join("flip.ann"), &flipped).unwrap();
            let e = AnnIndex::load(&dir.path().join("flip.ann"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("flip.ann") && e.contains("damaged"), "{at}: {e}");
        }
        // The next whole save replaces the previous index.
        ann.save(&path, 43).unwrap();
        assert_eq!(AnnIndex::load(&path).unwrap().0.len(), 801);
    }
}
