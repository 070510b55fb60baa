//! Growing from embedded to shared: copies a SQLite store into an empty PostgreSQL database in
//! one transaction (all of it, or on any error nothing), keeping every key, so the derived
//! indexes of the data dir stay valid and digests keep their ledger.

use std::collections::BTreeMap;

use postgres::types::ToSql;
use rusqlite::types::Value;

use crate::{Backend, DatabaseUrl, Error, Result, Store};

/// What [`Store::copy_to`] copied: rows per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub rows: BTreeMap<&'static str, u64>,
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .rows
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A column whose SQLite value is an RFC 3339 text and whose PostgreSQL value is Unix seconds.
const TIMESTAMP_TEXT: &[(&str, &str)] = &[("papers", "added_at"), ("papers", "updated_at")];

/// A column whose SQLite value is 0 or 1 and whose PostgreSQL value is a `BOOLEAN`.
const BOOLEAN_INT: &[(&str, &str)] = &[("collections", "digest")];

/// Tables in an order that satisfies their foreign keys, with the columns copied (the same
/// names on both sides). Leases are not copied: they are transient, and a paper without an
/// embedding is pending whatever its lease said.
const TABLES: &[(&str, &str)] = &[
    ("meta", "key, value"),
    (
        "papers",
        "key, id, title, abstract, authors, published, categories, links, source, content_hash, \
         record_hash, generation, added_at, updated_at, listed_at, aliases, version, updated, \
         upvotes",
    ),
    ("paper_ids", "id, paper_key"),
    (
        "embeddings",
        "paper_key, model, content_hash, vector, stamp",
    ),
    ("votes", "paper_key, voter, cast_at"),
    (
        "subscribers",
        "id, handle, email, interests, categories, hour, timezone, status, created_at, \
         confirmed_at, unsubscribed_at, last_request_mail_at, since_key",
    ),
    ("digest_papers", "subscriber_id, paper_key, local_date"),
    (
        "outbox",
        "id, subscriber_id, kind, local_date, state, recipient, message_id, message, papers, \
         attempts, next_attempt_at, last_error, created_at, sent_at",
    ),
    (
        "harvests",
        "id, harvest, started_at, finished_at, status, heartbeat_at, pages, records, added, \
         updated, message",
    ),
    ("harvest_state", "harvest, state, updated_at"),
    ("removed_papers", "key, generation"),
    ("accounts", "id, email, created_at"),
    ("sessions", "hash, account_id, created_at, last_seen_at"),
    (
        "signin_tokens",
        "hash, email, voter, created_at, expires_at, used_at",
    ),
    (
        "api_tokens",
        "id, account_id, name, hash, created_at, last_used_at",
    ),
    (
        "collections",
        "id, account_id, name, created_at, rules, digest, feed_hash",
    ),
    ("collection_papers", "collection_id, paper_key, added_at"),
    ("dismissed", "account_id, paper_key, at"),
];

/// Tables whose keys come from an identity column: its sequence moves past the copied keys.
const IDENTITIES: &[(&str, &str)] = &[
    ("papers", "key"),
    ("subscribers", "id"),
    ("outbox", "id"),
    ("harvests", "id"),
    ("accounts", "id"),
    ("api_tokens", "id"),
    ("collections", "id"),
];

/// One SQLite value as a PostgreSQL parameter.
#[derive(Debug)]
enum Param {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

/// NULL for a column of any type.
#[derive(Debug)]
struct AnyNull;

impl ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &postgres::types::Type,
        _: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl Param {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Null => &AnyNull,
            Param::Int(v) => v,
            Param::Bool(v) => v,
            Param::Text(v) => v,
            Param::Bytes(v) => v,
        }
    }
}

fn param(table: &str, column: &str, v: Value) -> Result<Param> {
    Ok(match v {
        Value::Null => Param::Null,
        Value::Integer(i) if BOOLEAN_INT.contains(&(table, column)) => Param::Bool(i != 0),
        Value::Integer(i) => Param::Int(i),
        Value::Text(t) if TIMESTAMP_TEXT.contains(&(table, column)) => Param::Int(
            chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|e| Error::Refused(format!("{table}.{column}: `{t}` is not a time: {e}")))?
                .timestamp(),
        ),
        Value::Text(t) => Param::Text(t),
        Value::Blob(b) => Param::Bytes(b),
        Value::Real(r) => {
            return Err(Error::Refused(format!(
                "{table}.{column}: unexpected real value {r}"
            )))
        }
    })
}

impl Store {
    /// Copies this SQLite store into the empty PostgreSQL database at `target` (creating its
    /// schema), in one transaction: all of it or, on any error, nothing. Refuses a target
    /// that holds papers, subscribers, votes, harvests or accounts already.
    pub fn copy_to(
        &self,
        target: &DatabaseUrl,
        connect_timeout: std::time::Duration,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<CopyReport> {
        let Backend::Sqlite(source) = &self.backend else {
            return Err(Error::Refused(
                "the store to copy from is PostgreSQL already; copy from a SQLite data dir".into(),
            ));
        };
        let pg = crate::pg::PgStore::connect(target.as_str(), connect_timeout)?;
        let mut conn = pg.conn()?;
        let mut tx = conn.transaction()?;
        // No other process may write while the copy runs (their writes would be lost or
        // collide with copied keys): the same locks every writer takes.
        tx.batch_execute(
            "LOCK TABLE papers, subscribers, votes, harvests, outbox, accounts IN EXCLUSIVE MODE",
        )?;
        let used = tx.query_one(
            "SELECT (SELECT COUNT(*) FROM papers), (SELECT COUNT(*) FROM subscribers),
                    (SELECT COUNT(*) FROM votes), (SELECT COUNT(*) FROM harvests),
                    (SELECT COUNT(*) FROM accounts)",
            &[],
        )?;
        let counts: Vec<i64> = (0..5)
            .map(|i| used.try_get(i))
            .collect::<std::result::Result<_, _>>()?;
        if counts.iter().any(|&n| n > 0) {
            return Err(Error::Refused(format!(
                "the database at {target} is not empty ({} papers, {} subscribers, {} votes, {} harvest runs, \
                 {} accounts); `migrate --to` copies into an empty database only",
                counts[0], counts[1], counts[2], counts[3], counts[4]
            )));
        }
        // One read transaction: every table as of one moment, even if another process writes
        // meanwhile (what it writes after that moment is not copied).
        let writer = source.conn();
        let reader = writer.unchecked_transaction()?;
        let mut report = CopyReport::default();
        for &(table, columns) in TABLES {
            let names: Vec<&str> = columns.split(',').map(str::trim).collect();
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let conflict = if table == "meta" {
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            } else {
                ""
            };
            let insert = tx.prepare(&format!(
                "INSERT INTO {table} ({columns}) VALUES ({}){conflict}",
                placeholders.join(", ")
            ))?;
            let mut select = reader.prepare(&format!("SELECT {columns} FROM {table}"))?;
            let mut rows = select.query([])?;
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                let params: Vec<Param> = names
                    .iter()
                    .enumerate()
                    .map(|(i, column)| param(table, column, row.get::<_, Value>(i)?))
                    .collect::<Result<_>>()?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
                tx.execute(&insert, &refs)?;
                n += 1;
                if n.is_multiple_of(10_000) {
                    progress(table, n);
                }
            }
            progress(table, n);
            report.rows.insert(table, n);
        }
        for &(table, column) in IDENTITIES {
            // Papers: past removed keys too, which are never handed out again.
            let removed = if table == "papers" {
                " UNION ALL SELECT MAX(key) FROM removed_papers"
            } else {
                ""
            };
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                   COALESCE((SELECT MAX(k) FROM (SELECT MAX({column}) AS k FROM {table}{removed}) m), 0) + 1, false)"
                ),
                &[],
            )?;
        }
        tx.commit()?;
        Ok(report)
    }
}
