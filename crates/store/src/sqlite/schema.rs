//! Schema migrations, tracked with SQLite's `user_version`. Append, never edit.

use std::path::Path;

use rusqlite::Connection;

use crate::{Error, Result};

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: papers and their embeddings.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE papers (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        abstract TEXT NOT NULL,
        authors TEXT NOT NULL,
        published TEXT,
        categories TEXT NOT NULL,
        links TEXT NOT NULL,
        source TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        record_hash TEXT NOT NULL,
        generation INTEGER NOT NULL,
        added_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE INDEX papers_generation ON papers (generation);
     CREATE TABLE embeddings (
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (paper_key, model)
     );",
    // 2: upvotes, and when each paper entered the feed (what trending ages it from): its
    // publication date (midnight UTC) if it has one and that is earlier, else when it was added.
    "ALTER TABLE papers ADD COLUMN listed_at INTEGER NOT NULL DEFAULT 0;
     UPDATE papers SET listed_at = MIN(
        CAST(strftime('%s', added_at) AS INTEGER),
        COALESCE(CAST(strftime('%s', published) AS INTEGER), 9223372036854775807));
     CREATE INDEX papers_listed_at ON papers (listed_at);
     CREATE TABLE votes (
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        voter TEXT NOT NULL,
        cast_at INTEGER NOT NULL,
        PRIMARY KEY (paper_key, voter)
     ) WITHOUT ROWID;
     CREATE INDEX votes_cast_at ON votes (cast_at, paper_key);",
    // 3: the daily digest. Subscribers are found by a random handle (what signed links carry),
    // never by their row id. `since_key`: papers with a larger key arrived after the
    // subscriber's last digest (keys only grow; papers are never deleted). The outbox is the
    // ledger that makes each digest go out once: one row per (subscriber, local date).
    "CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        handle BLOB NOT NULL UNIQUE,
        email TEXT NOT NULL COLLATE NOCASE UNIQUE,
        interests TEXT NOT NULL,
        categories TEXT NOT NULL,
        hour INTEGER NOT NULL,
        timezone TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
        created_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        unsubscribed_at INTEGER,
        last_request_mail_at INTEGER,
        since_key INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX subscribers_status ON subscribers (status);
     CREATE TABLE digest_papers (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        paper_key INTEGER NOT NULL,
        local_date TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, paper_key)
     ) WITHOUT ROWID;
     CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('confirm', 'notice', 'digest')),
        local_date TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'failed', 'cancelled')),
        recipient TEXT NOT NULL,
        message_id TEXT,
        message BLOB,
        papers INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        sent_at INTEGER
     );
     CREATE UNIQUE INDEX outbox_digest ON outbox (subscriber_id, local_date) WHERE kind = 'digest';
     CREATE INDEX outbox_due ON outbox (state, next_attempt_at);",
    // 4: papers from many sources. `paper_ids` maps every id a paper is known by (its id, its
    // aliases, the hash of its title) to its key, so a record arriving under any of them
    // updates the same paper; a title hash may map to several papers. The arXiv version and
    // latest version date decide which record's text wins; `upvotes` is the source's count.
    // `harvests` records each harvest run; `harvest_state` where an interrupted one resumes.
    "ALTER TABLE papers ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE papers ADD COLUMN version INTEGER;
     ALTER TABLE papers ADD COLUMN updated TEXT;
     ALTER TABLE papers ADD COLUMN upvotes INTEGER;
     CREATE TABLE paper_ids (
        id TEXT NOT NULL,
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        PRIMARY KEY (id, paper_key)
     ) WITHOUT ROWID;
     CREATE INDEX paper_ids_key ON paper_ids (paper_key);
     INSERT INTO paper_ids (id, paper_key) SELECT id, key FROM papers;
     CREATE TABLE harvests (
        id INTEGER PRIMARY KEY,
        harvest TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'empty', 'failed')),
        heartbeat_at INTEGER NOT NULL,
        pages INTEGER NOT NULL DEFAULT 0,
        records INTEGER NOT NULL DEFAULT 0,
        added INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        message TEXT
     );
     CREATE INDEX harvests_by_name ON harvests (harvest, started_at);
     CREATE TABLE harvest_state (
        harvest TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL
     );",
    // 5: feeds that stay fast when many papers share one listing time (a large ingest of
    // undated papers): the feed's own order, and the few papers a source upvoted.
    "CREATE INDEX papers_feed ON papers (listed_at DESC, key ASC);
     CREATE INDEX papers_upvoted ON papers (listed_at) WHERE upvotes > 0;",
    // 6: each write of embeddings is stamped, so a running server finds the embeddings another
    // process (an ingest that encodes) wrote after the papers, which no generation marks.
    "ALTER TABLE embeddings ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX embeddings_stamp ON embeddings (model, stamp);",
    // 7: the encoding queue. A process that encodes claims pending papers by writing a lease
    // (until `expires_at`) for the paper's current content; another process skips leased
    // papers, and takes a paper over once its lease has expired (its encoder died). A written
    // embedding turns its lease into a mark that never expires, for that content.
    "CREATE TABLE embedding_leases (
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        worker TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (paper_key, model)
     ) WITHOUT ROWID;",
    // 8: browsing by date (the daily pages), and removing a source: each removed paper leaves
    // a tombstone with the generation that removed it, so other processes' derived indexes
    // drop it when they catch up, and its key is never handed out again. The demo corpus's
    // papers never entered the feed (`DEMO_LISTED_AT`): real papers come first.
    "CREATE INDEX papers_published ON papers (published);
     CREATE INDEX papers_source ON papers (source, updated_at);
     CREATE TABLE removed_papers (
        key INTEGER PRIMARY KEY,
        generation INTEGER NOT NULL
     );
     CREATE INDEX removed_papers_generation ON removed_papers (generation);
     UPDATE papers SET listed_at = 0 WHERE source = 'demo';",
    // 9: accounts (see `crate::accounts`). Secrets are stored as their SHA-256 only. An
    // account's rows go with it (ON DELETE CASCADE); saved and dismissed papers go with their
    // paper (a removed source). The outbox carries sign-in mails, which have no subscriber:
    // SQLite cannot drop a NOT NULL or change a CHECK, so the outbox is rebuilt (same ids, same
    // indexes) and gains an index on the recipient, for deleting an account's mails. Votes get
    // an index by voter: a first sign-in moves a visitor's votes, a deletion removes them.
    "CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL COLLATE NOCASE UNIQUE,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE sessions (
        hash BLOB PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX sessions_account ON sessions (account_id);
     CREATE TABLE signin_tokens (
        hash BLOB PRIMARY KEY,
        email TEXT NOT NULL COLLATE NOCASE,
        voter TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
     ) WITHOUT ROWID;
     CREATE INDEX signin_tokens_email ON signin_tokens (email, created_at);
     CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
     );
     CREATE INDEX api_tokens_account ON api_tokens (account_id);
     CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        rules TEXT NOT NULL DEFAULT '{}',
        digest INTEGER NOT NULL DEFAULT 0,
        feed_hash BLOB UNIQUE
     );
     CREATE UNIQUE INDEX collections_name ON collections (account_id, name COLLATE NOCASE);
     CREATE TABLE collection_papers (
        collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (collection_id, paper_key)
     ) WITHOUT ROWID;
     CREATE INDEX collection_papers_paper ON collection_papers (paper_key);
     CREATE TABLE dismissed (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        paper_key INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        PRIMARY KEY (account_id, paper_key)
     ) WITHOUT ROWID;
     CREATE INDEX dismissed_paper ON dismissed (paper_key);
     CREATE INDEX votes_voter ON votes (voter);
     CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('confirm', 'notice', 'digest', 'signin')),
        local_date TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'failed', 'cancelled')),
        recipient TEXT NOT NULL,
        message_id TEXT,
        message BLOB,
        papers INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        CHECK (subscriber_id IS NOT NULL OR kind = 'signin')
     );
     INSERT INTO outbox_new (id, subscriber_id, kind, local_date, state, recipient, message_id,
                             message, papers, attempts, next_attempt_at, last_error, created_at,
                             sent_at)
        SELECT id, subscriber_id, kind, local_date, state, recipient, message_id, message, papers,
               attempts, next_attempt_at, last_error, created_at, sent_at FROM outbox;
     DROP TABLE outbox;
     ALTER TABLE outbox_new RENAME TO outbox;
     CREATE UNIQUE INDEX outbox_digest ON outbox (subscriber_id, local_date) WHERE kind = 'digest';
     CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
     CREATE INDEX outbox_recipient ON outbox (recipient COLLATE NOCASE);",
];

/// Work a migration needs beyond SQL, run in its transaction.
fn after(version: usize, tx: &Connection) -> Result<()> {
    if version == 4 {
        // Title hashes are SHA-256 of the normalised title: computed here, not in SQL.
        let mut read = tx.prepare("SELECT key, title FROM papers")?;
        let rows: Vec<(i64, String)> = read
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut write =
            tx.prepare("INSERT OR IGNORE INTO paper_ids (id, paper_key) VALUES (?1, ?2)")?;
        for (key, title) in rows {
            write.execute(rusqlite::params![
                paperscout_model::PaperId::from_title(&title).as_str(),
                key
            ])?;
        }
    }
    Ok(())
}

pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        after(i + 1, &tx)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::debug!(version = i + 1, "migrated store schema");
    }
    Ok(())
}
