use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use paperscout_encoder::{
    resolve, BertEncoder, Encoder, EncoderHandle, EncoderOptions, EncoderService, ModelSpec,
};
use paperscout_index::{
    dot, fuse, snippet, AnnIndex, FlatIndex, Fusion, Key, LexicalDoc, LexicalIndex, VectorIndex,
};
use paperscout_ingest::{Input, RecordError};
use paperscout_model::{Hit, Paper, PaperId, SearchMode, Source};
use paperscout_store::{Facets, Store, StoredPaper};
use serde::Serialize;

use crate::feed::TrendingParams;
use crate::vectors::{saved_path, VectorChoice, Vectors};
use crate::{Error, Progress, Result};
use paperscout_model::sync::{MutexExt, RwLockExt};

/// The bundled demo corpus: 228 papers about deep encoders, as a papers page lists them.
pub const DEMO_LISTING: &str = include_str!("../../../data/encoder-papers.txt");
/// Longer queries are refused: nobody types them, and they cost the encoder and BM25 dearly.
pub const MAX_QUERY_CHARS: usize = 1000;
/// How many candidates each ranking contributes to hybrid fusion unless told otherwise
/// (chosen on SciFact train and NFCorpus dev, BENCHMARKS.md).
pub const FUSION_DEPTH: usize = 100;
/// How deep a search result list goes: pages past it are empty.
pub const MAX_RESULTS: usize = 1000;
const SNIPPET_CHARS: usize = 240;
/// Papers encoded (and committed) per step; a crash loses at most one step of work, and
/// [`Engine::stop`] takes effect at the next step (~2 s of encoding on 2 cores).
const ENCODE_CHUNK: usize = 64;
/// How long an ingest waits for the lexical index's writer while another process (a running
/// server catching up, another ingest) holds it, before leaving the catch-up to that process.
const INDEX_WRITER_WAIT: Duration = Duration::from_secs(30);
const LEXICAL_CHUNK: usize = 10_000;
/// How long one round of a server's upkeep encodes before it looks for other processes'
/// writes again.
const UPKEEP_ENCODE_BUDGET: Duration = Duration::from_secs(2);
/// How long opening an engine waits for the database server to answer.
const DATABASE_CONNECT_WAIT: Duration = Duration::from_secs(10);
/// A filter that lets at most this many papers through has them scored one by one; more, and
/// the vector index searches with the filter.
const SCORE_PASSING_UP_TO: usize = 20_000;
/// The approximate vector index is saved after this many changes...
const SAVE_VECTORS_AFTER: usize = 20_000;
/// ...or when this much time passed since the last save with any change.
const SAVE_VECTORS_EVERY: Duration = Duration::from_secs(300);

fn is_lock_failure(e: &paperscout_index::TantivyError) -> bool {
    matches!(e, paperscout_index::TantivyError::LockFailure(..))
}

/// Everything an [`Engine`] needs to know, validated by the front end.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store and indexes live (with `database`, the indexes only: each process
    /// keeps its own, derived from the shared database).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the store lives there, shared with other processes, instead of in
    /// SQLite in `data_dir`.
    pub database: Option<paperscout_store::DatabaseUrl>,
    pub model: ModelSpec,
    /// Whether a new, empty data dir starts with the bundled demo corpus.
    pub demo: bool,
    pub fusion: Fusion,
    /// How many candidates each side contributes to hybrid fusion.
    pub fusion_depth: usize,
    /// Texts per encoder forward pass.
    pub batch_size: usize,
    /// How the encoder computes; int8 vectors are kept apart from fp32 ones (own model key).
    pub precision: paperscout_encoder::Precision,
    pub trending: TrendingParams,
    /// How long a claim on papers to encode lasts: after that, another process takes over
    /// the papers of an encoder that died (see [`Store::claim_embeddings`]).
    pub encode_lease: Duration,
    /// Whether opening the engine brings the lexical index up to date (a `worker` that only
    /// encodes needs no index).
    pub sync_index_on_open: bool,
    /// Which vector index serves semantic search (exact, approximate, or by corpus size).
    pub vector_index: VectorChoice,
    /// Query embeddings kept for repeated queries and paging (0: none).
    pub query_cache: usize,
    /// The site's searches (not `eval`) answer only papers that match a word of the query or
    /// whose similarity to it reaches this (0: every paper, however far). See
    /// [`Config::DEFAULT_RELEVANCE_FLOOR`].
    pub relevance_floor: f32,
}

/// What one ranking asks for (see [`Engine::rank`]).
#[derive(Debug, Clone, Copy)]
pub struct Ranking<'a> {
    /// The query text (BM25 side).
    pub text: &'a str,
    /// The query's embedding, when the mode needs one.
    pub vector: Option<&'a [f32]>,
    pub mode: SearchMode,
    /// How many results at most.
    pub depth: usize,
    pub filter: &'a Filter,
    pub fusion: Fusion,
}

impl Config {
    /// Texts per encoder forward pass unless told otherwise.
    pub const DEFAULT_BATCH_SIZE: usize = 32;
    /// A claim lasts this long unless told otherwise: many chunks' worth of encoding.
    pub const DEFAULT_ENCODE_LEASE: Duration = Duration::from_secs(60);
    /// Query embeddings cached unless told otherwise (~1.6 KB each).
    pub const DEFAULT_QUERY_CACHE: usize = 4096;
    /// Calibrated on SciFact train with `bench threshold` (BENCHMARKS.md, "Relevance floor"):
    /// keeps 95% of the judged-relevant (query, paper) pairs, and no paper reaches it for
    /// nearly all nonsense queries.
    pub const DEFAULT_RELEVANCE_FLOOR: f32 = 0.30;

    /// The defaults for a data dir: the bundled demo corpus on a new one, the default fusion,
    /// batch size, precision and trending; change the public fields for anything else.
    pub fn new(data_dir: PathBuf, model: ModelSpec) -> Config {
        Config {
            data_dir,
            database: None,
            model,
            demo: true,
            fusion: Fusion::DEFAULT,
            fusion_depth: FUSION_DEPTH,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            precision: Default::default(),
            trending: TrendingParams::default(),
            encode_lease: Self::DEFAULT_ENCODE_LEASE,
            sync_index_on_open: true,
            vector_index: VectorChoice::Auto,
            query_cache: Self::DEFAULT_QUERY_CACHE,
            relevance_floor: Self::DEFAULT_RELEVANCE_FLOOR,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// Ingest the good records and report the bad ones, instead of refusing the whole ingest.
    pub skip_bad: bool,
    /// Encode new and changed papers now (else on first semantic search or `reindex`).
    pub encode: bool,
    /// Skip records with no text at all, counting them in [`IngestReport::empty`] (a BEIR
    /// corpus for `eval` may hold some), while any other bad record still refuses the ingest.
    pub skip_empty: bool,
}

/// Wall-clock time per phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub parse_s: f64,
    pub store_s: f64,
    pub index_s: f64,
    pub encode_s: f64,
}

#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub records: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub encoded: usize,
    /// The first `MAX_REPORTED_ERRORS` bad records skipped (with `skip_bad`).
    pub skipped: Vec<RecordError>,
    /// How many bad records were skipped in all.
    pub skipped_total: usize,
    /// Records skipped for having no text (with `skip_empty`).
    pub empty: usize,
    pub timings: Timings,
}

/// Bad records kept in an [`IngestReport`]; beyond these (a broken multi-gigabyte file) they
/// are only counted, so that memory stays flat.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Writes `records` through `w`, timing parsing (pulling records) apart from writing.
fn put_records(
    w: &mut paperscout_store::Writer<'_>,
    mut records: impl Iterator<Item = std::result::Result<Paper, RecordError>>,
    options: IngestOptions,
    report: &mut IngestReport,
) -> Result<()> {
    loop {
        let t = Instant::now();
        let next = records.next();
        report.timings.parse_s += t.elapsed().as_secs_f64();
        let Some(record) = next else {
            return Ok(());
        };
        report.records += 1;
        match record {
            Ok(paper) => w.put(paper)?,
            Err(e) if options.skip_empty && e.is_empty_record() => report.empty += 1,
            Err(e) if options.skip_bad => {
                report.skipped_total += 1;
                if report.skipped.len() < MAX_REPORTED_ERRORS {
                    report.skipped.push(e);
                }
            }
            Err(e) => return Err(paperscout_ingest::Error::Record(e).into()),
        }
    }
}

/// The search engine over one data dir. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) lexical: LexicalIndex,
    /// Serialises index catch-up so two callers don't both apply the same changes.
    lexical_sync: Mutex<()>,
    encoder: Mutex<Option<EncoderHandle>>,
    vectors: RwLock<Option<Vectors>>,
    /// Changes to the vector index since it was last saved (approximate index only).
    vectors_unsaved: std::sync::atomic::AtomicUsize,
    vectors_saved_at: Mutex<Instant>,
    /// Where the vector index came from when it was loaded: "saved file" or "store".
    vectors_origin: Mutex<Option<&'static str>>,
    /// Recent query embeddings by model and normalised query.
    query_cache: Mutex<lru::LruCache<(String, String), Vec<f32>>>,
    /// Fitted "For you" models by library (see `library::reader`).
    pub(crate) fitted_cache:
        Mutex<lru::LruCache<crate::library::reader::FitKey, Arc<crate::library::reader::Fitted>>>,
    /// The store generation and embedding stamp at which every paper was last seen to have a
    /// current embedding: while the store stays at them, the scan for pending embeddings is
    /// skipped (a re-encode elsewhere deletes embeddings and moves the stamp).
    embedded_at: Mutex<Option<(u64, u64)>>,
    model_state: Mutex<ModelState>,
    /// The store generation the indexes were last brought up to (see `catch_up`).
    seen_at: Mutex<Option<u64>>,
    /// Set when a catch-up found another process's index writer busy: the next one reloads
    /// the lexical index again, whether or not the store changed meanwhile.
    lexical_behind: AtomicBool,
    /// The store's embedding stamp the vector index was last brought up to: embeddings another
    /// process writes after its papers (an ingest that encodes) change no generation.
    vectors_stamp: Mutex<Option<u64>>,
    /// Held while encoding pending papers, so two callers never encode the same papers.
    encoding: Mutex<()>,
    /// (done, total) of the encoding in progress, for status displays.
    encode_progress: Mutex<Option<(usize, usize)>>,
    progress: Arc<dyn Progress>,
    /// Set by a server: requests never catch indexes up, load the model or encode; the
    /// server's upkeep thread does (see [`Engine::upkeep`]).
    background: AtomicBool,
    /// Set by [`Engine::stop`]: encoding stops at its next step.
    stopping: AtomicBool,
    /// Who this process is in the encoding queue's leases: host, process id and a nonce.
    worker: String,
    queue: QueueCounters,
}

/// What this process did in the shared encoding queue (for `/metrics`).
#[derive(Debug, Default)]
struct QueueCounters {
    claims: std::sync::atomic::AtomicU64,
    claimed: std::sync::atomic::AtomicU64,
    taken_over: std::sync::atomic::AtomicU64,
    cache_hits: std::sync::atomic::AtomicU64,
    cache_misses: std::sync::atomic::AtomicU64,
}

/// The encoding queue as one process sees it (see [`Engine::queue_stats`]).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueueStats {
    /// Claims this process made that handed out papers.
    pub claims: u64,
    /// Papers those claims handed out.
    pub claimed: u64,
    /// Of those, papers whose previous lease had expired (an encoder died).
    pub taken_over: u64,
}

/// This process's name in leases.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{nonce:08x}", std::process::id())
}

/// Filters on search results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Published on or after this date (papers without a date are left out).
    pub from: Option<NaiveDate>,
    /// Published on or before this date.
    pub to: Option<NaiveDate>,
    /// Listed in this category (case-insensitive, e.g. `cs.IR`).
    pub category: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.category.is_none()
    }

    fn accepts(&self, facets: &Facets) -> bool {
        let date_ok = match (self.from, self.to) {
            (None, None) => true,
            (from, to) => facets
                .published
                .is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)),
        };
        date_ok
            && self.category.as_ref().is_none_or(|want| {
                facets
                    .categories
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(want))
            })
    }
}

/// One page of search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    /// How many results there are in all (at most [`MAX_RESULTS`]).
    pub total: usize,
}

/// What the engine is doing, for status displays.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub papers: usize,
    /// Papers encoded so far and in all, while an encoding runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<(usize, usize)>,
    pub model: ModelState,
}

/// The background work in progress: cheap to read (no store access), for every page.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Activity {
    /// Papers encoded so far and in all, while an encoding runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<(usize, usize)>,
    pub model: ModelState,
}

/// Where the sentence encoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Not needed yet.
    #[default]
    NotLoaded,
    /// Being found, fetched (the first time: ~90 MB) or loaded.
    Loading,
    Ready,
    /// The last attempt failed (the log says why); the next search that needs it tries again.
    Failed,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::NotLoaded => "not_loaded",
            ModelState::Loading => "loading",
            ModelState::Ready => "ready",
            ModelState::Failed => "failed",
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
}

/// Adds embeddings read from the store to the vector index a piece at a time, taking the
/// index's write lock only while it adds a piece.
struct VectorAdder<'a> {
    vectors: &'a RwLock<Option<Vectors>>,
    unsaved: &'a std::sync::atomic::AtomicUsize,
    pending: Vec<(Key, Vec<f32>)>,
    bad: Option<paperscout_index::Error>,
}

impl<'a> VectorAdder<'a> {
    const PIECE: usize = 1024;

    fn new(
        vectors: &'a RwLock<Option<Vectors>>,
        unsaved: &'a std::sync::atomic::AtomicUsize,
    ) -> Self {
        VectorAdder {
            vectors,
            unsaved,
            pending: Vec::with_capacity(Self::PIECE),
            bad: None,
        }
    }

    fn add(&mut self, key: Key, vector: Vec<f32>) {
        self.pending.push((key, vector));
        if self.pending.len() >= Self::PIECE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut slot = self.vectors.write_unpoisoned();
        // (Dropped meanwhile by `reindex --reencode`: the next load reads everything.)
        if let Some(index) = slot.as_mut() {
            self.unsaved
                .fetch_add(self.pending.len(), Ordering::Relaxed);
            for (key, vector) in self.pending.drain(..) {
                if let Err(e) = index.upsert(key, &vector) {
                    self.bad.get_or_insert(e);
                }
            }
        }
        self.pending.clear();
    }

    fn finish(mut self) -> Result<()> {
        self.flush();
        match self.bad {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Engine {
    /// Opens the data dir (creating it, with the demo corpus unless `config.demo` is false) and
    /// brings the lexical index up to date with the store.
    pub fn open(config: Config, progress: Arc<dyn Progress>) -> Result<Engine> {
        // Owner only: the store holds subscribers' addresses and tokens, and the secret sits
        // next to it.
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&config.data_dir).map_err(Error::io(format!(
            "cannot create the data dir {}",
            config.data_dir.display()
        )))?;
        let store = match &config.database {
            Some(url) => Store::connect(url, DATABASE_CONNECT_WAIT)?,
            None => Store::open(&config.data_dir.join("papers.sqlite"))?,
        };
        let lexical = LexicalIndex::open(&config.data_dir.join("index").join("lexical"))?;
        let query_cache = lru::LruCache::new(
            std::num::NonZeroUsize::new(config.query_cache.max(1)).expect("at least 1"),
        );
        let engine = Engine {
            config,
            store,
            lexical,
            lexical_sync: Mutex::new(()),
            encoder: Mutex::new(None),
            vectors: RwLock::new(None),
            vectors_unsaved: Default::default(),
            vectors_saved_at: Mutex::new(Instant::now()),
            vectors_origin: Mutex::new(None),
            query_cache: Mutex::new(query_cache),
            fitted_cache: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(crate::library::reader::FITTED_CACHE)
                    .expect("at least 1"),
            )),
            embedded_at: Mutex::new(None),
            model_state: Mutex::new(ModelState::NotLoaded),
            seen_at: Mutex::new(None),
            vectors_stamp: Mutex::new(None),
            lexical_behind: AtomicBool::new(false),
            encoding: Mutex::new(()),
            encode_progress: Mutex::new(None),
            progress,
            background: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            worker: worker_id(),
            queue: QueueCounters::default(),
        };
        if engine.store.meta("initialized")?.is_none() {
            if engine.config.demo && engine.store.count()? == 0 {
                let papers: Vec<Paper> = paperscout_ingest::parse(
                    paperscout_ingest::Format::Listing,
                    "bundled demo corpus",
                    DEMO_LISTING.as_bytes(),
                    Source::Demo,
                )
                .collect::<std::result::Result<_, _>>()
                .expect("the bundled demo corpus parses (tested)");
                engine.store.upsert(&papers)?;
                tracing::info!(papers = papers.len(), "loaded the bundled demo corpus");
            }
            engine.store.set_meta(
                "initialized",
                if engine.config.demo { "demo" } else { "empty" },
            )?;
        }
        match engine.sync_lexical_on_open() {
            Ok(_) => {}
            // Another paperscout (an ingest, say) holds the index writer and will bring the
            // index up to date itself; searching the last commit meanwhile is fine.
            Err(Error::Index(paperscout_index::Error::Tantivy(tantivy_lock)))
                if is_lock_failure(&tantivy_lock) =>
            {
                tracing::warn!(
                    "another paperscout is updating the index; searching its last commit"
                );
                engine.lexical_behind.store(true, Ordering::SeqCst);
            }
            Err(e) => return Err(e),
        }
        *engine.seen_at.lock_unpoisoned() = Some(engine.store.generation()?);
        Ok(engine)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn sync_lexical_on_open(&self) -> Result<usize> {
        if self.config.sync_index_on_open {
            self.sync_lexical()
        } else {
            Ok(0)
        }
    }

    /// Applies to the lexical index every paper changed since the generation it reflects.
    fn sync_lexical(&self) -> Result<usize> {
        self.sync_lexical_waiting(Duration::ZERO)
    }

    /// [`Engine::sync_lexical`], waiting up to `wait` for another process's index writer.
    /// The target generation is read once the writer is held, so whichever process indexes
    /// last brings the index up to every write committed before it began.
    fn sync_lexical_waiting(&self, wait: Duration) -> Result<usize> {
        let _guard = self.lexical_sync.lock_unpoisoned();
        if self.lexical.generation()? == self.store.generation()? {
            return Ok(0);
        }
        let mut batch = self.lexical.batch_waiting(wait)?;
        let target = self.store.generation()?;
        let mut from = self.lexical.generation()?;
        if from == target {
            return Ok(0);
        }
        if from > target {
            // The index is ahead of its store (the store was replaced): start over.
            tracing::warn!(
                index = from,
                store = target,
                "lexical index is ahead of the store; rebuilding"
            );
            batch.clear()?;
            from = 0;
        }
        // Removed papers first: a key is never reused, but a paper changed after it was
        // removed elsewhere would be added below and must stay.
        let removed = if from > 0 {
            self.store.removed_since(from)?
        } else {
            Vec::new()
        };
        for &key in &removed {
            batch.remove(key);
        }
        let total = self.store.count_since(from)?;
        self.progress.begin("indexing (lexical)", total as u64);
        let mut n = 0;
        self.store.for_each_since(from, |p| {
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
                })?;
            n += 1;
            if n % LEXICAL_CHUNK == 0 {
                self.progress.advance(LEXICAL_CHUNK as u64);
            }
            Ok(())
        })?;
        batch.commit(target)?;
        self.progress.advance((n % LEXICAL_CHUNK) as u64);
        self.progress.end();
        tracing::debug!(papers = n, generation = target, "lexical index caught up");
        Ok(n)
    }

    /// The encoder, loaded on first use.
    pub fn encoder(&self) -> Result<EncoderHandle> {
        let mut slot = self.encoder.lock_unpoisoned();
        if let Some(handle) = slot.as_ref() {
            return Ok(handle.clone());
        }
        let set = |state| *self.model_state.lock_unpoisoned() = state;
        set(ModelState::Loading);
        let loaded = resolve(&self.config.model).and_then(|model| {
            tracing::info!(model = %model.name, how = %model.how, precision = %self.config.precision, "loading the sentence encoder");
            let options = EncoderOptions {
                name: Some(model.name.clone()),
                batch_size: self.config.batch_size,
                precision: self.config.precision,
                ..Default::default()
            };
            BertEncoder::load(&model.dir, &options)
        });
        match loaded {
            Ok(encoder) => {
                let handle = EncoderService::spawn(Box::new(encoder));
                *slot = Some(handle.clone());
                set(ModelState::Ready);
                Ok(handle)
            }
            Err(e) => {
                set(ModelState::Failed);
                Err(e.into())
            }
        }
    }

    /// The encoder for a request: loaded on first use, except under a server (background
    /// upkeep), where a request never waits for the model to load: it is told to retry.
    pub(crate) fn request_encoder(&self) -> Result<EncoderHandle> {
        if !self.is_background() {
            return self.encoder();
        }
        // While the model loads, its slot stays locked for seconds: never wait, tell the client
        // to retry. Once it is loaded, anyone holds the slot only to clone the handle, so wait
        // that instant (two requests at once must not make each other "busy").
        let slot = if *self.model_state.lock_unpoisoned() == ModelState::Ready {
            self.encoder.lock_unpoisoned()
        } else {
            match self.encoder.try_lock() {
                Ok(slot) => slot,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(Error::Busy("the sentence encoder is loading".into()))
                }
            }
        };
        match (slot.as_ref(), self.activity().model) {
            (Some(handle), _) => Ok(handle.clone()),
            (None, ModelState::Failed) => Err(Error::Unavailable(
                "the sentence encoder could not be loaded (the server log says why); lexical search works".into(),
            )),
            (None, _) => Err(Error::Busy("the sentence encoder is loading".into())),
        }
    }

    /// Makes requests leave index catch-up, model loading and encoding to [`Engine::upkeep`]
    /// (a server calls it from a thread of its own), so that no request does an ingest's work.
    pub fn set_background(&self, on: bool) {
        self.background.store(on, Ordering::SeqCst);
    }

    pub(crate) fn is_background(&self) -> bool {
        self.background.load(Ordering::SeqCst)
    }

    /// Asks background work to stop: an encoding in progress stops after its current step
    /// (what it encoded so far is committed), and [`Engine::upkeep`] returns.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// One round of a server's background upkeep: catches the indexes up with writes from
    /// other processes, loads the model and the vector index, and encodes papers that lack
    /// embeddings. Returns how many papers it encoded.
    pub fn upkeep(&self) -> Result<usize> {
        self.catch_up()?;
        if self.is_stopping() {
            return Ok(0);
        }
        let encoder = self.encoder()?;
        self.load_vectors(&encoder)?;
        let _encoding = self.encoding.lock_unpoisoned();
        // A bounded round: the next one catches up with other processes' writes first, so a
        // long backlog never keeps a replica from serving what another just ingested.
        let encoded = self.encode_pending(&encoder, Some(UPKEEP_ENCODE_BUDGET))?;
        if self.is_stopping() {
            // The last round: keep what changed for the next start.
            self.save_vectors_if_changed()?;
        } else {
            self.maintain_vectors()?;
        }
        Ok(encoded)
    }

    /// Catches up with other processes' writes, unless a server's upkeep does it.
    pub(crate) fn refresh_for_request(&self) -> Result<()> {
        if self.is_background() {
            Ok(())
        } else {
            self.catch_up()
        }
    }

    /// Encodes pending papers, unless a server's upkeep does it (a request then works with
    /// what is encoded so far).
    pub(crate) fn encode_for_request(&self) -> Result<()> {
        if !self.is_background() {
            self.ensure_embeddings()?;
        }
        Ok(())
    }

    /// Encodes every paper whose embedding is missing or stale, committing as it goes. Waits
    /// for an encoding already running elsewhere to finish first.
    /// Papers other processes hold are waited for (they finish them, or their leases
    /// expire and this call takes them over).
    pub fn ensure_embeddings(&self) -> Result<usize> {
        let encoder = self.encoder()?;
        let _encoding = self.encoding.lock_unpoisoned();
        let mut done = self.encode_pending(&encoder, None)?;
        while !self.is_stopping() && self.store.count_pending_embeddings(encoder.model_key())? > 0 {
            std::thread::sleep(Duration::from_millis(500));
            done += self.encode_pending(&encoder, None)?;
        }
        Ok(done)
    }

    /// Papers and encoding progress.
    pub fn status(&self) -> Result<Status> {
        let Activity { encoding, model } = self.activity();
        Ok(Status {
            papers: self.store.count()?,
            encoding,
            model,
        })
    }

    /// Encoding progress and model state, without touching the store.
    pub fn activity(&self) -> Activity {
        Activity {
            encoding: *self.encode_progress.lock_unpoisoned(),
            model: *self.model_state.lock_unpoisoned(),
        }
    }

    /// Encodes the pending papers this process can claim (see [`Store::claim_embeddings`]):
    /// papers other encoders hold are theirs, unless their lease expires meanwhile.
    fn encode_pending(&self, encoder: &EncoderHandle, budget: Option<Duration>) -> Result<usize> {
        let started = Instant::now();
        // Read before the scan: a write that lands during it changes the generation, so the
        // next call scans again.
        let generation = (self.store.generation()?, self.store.embedding_stamp()?);
        if *self.embedded_at.lock_unpoisoned() == Some(generation) {
            return Ok(0);
        }
        let model = encoder.model_key();
        let total = self.store.count_pending_embeddings(model)?;
        if total == 0 {
            *self.embedded_at.lock_unpoisoned() = Some(generation);
            return Ok(0);
        }
        self.progress.begin("encoding papers", total as u64);
        let set_progress = |p| *self.encode_progress.lock_unpoisoned() = p;
        set_progress(Some((0, total)));
        let lease = i64::try_from(self.config.encode_lease.as_secs()).unwrap_or(i64::MAX);
        // A chunk at a time from the store, so a million pending papers are never all in memory.
        let mut done = 0;
        let mut after = paperscout_store::PaperKey::MIN;
        loop {
            if self.is_stopping() {
                tracing::info!(encoded = done, of = total, "stopping: encoding interrupted");
                break;
            }
            if budget.is_some_and(|b| started.elapsed() >= b) {
                break;
            }
            let now = chrono::Utc::now().timestamp();
            let claim = self.store.claim_embeddings(
                model,
                &self.worker,
                after,
                ENCODE_CHUNK,
                now,
                now.saturating_add(lease),
            )?;
            let chunk = claim.papers;
            let Some(last) = chunk.last() else {
                break;
            };
            after = last.key;
            self.queue.claims.fetch_add(1, Ordering::Relaxed);
            self.queue
                .claimed
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if claim.taken_over > 0 {
                tracing::info!(
                    papers = claim.taken_over,
                    "took over papers whose encoder's lease expired"
                );
                self.queue
                    .taken_over
                    .fetch_add(claim.taken_over as u64, Ordering::Relaxed);
            }
            let texts: Vec<String> = chunk.iter().map(|p| p.text.clone()).collect();
            let vectors = match encoder.embed_owned(texts) {
                Ok(v) => v,
                Err(e) => {
                    set_progress(None);
                    return Err(e.into());
                }
            };
            let rows: Vec<_> = chunk
                .iter()
                .zip(vectors)
                .map(|(p, v)| (p.key, p.content_hash.clone(), v))
                .collect();
            let written = self.store.put_embeddings(model, &rows)?;
            let added = match self.vectors.write_unpoisoned().as_mut() {
                Some(index) => {
                    for (key, _, v) in &rows {
                        index.upsert(*key, v)?;
                    }
                    self.vectors_unsaved
                        .fetch_add(rows.len(), Ordering::Relaxed);
                    true
                }
                None => false,
            };
            if added {
                // The index holds this write now: if it had seen every write before it, the
                // next catch-up need not read these embeddings back from the store.
                let mut seen = self.vectors_stamp.lock_unpoisoned();
                if *seen == Some(written.stamp - 1) {
                    *seen = Some(written.stamp);
                }
            }
            self.progress.advance(chunk.len() as u64);
            done += chunk.len();
            set_progress(Some((done, total.max(done))));
        }
        set_progress(None);
        self.progress.end();
        // Papers other encoders hold are still pending: look again next time (their leases
        // may expire), rather than marking this generation done.
        if !self.is_stopping() && self.store.count_pending_embeddings(model)? == 0 {
            *self.embedded_at.lock_unpoisoned() = Some(generation);
        }
        Ok(done)
    }

    /// What this process did in the shared encoding queue so far.
    pub fn queue_stats(&self) -> QueueStats {
        QueueStats {
            claims: self.queue.claims.load(Ordering::Relaxed),
            claimed: self.queue.claimed.load(Ordering::Relaxed),
            taken_over: self.queue.taken_over.load(Ordering::Relaxed),
        }
    }

    /// Papers whose embedding from the engine's model is missing or stale (whoever holds
    /// them), or `None` before the model is known.
    pub fn queue_depth(&self) -> Result<Option<usize>> {
        let model = match self.encoder.lock_unpoisoned().as_ref() {
            Some(e) => e.model_key().to_string(),
            None => return Ok(None),
        };
        Ok(Some(self.store.count_pending_embeddings(&model)?))
    }

    /// One round of a `worker`: claims and encodes pending papers until none is left to
    /// claim (or [`Engine::stop`]); returns how many it encoded. It keeps no index.
    pub fn encode_queue(&self) -> Result<usize> {
        let encoder = self.encoder()?;
        let _encoding = self.encoding.lock_unpoisoned();
        self.encode_pending(&encoder, None)
    }

    /// Waits up to `timeout` for another process's write (PostgreSQL announces them; with
    /// SQLite this sleeps); true when one came.
    pub fn wait_for_change(&self, timeout: Duration) -> bool {
        self.store.wait_for_change(timeout)
    }

    /// Brings the indexes up to writes made by another process since the last call (a
    /// `paperscout ingest` while `serve` runs): makes the lexical index's latest commit
    /// searchable (catching it up from the store if that process did not), and adds the stored
    /// embeddings of the changed papers to the vector index. Cheap when nothing changed: one
    /// read of the store's generation.
    pub fn catch_up(&self) -> Result<()> {
        let generation = self.store.generation()?;
        let stamp = self.store.embedding_stamp()?;
        let mut seen = self.seen_at.lock_unpoisoned();
        let mut seen_stamp = self.vectors_stamp.lock_unpoisoned();
        let papers_changed = *seen != Some(generation);
        // Set when the vector index is loaded; before that there is nothing to add to.
        let new_embeddings = seen_stamp.filter(|&s| s < stamp);
        let lexical_behind = self.lexical_behind.load(Ordering::SeqCst);
        if !papers_changed && new_embeddings.is_none() && !lexical_behind {
            return Ok(());
        }
        let since = seen.unwrap_or(0);
        if papers_changed || lexical_behind {
            self.lexical.reload()?;
            let behind = match self.sync_lexical() {
                Ok(_) => false,
                // The other process is still writing and brings the index up to date itself;
                // look again next time, to make its commit searchable.
                Err(Error::Index(paperscout_index::Error::Tantivy(e))) if is_lock_failure(&e) => {
                    true
                }
                Err(e) => return Err(e),
            };
            self.lexical_behind.store(behind, Ordering::SeqCst);
        }
        let loaded = self.vectors_loaded();
        // (The encoder is loaded when the vectors are; ask before taking the index lock.)
        if let (true, Some(seen_stamp_value)) = (loaded, *seen_stamp) {
            let model = self.encoder()?.model_key().to_string();
            // Read in pieces and add each under a short write lock: searches go on meanwhile.
            if papers_changed {
                let removed = self.store.removed_since(since)?;
                if !removed.is_empty() {
                    let mut slot = self.vectors.write_unpoisoned();
                    if let Some(index) = slot.as_mut() {
                        for key in removed {
                            if index.remove(key)? {
                                self.vectors_unsaved.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            let mut adder = VectorAdder::new(&self.vectors, &self.vectors_unsaved);
            if papers_changed {
                self.store
                    .for_each_embedding_since(&model, since, |key, v| adder.add(key, v))?;
            }
            if new_embeddings.is_some() {
                self.store.for_each_embedding_stamped_after(
                    &model,
                    seen_stamp_value,
                    |key, v| adder.add(key, v),
                )?;
            }
            adder.finish()?;
            *seen_stamp = Some(stamp);
        }
        *seen = Some(generation);
        tracing::debug!(
            from = since,
            to = generation,
            "caught up with writes from elsewhere"
        );
        Ok(())
    }

    /// Removes every paper of `source` (the bundled demo corpus, say) from the store and then
    /// from this process's indexes; other processes drop them when they next catch up. Returns
    /// how many papers went.
    pub fn remove_source(&self, source: Source) -> Result<usize> {
        let keys = self.store.remove_source(source.as_str())?;
        if !keys.is_empty() {
            self.catch_up()?;
            tracing::info!(
                source = source.as_str(),
                papers = keys.len(),
                "removed a source's papers"
            );
        }
        Ok(keys.len())
    }

    /// Makes sure the in-memory vector index holds every paper's current embedding. While
    /// another caller (a background encoding, say) is encoding, it does not wait: the index
    /// then holds the papers encoded so far, and the encoder adds the rest as it goes.
    fn ensure_vectors(&self) -> Result<()> {
        if self.is_background() {
            // The upkeep thread loads the index and encodes; a request uses what is there.
            if self.vectors_loaded() {
                return Ok(());
            }
            return Err(Error::Busy("the vector index is loading".into()));
        }
        let encoder = self.encoder()?;
        match self.encoding.try_lock() {
            Ok(_encoding) => {
                self.encode_pending(&encoder, None)?;
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                let _encoding = e.into_inner();
                self.encode_pending(&encoder, None)?;
            }
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        self.load_vectors(&encoder)
    }

    fn vectors_loaded(&self) -> bool {
        self.vectors.read_unpoisoned().is_some()
    }

    /// Loads the vector index once: the saved approximate index when there is a usable one
    /// (caught up with embeddings written after it was saved), else every stored embedding.
    /// The scan runs without the index lock (searches never wait for it); an embedding
    /// written during it is added by the next catch-up, as its stamp is newer than the one
    /// read before the scan.
    fn load_vectors(&self, encoder: &EncoderHandle) -> Result<()> {
        if self.vectors_loaded() {
            return Ok(());
        }
        // Held throughout (the lock order of `catch_up`: this, then the index): a catch-up
        // waits for the load to finish and record its stamp, and two loads never overlap.
        let mut seen_stamp = self.vectors_stamp.lock_unpoisoned();
        if self.vectors_loaded() {
            return Ok(());
        }
        let t = Instant::now();
        let stamp = self.store.embedding_stamp()?;
        let model = encoder.model_key();
        let saved = self.load_saved_vectors(model, encoder.dim(), stamp)?;
        *self.vectors_origin.lock_unpoisoned() = Some(if saved.is_some() {
            "saved file"
        } else {
            "store"
        });
        let mut vectors = match saved {
            Some(saved) => saved,
            None => {
                let mut index = FlatIndex::new(encoder.dim());
                let mut bad = None;
                self.store.for_each_embedding(model, |key, v| {
                    if let Err(e) = index.upsert(key, &v) {
                        bad.get_or_insert(e);
                    }
                })?;
                if let Some(e) = bad {
                    return Err(e.into());
                }
                Vectors::Exact(index)
            }
        };
        if vectors.rebalance(self.config.vector_index)? {
            self.vectors_unsaved
                .fetch_add(vectors.len().max(1), Ordering::Relaxed);
        }
        tracing::info!(
            papers = vectors.len(),
            index = vectors.kind(),
            seconds = t.elapsed().as_secs_f64(),
            "vector index ready"
        );
        *self.vectors.write_unpoisoned() = Some(vectors);
        *seen_stamp = Some(stamp);
        drop(seen_stamp);
        // A freshly built approximate index is saved at once: the next start loads it.
        if self.vectors_unsaved.load(Ordering::Relaxed) > 0 {
            if let Err(e) = self.save_vectors() {
                tracing::warn!("could not save the vector index: {e}");
            }
        }
        Ok(())
    }

    /// The saved approximate index of `model`, caught up with the store, or `None` (with a
    /// warning when there was one) when there is none or it does not fit this store.
    fn load_saved_vectors(&self, model: &str, dim: usize, stamp: u64) -> Result<Option<Vectors>> {
        if self.config.vector_index == VectorChoice::Exact {
            return Ok(None);
        }
        let path = saved_path(&self.config.data_dir, model);
        if !path.exists() {
            return Ok(None);
        }
        let (mut ann, saved_stamp) = match AnnIndex::load(&path) {
            Ok((ann, _)) if !self.config.vector_index.wants_ann(ann.len(), true) => {
                // Small enough for exact search now: rebuilt from the store's f32 vectors
                // (the graph holds int8 ones), and the file is no longer needed.
                let _ = std::fs::remove_file(&path);
                return Ok(None);
            }
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!("{e}; rebuilding the vector index from the store");
                return Ok(None);
            }
        };
        let misfit = |why: &str| {
            tracing::warn!(
                "the saved vector index {} {why}; rebuilding it from the store",
                path.display()
            );
            Ok(None)
        };
        if ann.dim() != dim {
            return misfit("is for another model");
        }
        if saved_stamp > stamp {
            return misfit("is ahead of the store (another database?)");
        }
        let mut caught_up = 0;
        let mut bad = None;
        self.store
            .for_each_embedding_stamped_after(model, saved_stamp, |key, v| {
                caught_up += 1;
                if bad.is_none() {
                    if let Err(e) = ann.upsert(key, &v) {
                        bad = Some(e);
                    }
                }
            })?;
        if let Some(e) = bad {
            return misfit(&format!("cannot take the newer embeddings ({e})"));
        }
        // Every current embedding, and at most one (maybe stale) vector per paper.
        let papers = self.store.count()?;
        let current = papers.saturating_sub(self.store.count_pending_embeddings(model)?);
        if ann.len() > papers || ann.len() < current {
            return misfit(&format!(
                "holds {} vectors where the store has {current} embeddings of {papers} papers",
                ann.len()
            ));
        }
        self.vectors_unsaved.fetch_add(caught_up, Ordering::Relaxed);
        tracing::info!(
            papers = ann.len(),
            caught_up,
            "loaded the saved vector index"
        );
        Ok(Some(Vectors::Ann(ann)))
    }

    /// Saves the approximate vector index next to the data (atomically: a crash meanwhile
    /// leaves the previous file), so that the next start loads it instead of rebuilding.
    /// Returns false when there is nothing to save (an exact index is rebuilt from the store
    /// in moments and is never saved).
    pub fn save_vectors(&self) -> Result<bool> {
        let Some(model) = self.loaded_model_key() else {
            return Ok(false);
        };
        let seen = self.vectors_stamp.lock_unpoisoned();
        let Some(tag) = *seen else {
            return Ok(false);
        };
        let guard = self.vectors.read_unpoisoned();
        let Some(Vectors::Ann(ann)) = guard.as_ref() else {
            return Ok(false);
        };
        let unsaved = self.vectors_unsaved.swap(0, Ordering::Relaxed);
        let path = saved_path(&self.config.data_dir, &model);
        let t = Instant::now();
        let saved = std::fs::create_dir_all(path.parent().expect("a file in a folder"))
            .map_err(Error::io(format!("cannot create {}", path.display())))
            .and_then(|()| Ok(ann.save(&path, tag)?));
        match saved {
            Ok(bytes) => {
                *self.vectors_saved_at.lock_unpoisoned() = Instant::now();
                tracing::info!(
                    papers = ann.len(),
                    bytes,
                    seconds = t.elapsed().as_secs_f64(),
                    "saved the vector index"
                );
                Ok(true)
            }
            Err(e) => {
                self.vectors_unsaved.fetch_add(unsaved, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Saves the approximate vector index if it changed since it was last saved.
    pub fn save_vectors_if_changed(&self) -> Result<bool> {
        if self.vectors_unsaved.load(Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        self.save_vectors()
    }

    /// Switches between the exact and the approximate index when the corpus crosses
    /// [`crate::ANN_FROM`] (with `auto`), and saves the approximate index when enough changed
    /// or enough time passed since it was last saved.
    fn maintain_vectors(&self) -> Result<()> {
        let choice = self.config.vector_index;
        let switch = self.vectors.read_unpoisoned().as_ref().is_some_and(|v| {
            let has_ann = matches!(v, Vectors::Ann(_));
            choice.wants_ann(v.len(), has_ann) != has_ann
        });
        if switch {
            // Holding the stamp keeps catch-up out, and the caller (upkeep) holds the
            // encoding lock: nothing writes the index meanwhile, so the new one is built
            // beside it while searches go on, and swapped in under a short write lock.
            let _stamp = self.vectors_stamp.lock_unpoisoned();
            let model = self.model_key()?;
            let t = Instant::now();
            let current = self.vectors.read_unpoisoned();
            let replacement = match current.as_ref() {
                Some(Vectors::Exact(flat)) => {
                    let mut v = Vectors::Exact(flat.clone());
                    v.rebalance(choice)?;
                    Some(v)
                }
                // Back to exact: from the store's f32 vectors, not the graph's int8 ones.
                Some(Vectors::Ann(ann)) => {
                    let mut flat = FlatIndex::new(ann.dim());
                    let mut bad = None;
                    self.store.for_each_embedding(&model, |key, v| {
                        if let Err(e) = flat.upsert(key, &v) {
                            bad.get_or_insert(e);
                        }
                    })?;
                    if let Some(e) = bad {
                        return Err(e.into());
                    }
                    Some(Vectors::Exact(flat))
                }
                None => None,
            };
            drop(current);
            if let Some(v) = replacement {
                let is_ann = matches!(v, Vectors::Ann(_));
                let papers = v.len();
                *self.vectors.write_unpoisoned() = Some(v);
                tracing::info!(
                    papers,
                    index = if is_ann { "ann" } else { "exact" },
                    seconds = t.elapsed().as_secs_f64(),
                    "switched the vector index at the crossover"
                );
                if is_ann {
                    self.vectors_unsaved
                        .fetch_add(papers.max(1), Ordering::Relaxed);
                } else {
                    self.vectors_unsaved.store(0, Ordering::Relaxed);
                    let _ = std::fs::remove_file(saved_path(&self.config.data_dir, &model));
                }
            }
        }
        let unsaved = self.vectors_unsaved.load(Ordering::Relaxed);
        let due = self.vectors_saved_at.lock_unpoisoned().elapsed() >= SAVE_VECTORS_EVERY;
        if unsaved >= SAVE_VECTORS_AFTER || (unsaved > 0 && due) {
            self.save_vectors()?;
        }
        Ok(())
    }

    /// Where the vector index was loaded from: "saved file" (the approximate index saved by
    /// an earlier run) or "store" (built from the stored embeddings); `None` before it is.
    pub fn vector_index_origin(&self) -> Option<&'static str> {
        *self.vectors_origin.lock_unpoisoned()
    }

    /// Which vector index serves now ("exact", "ann"), and how many papers it holds and
    /// bytes it takes; `None` before it is loaded.
    pub fn vector_index(&self) -> Option<(&'static str, usize, usize)> {
        self.vectors
            .read_unpoisoned()
            .as_ref()
            .map(|v| (v.kind(), v.len(), v.memory_bytes()))
    }

    /// Runs `f` on the vector index, loading it (and encoding pending papers) first.
    pub(crate) fn with_vectors<T>(&self, f: impl FnOnce(&Vectors) -> Result<T>) -> Result<T> {
        self.ensure_vectors()?;
        let guard = self.vectors.read_unpoisoned();
        match guard.as_ref() {
            Some(index) => f(index),
            // Dropped by a concurrent `reindex --reencode`; the next search reloads it.
            None => Err(Error::Invalid(
                "the vector index is being rebuilt; try again".into(),
            )),
        }
    }

    /// The `k` papers most similar to `query`: the approximate index's candidates
    /// ([`paperscout_index::rescore_depth`] of them) re-scored exactly from the stored f32
    /// embeddings, so that scores and order are exact for what the graph found.
    pub(crate) fn vector_search(&self, query: &[f32], k: usize) -> Result<Vec<(Key, f32)>> {
        let (found, rescore) = self.with_vectors(|index| {
            if index.rescores_from_store() {
                Ok((
                    index.search(query, paperscout_index::rescore_depth(k))?,
                    true,
                ))
            } else {
                Ok((index.search(query, k)?, false))
            }
        })?;
        if rescore {
            self.rescore_from_store(query, found, k)
        } else {
            Ok(found)
        }
    }

    /// `found`'s exact similarities to `query` from the stored embeddings (a paper whose
    /// embedding is stale keeps its index score), best `k` first.
    fn rescore_from_store(
        &self,
        query: &[f32],
        found: Vec<(Key, f32)>,
        k: usize,
    ) -> Result<Vec<(Key, f32)>> {
        let Some(model) = self.loaded_model_key() else {
            return Ok(found);
        };
        let keys: Vec<Key> = found.iter().map(|f| f.0).collect();
        let stored = self.store.embeddings(&model, &keys)?;
        let mut out: Vec<(Key, f32)> = found
            .into_iter()
            .map(|(key, s)| (key, stored.get(&key).map_or(s, |v| dot(v, query))))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        Ok(out)
    }

    /// The semantic side of a ranking, `depth` deep after `filter`. The filter is applied to
    /// the top [`MAX_RESULTS`] first; when too few of those pass (a selective filter), the
    /// store names the papers that pass and the index searches among them alone, so that
    /// pages stay full however selective the filter.
    fn semantic_side(
        &self,
        query: &[f32],
        filter: &Filter,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>> {
        let ranked = self.ranked_side(filter, depth, |n| self.vector_search(query, n))?;
        if filter.is_empty() || ranked.len() >= depth {
            return Ok(ranked);
        }
        let mut passing = HashSet::new();
        self.store.for_each_facets(|key, facets| {
            if filter.accepts(&facets) {
                passing.insert(key);
            }
        })?;
        if passing.len() <= ranked.len() {
            return Ok(ranked);
        }
        let (mut found, rescore) = self.with_vectors(|index| {
            let rescore = index.rescores_from_store();
            if passing.len() <= SCORE_PASSING_UP_TO {
                // Few enough to score each: faster than a filtered graph search that must
                // walk past the many papers the filter refuses (`bench vectors`).
                let scored: Vec<(Key, f32)> = passing
                    .iter()
                    .filter_map(|&k| index.get(k).map(|v| (k, dot(&v, query))))
                    .collect();
                return Ok((scored, rescore));
            }
            let n = if rescore {
                paperscout_index::rescore_depth(depth)
            } else {
                depth
            };
            Ok((
                index.search_filtered(query, n, &|k| passing.contains(&k))?,
                rescore,
            ))
        })?;
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if rescore {
            // (Only the best candidates by the index's scores are read back exactly.)
            found.truncate(paperscout_index::rescore_depth(depth));
            return self.rescore_from_store(query, found, depth);
        }
        found.truncate(depth);
        Ok(found)
    }

    /// Streams every input into the store in one transaction (constant memory, whatever the
    /// inputs' size): a bad record (unless `skip_bad`) or any failure leaves the store as it
    /// was. Then brings the lexical index up to date, and encodes if asked.
    pub fn ingest(&self, inputs: &[Input], options: IngestOptions) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let t = Instant::now();
        let ((), written) = self.store.write(|w| {
            for input in inputs {
                let size = std::fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0);
                self.progress
                    .begin(&format!("reading {}", input.path.display()), size);
                let progress = Arc::clone(&self.progress);
                let records = input.records_with_progress(None, move |n| progress.advance(n))?;
                let done = put_records(w, records, options, &mut report);
                self.progress.end();
                done?;
            }
            Ok::<_, Error>(())
        })?;
        self.finish_ingest(report, written, t, options)
    }

    /// Brings the indexes up to what was just written (and encodes, if asked): what
    /// [`Engine::ingest`] does after writing, for writers outside it (a harvest's pages).
    pub(crate) fn index_new(&self, options: IngestOptions) -> Result<()> {
        self.index_after_write()?;
        if options.encode {
            self.ensure_embeddings()?;
        }
        Ok(())
    }

    /// Brings the lexical index up to a write this process just committed. When another
    /// process holds the index writer for longer than [`INDEX_WRITER_WAIT`], the papers are
    /// stored all the same: that process (a running server's upkeep) or the next start
    /// catches the index up, so this is a warning, not a failure.
    fn index_after_write(&self) -> Result<()> {
        match self.sync_lexical_waiting(INDEX_WRITER_WAIT) {
            Ok(_) => Ok(()),
            Err(Error::Index(paperscout_index::Error::Tantivy(e))) if is_lock_failure(&e) => {
                tracing::warn!(
                    "another paperscout process is updating the lexical index; the papers are stored and it will catch up with them"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn finish_ingest(
        &self,
        mut report: IngestReport,
        written: paperscout_store::UpsertReport,
        started: Instant,
        options: IngestOptions,
    ) -> Result<IngestReport> {
        (report.added, report.updated, report.unchanged) =
            (written.added, written.updated, written.unchanged);
        report.timings.store_s =
            (started.elapsed().as_secs_f64() - report.timings.parse_s).max(0.0);

        let t = Instant::now();
        self.index_after_write()?;
        report.timings.index_s = t.elapsed().as_secs_f64();

        if options.encode {
            let t = Instant::now();
            report.encoded = self.ensure_embeddings()?;
            report.timings.encode_s = t.elapsed().as_secs_f64();
        }
        Ok(report)
    }

    /// Rebuilds the lexical index from the store and fills in missing embeddings. With
    /// `reencode`, every embedding of the current model is computed afresh.
    pub fn reindex(&self, reencode: bool) -> Result<(usize, usize)> {
        {
            let _guard = self.lexical_sync.lock_unpoisoned();
            let mut batch = self.lexical.batch()?;
            batch.clear()?;
            // An empty commit at generation 0 makes the catch-up below a full rebuild.
            batch.commit(0)?;
        }
        let indexed = self.sync_lexical()?;
        if reencode {
            let encoder = self.encoder()?;
            self.store.delete_embeddings(encoder.model_key())?;
            *self.embedded_at.lock_unpoisoned() = None;
            *self.vectors.write_unpoisoned() = None;
        }
        let encoded = self.ensure_embeddings()?;
        Ok((indexed, encoded))
    }

    /// Checks a query and returns it trimmed.
    pub fn validate_query(query: &str) -> Result<&str> {
        let q = query.trim();
        if q.is_empty() {
            return Err(Error::Invalid("the query is empty".into()));
        }
        let chars = q.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(Error::Invalid(format!(
                "the query is {chars} characters long; the limit is {MAX_QUERY_CHARS}"
            )));
        }
        if q.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(Error::Invalid(
                "the query contains control characters".into(),
            ));
        }
        Ok(q)
    }

    /// The best `limit` papers for `query` by `mode`.
    pub fn search(&self, query: &str, mode: SearchMode, limit: usize) -> Result<Vec<Hit>> {
        Ok(self
            .search_page(query, mode, &Filter::default(), 0, limit)?
            .hits)
    }

    /// Results `offset..offset+limit` for `query` by `mode`, filtered: [`Engine::rank`]
    /// [`MAX_RESULTS`] deep (hybrid fuses the top `fusion_depth` (100) of each side, so its list
    /// is shorter), then the page's papers with snippets.
    pub fn search_page(
        &self,
        query: &str,
        mode: SearchMode,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> Result<SearchPage> {
        let query = Self::validate_query(query)?;
        self.refresh_for_request()?;
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                return Err(Error::Invalid(format!(
                    "the date range is empty: from {from} is after to {to}"
                )));
            }
        }
        let vector = if mode.needs_encoder() {
            Some(self.embed_query(query)?)
        } else {
            None
        };
        let ranked = self.rank_floored(
            &Ranking {
                text: query,
                vector: vector.as_deref(),
                mode,
                depth: MAX_RESULTS,
                filter,
                fusion: self.config.fusion,
            },
            self.config.relevance_floor,
        )?;
        let total = ranked.len();
        let page: Vec<(Key, f32)> = ranked.into_iter().skip(offset).take(limit).collect();
        Ok(SearchPage {
            hits: self.hits(query, &page)?,
            total,
        })
    }

    /// The query's embedding.
    /// The query's embedding: from the query cache when this model embedded the same query
    /// (up to white space) recently, else from the encoder.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let encoder = self.request_encoder()?;
        let normal = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = (encoder.model_key().to_string(), normal);
        if self.config.query_cache > 0 {
            if let Some(v) = self.query_cache.lock_unpoisoned().get(&key) {
                self.queue.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(v.clone());
            }
            self.queue.cache_misses.fetch_add(1, Ordering::Relaxed);
        }
        let vector = encoder
            .embed(&[key.1.as_str()])?
            .pop()
            .expect("one vector per text");
        if self.config.query_cache > 0 {
            self.query_cache.lock_unpoisoned().put(key, vector.clone());
        }
        Ok(vector)
    }

    /// The model's key if the encoder is loaded (never loads it).
    fn loaded_model_key(&self) -> Option<String> {
        self.encoder
            .lock_unpoisoned()
            .as_ref()
            .map(|e| e.model_key().to_string())
    }

    /// The key the engine's model stores its embeddings under (loads the model).
    pub fn model_key(&self) -> Result<String> {
        Ok(self.encoder()?.model_key().to_string())
    }

    /// Query-embedding cache (hits, misses) since start.
    pub fn query_cache_stats(&self) -> (u64, u64) {
        (
            self.queue.cache_hits.load(Ordering::Relaxed),
            self.queue.cache_misses.load(Ordering::Relaxed),
        )
    }

    /// The one ranking path: the site's searches ([`Engine::search_page`]), `eval` and the
    /// threshold benchmark rank through here, and the digest fuses through
    /// `Engine::fuse`, so what eval measures is what users get by construction.
    ///
    /// Lexical and semantic rankings go `depth` deep after the filter; hybrid fuses the top
    /// `fusion_depth` (100) of each (after the filter), every candidate with its exact
    /// similarity, and keeps the best `depth`.
    pub fn rank(&self, r: &Ranking) -> Result<Vec<(Key, f32)>> {
        let vector = || {
            r.vector.ok_or_else(|| {
                Error::Invalid(format!("{} search needs the query's embedding", r.mode))
            })
        };
        let lexical =
            |depth| self.ranked_side(r.filter, depth, |n| Ok(self.lexical.search(r.text, n)?));
        Ok(match r.mode {
            SearchMode::Lexical => lexical(r.depth)?,
            SearchMode::Semantic => self.semantic_side(vector()?, r.filter, r.depth)?,
            SearchMode::Hybrid => self.hybrid_sides(r)?.0,
        })
    }

    /// A hybrid ranking, and the two sides it fused (BM25 and similarities, each completed
    /// over the other's candidates when the fusion uses scores).
    #[allow(clippy::type_complexity)]
    fn hybrid_sides(
        &self,
        r: &Ranking,
    ) -> Result<(Vec<(Key, f32)>, Vec<(Key, f32)>, Vec<(Key, f32)>)> {
        let v = r.vector.ok_or_else(|| {
            Error::Invalid(format!("{} search needs the query's embedding", r.mode))
        })?;
        // The same candidates whatever the page's depth: the site's top results are eval's.
        let depth = self.config.fusion_depth;
        let mut lexical =
            self.ranked_side(r.filter, depth, |n| Ok(self.lexical.search(r.text, n)?))?;
        let mut semantic = self.semantic_side(v, r.filter, depth)?;
        if r.fusion.uses_scores() {
            let found_lexically = lexical.len();
            self.complete_bm25(r.text, &semantic, &mut lexical)?;
            self.complete_similarities(v, &lexical[..found_lexically], &mut semantic)?;
        }
        let fused = Self::fuse(&lexical, &semantic, r.fusion, r.depth);
        Ok((fused, lexical, semantic))
    }

    /// [`Engine::rank`] for people: without the papers that neither match a word of the query
    /// nor reach `floor` in similarity to it (every paper has *some* cosine to any text, so an
    /// unfloored semantic search answers nonsense with the whole corpus). Lexical rankings
    /// only hold matches already; `floor` 0 keeps everything.
    pub fn rank_floored(&self, r: &Ranking, floor: f32) -> Result<Vec<(Key, f32)>> {
        if floor <= 0.0 {
            return self.rank(r);
        }
        match r.mode {
            SearchMode::Lexical => self.rank(r),
            SearchMode::Semantic => {
                let mut ranked = self.rank(r)?;
                ranked.retain(|s| s.1 >= floor);
                Ok(ranked)
            }
            SearchMode::Hybrid => {
                let (mut fused, lexical, semantic) = self.hybrid_sides(r)?;
                let keep: HashSet<Key> = lexical
                    .iter()
                    .filter(|l| l.1 > 0.0)
                    .chain(semantic.iter().filter(|s| s.1 >= floor))
                    .map(|x| x.0)
                    .collect();
                fused.retain(|f| keep.contains(&f.0));
                Ok(fused)
            }
        }
    }

    /// Adds to `lexical` the exact BM25 score of each `semantic` candidate it lacks.
    pub(crate) fn complete_bm25(
        &self,
        query: &str,
        semantic: &[(Key, f32)],
        lexical: &mut Vec<(Key, f32)>,
    ) -> Result<()> {
        let have: HashSet<Key> = lexical.iter().map(|s| s.0).collect();
        let missing: Vec<Key> = semantic
            .iter()
            .map(|s| s.0)
            .filter(|k| !have.contains(k))
            .collect();
        lexical.extend(self.lexical.score_keys(query, &missing)?);
        Ok(())
    }

    /// Adds to `semantic` the exact similarity of each `lexical` candidate it lacks (a dot
    /// product per paper), so that score fusion normalises both sides over the same papers.
    fn complete_similarities(
        &self,
        query: &[f32],
        lexical: &[(Key, f32)],
        semantic: &mut Vec<(Key, f32)>,
    ) -> Result<()> {
        let have: HashSet<Key> = semantic.iter().map(|s| s.0).collect();
        let missing: Vec<Key> = lexical
            .iter()
            .map(|l| l.0)
            .filter(|k| !have.contains(k))
            .collect();
        let (filled, from_store) = self.with_vectors(|index| {
            let filled: Vec<(Key, f32)> = missing
                .iter()
                .filter_map(|&k| index.get(k).map(|v| (k, dot(&v, query))))
                .collect();
            Ok((filled, index.rescores_from_store()))
        })?;
        if from_store {
            // The approximate index holds int8 vectors: the exact similarity comes from the
            // stored embedding (the int8 one where that is stale).
            let n = filled.len();
            semantic.extend(self.rescore_from_store(query, filled, n)?);
        } else {
            semantic.extend(filled);
        }
        semantic.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(())
    }

    /// How hybrid rankings combine their two sides, best `depth` first: the one fusion step
    /// of searches, eval and the digest.
    pub(crate) fn fuse(
        lexical: &[(Key, f32)],
        semantic: &[(Key, f32)],
        fusion: Fusion,
        depth: usize,
    ) -> Vec<(Key, f32)> {
        fuse(lexical, semantic, fusion, depth)
    }

    /// One side of a ranking, `depth` deep after `filter`: unfiltered, the first `depth` that
    /// `search` finds; filtered, the first `depth` of its top [`MAX_RESULTS`] that pass.
    fn ranked_side(
        &self,
        filter: &Filter,
        depth: usize,
        search: impl FnOnce(usize) -> Result<Vec<(Key, f32)>>,
    ) -> Result<Vec<(Key, f32)>> {
        if filter.is_empty() {
            return search(depth);
        }
        let mut ranked = search(MAX_RESULTS.max(depth))?;
        let keys: Vec<Key> = ranked.iter().map(|r| r.0).collect();
        let facets = self.store.facets(&keys)?;
        ranked.retain(|(k, _)| facets.get(k).is_some_and(|f| filter.accepts(f)));
        ranked.truncate(depth);
        Ok(ranked)
    }

    fn hits(&self, query: &str, ranked: &[(Key, f32)]) -> Result<Vec<Hit>> {
        let keys: Vec<Key> = ranked.iter().map(|r| r.0).collect();
        let papers = self.store.get_many(&keys)?;
        let votes = self.store.vote_counts(&keys)?;
        let scores: HashMap<Key, f32> = ranked.iter().copied().collect();
        Ok(papers
            .into_iter()
            .map(|p| Hit {
                score: scores[&p.key],
                snippet: snippet(&p.paper.abstract_text, query, SNIPPET_CHARS),
                votes: votes.get(&p.key).copied().unwrap_or(0),
                id: p.paper.id,
                title: p.paper.title,
                authors: p.paper.authors,
                published: p.paper.published,
                categories: p.paper.categories,
                links: p.paper.links,
            })
            .collect())
    }

    pub fn paper(&self, id: &PaperId) -> Result<StoredPaper> {
        self.store
            .get(id)?
            .ok_or_else(|| Error::PaperNotFound(id.clone()))
    }

    /// The `limit` papers nearest in meaning to paper `id`.
    pub fn similar(&self, id: &PaperId, limit: usize) -> Result<Vec<Hit>> {
        self.refresh_for_request()?;
        let paper = self.paper(id)?;
        // The paper's stored (f32) embedding, as the index may hold it quantised.
        let model = self.request_encoder()?.model_key().to_string();
        let stored = self.store.embedding(&model, paper.key)?;
        let ranked: Vec<f32> = self.with_vectors(|index| {
            let vector = stored
                .map(std::borrow::Cow::Owned)
                .or_else(|| index.get(paper.key))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "paper {id} has no embedding yet; run `paperscout reindex`"
                    ))
                })?;
            Ok(vector.into_owned())
        })?;
        let ranked: Vec<(Key, f32)> = self
            .vector_search(&ranked, limit + 1)?
            .into_iter()
            .filter(|r| r.0 != paper.key)
            .take(limit)
            .collect();
        // No query terms to highlight: the snippet is the start of each abstract.
        self.hits("", &ranked)
    }

    /// Writes every paper as one JSON line (the `jsonl` ingest format). Returns the count.
    pub fn export(&self, out: &mut dyn Write) -> Result<usize> {
        let mut n = 0;
        let mut failed = None;
        self.store.for_each_since(0, |p| {
            if failed.is_none() {
                let line = serde_json::to_string(&p.paper).expect("a Paper always serialises");
                if let Err(e) = writeln!(out, "{line}") {
                    failed = Some(e);
                }
                n += 1;
            }
            Ok(())
        })?;
        match failed {
            Some(e) => Err(Error::Io {
                context: "cannot write the export".into(),
                source: e,
            }),
            None => Ok(n),
        }
    }
}
