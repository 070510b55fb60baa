//! The embedded backend: SQLite in WAL mode, one writing connection and a pool of readers.

mod accounts;
mod browse;
mod harvests;
pub(crate) mod schema;
mod subscribers;
pub(crate) mod votes;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;
use paperscout_model::sync::MutexExt;
use paperscout_model::{embedding_text, Paper, PaperId};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::common::{self, paper_columns, PaperRow, PaperRows, RawPaper, COLUMNS};
use crate::{
    EmbeddingsWritten, Error, PaperKey, PendingEmbedding, Result, StoredPaper, UpsertReport,
    DEFAULT_BUSY_TIMEOUT,
};

const EMBEDDING_STAMP: &str = "embedding_stamp";

/// Calls `f` with each `(paper_key, vector)` row of `rows`.
fn each_embedding(
    mut rows: rusqlite::Rows<'_>,
    mut f: impl FnMut(PaperKey, Vec<f32>),
) -> Result<()> {
    while let Some(row) = rows.next()? {
        let key: PaperKey = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        f(key, common::blob_to_vector(key, &blob)?);
    }
    Ok(())
}

/// Read connections kept open for reuse; more are opened while that many are busy.
const IDLE_READERS: usize = 8;

#[derive(Debug)]
pub struct SqliteStore {
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
    Pooled(&'a SqliteStore, Option<Connection>),
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

// The public methods are documented on `crate::Store`, which dispatches to them.
impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
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

    pub fn open_in_memory() -> Result<SqliteStore> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<SqliteStore> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        if path.as_os_str() != ":memory:" {
            // WAL: readers never block the writer; a crash mid-transaction rolls back on open.
            conn.pragma_update(None, "journal_mode", "wal")?;
            conn.pragma_update(None, "synchronous", "normal")?;
        }
        schema::migrate(&conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    fn is_in_memory(&self) -> bool {
        self.path.as_os_str() == ":memory:"
    }

    /// A connection for reads (see [`SqliteStore::readers`]).
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

    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<()> {
        self.conn().busy_timeout(wait)?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock_unpoisoned()
    }

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

    /// See [`crate::Store::write`].
    pub(crate) fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut crate::Writer<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, UpsertReport), E> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let current: u64 = meta_get(&tx, "generation")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let now = Utc::now();
        let mut writer = crate::Writer::sqlite(Writer {
            tx: &tx,
            generation: current + 1,
            now: now.timestamp(),
            now_text: now.to_rfc3339(),
            report: UpsertReport::default(),
        });
        let value = f(&mut writer)?;
        let mut report = writer.report();
        drop(writer);
        if report.added + report.updated > 0 {
            meta_set(&tx, "generation", &(current + 1).to_string())?;
            report.generation = current + 1;
        } else {
            report.generation = current;
        }
        tx.commit().map_err(Error::from)?;
        Ok((value, report))
    }

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

    pub fn count_since(&self, generation: u64) -> Result<usize> {
        Ok(self.read()?.query_row(
            "SELECT COUNT(*) FROM papers WHERE generation > ?1",
            [generation as i64],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

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

    pub fn claim_embeddings(
        &self,
        model: &str,
        worker: &str,
        after: PaperKey,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<crate::Claim> {
        let mut conn = self.conn();
        // IMMEDIATE: claims (from any process) run one at a time, so no two take one paper.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut claim = crate::Claim::default();
        {
            let mut pick = tx.prepare_cached(
                "SELECT p.key, p.content_hash, p.title, p.abstract,
                        l.content_hash = p.content_hash AS taken_over
                 FROM papers p
                 LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = ?1
                 LEFT JOIN embedding_leases l ON l.paper_key = p.key AND l.model = ?1
                 WHERE (e.content_hash IS NULL OR e.content_hash != p.content_hash)
                   AND (l.paper_key IS NULL OR l.expires_at <= ?2 OR l.content_hash != p.content_hash)
                   AND p.key > ?3
                 ORDER BY p.key LIMIT ?4",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = pick.query(params![model, now, after, limit])?;
            let mut lease = tx.prepare_cached(
                "INSERT INTO embedding_leases (paper_key, model, content_hash, worker, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (paper_key, model) DO UPDATE SET content_hash = excluded.content_hash,
                    worker = excluded.worker, expires_at = excluded.expires_at",
            )?;
            while let Some(r) = rows.next()? {
                let key: PaperKey = r.get(0)?;
                let content_hash: String = r.get(1)?;
                let title: String = r.get(2)?;
                let abstract_text: String = r.get(3)?;
                if r.get::<_, Option<bool>>(4)?.unwrap_or(false) {
                    claim.taken_over += 1;
                }
                lease.execute(params![key, model, content_hash, worker, until])?;
                claim.papers.push(PendingEmbedding {
                    key,
                    content_hash,
                    text: embedding_text(&title, &abstract_text),
                });
            }
        }
        tx.commit()?;
        Ok(claim)
    }

    pub fn count_pending_embeddings(&self, model: &str) -> Result<usize> {
        Ok(self.read()?.query_row(
            "SELECT COUNT(*) FROM papers p
             LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = ?1
             WHERE e.content_hash IS NULL OR e.content_hash != p.content_hash",
            [model],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

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
            let mut done = tx.prepare_cached(
                "UPDATE embedding_leases SET expires_at = ?3
                 WHERE paper_key = ?1 AND model = ?2 AND content_hash = ?4",
            )?;
            for (key, hash, vector) in embeddings {
                let n = stmt.execute(params![
                    key,
                    model,
                    hash,
                    common::vector_to_blob(vector),
                    stamp
                ])?;
                // Only what was written is done: an embedding of content that changed
                // meanwhile was dropped, and its paper must stay claimable.
                if n == 1 {
                    done.execute(params![key, model, crate::LEASE_DONE, hash])?;
                    written += 1;
                }
            }
        }
        meta_set(&tx, EMBEDDING_STAMP, &stamp.to_string())?;
        tx.commit()?;
        Ok(EmbeddingsWritten {
            written,
            stamp: stamp as u64,
        })
    }

    pub fn embedding_stamp(&self) -> Result<u64> {
        Ok(meta_get(&*self.read()?, EMBEDDING_STAMP)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

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

    pub fn embeddings(
        &self,
        model: &str,
        keys: &[PaperKey],
    ) -> Result<std::collections::HashMap<PaperKey, Vec<f32>>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = ?1 AND e.paper_key = ?2 AND e.content_hash = p.content_hash",
        )?;
        let mut out = std::collections::HashMap::with_capacity(keys.len());
        for &key in keys {
            let blob: Option<Vec<u8>> = stmt
                .query_row(params![model, key], |r| r.get(0))
                .optional()?;
            if let Some(b) = blob {
                out.insert(key, common::blob_to_vector(key, &b)?);
            }
        }
        Ok(out)
    }

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
        blob.map(|b| common::blob_to_vector(key, &b)).transpose()
    }
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

/// Writes papers inside one SQLite transaction (see [`crate::Store::write`]).
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    tx: &'a Transaction<'a>,
    generation: u64,
    now: i64,
    now_text: String,
    pub(crate) report: UpsertReport,
}

impl Writer<'_> {
    /// A paper's columns in the order of the `INSERT` and `UPDATE` below (`?1` to `?17`).
    fn values<'v>(&'v self, row: &'v PaperRow<'_>) -> [&'v dyn rusqlite::ToSql; 17] {
        let p = row.paper;
        [
            &row.id,
            &p.title,
            &p.abstract_text,
            &row.authors,
            &row.published,
            &row.categories,
            &row.links,
            &row.source,
            &row.content_hash,
            &row.record_hash,
            &row.generation,
            &self.now_text,
            &row.listed_at,
            &row.aliases,
            &row.version,
            &row.updated,
            &row.upvotes,
        ]
    }

    pub(crate) fn put(&mut self, paper: Paper) -> Result<()> {
        let (generation, now) = (self.generation, self.now);
        let mut report = self.report;
        let result = common::put(self, paper, generation, now, &mut report);
        self.report = report;
        result
    }
}

impl PaperRows for Writer<'_> {
    fn key_by_id(&mut self, id: &str) -> Result<Option<PaperKey>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT paper_key FROM paper_ids WHERE id = ?1 ORDER BY paper_key LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn key_by_primary_id(&mut self, id: &str) -> Result<Option<PaperKey>> {
        Ok(self
            .tx
            .prepare_cached("SELECT key FROM papers WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn load(&mut self, key: PaperKey) -> Result<(Paper, String)> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT record_hash, {COLUMNS} FROM papers WHERE key = ?1"
        ))?;
        let (hash, raw) =
            stmt.query_row([key], |r| Ok((r.get::<_, String>(0)?, row_raw_at(r, 1)?)))?;
        Ok((raw.into_stored()?.paper, hash))
    }

    fn update(&mut self, key: PaperKey, row: &PaperRow<'_>) -> Result<()> {
        let values = self.values(row);
        self.tx
            .prepare_cached(
                "UPDATE papers SET id = ?1, title = ?2, abstract = ?3, authors = ?4,
                    published = ?5, categories = ?6, links = ?7, source = ?8,
                    content_hash = ?9, record_hash = ?10, generation = ?11, updated_at = ?12,
                    listed_at = CASE WHEN listed_at = 0 THEN ?13 ELSE MIN(listed_at, ?13) END, aliases = ?14, version = ?15,
                    updated = ?16, upvotes = ?17
                 WHERE key = ?18",
            )?
            .execute(rusqlite::params_from_iter(
                values.iter().copied().chain([&key as &dyn rusqlite::ToSql]),
            ))?;
        Ok(())
    }

    fn insert(&mut self, row: &PaperRow<'_>) -> Result<PaperKey> {
        let values = self.values(row);
        self.tx
            .prepare_cached(
                // The key: above every key there is or was (a removed paper's key is never
                // handed out again: other processes may still hold it in their indexes, and
                // the digest takes keys to grow).
                "INSERT INTO papers (key, id, title, abstract, authors, published, categories,
                    links, source, content_hash, record_hash, generation, added_at, updated_at,
                    listed_at, aliases, version, updated, upvotes)
                 VALUES (
                    (SELECT COALESCE(MAX(k), 0) + 1 FROM (
                        SELECT MAX(key) AS k FROM papers
                        UNION ALL SELECT MAX(key) FROM removed_papers)),
                    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?
            .execute(values)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn add_id(&mut self, id: &str, key: PaperKey) -> Result<()> {
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO paper_ids (id, paper_key) VALUES (?1, ?2)")?
            .execute(params![id, key])?;
        Ok(())
    }
}

const SELECT_PAPER: &str = concat!("SELECT ", paper_columns!(), " FROM papers");

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

impl SqliteStore {
    pub fn delete_embeddings(&self, model: &str) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM embedding_leases WHERE model = ?1", [model])?;
        let n = tx.execute("DELETE FROM embeddings WHERE model = ?1", [model])?;
        // Every process's "all encoded" cache is keyed on the stamp: they look again.
        let stamp = meta_get(&tx, EMBEDDING_STAMP)?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        meta_set(&tx, EMBEDDING_STAMP, &(stamp + 1).to_string())?;
        tx.commit()?;
        Ok(n)
    }
}
