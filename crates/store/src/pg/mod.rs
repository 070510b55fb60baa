//! The shared backend: PostgreSQL, for many paperscout processes (`serve` replicas, `worker`s,
//! batch commands) on one database.
//!
//! Driver: the synchronous `postgres` crate with an `r2d2` pool. The engine calls the store
//! from blocking threads (tokio's blocking pool, worker threads, the CLI), exactly as it calls
//! SQLite, so a synchronous client keeps one calling convention for both backends; `sqlx`
//! would have made every store call async (and its SQLite driver cannot share a
//! `libsqlite3-sys` with `rusqlite`). The pool checks a connection before lending it, so after
//! the database restarts the first request gets a fresh connection, not a dead one.
//!
//! Concurrency: every write that may change papers first locks the `generation` row of `meta`
//! (`SELECT … FOR UPDATE`), so such writes run one at a time, as SQLite's write lock makes
//! them: generations commit in order and paper keys grow in commit order (the digest's
//! "papers after key k" relies on that). Embedding writes lock the `embedding_stamp` row the
//! same way. Everything else relies on row locks, unique indexes and `ON CONFLICT`.

mod accounts;
mod browse;
mod harvests;
mod schema;
mod subscribers;
mod votes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use paperscout_model::{embedding_text, Paper, PaperId};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{NoTls, Row, Transaction};
use r2d2::PooledConnection;

use crate::common::{self, paper_columns, PaperRow, PaperRows, RawPaper};
use crate::{
    EmbeddingsWritten, Error, PaperKey, PendingEmbedding, Result, StoredPaper, UpsertReport,
    DEFAULT_BUSY_TIMEOUT,
};

type Conn = PooledConnection<Manager>;

/// A `postgres::Client` that may be dropped anywhere. Dropping the client itself runs a
/// runtime's `block_on` (to say goodbye to the server), which panics on a thread that is
/// inside a tokio runtime (a server's last `Engine` may be dropped there); so inside one it is
/// dropped on a thread of its own.
pub(crate) struct Client(Option<postgres::Client>);

impl std::ops::Deref for Client {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        self.0.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        self.0.as_mut().expect("present until dropped")
    }
}

impl Client {
    /// Runs `last` on the connection, then closes it: on this thread, or inside a tokio
    /// runtime on a thread of its own (see above), which `wait` joins before returning.
    fn close_with(
        &mut self,
        wait: bool,
        last: impl FnOnce(&mut postgres::Client) + Send + 'static,
    ) {
        let Some(mut client) = self.0.take() else {
            return;
        };
        let close = move || {
            if !client.is_closed() {
                last(&mut client);
            }
            drop(client);
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // The closing thread runs the client's own runtime, never the caller's: joining
            // it from a runtime thread cannot deadlock.
            match std::thread::Builder::new()
                .name("paperscout-pg-close".into())
                .spawn(close)
            {
                Ok(closing) if wait => {
                    let _ = closing.join();
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "could not close a database connection cleanly")
                }
            }
        } else {
            close();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close_with(false, |_| {});
    }
}

/// Makes the pool's connections: [`Client`]s, each told how long to wait for locks.
#[derive(Debug)]
pub(crate) struct Manager {
    config: postgres::Config,
    lock_wait_ms: std::sync::Arc<AtomicU64>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Client;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // Statements outside a transaction (a vote) wait for locks no longer than writes do.
        let ms = self.lock_wait_ms.load(Ordering::Relaxed).max(1);
        client.batch_execute(&format!("SET lock_timeout = {ms}"))?;
        Ok(Client(Some(client)))
    }

    fn is_valid(&self, conn: &mut Client) -> std::result::Result<(), postgres::Error> {
        conn.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Client) -> bool {
        conn.is_closed()
    }
}

/// Connections kept per process: requests on the blocking pool, the upkeep, one stream.
const POOL_SIZE: u32 = 16;
/// How long a request waits for a pooled connection (or a new one) before it is told the
/// database is unavailable.
const CHECKOUT_WAIT: Duration = Duration::from_secs(3);
/// The channel writes notify on, so other processes catch up at once (see
/// [`crate::Store::wait_for_change`]).
pub(crate) const CHANNEL: &str = "paperscout_changes";

pub(crate) struct PgStore {
    pool: r2d2::Pool<Manager>,
    config: postgres::Config,
    location: String,
    /// How long a write waits for a lock, in milliseconds (`lock_timeout`).
    lock_wait_ms: std::sync::Arc<AtomicU64>,
    /// The connection that `LISTEN`s for other processes' writes (opened on first wait,
    /// reopened after it breaks).
    listener: std::sync::Mutex<Option<Client>>,
    /// The schema this store lives in: notifications name it (they are database-wide, and
    /// one database may hold several stores in several schemas).
    schema: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A role (the digest scheduler, the harvest scheduler) this process holds cluster-wide: a
/// session advisory lock on a connection of its own, released when this is dropped or the
/// process dies (the server closes the dead session's locks).
pub(crate) struct PgLeader {
    client: Client,
}

impl std::fmt::Debug for PgLeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLeader").finish_non_exhaustive()
    }
}

impl Drop for PgLeader {
    /// Unlocks before the connection closes: closing alone frees the lock only once the
    /// server's backend notices the disconnect, so a replica taking over right after a
    /// clean hand-off could still find the role taken (and CI once did).
    fn drop(&mut self) {
        // Waits for the unlock: whoever takes over next must find the role free.
        self.client.close_with(true, |c| {
            let _ = c.simple_query("SELECT pg_advisory_unlock_all()");
        });
    }
}

impl PgLeader {
    /// Whether the lock is still held: its connection still answers.
    pub(crate) fn still_held(&mut self) -> bool {
        !self.client.is_closed() && self.client.simple_query("").is_ok()
    }
}

/// Advisory lock namespace for roles.
const ROLE_LOCK_NAMESPACE: i32 = 0x726f; // "ro"

/// `url` without its password, for logs and messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            return format!("{scheme}://{masked}@{host}{path}");
        }
        return url.to_string();
    }
    // key=value form
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server's own words for a database error (`postgres::Error` displays "db error" alone).
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

pub(crate) fn is_busy(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::LOCK_NOT_AVAILABLE
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

pub(crate) fn is_unavailable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exceptions; 57P01..57P03: the server is shutting down or
        // starting up.
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        }
        // No SQL state: the socket failed (refused, reset, timed out) if an I/O error is the
        // cause; anything else (a row that does not convert, say) is our own fault.
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
    }
}

fn unreachable(location: &str, e: impl std::fmt::Display) -> Error {
    Error::Unreachable(format!("{location}: {e}"))
}

/// Reads column `i` of `row`, turning a type mismatch into an error (never a panic).
fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    Ok(row.try_get(i)?)
}

fn raw_paper(r: &Row, at: usize) -> Result<RawPaper> {
    Ok(RawPaper {
        key: get(r, at)?,
        id: get(r, at + 1)?,
        title: get(r, at + 2)?,
        abstract_text: get(r, at + 3)?,
        authors: get(r, at + 4)?,
        published: get(r, at + 5)?,
        categories: get(r, at + 6)?,
        links: get(r, at + 7)?,
        source: get(r, at + 8)?,
        content_hash: get(r, at + 9)?,
        generation: get(r, at + 10)?,
        listed_at: get(r, at + 11)?,
        aliases: get(r, at + 12)?,
        version: get(r, at + 13)?,
        updated: get(r, at + 14)?,
        upvotes: get(r, at + 15)?,
    })
}

const SELECT_PAPER: &str = concat!("SELECT ", paper_columns!(), " FROM papers");

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// The public methods are documented on `crate::Store`, which dispatches to them.
impl PgStore {
    pub(crate) fn connect(url: &str, connect_timeout: Duration) -> Result<PgStore> {
        let location = redact_url(url);
        let mut config: postgres::Config = url.parse().map_err(|e| Error::BadUrl {
            url: location.clone(),
            message: format!("{e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout.max(Duration::from_secs(1)));
        }
        if config.get_application_name().is_none() {
            config.application_name("paperscout");
        }
        // Migrate on a connection of its own first: a clear error when the server is not
        // there, before a pool retries in the background.
        let mut client = Client(Some(
            config
                .connect(NoTls)
                .map_err(|e| unreachable(&location, e))?,
        ));
        schema::migrate(&mut client, &location)?;
        let schema: String = get(&client.query_one("SELECT current_schema()", &[])?, 0)?;
        drop(client);
        let lock_wait_ms =
            std::sync::Arc::new(AtomicU64::new(DEFAULT_BUSY_TIMEOUT.as_millis() as u64));
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_WAIT)
            .test_on_check_out(true)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(Manager {
                config: config.clone(),
                lock_wait_ms: lock_wait_ms.clone(),
            })
            .map_err(|e| unreachable(&location, e))?;
        Ok(PgStore {
            pool,
            config,
            location,
            lock_wait_ms,
            listener: std::sync::Mutex::new(None),
            schema,
        })
    }

    pub(crate) fn location(&self) -> String {
        self.location.clone()
    }

    pub(crate) fn conn(&self) -> Result<Conn> {
        self.pool.get().map_err(|e| {
            // Every connection open and lent out: the pool is exhausted (the server is up).
            // Fewer open than the pool may hold: it could not open more, the server is not
            // answering (broken connections are dropped from the pool).
            if self.pool.state().connections >= self.pool.max_size() {
                Error::Exhausted(e.to_string())
            } else {
                unreachable(&self.location, e)
            }
        })
    }

    /// A new connection outside the pool, for `LISTEN` and leadership (they must stay open
    /// between calls).
    fn dedicated(&self) -> Result<Client> {
        self.config
            .connect(NoTls)
            .map(|c| Client(Some(c)))
            .map_err(|e| unreachable(&self.location, e))
    }

    /// Pool figures for `/metrics`: (connections open, idle).
    pub(crate) fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// Waits up to `timeout` for another process's write (a notification on [`CHANNEL`]);
    /// true when one came. Without a listening connection (the database is down) it sleeps
    /// the timeout and tries to listen again next time.
    pub(crate) fn wait_for_change(&self, timeout: Duration) -> bool {
        use paperscout_model::sync::MutexExt;
        let mut listener = self.listener.lock_unpoisoned();
        if listener.as_ref().is_none_or(|c| c.is_closed()) {
            *listener = self
                .dedicated()
                .and_then(|mut c| {
                    c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
                    Ok(c)
                })
                .inspect_err(|e| tracing::debug!(error = %e, "cannot listen for changes"))
                .ok();
        }
        let Some(client) = listener.as_mut() else {
            drop(listener);
            std::thread::sleep(timeout);
            return false;
        };
        let deadline = std::time::Instant::now() + timeout;
        let mut came = false;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            // Several writes may have notified: one catch-up covers them all, so drain what
            // is buffered once one for this store came.
            let next = if came {
                client.notifications().iter().next()
            } else {
                client.notifications().timeout_iter(left).next()
            };
            match next {
                Ok(Some(n)) => came |= n.payload() == self.schema,
                Ok(None) if came || left.is_zero() => return came,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "lost the listening connection");
                    *listener = None;
                    return came;
                }
            }
        }
    }

    /// Takes `role` if no other process holds it.
    pub(crate) fn lead(&self, role: &str) -> Result<Option<PgLeader>> {
        let mut client = self.dedicated()?;
        // Advisory locks are database-wide; a role is per store (per schema).
        let row = client.query_one(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema() || ':' || $2))",
            &[&ROLE_LOCK_NAMESPACE, &role],
        )?;
        Ok(get::<bool>(&row, 0)?.then_some(PgLeader { client }))
    }

    pub fn set_busy_timeout(&self, wait: Duration) -> Result<()> {
        self.lock_wait_ms
            .store(wait.as_millis() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Begins a transaction that waits at most the busy timeout for any lock.
    fn begin<'c>(&self, conn: &'c mut Conn) -> Result<Transaction<'c>> {
        let mut tx = conn.transaction()?;
        let ms = self.lock_wait_ms.load(Ordering::Relaxed).max(1);
        tx.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))?;
        Ok(tx)
    }

    fn meta_u64(&self, key: &str) -> Result<u64> {
        Ok(self.meta(key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub fn generation(&self) -> Result<u64> {
        self.meta_u64("generation")
    }

    pub fn count(&self) -> Result<usize> {
        let row = self.conn()?.query_one("SELECT COUNT(*) FROM papers", &[])?;
        Ok(count(get(&row, 0)?))
    }

    pub fn count_by_source(&self) -> Result<Vec<(String, usize)>> {
        self.conn()?
            .query(
                "SELECT source, COUNT(*) FROM papers GROUP BY source ORDER BY source",
                &[],
            )?
            .iter()
            .map(|r| Ok((get(r, 0)?, count(get(r, 1)?))))
            .collect()
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn()?
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| get(&r, 0))
            .transpose()
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    pub(crate) fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut crate::Writer<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, UpsertReport), E> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        let current: u64 = tx
            .query_one(
                "SELECT value FROM meta WHERE key = 'generation' FOR UPDATE",
                &[],
            )
            .map_err(Error::from)
            .and_then(|r| get::<String>(&r, 0))?
            .parse()
            .unwrap_or(0);
        let mut writer = crate::Writer::postgres(Writer {
            tx,
            generation: current + 1,
            now: Utc::now().timestamp(),
            report: UpsertReport::default(),
            statements: std::collections::HashMap::new(),
        });
        let value = f(&mut writer)?;
        let Writer {
            mut tx, mut report, ..
        } = writer.into_postgres();
        if report.added + report.updated > 0 {
            tx.execute(
                "UPDATE meta SET value = $1 WHERE key = 'generation'",
                &[&(current + 1).to_string()],
            )
            .map_err(Error::from)?;
            tx.execute("SELECT pg_notify($1, current_schema())", &[&CHANNEL])
                .map_err(Error::from)?;
            report.generation = current + 1;
        } else {
            report.generation = current;
        }
        tx.commit().map_err(Error::from)?;
        Ok((value, report))
    }

    pub fn get(&self, id: &PaperId) -> Result<Option<StoredPaper>> {
        self.conn()?
            .query_opt(
                &format!(
                    "{SELECT_PAPER} WHERE key = (SELECT paper_key FROM paper_ids WHERE id = $1
                     ORDER BY paper_key LIMIT 1)"
                ),
                &[&id.as_str()],
            )?
            .map(|r| raw_paper(&r, 0)?.into_stored())
            .transpose()
    }

    pub fn get_by_key(&self, key: PaperKey) -> Result<Option<StoredPaper>> {
        self.conn()?
            .query_opt(&format!("{SELECT_PAPER} WHERE key = $1"), &[&key])?
            .map(|r| raw_paper(&r, 0)?.into_stored())
            .transpose()
    }

    pub fn get_many(&self, keys: &[PaperKey]) -> Result<Vec<StoredPaper>> {
        let rows = self
            .conn()?
            .query(&format!("{SELECT_PAPER} WHERE key = ANY($1)"), &[&keys])?;
        let mut by_key = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let p = raw_paper(r, 0)?.into_stored()?;
            by_key.insert(p.key, p);
        }
        Ok(keys.iter().filter_map(|k| by_key.get(k).cloned()).collect())
    }

    pub fn for_each_since(
        &self,
        generation: u64,
        mut f: impl FnMut(StoredPaper) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let mut rows = conn.query_raw(
            &format!("{SELECT_PAPER} WHERE generation > $1 ORDER BY key"),
            std::iter::once(generation as i64),
        )?;
        while let Some(row) = rows.next()? {
            f(raw_paper(&row, 0)?.into_stored()?)?;
        }
        Ok(())
    }

    pub fn count_since(&self, generation: u64) -> Result<usize> {
        let row = self.conn()?.query_one(
            "SELECT COUNT(*) FROM papers WHERE generation > $1",
            &[&(generation as i64)],
        )?;
        Ok(count(get(&row, 0)?))
    }

    pub fn pending_embeddings_after(
        &self,
        model: &str,
        after: PaperKey,
        n: usize,
    ) -> Result<Vec<PendingEmbedding>> {
        self.conn()?
            .query(
                "SELECT p.key, p.content_hash, p.title, p.abstract FROM papers p
                 LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = $1
                 WHERE (e.content_hash IS NULL OR e.content_hash != p.content_hash) AND p.key > $2
                 ORDER BY p.key LIMIT $3",
                &[&model, &after, &limit(n)],
            )?
            .iter()
            .map(|r| {
                let title: String = get(r, 2)?;
                let abstract_text: String = get(r, 3)?;
                Ok(PendingEmbedding {
                    key: get(r, 0)?,
                    content_hash: get(r, 1)?,
                    text: embedding_text(&title, &abstract_text),
                })
            })
            .collect()
    }

    pub fn claim_embeddings(
        &self,
        model: &str,
        worker: &str,
        after: PaperKey,
        n: usize,
        now: i64,
        until: i64,
    ) -> Result<crate::Claim> {
        // Candidates are locked with SKIP LOCKED, so concurrent claimers pass each other by;
        // the lease is written with a conditional upsert that sees the latest committed lease
        // (not the statement's snapshot), so a paper another claimer leased, or finished, a
        // moment ago is not handed out again.
        let rows = self.conn()?.query(
            "WITH picked AS (
                SELECT p.key, p.content_hash, p.title, p.abstract,
                       COALESCE(l.content_hash = p.content_hash, false) AS taken_over
                FROM papers p
                LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = $1
                LEFT JOIN embedding_leases l ON l.paper_key = p.key AND l.model = $1
                WHERE (e.content_hash IS NULL OR e.content_hash != p.content_hash)
                  AND (l.paper_key IS NULL OR l.expires_at <= $2 OR l.content_hash != p.content_hash)
                  AND p.key > $3
                ORDER BY p.key LIMIT $4
                FOR NO KEY UPDATE OF p SKIP LOCKED
             ), leased AS (
                INSERT INTO embedding_leases (paper_key, model, content_hash, worker, expires_at)
                SELECT key, $1, content_hash, $5, $6 FROM picked
                ON CONFLICT (paper_key, model) DO UPDATE SET content_hash = excluded.content_hash,
                   worker = excluded.worker, expires_at = excluded.expires_at
                WHERE embedding_leases.expires_at <= $2
                   OR embedding_leases.content_hash != excluded.content_hash
                RETURNING paper_key
             )
             SELECT p.key, p.content_hash, p.title, p.abstract, p.taken_over
             FROM picked p JOIN leased l ON l.paper_key = p.key ORDER BY p.key",
            &[&model, &now, &after, &limit(n), &worker, &until],
        )?;
        let mut claim = crate::Claim::default();
        for r in &rows {
            let title: String = get(r, 2)?;
            let abstract_text: String = get(r, 3)?;
            if get::<bool>(r, 4)? {
                claim.taken_over += 1;
            }
            claim.papers.push(PendingEmbedding {
                key: get(r, 0)?,
                content_hash: get(r, 1)?,
                text: embedding_text(&title, &abstract_text),
            });
        }
        Ok(claim)
    }

    pub fn count_pending_embeddings(&self, model: &str) -> Result<usize> {
        let row = self.conn()?.query_one(
            "SELECT COUNT(*) FROM papers p
             LEFT JOIN embeddings e ON e.paper_key = p.key AND e.model = $1
             WHERE e.content_hash IS NULL OR e.content_hash != p.content_hash",
            &[&model],
        )?;
        Ok(count(get(&row, 0)?))
    }

    pub fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[(PaperKey, String, Vec<f32>)],
    ) -> Result<EmbeddingsWritten> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        let row = tx.query_one(
            "SELECT value FROM meta WHERE key = 'embedding_stamp' FOR UPDATE",
            &[],
        )?;
        let stamp = get::<String>(&row, 0)?.parse::<i64>().unwrap_or(0) + 1;
        let stmt = tx.prepare(
            "INSERT INTO embeddings (paper_key, model, content_hash, vector, stamp)
             SELECT key, $2, $3, $4, $5 FROM papers WHERE key = $1 AND content_hash = $3
             ON CONFLICT (paper_key, model) DO UPDATE SET content_hash = excluded.content_hash,
                vector = excluded.vector, stamp = excluded.stamp",
        )?;
        let done = tx.prepare(
            "UPDATE embedding_leases SET expires_at = $3
             WHERE paper_key = $1 AND model = $2 AND content_hash = $4",
        )?;
        let mut written = 0;
        for (key, hash, vector) in embeddings {
            let n = tx.execute(
                &stmt,
                &[key, &model, hash, &common::vector_to_blob(vector), &stamp],
            )?;
            // Only what was written is done: an embedding of content that changed meanwhile
            // was dropped, and its paper must stay claimable.
            if n == 1 {
                tx.execute(&done, &[key, &model, &crate::LEASE_DONE, hash])?;
                written += 1;
            }
        }
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'embedding_stamp'",
            &[&stamp.to_string()],
        )?;
        tx.execute("SELECT pg_notify($1, current_schema())", &[&CHANNEL])?;
        tx.commit()?;
        Ok(EmbeddingsWritten {
            written,
            stamp: stamp as u64,
        })
    }

    pub fn embedding_stamp(&self) -> Result<u64> {
        self.meta_u64("embedding_stamp")
    }

    fn stream_embeddings(
        &self,
        sql: &str,
        model: &str,
        after: i64,
        mut f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&model, &after];
        let mut rows = conn.query_raw(sql, params)?;
        while let Some(row) = rows.next()? {
            let key: PaperKey = get(&row, 0)?;
            let blob: &[u8] = get(&row, 1)?;
            f(key, common::blob_to_vector(key, blob)?);
        }
        Ok(())
    }

    pub fn for_each_embedding_stamped_after(
        &self,
        model: &str,
        after: u64,
        f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        self.stream_embeddings(
            "SELECT e.paper_key, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = $1 AND e.stamp > $2 AND e.content_hash = p.content_hash
             ORDER BY e.paper_key",
            model,
            after as i64,
            f,
        )
    }

    pub fn for_each_embedding_since(
        &self,
        model: &str,
        generation: u64,
        f: impl FnMut(PaperKey, Vec<f32>),
    ) -> Result<()> {
        self.stream_embeddings(
            "SELECT e.paper_key, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = $1 AND e.content_hash = p.content_hash AND p.generation > $2
             ORDER BY e.paper_key",
            model,
            generation as i64,
            f,
        )
    }

    pub fn embeddings(
        &self,
        model: &str,
        keys: &[PaperKey],
    ) -> Result<std::collections::HashMap<PaperKey, Vec<f32>>> {
        let rows = self.conn()?.query(
            "SELECT e.paper_key, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = $1 AND e.paper_key = ANY($2) AND e.content_hash = p.content_hash",
            &[&model, &keys],
        )?;
        let mut out = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: PaperKey = get(r, 0)?;
            out.insert(key, common::blob_to_vector(key, get(r, 1)?)?);
        }
        Ok(out)
    }

    pub fn embedding(&self, model: &str, key: PaperKey) -> Result<Option<Vec<f32>>> {
        let row = self.conn()?.query_opt(
            "SELECT e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key
             WHERE e.model = $1 AND e.paper_key = $2 AND e.content_hash = p.content_hash",
            &[&model, &key],
        )?;
        row.map(|r| common::blob_to_vector(key, get(&r, 0)?))
            .transpose()
    }

    pub fn delete_embeddings(&self, model: &str) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("DELETE FROM embedding_leases WHERE model = $1", &[&model])?;
        let n = tx.execute("DELETE FROM embeddings WHERE model = $1", &[&model])?;
        // Every process's "all encoded" cache is keyed on the stamp: they look again.
        tx.execute(
            "UPDATE meta SET value = (value::BIGINT + 1)::TEXT WHERE key = 'embedding_stamp'",
            &[],
        )?;
        tx.commit()?;
        Ok(n as usize)
    }
}

type Param<'v> = &'v (dyn postgres::types::ToSql + Sync);

/// A paper's columns in the order of the `INSERT` and `UPDATE` of [`Writer`] (`$1` to `$17`).
fn values<'v>(row: &'v PaperRow<'_>, now: &'v i64) -> [Param<'v>; 17] {
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
        now,
        &row.listed_at,
        &row.aliases,
        &row.version,
        &row.updated,
        &row.upvotes,
    ]
}

/// Writes papers inside one PostgreSQL transaction (see [`crate::Store::write`]).
pub(crate) struct Writer<'a> {
    tx: Transaction<'a>,
    generation: u64,
    now: i64,
    pub(crate) report: UpsertReport,
    /// Statements prepared once per write: an ingest runs each a million times, and an
    /// unprepared query costs a second round trip.
    statements: std::collections::HashMap<&'static str, postgres::Statement>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pg::Writer")
            .field("generation", &self.generation)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Writer<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<postgres::Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql)?;
        self.statements.insert(sql, stmt.clone());
        Ok(stmt)
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
        let stmt = self.statement(
            "SELECT paper_key FROM paper_ids WHERE id = $1 ORDER BY paper_key LIMIT 1",
        )?;
        self.tx
            .query_opt(&stmt, &[&id])?
            .map(|r| get(&r, 0))
            .transpose()
    }

    fn key_by_primary_id(&mut self, id: &str) -> Result<Option<PaperKey>> {
        let stmt = self.statement("SELECT key FROM papers WHERE id = $1")?;
        self.tx
            .query_opt(&stmt, &[&id])?
            .map(|r| get(&r, 0))
            .transpose()
    }

    fn load(&mut self, key: PaperKey) -> Result<(Paper, String)> {
        let stmt = self.statement(concat!(
            "SELECT record_hash, ",
            paper_columns!(),
            " FROM papers WHERE key = $1"
        ))?;
        let r = self.tx.query_one(&stmt, &[&key])?;
        Ok((raw_paper(&r, 1)?.into_stored()?.paper, get(&r, 0)?))
    }

    fn update(&mut self, key: PaperKey, row: &PaperRow<'_>) -> Result<()> {
        let stmt = self.statement(
            "UPDATE papers SET id = $1, title = $2, abstract = $3, authors = $4,
                published = $5, categories = $6, links = $7, source = $8,
                content_hash = $9, record_hash = $10, generation = $11, updated_at = $12,
                listed_at = CASE WHEN listed_at = 0 THEN $13 ELSE LEAST(listed_at, $13) END, aliases = $14, version = $15,
                updated = $16, upvotes = $17
             WHERE key = $18",
        )?;
        let mut values = values(row, &self.now).to_vec();
        values.push(&key);
        self.tx.execute(&stmt, &values)?;
        Ok(())
    }

    fn insert(&mut self, row: &PaperRow<'_>) -> Result<PaperKey> {
        let stmt = self.statement(
            "INSERT INTO papers (id, title, abstract, authors, published, categories, links,
                source, content_hash, record_hash, generation, added_at, updated_at,
                listed_at, aliases, version, updated, upvotes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17)
             RETURNING key",
        )?;
        let r = self.tx.query_one(&stmt, &values(row, &self.now))?;
        get(&r, 0)
    }

    fn add_id(&mut self, id: &str, key: PaperKey) -> Result<()> {
        self.add_ids(&[id], key)
    }

    fn keys_by_ids(&mut self, ids: &[&str]) -> Result<Vec<Option<PaperKey>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let stmt = self
            .statement("SELECT id, MIN(paper_key) FROM paper_ids WHERE id = ANY($1) GROUP BY id")?;
        let rows = self.tx.query(&stmt, &[&ids])?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            found.insert(get::<String>(r, 0)?, get::<PaperKey>(r, 1)?);
        }
        Ok(ids.iter().map(|id| found.get(*id).copied()).collect())
    }

    fn add_ids(&mut self, ids: &[&str], key: PaperKey) -> Result<()> {
        let stmt = self.statement(
            "INSERT INTO paper_ids (id, paper_key) SELECT unnest($1::TEXT[]), $2
             ON CONFLICT DO NOTHING",
        )?;
        self.tx.execute(&stmt, &[&ids, &key])?;
        Ok(())
    }
}
