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
];

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
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::debug!(version = i + 1, "migrated store schema");
    }
    Ok(())
}
