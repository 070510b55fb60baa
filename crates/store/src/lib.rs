//! The ground truth: papers and their embeddings in SQLite (embedded, no server).
//!
//! Every index paperscout keeps is derived from this store and can be rebuilt from it. Each
//! write transaction that changes papers bumps the store's *generation* and stamps the changed
//! rows with it, so a derived index that records the generation it reflects can catch up with
//! exactly the rows it missed (after a crash, or another process's ingest).

mod harvests;
mod schema;
mod subscribers;
mod votes;

pub use harvests::{HarvestRun, HarvestStatus, PageCounts, HARVEST_STALE_SECS};
pub use subscribers::{
    MailKind, OutboxStats, OutgoingMail, QueuedMail, SubscribeOutcome, Subscriber,
    SubscriberStatus, Subscription,
};
pub use votes::{Candidate, Facets};

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{NaiveDate, Utc};
use paperscout_model::sync::MutexExt;
use paperscout_model::{embedding_text, Links, Paper, PaperId, Source};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

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
}

impl Error {
    /// Another connection (another process's ingest, say) held the write lock for longer than
    /// this store waits (see [`Store::set_busy_timeout`]): worth retrying later, not a fault.
    pub fn is_busy(&self) -> bool {
        let e = match self {
            Error::Sqlite(e) | Error::Open { source: e, .. } => e,
            _ => return false,
        };
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

const EMBEDDING_STAMP: &str = "embedding_stamp";

/// Calls `f` with each `(paper_key, vector)` row of `rows`.
fn each_embedding(
    mut rows: rusqlite::Rows<'_>,
    mut f: impl FnMut(PaperKey, Vec<f32>),
) -> Result<()> {
    while let Some(row) = rows.next()? {
        let key: PaperKey = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        let vector = blob_to_vector(&blob).ok_or_else(|| Error::Corrupt {
            key,
            message: format!(
                "embedding blob of {} bytes is not a whole number of f32s",
                blob.len()
            ),
        })?;
        f(key, vector);
    }
    Ok(())
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

/// Read connections kept open for reuse; more are opened while that many are busy.
const IDLE_READERS: usize = 8;

#[derive(Debug)]
pub struct Store {
    /// The one connection that writes: every write transaction goes through it.
    conn: Mutex<Connection>,
    /// Idle read-only connections (file stores only). In WAL mode a reader never waits for a
    /// writer, so pages and searches go on while a vote waits for another process's ingest to
    /// let go of the write lock, or while an ingest streams papers through the writer.
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

/// A connection to read with: one from the reader pool (given back when dropped), or the
/// writer for an in-memory store, which no second connection can see.
enum ReadConn<'a> {
    Pooled(&'a Store, Option<Connection>),
    Writer(MutexGuard<'a, Connection>),
}

impl std::ops::Deref for ReadConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            ReadConn::Pooled(_, conn) => conn.as_ref().expect("held until drop"),
            ReadConn::Writer(guard) => guard,
        }
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let ReadConn::Pooled(store, conn) = self {
            let mut idle = store.readers.lock_unpoisoned();
            if idle.len() < IDLE_READERS {
                idle.extend(conn.take());
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    /// A new store file is created readable by its owner only (it holds subscribers'
    /// addresses and their tokens); SQLite gives its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path) -> Result<Store> {
        #[cfg(unix)]
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::Open {
                    path: path.to_path_buf(),
                    source: rusqlite::Error::InvalidPath(PathBuf::from(format!(
                        "{}: {e}",
                        path.display()
                    ))),
                })?;
        }
        let conn = Connection::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn, path.to_path_buf())
    }

    /// A private store in memory, for tests and scratch work.
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        if path.as_os_str() != ":memory:" {
            // WAL: readers never block the writer; a crash mid-transaction rolls back on open.
            conn.pragma_update(None, "journal_mode", "wal")?;
            conn.pragma_update(None, "synchronous", "normal")?;
        }
        schema::migrate(&conn, &path)?;
        Ok(Store {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    fn is_in_memory(&self) -> bool {
        self.path.as_os_str() == ":memory:"
    }

    /// A connection for reads (see [`Store::readers`]).
    fn read(&self) -> Result<ReadConn<'_>> {
        if self.is_in_memory() {
            return Ok(ReadConn::Writer(self.conn()));
        }
        let idle = self.readers.lock_unpoisoned().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| Error::Open {
                    path: self.path.clone(),
                    source,
                })?;
                conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
                conn
            }
        };
        Ok(ReadConn::Pooled(self, Some(conn)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long a write waits for another process's write transaction (every write begins
    /// `IMMEDIATE`, so it waits here rather than failing midway). A server answering votes
    /// waits briefly; a batch command can afford to wait for a whole ingest.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<()> {
        self.conn().busy_timeout(wait)?;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock_unpoisoned()
    }

    /// The generation of the last write that changed papers; 0 for an empty store.
    pub fn generation(&self) -> Result<u64> {
        Ok(meta_get(&*self.read()?, "generation")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub fn count(&self) -> Result<usize> {
        Ok(self
            .read()?
            .query_row("SELECT COUNT(*) FROM papers", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    /// Number of papers per source, sorted by source.
    pub fn count_by_source(&self) -> Result<Vec<(String, usize)>> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare("SELECT source, COUNT(*) FROM papers GROUP BY source ORDER BY source")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        meta_get(&*self.read()?, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        meta_set(&self.conn(), key, value)
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
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let current: u64 = meta_get(&tx, "generation")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let now = Utc::now();
        let mut writer = Writer {
            tx: &tx,
            generation: current + 1,
            now: now.timestamp(),
            now_text: now.to_rfc3339(),
            report: UpsertReport::default(),
        };
        let value = f(&mut writer)?;
        let mut report = writer.report;
        if report.added + report.updated > 0 {
            meta_set(&tx, "generation", &(current + 1).to_string())?;
            report.generation = current + 1;
        } else {
            report.generation = current;
        }
        tx.commit().map_err(Error::from)?;
        Ok((value, report))
    }

    /// The paper known by `id`: its id, one of its aliases, or (for `title:` ids) its title.
    pub fn get(&self, id: &PaperId) -> Result<Option<StoredPaper>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT_PAPER} WHERE key = (SELECT paper_key FROM paper_ids WHERE id = ?1 ORDER BY paper_key LIMIT 1)"
        ))?;
        stmt.query_row([id.as_str()], row_raw)
            .optional()?
            .map(RawPaper::into_stored)
            .transpose()
    }

    pub fn get_by_key(&self, key: PaperKey) -> Result<Option<StoredPaper>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("{SELECT_PAPER} WHERE key = ?1"))?;
        stmt.query_row([key], row_raw)
            .optional()?
            .map(RawPaper::into_stored)
            .transpose()
    }

    /// The papers with these keys, in the order asked; unknown keys are left out.
    pub fn get_many(&self, keys: &[PaperKey]) -> Result<Vec<StoredPaper>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("{SELECT_PAPER} WHERE key = ?1"))?;
        let mut out = Vec::with_capacity(keys.len());
        for &key in keys {
            if let Some(raw) = stmt.query_row([key], row_raw).optional()? {
                out.push(raw.into_stored()?);
            }
        }
        Ok(out)
    }

    /// Calls `f` for every paper changed after `generation` (all papers for 0), in key order,
    /// streaming rows so that memory stays flat on large stores.
    pub fn for_each_since(
        &self,
        generation: u64,
        mut f: impl FnMut(StoredPaper) -> Result<()>,
    ) -> Result<()> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "{SELECT_PAPER} WHERE generation > ?1 ORDER BY key"
        ))?;
        let mut rows = stmt.query([generation as i64])?;
        while let Some(row) = rows.next()? {
            f(row_raw(row)?.into_stored()?)?;
        }
        Ok(())
    }

    /// Number of papers changed after `generation`.
    pub fn count_since(&self, generation: u64) -> Result<usize> {
        Ok(self.read()?.query_row(
            "SELECT COUNT(*) FROM papers WHERE generation > ?1",
            [generation as i64],
            |r| r.get::<_, i64>(0),
        )? as usize)
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
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT p.key, p.content_hash, p.title, p.abstract FROM papers p
             LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = ?1
             WHERE (e.content_hash IS NULL OR e.content_hash != p.content_hash) AND p.key > ?2
             ORDER BY p.key LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![model, after, limit], |r| {
            let title: String = r.get(2)?;
            let abstract_text: String = r.get(3)?;
            Ok(PendingEmbedding {
                key: r.get(0)?,
                content_hash: r.get(1)?,
                text: embedding_text(&title, &abstract_text),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many papers [`Store::pending_embeddings`] would list.
    pub fn count_pending_embeddings(&self, model: &str) -> Result<usize> {
        Ok(self.read()?.query_row(
            "SELECT COUNT(*) FROM papers p
             LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = ?1
             WHERE e.content_hash IS NULL OR e.content_hash != p.content_hash",
            [model],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    /// Stores embeddings from `model` in one transaction. An embedding whose content hash no
    /// longer matches its paper (the paper changed meanwhile) is dropped, not stored.
    pub fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[(PaperKey, String, Vec<f32>)],
    ) -> Result<EmbeddingsWritten> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stamp = meta_get(&tx, EMBEDDING_STAMP)?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        let mut written = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO embeddings (paper_key, model, content_hash, vector, stamp)
                 SELECT key, ?2, ?3, ?4, ?5 FROM papers WHERE key = ?1 AND content_hash = ?3
                 ON CONFLICT(paper_key, model) DO UPDATE SET content_hash = excluded.content_hash, vector = excluded.vector, stamp = excluded.stamp",
            )?;
            for (key, hash, vector) in embeddings {
                written +=
                    stmt.execute(params![key, model, hash, vector_to_blob(vector), stamp])?;
            }
        }
        meta_set(&tx, EMBEDDING_STAMP, &stamp.to_string())?;
        tx.commit()?;
        Ok(EmbeddingsWritten {
            written,
            stamp: stamp as u64,
        })
    }

    /// The stamp of the last write of embeddings (0 before any): it grows with every
    /// [`Store::put_embeddings`], whichever process made it.
    pub fn embedding_stamp(&self) -> Result<u64> {
        Ok(meta_get(&*self.read()?, EMBEDDING_STAMP)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Calls `f` with every current embedding from `model` written after stamp `after` (see
    /// [`Store::embedding_stamp`]).
    pub fn for_each_embedding_stamped_after(
        &self,
        model: &str,
        after: u64,
        f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(
            "SELECT e.paper_key, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = ?1 AND e.stamp > ?2 AND e.content_hash = p.content_hash
             ORDER BY e.paper_key",
        )?;
        let rows = stmt.query(params![model, after as i64])?;
        each_embedding(rows, f)
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
        let conn = self.read()?;
        let mut stmt = conn.prepare(
            "SELECT e.paper_key, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = ?1 AND e.content_hash = p.content_hash AND p.generation > ?2
             ORDER BY e.paper_key",
        )?;
        let rows = stmt.query(params![model, generation as i64])?;
        each_embedding(rows, f)
    }

    /// The stored embedding of one paper, if current.
    pub fn embedding(&self, model: &str, key: PaperKey) -> Result<Option<Vec<f32>>> {
        let conn = self.read()?;
        let blob: Option<Vec<u8>> = conn
            .query_row(
                "SELECT e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
                 WHERE e.model = ?1 AND e.paper_key = ?2 AND e.content_hash = p.content_hash",
                params![model, key],
                |r| r.get(0),
            )
            .optional()?;
        blob.map(|b| {
            blob_to_vector(&b).ok_or_else(|| Error::Corrupt {
                key,
                message: "embedding blob length".into(),
            })
        })
        .transpose()
    }
}

fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Option<Vec<f32>> {
    b.len().is_multiple_of(4).then(|| {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A hash of every stored field, to tell an update that changes nothing from a real one.
fn record_hash(p: &Paper) -> String {
    let json = serde_json::to_vec(p).expect("a Paper always serialises");
    Sha256::digest(&json)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes papers inside one transaction (see [`Store::write`]).
#[derive(Debug)]
pub struct Writer<'a> {
    tx: &'a Transaction<'a>,
    generation: u64,
    now: i64,
    now_text: String,
    report: UpsertReport,
}

impl Writer<'_> {
    /// Adds `paper`, or merges it into the stored paper it is a record of ([`Paper::merge`]):
    /// the one known by any of its ids (arXiv id, DOI, …); failing that, when either side has
    /// no id but a title hash, the one with the same normalised title.
    pub fn put(&mut self, paper: Paper) -> Result<()> {
        let tx = self.tx;
        let existing = self.find(&paper)?;
        let (key, merged, old_hash) = match existing {
            Some((key, stored, old_hash)) => (Some(key), stored.merge(paper), Some(old_hash)),
            None => (None, paper, None),
        };
        let hash = record_hash(&merged);
        if old_hash.as_deref() == Some(hash.as_str()) {
            self.report.unchanged += 1;
            return Ok(());
        }
        let values = params![
            merged.id.as_str(),
            merged.title,
            merged.abstract_text,
            serde_json::to_string(&merged.authors).expect("strings serialise"),
            merged.published.map(|d| d.to_string()),
            serde_json::to_string(&merged.categories).expect("strings serialise"),
            serde_json::to_string(&merged.links).expect("links serialise"),
            merged.source.as_str(),
            merged.content_hash(),
            hash,
            self.generation as i64,
            self.now_text,
            listed_at(merged.published, self.now),
            serde_json::to_string(&merged.aliases).expect("ids serialise"),
            merged.version,
            merged.updated.map(|d| d.to_string()),
            merged.upvotes,
        ];
        let key = match key {
            Some(key) => {
                tx.prepare_cached(
                    "UPDATE papers SET id = ?1, title = ?2, abstract = ?3, authors = ?4,
                        published = ?5, categories = ?6, links = ?7, source = ?8,
                        content_hash = ?9, record_hash = ?10, generation = ?11, updated_at = ?12,
                        listed_at = MIN(listed_at, ?13), aliases = ?14, version = ?15,
                        updated = ?16, upvotes = ?17
                     WHERE key = ?18",
                )?
                .execute(rusqlite::params_from_iter(
                    values
                        .iter()
                        .copied()
                        .chain(std::iter::once(&key as &dyn rusqlite::ToSql)),
                ))?;
                self.report.updated += 1;
                key
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO papers (id, title, abstract, authors, published, categories, links,
                        source, content_hash, record_hash, generation, added_at, updated_at,
                        listed_at, aliases, version, updated, upvotes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15, ?16, ?17)",
                )?
                .execute(values)?;
                self.report.added += 1;
                tx.last_insert_rowid()
            }
        };
        let mut ids =
            tx.prepare_cached("INSERT OR IGNORE INTO paper_ids (id, paper_key) VALUES (?1, ?2)")?;
        for id in merged.ids() {
            ids.execute(params![id.as_str(), key])?;
        }
        ids.execute(params![PaperId::from_title(&merged.title).as_str(), key])?;
        Ok(())
    }

    /// The stored paper `paper` is a record of, with its key and record hash.
    fn find(&self, paper: &Paper) -> Result<Option<(PaperKey, Paper, String)>> {
        let tx = self.tx;
        let mut by_id = tx.prepare_cached(
            "SELECT paper_key FROM paper_ids WHERE id = ?1 ORDER BY paper_key LIMIT 1",
        )?;
        for id in paper.ids().filter(|id| !id.is_title()) {
            if let Some(key) = by_id.query_row([id.as_str()], |r| r.get(0)).optional()? {
                let (stored, hash) = self.load(key)?;
                // Two different arXiv ids are two papers, even when they share a DOI (a
                // paper and its erratum, a mistake upstream).
                if arxiv_id(&stored).is_some_and(|s| arxiv_id(paper).is_some_and(|p| p != s)) {
                    continue;
                }
                return Ok(Some((key, stored, hash)));
            }
        }
        // Same title: the same paper when one side is known by nothing better. An id-less
        // record matches any paper with its title; a record with an id matches only a paper
        // known by nothing but its title (whose id is then that title's hash). Both are single
        // index lookups, whatever the number of papers sharing a title.
        let title = PaperId::from_title(&paper.title);
        let key: Option<PaperKey> = if paper.ids().all(PaperId::is_title) {
            by_id.query_row([title.as_str()], |r| r.get(0)).optional()?
        } else {
            tx.prepare_cached("SELECT key FROM papers WHERE id = ?1")?
                .query_row([title.as_str()], |r| r.get(0))
                .optional()?
        };
        match key {
            Some(key) => {
                let (stored, hash) = self.load(key)?;
                Ok(Some((key, stored, hash)))
            }
            None => Ok(None),
        }
    }

    fn load(&self, key: PaperKey) -> Result<(Paper, String)> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT record_hash, {COLUMNS} FROM papers WHERE key = ?1"
        ))?;
        let (hash, raw) =
            stmt.query_row([key], |r| Ok((r.get::<_, String>(0)?, row_raw_at(r, 1)?)))?;
        Ok((raw.into_stored()?.paper, hash))
    }
}

fn arxiv_id(paper: &Paper) -> Option<&PaperId> {
    paper.ids().find(|id| id.scheme() == "arxiv")
}

/// When a paper published on `published` and added at `added` (Unix seconds) entered the feed.
fn listed_at(published: Option<NaiveDate>, added: i64) -> i64 {
    published
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp().min(added))
        .unwrap_or(added)
}

/// The columns [`row_raw`] reads, in its order.
macro_rules! paper_columns {
    () => {
        "key, id, title, abstract, authors, published, categories, links, source, content_hash, \
         generation, listed_at, aliases, version, updated, upvotes"
    };
}

const COLUMNS: &str = paper_columns!();
const SELECT_PAPER: &str = concat!("SELECT ", paper_columns!(), " FROM papers");

struct RawPaper {
    key: i64,
    id: String,
    title: String,
    abstract_text: String,
    authors: String,
    published: Option<String>,
    categories: String,
    links: String,
    source: String,
    content_hash: String,
    generation: i64,
    listed_at: i64,
    aliases: String,
    version: Option<u32>,
    updated: Option<String>,
    upvotes: Option<u32>,
}

fn row_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPaper> {
    row_raw_at(r, 0)
}

fn row_raw_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawPaper> {
    Ok(RawPaper {
        key: r.get(at)?,
        id: r.get(at + 1)?,
        title: r.get(at + 2)?,
        abstract_text: r.get(at + 3)?,
        authors: r.get(at + 4)?,
        published: r.get(at + 5)?,
        categories: r.get(at + 6)?,
        links: r.get(at + 7)?,
        source: r.get(at + 8)?,
        content_hash: r.get(at + 9)?,
        generation: r.get(at + 10)?,
        listed_at: r.get(at + 11)?,
        aliases: r.get(at + 12)?,
        version: r.get(at + 13)?,
        updated: r.get(at + 14)?,
        upvotes: r.get(at + 15)?,
    })
}

fn parse_day(d: Option<String>) -> std::result::Result<Option<NaiveDate>, chrono::ParseError> {
    d.map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
        .transpose()
}

impl RawPaper {
    fn into_stored(self) -> Result<StoredPaper> {
        let key = self.key;
        let corrupt = |message: String| Error::Corrupt { key, message };
        let paper = Paper {
            id: self.id.parse().map_err(|e| corrupt(format!("id: {e}")))?,
            title: self.title,
            abstract_text: self.abstract_text,
            authors: serde_json::from_str(&self.authors)
                .map_err(|e| corrupt(format!("authors: {e}")))?,
            published: parse_day(self.published).map_err(|e| corrupt(format!("published: {e}")))?,
            categories: serde_json::from_str(&self.categories)
                .map_err(|e| corrupt(format!("categories: {e}")))?,
            links: serde_json::from_str::<Links>(&self.links)
                .map_err(|e| corrupt(format!("links: {e}")))?,
            source: Source::parse(&self.source)
                .ok_or_else(|| corrupt(format!("source `{}`", self.source)))?,
            aliases: serde_json::from_str(&self.aliases)
                .map_err(|e| corrupt(format!("aliases: {e}")))?,
            version: self.version,
            updated: parse_day(self.updated).map_err(|e| corrupt(format!("updated: {e}")))?,
            upvotes: self.upvotes,
        };
        Ok(StoredPaper {
            key,
            paper,
            content_hash: self.content_hash,
            generation: self.generation as u64,
            listed_at: self.listed_at,
        })
    }
}

#[cfg(test)]
mod tests;

impl Store {
    /// Drops every embedding from `model` (to recompute them all).
    pub fn delete_embeddings(&self, model: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM embeddings WHERE model = ?1", [model])?)
    }
}
