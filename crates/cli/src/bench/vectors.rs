//! `bench vectors`: exact against approximate vector search at a size of your choosing, on a
//! synthetic set shaped like real embeddings.
//!
//! Real embeddings of a million papers would take hours to compute on two cores, so the
//! vectors are sampled around real ones (a BEIR corpus's, or the demo corpus's): a point on
//! the segment between a real paper and one of its ten nearest neighbours, plus Gaussian
//! noise of a scale chosen so that the synthetic set's nearest-neighbour similarities match
//! the real set's at the same size. Both distributions are printed, so the match is checked,
//! not assumed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use paperscout_app::index::{
    dot, rescore_depth, AnnIndex, AnnParams, Filter, FlatIndex, Key, VectorIndex,
};
use paperscout_app::{rss_mb, Engine, Format, Input, NoProgress};
use serde::Serialize;

use crate::args::Global;
use crate::output::print_json_line;
use crate::scratch::scratch_engine;

#[derive(Args, Debug)]
pub struct BenchVectorsCmd {
    /// How many synthetic vectors to index
    #[arg(long, value_name = "N")]
    count: usize,
    /// Sample around this BEIR corpus's embeddings [default: the demo corpus's]
    #[arg(long, value_name = "DIR")]
    beir: Option<PathBuf>,
    /// Scratch data dir for the corpus [default: as for `eval`]
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    /// Queries (synthetic, drawn like the set) per measurement
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Which indexes to measure: exact, ann or both
    #[arg(long, default_value = "both")]
    index: String,
    /// The approximate index's search candidate list (ef) [default: the product's]
    #[arg(long)]
    ef: Option<usize>,
    /// Candidates re-scored from the index's own f16 copies per result; 0 (the product's
    /// default) keeps none, and the candidates are re-scored from the f32 vectors as the
    /// product does from its store
    #[arg(long)]
    rescore: Option<usize>,
    /// Concurrent searchers for p99_ms_16
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The share of papers a selective filter lets through, for the filtered-search figures
    #[arg(long, default_value_t = 0.01)]
    filter_pass: f64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Instead of measuring: give every paper of this data dir that lacks an embedding a
    /// synthetic one (stored under the model's key, as if encoded), so that `serve` can be
    /// measured on a large corpus without hours of encoding. Not for real use: searches on
    /// such a corpus return arbitrary papers.
    #[arg(long, value_name = "DATA_DIR")]
    fill: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct VectorsBench {
    index: &'static str,
    count: usize,
    dim: usize,
    build_s: f64,
    /// Seconds to load the saved index (ann) or to read the f32 vectors it is built from.
    load_s: f64,
    /// The saved index (ann), or the f32 vectors the exact index is rebuilt from (exact).
    disk_bytes: u64,
    /// Growth of this process's resident memory from before building the index to after
    /// searching it (ann: built, dropped, loaded from disk and searched; memory the build
    /// freed may be counted when the allocator keeps it, so this is an upper bound).
    rss_bytes: u64,
    /// What the index says it holds.
    memory_bytes: usize,
    #[serde(rename = "recall@10")]
    recall_at_10: f64,
    p50_ms: f64,
    p99_ms: f64,
    p99_ms_16: f64,
    qps_16: f64,
    /// Of the selective-filter queries, the share that got a full page of 10...
    filtered_full_pages: f64,
    /// ...and how long they took (p50), searching with the filter.
    filtered_p50_ms: f64,
    /// The same, over-fetching the unfiltered top 1,000 and filtering those.
    overfetch_full_pages: f64,
    overfetch_p50_ms: f64,
    expansion_search: Option<usize>,
    rescore: Option<usize>,
}

/// xorshift64* and Box–Muller: reproducible draws without another dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// The approximate index as the engine uses it without f16 copies: its candidates re-scored
/// from the f32 vectors (here in memory; in the product, read from the store).
struct Rescored<'a> {
    ann: &'a AnnIndex,
    data: &'a [f32],
    dim: usize,
}

impl Rescored<'_> {
    fn rescore(&self, query: &[f32], found: Vec<(Key, f32)>, k: usize) -> Vec<(Key, f32)> {
        let mut out: Vec<(Key, f32)> = found
            .into_iter()
            .map(|(key, _)| {
                let row = key as usize;
                (
                    key,
                    dot(query, &self.data[row * self.dim..(row + 1) * self.dim]),
                )
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

impl VectorIndex for Rescored<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.ann.len()
    }
    fn upsert(&mut self, _: Key, _: &[f32]) -> paperscout_app::index::Result<()> {
        unreachable!("the benchmark never updates")
    }
    fn remove(&mut self, _: Key) -> paperscout_app::index::Result<bool> {
        unreachable!("the benchmark never updates")
    }
    fn get(&self, key: Key) -> Option<std::borrow::Cow<'_, [f32]>> {
        self.ann.get(key)
    }
    fn search(&self, query: &[f32], k: usize) -> paperscout_app::index::Result<Vec<(Key, f32)>> {
        Ok(self.rescore(query, self.ann.search(query, rescore_depth(k))?, k))
    }
    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Filter<'_>,
    ) -> paperscout_app::index::Result<Vec<(Key, f32)>> {
        let found = self.ann.search_filtered(query, rescore_depth(k), filter)?;
        Ok(self.rescore(query, found, k))
    }
    fn exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> paperscout_app::index::Result<Vec<(Key, f32)>> {
        self.ann.exact(query, k, filter)
    }
}

/// Draws vectors around real ones.
struct Synth {
    real: Vec<Vec<f32>>,
    neighbours: Vec<Vec<usize>>,
    sigma: f32,
}

impl Synth {
    fn new(real: Vec<Vec<f32>>) -> Self {
        let neighbours = real
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut sims: Vec<(usize, f32)> = real
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(j, b)| (j, dot(a, b)))
                    .collect();
                sims.sort_by(|x, y| y.1.total_cmp(&x.1));
                sims.iter().take(10).map(|s| s.0).collect()
            })
            .collect();
        Synth {
            real,
            neighbours,
            sigma: 0.0,
        }
    }

    fn draw(&self, rng: &mut Rng, out: &mut [f32]) {
        let i = rng.below(self.real.len());
        let j = self.neighbours[i][rng.below(self.neighbours[i].len())];
        let t = rng.unit() as f32 * 0.5;
        let scale = self.sigma / (out.len() as f32).sqrt();
        for (d, o) in out.iter_mut().enumerate() {
            let base = self.real[i][d] + t * (self.real[j][d] - self.real[i][d]);
            *o = base + scale * rng.normal();
        }
        normalise(out);
    }

    fn sample(&self, n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
        let dim = self.real[0].len();
        (0..n)
            .map(|_| {
                let mut v = vec![0f32; dim];
                self.draw(rng, &mut v);
                v
            })
            .collect()
    }
}

/// Nearest-neighbour similarity within a set: (p10, p50, p90) of each vector's best match,
/// and the mean similarity of random pairs.
fn geometry(set: &[Vec<f32>], rng: &mut Rng) -> ([f32; 3], f32) {
    let mut best: Vec<f32> = set
        .iter()
        .enumerate()
        .map(|(i, a)| {
            set.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| dot(a, b))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect();
    best.sort_by(f32::total_cmp);
    let q = |p: f64| best[((best.len() - 1) as f64 * p) as usize];
    let pairs = 20_000;
    let mean = (0..pairs)
        .map(|_| dot(&set[rng.below(set.len())], &set[rng.below(set.len())]))
        .sum::<f32>()
        / pairs as f32;
    ([q(0.1), q(0.5), q(0.9)], mean)
}

fn percentile(ms: &mut [f64], p: f64) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() - 1) as f64 * p).round() as usize]
}

fn rss_bytes() -> u64 {
    (rss_mb().unwrap_or(0.0) * 1024.0 * 1024.0) as u64
}

impl BenchVectorsCmd {
    fn real_vectors(&self, g: &Global) -> Result<Vec<Vec<f32>>> {
        let engine = match &self.beir {
            Some(beir) => scratch_engine(
                g,
                Input::resolve(beir, Some(Format::Beir))?,
                self.scratch_dir.clone(),
                true,
            )?,
            None => {
                let dir = g.cache_dir()?.join("bench-vectors-demo");
                let engine = Engine::open(g.engine_config(Some(dir), true)?, Arc::new(NoProgress))?;
                engine.ensure_embeddings()?;
                engine
            }
        };
        let model = engine.model_key()?;
        let mut real = Vec::new();
        engine
            .store()
            .for_each_embedding(&model, |_, v| real.push(v))?;
        if real.len() < 20 {
            bail!("{} embeddings are too few to sample around", real.len());
        }
        Ok(real)
    }

    pub fn run(self, g: &Global) -> Result<()> {
        let (want_exact, want_ann) = match self.index.as_str() {
            "exact" => (true, false),
            "ann" => (false, true),
            "both" => (true, true),
            other => bail!("--index {other:?}: expected exact, ann or both"),
        };
        if self.count == 0 || self.queries == 0 {
            bail!("--count and --queries must be at least 1");
        }
        if !(self.filter_pass > 0.0 && self.filter_pass <= 1.0) {
            bail!("--filter-pass must be in (0, 1]");
        }
        let mut rng = Rng(self.seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let real = self.real_vectors(g)?;
        let dim = real[0].len();
        let mut synth = Synth::new(real);
        // The noise scale whose synthetic set, at the real set's size, has the real set's
        // nearest-neighbour similarities (median).
        let probe = synth.real.len().min(3000);
        // Distinct papers (every probe-th), so that no vector meets itself.
        let step = synth.real.len() / probe;
        let real_probe: Vec<Vec<f32>> = (0..probe).map(|i| synth.real[i * step].clone()).collect();
        let (real_nn, real_mean) = geometry(&real_probe, &mut rng);
        let mut best = (f32::INFINITY, 0.0f32, [0f32; 3], 0f32);
        for sigma in [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0] {
            synth.sigma = sigma;
            let sample = synth.sample(probe, &mut rng);
            let (nn, mean) = geometry(&sample, &mut rng);
            let miss = (nn[1] - real_nn[1]).abs();
            if miss < best.0 {
                best = (miss, sigma, nn, mean);
            }
        }
        synth.sigma = best.1;
        eprintln!(
            "geometry at {probe} vectors: nearest-neighbour similarity p10/p50/p90 real {:.3}/{:.3}/{:.3}, synthetic {:.3}/{:.3}/{:.3} (noise {:.1}); mean similarity of random pairs real {:.3}, synthetic {:.3}; {} real vectors",
            real_nn[0], real_nn[1], real_nn[2], best.2[0], best.2[1], best.2[2], best.1, real_mean, best.3, synth.real.len()
        );

        if let Some(dir) = &self.fill {
            return self.fill(g, dir, &synth, &mut rng);
        }
        let t = Instant::now();
        let mut data = vec![0f32; self.count * dim];
        for row in data.chunks_exact_mut(dim) {
            synth.draw(&mut rng, row);
        }
        let queries = synth.sample(self.queries, &mut rng);
        eprintln!(
            "drew {} vectors in {:.1} s",
            self.count,
            t.elapsed().as_secs_f64()
        );
        let keys = || (0..self.count).map(|i| (i as Key, &data[i * dim..(i + 1) * dim]));
        let pass_every = (1.0 / self.filter_pass).round().max(1.0) as i64;
        let filter = move |k: Key| k % pass_every == 3 % pass_every;

        // Exact answers, the reference for recall, straight from the drawn vectors (no
        // index allocated, so that each index's memory is measured alone).
        let truth: Vec<Vec<(Key, f32)>> = queries
            .iter()
            .map(|q| {
                let mut all: Vec<(Key, f32)> = keys().map(|(k, v)| (k, dot(q, v))).collect();
                let nth = 9.min(all.len() - 1);
                all.select_nth_unstable_by(nth, |a, b| b.1.total_cmp(&a.1));
                all.truncate(10);
                all
            })
            .collect();
        if want_exact {
            let before = rss_bytes();
            let t = Instant::now();
            let mut flat = FlatIndex::new(dim);
            for (k, v) in keys() {
                flat.upsert(k, v)?;
            }
            let flat_build = t.elapsed().as_secs_f64();
            let r = self.measure("exact", &flat, &queries, &truth, &filter)?;
            self.report(VectorsBench {
                build_s: flat_build,
                load_s: 0.0,
                disk_bytes: (self.count * dim * 4) as u64,
                rss_bytes: rss_bytes().saturating_sub(before),
                memory_bytes: flat.memory_bytes(),
                expansion_search: None,
                rescore: None,
                ..r
            })?;
        }

        if want_ann {
            let before = rss_bytes();
            let mut params = AnnParams::default();
            if let Some(ef) = self.ef {
                params.expansion_search = ef;
            }
            if let Some(r) = self.rescore {
                params.rescore = r;
            }
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let t = Instant::now();
            let ann = AnnIndex::build(dim, params, keys(), threads)?;
            let build_s = t.elapsed().as_secs_f64();
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("bench.ann");
            let disk_bytes = ann.save(&path, 0)?;
            drop(ann);
            // Measured as a restarted server has it: loaded from disk.
            let before_load = rss_bytes();
            let t = Instant::now();
            let (ann, _) = AnnIndex::load(&path)?;
            let load_s = t.elapsed().as_secs_f64();
            let rescored = Rescored {
                ann: &ann,
                data: &data,
                dim,
            };
            let index: &dyn VectorIndex = if params.rescore == 0 { &rescored } else { &ann };
            let r = self.measure("ann", index, &queries, &truth, &filter)?;
            self.report(VectorsBench {
                build_s,
                load_s,
                disk_bytes,
                rss_bytes: rss_bytes().saturating_sub(before_load.min(before)),
                memory_bytes: ann.memory_bytes(),
                expansion_search: Some(params.expansion_search),
                rescore: Some(params.rescore),
                ..r
            })?;
        }
        Ok(())
    }

    fn fill(&self, g: &Global, dir: &std::path::Path, synth: &Synth, rng: &mut Rng) -> Result<()> {
        let engine = Engine::open(
            g.engine_config(Some(dir.to_path_buf()), false)?,
            Arc::new(NoProgress),
        )?;
        let model = engine.model_key()?;
        let store = engine.store();
        let dim = synth.real[0].len();
        let mut after = i64::MIN;
        let mut filled = 0;
        loop {
            let pending = store.pending_embeddings_after(&model, after, 10_000)?;
            let Some(last) = pending.last() else { break };
            after = last.key;
            let rows: Vec<_> = pending
                .iter()
                .map(|p| {
                    let mut v = vec![0f32; dim];
                    synth.draw(rng, &mut v);
                    (p.key, p.content_hash.clone(), v)
                })
                .collect();
            filled += store.put_embeddings(&model, &rows)?.written;
        }
        eprintln!(
            "stored {filled} synthetic embeddings under {model} in {}",
            dir.display()
        );
        Ok(())
    }

    fn measure(
        &self,
        name: &'static str,
        index: &dyn VectorIndex,
        queries: &[Vec<f32>],
        truth: &[Vec<(Key, f32)>],
        filter: &(dyn Fn(Key) -> bool + Sync),
    ) -> Result<VectorsBench> {
        let mut ms = Vec::with_capacity(queries.len());
        let mut found = 0usize;
        for (q, want) in queries.iter().zip(truth) {
            let t = Instant::now();
            let got = index.search(q, 10)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            found += got
                .iter()
                .filter(|g| want.iter().any(|w| w.0 == g.0))
                .count();
        }
        let recall = found as f64 / truth.iter().map(|t| t.len()).sum::<usize>().max(1) as f64;
        let p50 = percentile(&mut ms, 0.5);
        let p99 = percentile(&mut ms, 0.99);

        // Many searchers at once on the machine's cores, each query timed alone.
        let t = Instant::now();
        let concurrent: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.concurrency)
                .map(|c| {
                    s.spawn(move || {
                        let mut ms = Vec::new();
                        for q in queries.iter().skip(c % queries.len()).step_by(1) {
                            let t = Instant::now();
                            let _ = index.search(q, 10);
                            ms.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        ms
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let wall = t.elapsed().as_secs_f64();
        let mut concurrent = concurrent;
        let qps = concurrent.len() as f64 / wall;
        let p99_16 = percentile(&mut concurrent, 0.99);

        // A selective filter: searching with it against over-fetching the unfiltered top.
        let n = queries.len().min(50);
        let (mut with_ms, mut over_ms) = (Vec::new(), Vec::new());
        let (mut with_full, mut over_full) = (0, 0);
        for q in &queries[..n] {
            let t = Instant::now();
            let got = index.search_filtered(q, 10, filter)?;
            with_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            with_full += usize::from(got.len() == 10 && got.iter().all(|g| filter(g.0)));
            let t = Instant::now();
            let got: Vec<_> = index
                .search(q, 1000)?
                .into_iter()
                .filter(|g| filter(g.0))
                .take(10)
                .collect();
            over_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            over_full += usize::from(got.len() == 10);
        }
        Ok(VectorsBench {
            index: name,
            count: index.len(),
            dim: index.dim(),
            build_s: 0.0,
            load_s: 0.0,
            disk_bytes: 0,
            rss_bytes: 0,
            memory_bytes: 0,
            recall_at_10: recall,
            p50_ms: p50,
            p99_ms: p99,
            p99_ms_16: p99_16,
            qps_16: qps,
            filtered_full_pages: with_full as f64 / n as f64,
            filtered_p50_ms: percentile(&mut with_ms, 0.5),
            overfetch_full_pages: over_full as f64 / n as f64,
            overfetch_p50_ms: percentile(&mut over_ms, 0.5),
            expansion_search: None,
            rescore: None,
        })
    }

    fn report(&self, r: VectorsBench) -> Result<()> {
        if self.json {
            print_json_line(&r)?;
        } else {
            println!(
                "{:<5} {:>9} vectors  build {:.1} s  load {:.2} s  disk {:.0} MB  rss +{:.0} MB  recall@10 {:.3}  p50 {:.2} ms  p99 {:.2} ms  p99 at {} concurrent {:.2} ms ({:.0} q/s)  filtered {:.0}% full in {:.2} ms (over-fetch {:.0}% in {:.2} ms)",
                r.index,
                r.count,
                r.build_s,
                r.load_s,
                r.disk_bytes as f64 / 1e6,
                r.rss_bytes as f64 / 1e6,
                r.recall_at_10,
                r.p50_ms,
                r.p99_ms,
                self.concurrency,
                r.p99_ms_16,
                r.qps_16,
                r.filtered_full_pages * 100.0,
                r.filtered_p50_ms,
                r.overfetch_full_pages * 100.0,
                r.overfetch_p50_ms
            );
        }
        Ok(())
    }
}
