//! Browsing by date, per-source counts and removing a source (see [`crate::browse`]).

use chrono::{DateTime, NaiveDate};
use rusqlite::{params, TransactionBehavior};

use super::{meta_get, meta_set, SqliteStore};
use crate::{Neighbours, PaperKey, Result, SourceCount};

/// Papers by date, most upvoted first. `published` is `YYYY-MM-DD` text, so a date range is
/// a range of strings, answered from `papers_published`.
pub(crate) const PUBLISHED_SQL: &str = "SELECT p.key FROM papers p
     WHERE p.published >= ?1 AND p.published <= ?2
     ORDER BY (SELECT COUNT(*) FROM votes v WHERE v.paper_key = p.key)
              + COALESCE(p.upvotes, 0) DESC, p.key ASC
     LIMIT ?3 OFFSET ?4";

impl SqliteStore {
    pub fn source_counts(&self) -> Result<Vec<SourceCount>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(
            "SELECT source, COUNT(*), MAX(updated_at) FROM papers GROUP BY source ORDER BY source",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (source, papers, last) = row?;
            out.push(SourceCount {
                source,
                papers: papers as usize,
                last_change: last
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.timestamp()),
            });
        }
        Ok(out)
    }

    pub fn remove_source(&self, source: &str) -> Result<Vec<PaperKey>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keys: Vec<PaperKey> = tx
            .prepare("SELECT key FROM papers WHERE source = ?1 ORDER BY key")?
            .query_map([source], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if keys.is_empty() {
            return Ok(keys);
        }
        let generation: u64 = meta_get(&tx, "generation")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            + 1;
        tx.execute(
            "INSERT OR REPLACE INTO removed_papers (key, generation)
             SELECT key, ?2 FROM papers WHERE source = ?1",
            params![source, generation as i64],
        )?;
        // Embeddings, leases, votes, ids, collection entries and dismissals go with their paper
        // (ON DELETE CASCADE).
        tx.execute("DELETE FROM papers WHERE source = ?1", [source])?;
        meta_set(&tx, "generation", &generation.to_string())?;
        tx.commit()?;
        Ok(keys)
    }

    pub fn removed_since(&self, generation: u64) -> Result<Vec<PaperKey>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached("SELECT key FROM removed_papers WHERE generation > ?1 ORDER BY key")?;
        let rows = stmt.query_map([generation as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn published_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<PaperKey>, usize)> {
        let conn = self.read()?;
        let (from, to) = (from.to_string(), to.to_string());
        let keys = conn
            .prepare_cached(PUBLISHED_SQL)?
            .query_map(params![from, to, limit as i64, offset as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let total: i64 = conn.query_row(
            "SELECT COUNT(*) FROM papers WHERE published >= ?1 AND published <= ?2",
            params![from, to],
            |r| r.get(0),
        )?;
        Ok((keys, total as usize))
    }

    pub fn published_neighbours(&self, from: NaiveDate, to: NaiveDate) -> Result<Neighbours> {
        let conn = self.read()?;
        let date = |sql: &str, at: NaiveDate| -> Result<Option<NaiveDate>> {
            let d: Option<String> = conn.query_row(sql, [at.to_string()], |r| r.get(0))?;
            Ok(d.and_then(|d| d.parse().ok()))
        };
        Ok(Neighbours {
            before: date(
                "SELECT MAX(published) FROM papers WHERE published < ?1",
                from,
            )?,
            after: date("SELECT MIN(published) FROM papers WHERE published > ?1", to)?,
        })
    }
}
