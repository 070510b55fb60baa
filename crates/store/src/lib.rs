//! The ground truth: papers, their embeddings, votes, subscribers, the digest outbox and
//! accounts (with their sessions, API tokens, collections and dismissed papers), in
//! SQLite (embedded, the default: no server) or PostgreSQL (shared by many paperscout
//! processes). One interface, [`Store`]; callers do not know which backend they talk to.
//!
//! Every index paperscout keeps is derived from this store and can be rebuilt from it. Each
//! write transaction that changes papers bumps the store's *generation* and stamps the changed
//! rows with it, so a derived index that records the generation it reflects can catch up with
//! exactly the rows it missed (after a crash, or another process's ingest). Writes that change
//! papers are serialised (SQLite's write lock; a row lock on the generation in PostgreSQL), so
//! generations commit in order and keys grow in commit order.

mod accounts;
mod browse;
mod common;
mod copy;
mod harvests;
mod pg;
mod sqlite;
mod subscribers;
mod votes;

pub use accounts::{
    Account, AccountExport, ApiToken, Collection, ExportedAccount, ExportedCollection,
    ExportedMark, ExportedPaper, ExportedSubscription, ExportedToken, Rules, SignIn,
    DEFAULT_COLLECTION, MAX_API_TOKENS, MAX_COLLECTIONS, MAX_COLLECTION_PAPERS,
};
pub use browse::{Neighbours, SourceCount, DEMO_LISTED_AT};
pub use copy::CopyReport;
pub use harvests::{HarvestRun, HarvestStatus, PageCounts, HARVEST_STALE_SECS};
pub use pg::redact_url;
pub use subscribers::{
    MailKind, OutboxStats, OutgoingMail, QueuedMail, SubscribeOutcome, Subscriber,
    SubscriberStatus, Subscription,
};
pub use votes::{Candidate, Facets};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use paperscout_model::{Paper, PaperId};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the store at {path}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store at {path} has schema version {found}, newer than this paperscout understands ({supported}); upgrade paperscout")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("the store holds a bad row (paper key {key}): {message}")]
    Corrupt { key: i64, message: String },
    #[error("bad database URL `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("database: {}", pg::describe(.0))]
    Postgres(#[from] postgres::Error),
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    /// Every pooled connection stayed busy for the whole wait.
    #[error("no free database connection: {0}")]
    Exhausted(String),
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// Another connection (another process's ingest, say) held a lock for longer than this
    /// store waits (see [`Store::set_busy_timeout`]): worth retrying later, not a fault.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Sqlite(e) | Error::Open { source: e, .. } => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            Error::Postgres(e) => pg::is_busy(e),
            Error::Exhausted(_) => true,
            _ => false,
        }
    }

    /// The database server cannot be reached (down, restarting, refusing connections): worth
    /// retrying later; the write that failed was not applied.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unreachable(_) => true,
            Error::Postgres(e) => pg::is_unavailable(e),
            _ => false,
        }
    }
}

/// How long a write waits for another connection's write transaction before giving up with
/// a busy error (see [`Store::set_busy_timeout`]).
pub const DEFAULT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A paper's key in the store: a small integer, stable for the paper's lifetime, that derived
/// indexes use instead of the (longer) [`PaperId`].
pub type PaperKey = i64;

/// A paper as stored, with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPaper {
    pub key: PaperKey,
    pub paper: Paper,
    pub content_hash: String,
    pub generation: u64,
    /// When the paper entered the feed (Unix seconds): its publication date at midnight UTC,
    /// or when it was first added if that is earlier or the date is unknown.
    pub listed_at: i64,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// The store's generation after the write.
    pub generation: u64,
}

/// What [`Store::put_embeddings`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingsWritten {
    /// Embeddings stored (those of papers changed meanwhile are dropped).
    pub written: usize,
    /// The embedding stamp this write took: the one before it is `stamp - 1`, so a reader
    /// that had seen every write up to that one has now seen every write up to this one.
    pub stamp: u64,
}

/// A paper whose embedding (for some model) is missing or stale.
#[derive(Debug, Clone)]
pub struct PendingEmbedding {
    pub key: PaperKey,
    pub content_hash: String,
    pub text: String,
}

/// What [`Store::claim_embeddings`] handed out.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    /// The papers to encode, in key order, leased to the claimer.
    pub papers: Vec<PendingEmbedding>,
    /// How many of them another encoder had leased, and let the lease expire (it died).
    pub taken_over: usize,
}

/// A lease that never expires: the mark a written embedding leaves on its paper's content.
pub(crate) const LEASE_DONE: i64 = i64::MAX;

/// A PostgreSQL URL (`postgres://user:pass@host:port/db` or `postgresql://…`), checked for
/// its form; it prints without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<DatabaseUrl> {
        let bad = |message: &str| Error::BadUrl {
            url: redact_url(url),
            message: message.into(),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad(
                "expected postgres://user:password@host:port/database (SQLite, the default, \
                 needs no URL: it lives in the data dir)",
            ));
        }
        url.parse::<postgres::Config>()
            .map_err(|e| bad(&pg::describe(&e)))?;
        Ok(DatabaseUrl(url.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// A role held cluster-wide (see [`Store::lead`]); given up when dropped.
#[derive(Debug)]
pub struct Leader {
    pg: Option<pg::PgLeader>,
}

impl Leader {
    /// Whether the role is still held. A SQLite store's roles always are; a PostgreSQL one's
    /// are while the connection holding the lock lives (it may have broken: then another
    /// process may hold the role now).
    pub fn still_held(&mut self) -> bool {
        self.pg.as_mut().is_none_or(pg::PgLeader::still_held)
    }
}

/// The store: SQLite in a file (or in memory), or a PostgreSQL database.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    // Boxed: the pool and its configuration are large, and a store is made once.
    Postgres(Box<pg::PgStore>),
}

/// Calls the same method on whichever backend the store has.
macro_rules! dispatch {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Sqlite(s) => s.$method($($arg),*),
            Backend::Postgres(p) => p.$method($($arg),*),
        }
    };
}

/// Writes papers inside one transaction (see [`Store::write`]).
#[derive(Debug)]
pub struct Writer<'a> {
    inner: WriterInner<'a>,
}

#[derive(Debug)]
enum WriterInner<'a> {
    Sqlite(sqlite::Writer<'a>),
    Postgres(pg::Writer<'a>),
}

impl<'a> Writer<'a> {
    fn sqlite(w: sqlite::Writer<'a>) -> Writer<'a> {
        Writer {
            inner: WriterInner::Sqlite(w),
        }
    }

    fn postgres(w: pg::Writer<'a>) -> Writer<'a> {
        Writer {
            inner: WriterInner::Postgres(w),
        }
    }

    /// Adds `paper`, or merges it into the stored paper it is a record of ([`Paper::merge`]):
    /// the one known by any of its ids (arXiv id, DOI, …); failing that, when either side has
    /// no id but a title hash, the one with the same normalised title.
    pub fn put(&mut self, paper: Paper) -> Result<()> {
        match &mut self.inner {
            WriterInner::Sqlite(w) => w.put(paper),
            WriterInner::Postgres(w) => w.put(paper),
        }
    }

    /// Saves `state` for `harvest` in this write's transaction, so the state (the next page's
    /// resumption token) is committed with the page's papers or not at all; and adds the
    /// page's counts to run `run`.
    pub fn set_harvest_state(
        &mut self,
        harvest: &str,
        state: &str,
        run: i64,
        counts: PageCounts,
    ) -> Result<()> {
        match &mut self.inner {
            WriterInner::Sqlite(w) => w.set_harvest_state(harvest, state, run, counts),
            WriterInner::Postgres(w) => w.set_harvest_state(harvest, state, run, counts),
        }
    }

    /// The PostgreSQL writer a PostgreSQL write handed out, back for its commit.
    fn into_postgres(self) -> pg::Writer<'a> {
        match self.inner {
            WriterInner::Postgres(w) => w,
            WriterInner::Sqlite(_) => unreachable!("a PostgreSQL write hands out its own writer"),
        }
    }

    /// What this write has done so far.
    pub fn report(&self) -> UpsertReport {
        match &self.inner {
            WriterInner::Sqlite(w) => w.report,
            WriterInner::Postgres(w) => w.report,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and brings its schema up to
    /// date. A new store file is created readable by its owner only (it holds subscribers'
    /// addresses and their tokens); SQLite gives its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::SqliteStore::open(path)?),
        })
    }

    /// A private SQLite store in memory, for tests and scratch work.
    pub fn open_in_memory() -> Result<Store> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::SqliteStore::open_in_memory()?),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`)
    /// and brings its schema up to date (under an advisory lock, so replicas starting
    /// together migrate once). Waits up to `connect_timeout` for the server.
    pub fn connect(url: &DatabaseUrl, connect_timeout: std::time::Duration) -> Result<Store> {
        Ok(Store {
            backend: Backend::Postgres(Box::new(pg::PgStore::connect(
                url.as_str(),
                connect_timeout,
            )?)),
        })
    }

    /// Where the store lives, for messages: a file path, or the database URL without its
    /// password.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(p) => p.location(),
        }
    }

    /// The SQLite file, when the store is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Whether the store is a PostgreSQL database (shared with other processes).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// How long a write waits for another process's write transaction (every write waits for
    /// the lock it needs rather than failing midway). A server answering votes waits briefly;
    /// a batch command can afford to wait for a whole ingest.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<()> {
        dispatch!(self, set_busy_timeout(wait))
    }

    /// Waits up to `timeout` for a write from another process; true when one was announced.
    /// PostgreSQL announces writes (`LISTEN`/`NOTIFY`), so replicas catch up at once; with
    /// SQLite this only sleeps (the caller polls).
    pub fn wait_for_change(&self, timeout: std::time::Duration) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => {
                std::thread::sleep(timeout);
                false
            }
            Backend::Postgres(p) => p.wait_for_change(timeout),
        }
    }

    /// Takes `role` (`"digest"`, `"harvest"`) for this process, unless another process holds
    /// it: `None`. On PostgreSQL this is a session advisory lock, so exactly one of many
    /// replicas runs a scheduler, and another takes over when it dies. A SQLite store lives
    /// on one machine, and its schedulers rely on the ledgers alone (each digest day and
    /// each harvest run is claimed in the store): every caller gets the role.
    pub fn lead(&self, role: &str) -> Result<Option<Leader>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Some(Leader { pg: None })),
            Backend::Postgres(p) => Ok(p.lead(role)?.map(|l| Leader { pg: Some(l) })),
        }
    }

    /// Database connection pool figures, for `/metrics`: (open, idle); `None` for SQLite.
    pub fn pool_state(&self) -> Option<(u32, u32)> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.pool_state()),
        }
    }

    /// Inserts new papers and merges known ones (see [`Writer::put`]) in one transaction:
    /// either all of them are written or, on any error, none.
    pub fn upsert(&self, papers: &[Paper]) -> Result<UpsertReport> {
        self.write(|w| {
            for paper in papers {
                w.put(paper.clone())?;
            }
            Ok::<_, Error>(())
        })
        .map(|((), report)| report)
    }

    /// Runs `f` with a [`Writer`] inside one transaction, committed when `f` returns `Ok`
    /// (all of its writes, or on an error none of them): an ingest streams any number of
    /// papers through it in constant memory and stays all-or-nothing.
    pub fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, UpsertReport), E> {
        dispatch!(self, write(f))
    }

    /// The generation of the last write that changed papers; 0 for an empty store.
    pub fn generation(&self) -> Result<u64> {
        dispatch!(self, generation())
    }

    pub fn count(&self) -> Result<usize> {
        dispatch!(self, count())
    }

    /// Number of papers per source, sorted by source.
    pub fn count_by_source(&self) -> Result<Vec<(String, usize)>> {
        dispatch!(self, count_by_source())
    }

    /// Papers per source, with the time each source last added or changed one.
    pub fn source_counts(&self) -> Result<Vec<SourceCount>> {
        dispatch!(self, source_counts())
    }

    /// Removes every paper of `source` (with its embeddings, votes, ids, and its places in
    /// collections and "not interested" lists) in one transaction that bumps the generation
    /// and leaves a tombstone per paper, so that derived indexes here and in other processes
    /// drop them ([`Store::removed_since`]). Returns their keys.
    pub fn remove_source(&self, source: &str) -> Result<Vec<PaperKey>> {
        dispatch!(self, remove_source(source))
    }

    /// The keys of papers removed by writes after `generation`.
    pub fn removed_since(&self, generation: u64) -> Result<Vec<PaperKey>> {
        dispatch!(self, removed_since(generation))
    }

    /// Papers published from `from` to `to` (inclusive), most upvoted first (then by key),
    /// page `offset..offset+limit`, and how many there are in all.
    pub fn published_between(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<PaperKey>, usize)> {
        dispatch!(self, published_between(from, to, offset, limit))
    }

    /// The nearest dates before `from` and after `to` on which papers were published.
    pub fn published_neighbours(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Neighbours> {
        dispatch!(self, published_neighbours(from, to))
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        dispatch!(self, meta(key))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        dispatch!(self, set_meta(key, value))
    }

    /// The paper known by `id`: its id, one of its aliases, or (for `title:` ids) its title.
    pub fn get(&self, id: &PaperId) -> Result<Option<StoredPaper>> {
        dispatch!(self, get(id))
    }

    pub fn get_by_key(&self, key: PaperKey) -> Result<Option<StoredPaper>> {
        dispatch!(self, get_by_key(key))
    }

    /// The papers with these keys, in the order asked; unknown keys are left out.
    pub fn get_many(&self, keys: &[PaperKey]) -> Result<Vec<StoredPaper>> {
        dispatch!(self, get_many(keys))
    }

    /// Calls `f` for every paper changed after `generation` (all papers for 0), in key order,
    /// streaming rows so that memory stays flat on large stores.
    pub fn for_each_since(
        &self,
        generation: u64,
        f: impl FnMut(StoredPaper) -> Result<()>,
    ) -> Result<()> {
        dispatch!(self, for_each_since(generation, f))
    }

    /// Number of papers changed after `generation`.
    pub fn count_since(&self, generation: u64) -> Result<usize> {
        dispatch!(self, count_since(generation))
    }

    /// Papers with no embedding from `model` for their current content, in key order.
    pub fn pending_embeddings(&self, model: &str) -> Result<Vec<PendingEmbedding>> {
        self.pending_embeddings_after(model, PaperKey::MIN, usize::MAX)
    }

    /// At most `limit` of the papers [`Store::pending_embeddings`] lists, with keys above
    /// `after`: an encoder walks a large store in pieces without holding every text at once.
    pub fn pending_embeddings_after(
        &self,
        model: &str,
        after: PaperKey,
        limit: usize,
    ) -> Result<Vec<PendingEmbedding>> {
        dispatch!(self, pending_embeddings_after(model, after, limit))
    }

    /// Leases to `worker`, until `until` (Unix seconds), up to `limit` papers with keys above
    /// `after` whose embedding from `model` is missing or stale and which no other encoder
    /// holds an unexpired lease on (a paper whose lease expired is taken over). Encoders in
    /// any number of processes share the work this way: each paper is encoded once, and the
    /// work of one that died is taken over when its lease expires. [`Store::put_embeddings`]
    /// ends the leases of what it writes.
    pub fn claim_embeddings(
        &self,
        model: &str,
        worker: &str,
        after: PaperKey,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<Claim> {
        dispatch!(
            self,
            claim_embeddings(model, worker, after, limit, now, until)
        )
    }

    /// How many papers [`Store::pending_embeddings`] would list.
    pub fn count_pending_embeddings(&self, model: &str) -> Result<usize> {
        dispatch!(self, count_pending_embeddings(model))
    }

    /// Stores embeddings from `model` in one transaction. An embedding whose content hash no
    /// longer matches its paper (the paper changed meanwhile) is dropped, not stored.
    pub fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[(PaperKey, String, Vec<f32>)],
    ) -> Result<EmbeddingsWritten> {
        dispatch!(self, put_embeddings(model, embeddings))
    }

    /// The stamp of the last write of embeddings (0 before any): it grows with every
    /// [`Store::put_embeddings`], whichever process made it.
    pub fn embedding_stamp(&self) -> Result<u64> {
        dispatch!(self, embedding_stamp())
    }

    /// Calls `f` with every current embedding from `model` written after stamp `after` (see
    /// [`Store::embedding_stamp`]).
    pub fn for_each_embedding_stamped_after(
        &self,
        model: &str,
        after: u64,
        f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        dispatch!(self, for_each_embedding_stamped_after(model, after, f))
    }

    /// Calls `f` with every current embedding from `model` (stale ones are skipped).
    pub fn for_each_embedding(&self, model: &str, f: impl FnMut(PaperKey, Vec<f32>)) -> Result<()> {
        self.for_each_embedding_since(model, 0, f)
    }

    /// Like [`Store::for_each_embedding`], for the papers changed after `generation` only.
    pub fn for_each_embedding_since(
        &self,
        model: &str,
        generation: u64,
        f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        dispatch!(self, for_each_embedding_since(model, generation, f))
    }

    /// The current stored embeddings of `keys` (papers without one are absent): one read for
    /// many papers, as the approximate index's exact re-score needs.
    pub fn embeddings(
        &self,
        model: &str,
        keys: &[PaperKey],
    ) -> Result<HashMap<PaperKey, Vec<f32>>> {
        dispatch!(self, embeddings(model, keys))
    }

    /// The stored embedding of one paper, if current.
    pub fn embedding(&self, model: &str, key: PaperKey) -> Result<Option<Vec<f32>>> {
        dispatch!(self, embedding(model, key))
    }

    /// Drops every embedding from `model` (to recompute them all).
    pub fn delete_embeddings(&self, model: &str) -> Result<usize> {
        dispatch!(self, delete_embeddings(model))
    }

    /// Records `voter`'s vote for paper `key` at `at` (Unix seconds). Returns false when the
    /// voter had already voted for it (one vote per voter per paper) or there is no such paper.
    pub fn vote(&self, key: PaperKey, voter: &str, at: i64) -> Result<bool> {
        dispatch!(self, vote(key, voter, at))
    }

    /// Takes back `voter`'s vote for paper `key`. Returns false when there was none.
    pub fn unvote(&self, key: PaperKey, voter: &str) -> Result<bool> {
        dispatch!(self, unvote(key, voter))
    }

    /// All-time vote counts of `keys`: votes cast here plus the upvotes the paper's source
    /// reported (Hugging Face daily papers). Papers without votes are absent.
    pub fn vote_counts(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, usize>> {
        dispatch!(self, vote_counts(keys))
    }

    /// Which of `keys` `voter` has voted for.
    pub fn voted_by(&self, voter: &str, keys: &[PaperKey]) -> Result<HashSet<PaperKey>> {
        dispatch!(self, voted_by(voter, keys))
    }

    /// Every paper voted for since `since` (Unix seconds) or listed since then with upvotes
    /// from its source (a paper's initial trending signal), plus the `recent` most recently
    /// listed papers, with their votes since `since` (plus their source's upvotes). Trending
    /// ranks these: the top of the full ranking is always among them, because a paper without
    /// votes scores lower the older it is, inside the window or out.
    pub fn trending_candidates(&self, since: i64, recent: usize) -> Result<Vec<Candidate>> {
        dispatch!(self, trending_candidates(since, recent))
    }

    /// Keys of papers in feed order, newest first.
    pub fn newest(&self, offset: usize, limit: usize) -> Result<Vec<PaperKey>> {
        dispatch!(self, newest(offset, limit))
    }

    /// The filterable fields of `keys` (unknown keys are absent).
    pub fn facets(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, Facets>> {
        dispatch!(self, facets(keys))
    }

    /// Calls `f` with every paper's filterable fields (a scan: for filters too selective to
    /// answer from the top of a ranking).
    pub fn for_each_facets(&self, f: impl FnMut(PaperKey, Facets)) -> Result<()> {
        dispatch!(self, for_each_facets(f))
    }

    /// Records the start of a run of `harvest` at `now`, or `None` when another run of it is
    /// going on (written to within [`HARVEST_STALE_SECS`]). A stale run is marked failed as
    /// interrupted.
    pub fn start_harvest(&self, harvest: &str, now: i64) -> Result<Option<i64>> {
        dispatch!(self, start_harvest(harvest, now))
    }

    /// Ends run `id` with its outcome.
    pub fn finish_harvest(
        &self,
        id: i64,
        status: HarvestStatus,
        message: Option<&str>,
        now: i64,
    ) -> Result<()> {
        dispatch!(self, finish_harvest(id, status, message, now))
    }

    /// The latest run of every harvest, by harvest name.
    pub fn last_harvests(&self) -> Result<Vec<HarvestRun>> {
        dispatch!(self, last_harvests())
    }

    /// The latest `limit` runs of `harvest`, newest first.
    pub fn harvest_runs(&self, harvest: &str, limit: usize) -> Result<Vec<HarvestRun>> {
        dispatch!(self, harvest_runs(harvest, limit))
    }

    /// The state saved by the last page of `harvest` (see [`Writer::set_harvest_state`]).
    pub fn harvest_state(&self, harvest: &str) -> Result<Option<String>> {
        dispatch!(self, harvest_state(harvest))
    }

    /// Saves `state` for `harvest` outside a page (when a run ends without one).
    pub fn set_harvest_state(&self, harvest: &str, state: &str, now: i64) -> Result<()> {
        dispatch!(self, set_harvest_state(harvest, state, now))
    }

    /// Records a subscription request and queues the mail it calls for, in one transaction.
    ///
    /// - unknown address, or one that unsubscribed: a pending subscription with `new_handle`;
    ///   `render` makes the confirmation mail.
    /// - pending: its preferences are replaced; the confirmation is sent again (same handle).
    /// - active: nothing changes; `render` makes a notice with the manage link (so the answer
    ///   to the requester is the same whether the address is known or not).
    ///
    /// At most one such mail per address every `resend_after` seconds: more is
    /// [`SubscribeOutcome::Throttled`], and nothing is queued.
    pub fn subscribe(
        &self,
        request: &Subscription,
        new_handle: &[u8],
        now: i64,
        resend_after: i64,
        render: impl FnOnce(&Subscriber, MailKind) -> OutgoingMail,
    ) -> Result<SubscribeOutcome> {
        dispatch!(
            self,
            subscribe(request, new_handle, now, resend_after, render)
        )
    }

    /// Adds an already-confirmed subscriber (a list moved from another tool, or a benchmark):
    /// no confirmation mail. Returns `None` when the address is already known.
    pub fn import_subscriber(
        &self,
        s: &Subscription,
        handle: &[u8],
        now: i64,
        since_key: PaperKey,
    ) -> Result<Option<i64>> {
        dispatch!(self, import_subscriber(s, handle, now, since_key))
    }

    pub fn subscriber_by_handle(&self, handle: &[u8]) -> Result<Option<Subscriber>> {
        dispatch!(self, subscriber_by_handle(handle))
    }

    /// Activates a pending subscription; papers with keys above `since_key` will count as new
    /// in its first digest. Confirming an active one changes nothing. `None`: no such handle,
    /// or it unsubscribed.
    pub fn confirm(
        &self,
        handle: &[u8],
        now: i64,
        since_key: PaperKey,
    ) -> Result<Option<Subscriber>> {
        dispatch!(self, confirm(handle, now, since_key))
    }

    /// Ends a subscription and cancels its queued mail. Idempotent; false when there is no
    /// such handle.
    pub fn unsubscribe(&self, handle: &[u8], now: i64) -> Result<bool> {
        dispatch!(self, unsubscribe(handle, now))
    }

    /// Replaces an active or pending subscriber's preferences (not the address).
    pub fn update_preferences(
        &self,
        handle: &[u8],
        s: &Subscription,
    ) -> Result<Option<Subscriber>> {
        dispatch!(self, update_preferences(handle, s))
    }

    pub fn active_subscribers(&self) -> Result<Vec<Subscriber>> {
        dispatch!(self, active_subscribers())
    }

    /// Whether the digest of `subscriber_id` for `local_date` is in the ledger (whatever became
    /// of it: queued, sent, skipped or failed).
    pub fn digest_claimed(&self, subscriber_id: i64, local_date: &str) -> Result<bool> {
        dispatch!(self, digest_claimed(subscriber_id, local_date))
    }

    /// Claims the digest of `subscriber_id` for `local_date`, in one transaction: queues `mail`
    /// (or records the day as skipped when `None`), marks `papers` as sent to the subscriber,
    /// and moves its `since_key` on. Returns false, changing nothing, when that day's digest was
    /// already claimed, the subscriber is no longer active, or one of `papers` was sent to them
    /// already (the digest was built from a stale view; build it again).
    pub fn claim_digest(
        &self,
        subscriber_id: i64,
        local_date: &str,
        mail: Option<&OutgoingMail>,
        papers: &[PaperKey],
        since_key: PaperKey,
        now: i64,
    ) -> Result<bool> {
        dispatch!(
            self,
            claim_digest(subscriber_id, local_date, mail, papers, since_key, now)
        )
    }

    /// The papers already sent (or claimed for sending) to a subscriber.
    pub fn sent_papers(&self, subscriber_id: i64) -> Result<HashSet<PaperKey>> {
        dispatch!(self, sent_papers(subscriber_id))
    }

    /// Up to `limit` queued mails whose next attempt is due at `now`, oldest first.
    pub fn due_mail(&self, now: i64, limit: usize) -> Result<Vec<QueuedMail>> {
        dispatch!(self, due_mail(now, limit))
    }

    /// Takes a due mail for sending until `until`; false when another process took it first.
    pub fn lease_mail(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        dispatch!(self, lease_mail(id, now, until))
    }

    /// The mail was accepted by the SMTP server: the message body is no longer needed.
    pub fn mark_sent(&self, id: i64, now: i64) -> Result<()> {
        dispatch!(self, mark_sent(id, now))
    }

    /// An attempt failed: try again at `retry_at`, or give up (`None`).
    pub fn mark_attempt_failed(&self, id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        dispatch!(self, mark_attempt_failed(id, error, retry_at))
    }

    /// Drops a queued mail that must not go out any more (its subscriber left).
    pub fn cancel_mail(&self, id: i64) -> Result<()> {
        dispatch!(self, cancel_mail(id))
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        dispatch!(self, outbox_stats())
    }

    /// Records a request to sign in as `email` and queues the mail with its link, in one
    /// transaction. `token_hash` is the SHA-256 of the link's token (the token itself is never
    /// stored); the link works until `expires_at`, once. At most one link per
    /// address (in any case) every `resend_after` seconds: a request sooner than that returns
    /// false and writes nothing. Used and expired links of the address older than a day are
    /// cleared away on the way.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_signin(
        &self,
        email: &str,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
        resend_after: i64,
        render: impl FnOnce() -> OutgoingMail,
    ) -> Result<bool> {
        dispatch!(
            self,
            queue_signin(email, token_hash, now, expires_at, resend_after, render)
        )
    }

    /// Redeems a sign-in link, in one transaction: `None`, changing nothing, unless the token
    /// exists, is unused and unexpired (of two redeems at once, one wins). Creates the account
    /// on the address's first sign-in, and its [`DEFAULT_COLLECTION`] when it has no
    /// collection; moves the votes of `voter`, the anonymous visitor who opened the link (not
    /// whoever asked for it: anyone can ask for a link to any address), to [`Account::voter`]
    /// (a paper the account voted for already keeps one vote); opens a session named by
    /// `session_hash`.
    /// The digest subscriber with the same address, if any, is the account's subscription.
    pub fn redeem_signin(
        &self,
        token_hash: &[u8],
        session_hash: &[u8],
        voter: &str,
        now: i64,
    ) -> Result<Option<SignIn>> {
        dispatch!(self, redeem_signin(token_hash, session_hash, voter, now))
    }

    /// The account signed in with the session `session_hash`, unless the session began more
    /// than `max_age` seconds before `now` (an expired session is removed). Records when the
    /// session was last seen, at most once a minute.
    pub fn session(&self, session_hash: &[u8], now: i64, max_age: i64) -> Result<Option<Account>> {
        dispatch!(self, session(session_hash, now, max_age))
    }

    /// Signs one session out; false when there was none.
    pub fn end_session(&self, session_hash: &[u8]) -> Result<bool> {
        dispatch!(self, end_session(session_hash))
    }

    /// Signs every session of an account out ("sign out everywhere"); how many there were.
    pub fn end_all_sessions(&self, account_id: i64) -> Result<usize> {
        dispatch!(self, end_all_sessions(account_id))
    }

    pub fn account(&self, account_id: i64) -> Result<Option<Account>> {
        dispatch!(self, account(account_id))
    }

    /// The account with address `email`, in any case.
    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        dispatch!(self, account_by_email(email))
    }

    /// Deletes an account and every personal row that goes with it, in one transaction: its
    /// sessions, API tokens, sign-in links, collections with their papers, dismissed papers,
    /// votes, and the digest subscriber with its address, with that subscriber's ledger and
    /// every mail to the address. False when there is no such account.
    pub fn delete_account(&self, account_id: i64) -> Result<bool> {
        dispatch!(self, delete_account(account_id))
    }

    /// Everything the store holds about an account, as of one moment (tokens by name only).
    pub fn export_account(&self, account_id: i64) -> Result<Option<AccountExport>> {
        dispatch!(self, export_account(account_id))
    }

    /// Adds an API token (`token_hash`: its SHA-256). [`Error::Refused`] when the account has
    /// [`MAX_API_TOKENS`] already, or does not exist.
    pub fn create_api_token(
        &self,
        account_id: i64,
        name: &str,
        token_hash: &[u8],
        now: i64,
    ) -> Result<ApiToken> {
        dispatch!(self, create_api_token(account_id, name, token_hash, now))
    }

    /// An account's API tokens, oldest first.
    pub fn api_tokens(&self, account_id: i64) -> Result<Vec<ApiToken>> {
        dispatch!(self, api_tokens(account_id))
    }

    /// Revokes one of the account's tokens; false when it has no such token.
    pub fn revoke_api_token(&self, account_id: i64, token_id: i64) -> Result<bool> {
        dispatch!(self, revoke_api_token(account_id, token_id))
    }

    /// The account an API token (by its SHA-256) belongs to. Records when the token was last
    /// used, at most once a minute.
    pub fn account_by_api_token(&self, token_hash: &[u8], now: i64) -> Result<Option<Account>> {
        dispatch!(self, account_by_api_token(token_hash, now))
    }

    /// An account's collections, oldest first. Every collection method names the account, and
    /// a collection of another account is as good as missing.
    pub fn collections(&self, account_id: i64) -> Result<Vec<Collection>> {
        dispatch!(self, collections(account_id))
    }

    pub fn collection(&self, account_id: i64, collection_id: i64) -> Result<Option<Collection>> {
        dispatch!(self, collection(account_id, collection_id))
    }

    /// A new, empty collection; `None` when the account has one by that name (in any case) or
    /// does not exist. [`Error::Refused`] when it has [`MAX_COLLECTIONS`] already.
    pub fn create_collection(
        &self,
        account_id: i64,
        name: &str,
        now: i64,
    ) -> Result<Option<Collection>> {
        dispatch!(self, create_collection(account_id, name, now))
    }

    /// False when the collection is missing or another of the account's has that name.
    pub fn rename_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        name: &str,
    ) -> Result<bool> {
        dispatch!(self, rename_collection(account_id, collection_id, name))
    }

    /// Deletes a collection with its list of papers (not the papers).
    pub fn delete_collection(&self, account_id: i64, collection_id: i64) -> Result<bool> {
        dispatch!(self, delete_collection(account_id, collection_id))
    }

    pub fn set_rules(&self, account_id: i64, collection_id: i64, rules: &Rules) -> Result<bool> {
        dispatch!(self, set_rules(account_id, collection_id, rules))
    }

    /// Whether the account's daily digest includes this collection.
    pub fn set_collection_digest(
        &self,
        account_id: i64,
        collection_id: i64,
        on: bool,
    ) -> Result<bool> {
        dispatch!(self, set_collection_digest(account_id, collection_id, on))
    }

    /// Sets the SHA-256 of the token the collection's feed URL carries, replacing any earlier
    /// one; `None` revokes the feed.
    pub fn set_feed_token(
        &self,
        account_id: i64,
        collection_id: i64,
        hash: Option<&[u8]>,
    ) -> Result<bool> {
        dispatch!(self, set_feed_token(account_id, collection_id, hash))
    }

    /// The collection whose feed token has this SHA-256.
    pub fn collection_by_feed_token(&self, hash: &[u8]) -> Result<Option<Collection>> {
        dispatch!(self, collection_by_feed_token(hash))
    }

    /// Adds papers to a collection; returns how many were not in it yet. Unknown keys are
    /// ignored, and so is a collection of another account (0). Adding a paper takes it off the
    /// account's "not interested" list. [`Error::Refused`], adding nothing, when the collection
    /// would hold more than [`MAX_COLLECTION_PAPERS`].
    pub fn add_to_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        keys: &[PaperKey],
        now: i64,
    ) -> Result<usize> {
        dispatch!(
            self,
            add_to_collection(account_id, collection_id, keys, now)
        )
    }

    pub fn remove_from_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        key: PaperKey,
    ) -> Result<bool> {
        dispatch!(self, remove_from_collection(account_id, collection_id, key))
    }

    /// A collection's papers with when each was added, newest first.
    pub fn collection_papers(
        &self,
        account_id: i64,
        collection_id: i64,
    ) -> Result<Vec<(PaperKey, i64)>> {
        dispatch!(self, collection_papers(account_id, collection_id))
    }

    /// Which of the account's collections hold each of `keys` (papers in none are absent).
    pub fn saved_in(
        &self,
        account_id: i64,
        keys: &[PaperKey],
    ) -> Result<HashMap<PaperKey, Vec<i64>>> {
        dispatch!(self, saved_in(account_id, keys))
    }

    /// Marks a paper "not interested" for the account (collections are left alone); false
    /// when it was already, or there is no such paper or account.
    pub fn dismiss(&self, account_id: i64, key: PaperKey, now: i64) -> Result<bool> {
        dispatch!(self, dismiss(account_id, key, now))
    }

    pub fn undismiss(&self, account_id: i64, key: PaperKey) -> Result<bool> {
        dispatch!(self, undismiss(account_id, key))
    }

    /// The papers the account is not interested in, most recently dismissed first.
    pub fn dismissed(&self, account_id: i64) -> Result<Vec<PaperKey>> {
        dispatch!(self, dismissed(account_id))
    }

    /// The collections with the digest on of the account whose address is `email` (in any
    /// case), oldest first: what the daily digest of that address adds.
    pub fn digest_collections(&self, email: &str) -> Result<Vec<Collection>> {
        dispatch!(self, digest_collections(email))
    }

    /// The largest paper key (0 for an empty store).
    pub fn max_paper_key(&self) -> Result<PaperKey> {
        dispatch!(self, max_paper_key())
    }

    /// The largest key of a paper added before `at` (Unix seconds); 0 if none.
    pub fn last_key_added_before(&self, at: i64) -> Result<PaperKey> {
        dispatch!(self, last_key_added_before(at))
    }

    /// Keys of the papers added after `key`, in order.
    pub fn keys_after(&self, key: PaperKey) -> Result<Vec<PaperKey>> {
        dispatch!(self, keys_after(key))
    }
}

#[cfg(test)]
impl Store {
    /// The SQLite backend (tests of SQLite specifics).
    fn sqlite(&self) -> &sqlite::SqliteStore {
        match &self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(_) => panic!("not a SQLite store"),
        }
    }

    /// Runs `sqlite` or `pg` on the store, whichever it is (tests that sabotage the schema).
    fn test_sql(&self, sqlite: &str, pg: &str) {
        match &self.backend {
            Backend::Sqlite(s) => s.conn().execute_batch(sqlite).unwrap(),
            Backend::Postgres(p) => p.conn().unwrap().batch_execute(pg).unwrap(),
        }
    }

    /// The one integer `sql` selects (the same text on both backends).
    fn test_count(&self, sql: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite(s) => s.conn().query_row(sql, [], |r| r.get(0)).unwrap(),
            Backend::Postgres(p) => p.conn().unwrap().query_one(sql, &[]).unwrap().get(0),
        }
    }

    /// The names of the store's tables.
    fn test_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.backend {
            Backend::Sqlite(s) => s
                .conn()
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap(),
            Backend::Postgres(p) => p
                .conn()
                .unwrap()
                .query(
                    "SELECT table_name::TEXT FROM information_schema.tables
                     WHERE table_schema = current_schema()",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests;
