//! Upvotes and the feed-order queries that trending and "new" are computed from.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::{Candidate, Facets, PaperKey, Result};

/// Papers a source upvoted inside the window, and the newest papers (see
/// [`crate::Store::trending_candidates`]).
pub(crate) const TRENDING_LISTED_SQL: &str =
    "SELECT key, listed_at, upvotes FROM papers WHERE upvotes > 0 AND listed_at >= ?1
     UNION
     SELECT key, listed_at, COALESCE(upvotes, 0) FROM (
        SELECT key, listed_at, upvotes FROM papers
        ORDER BY listed_at DESC, key ASC LIMIT ?2)";
/// A page of the feed, newest first.
pub(crate) const NEWEST_SQL: &str =
    "SELECT key FROM papers ORDER BY listed_at DESC, key ASC LIMIT ?1 OFFSET ?2";

impl SqliteStore {
    pub fn vote(&self, key: PaperKey, voter: &str, at: i64) -> Result<bool> {
        let conn = self.conn();
        let exists: Option<i64> = conn
            .prepare_cached("SELECT key FROM papers WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(false);
        }
        let n = conn
            .prepare_cached(
                "INSERT INTO votes (paper_key, voter, cast_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (paper_key, voter) DO NOTHING",
            )?
            .execute(params![key, voter, at])?;
        Ok(n == 1)
    }

    pub fn unvote(&self, key: PaperKey, voter: &str) -> Result<bool> {
        let n = self
            .conn()
            .prepare_cached("DELETE FROM votes WHERE paper_key = ?1 AND voter = ?2")?
            .execute(params![key, voter])?;
        Ok(n == 1)
    }

    pub fn vote_counts(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, usize>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT (SELECT COUNT(*) FROM votes WHERE paper_key = ?1)
                    + COALESCE((SELECT upvotes FROM papers WHERE key = ?1), 0)",
        )?;
        let mut out = HashMap::new();
        for &key in keys {
            let n: i64 = stmt.query_row([key], |r| r.get(0))?;
            if n > 0 {
                out.insert(key, n as usize);
            }
        }
        Ok(out)
    }

    pub fn voted_by(&self, voter: &str, keys: &[PaperKey]) -> Result<HashSet<PaperKey>> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached("SELECT 1 FROM votes WHERE paper_key = ?1 AND voter = ?2")?;
        let mut out = HashSet::new();
        for &key in keys {
            if stmt
                .query_row(params![key, voter], |_| Ok(()))
                .optional()?
                .is_some()
            {
                out.insert(key);
            }
        }
        Ok(out)
    }

    pub fn trending_candidates(&self, since: i64, recent: usize) -> Result<Vec<Candidate>> {
        let conn = self.read()?;
        let mut out: HashMap<PaperKey, Candidate> = HashMap::new();
        // Inside the window, a paper without votes ranks by age alone, so the newest `recent`
        // stand for all of them: the query reads a bounded number of rows however many papers
        // the window holds (400k undated papers of one ingest all share its time).
        let mut listed = conn.prepare_cached(TRENDING_LISTED_SQL)?;
        let rows = listed.query_map(params![since, recent as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (key, listed_at, upvotes) = row?;
            out.insert(
                key,
                Candidate {
                    key,
                    listed_at,
                    votes: upvotes.max(0) as usize,
                    in_window: listed_at >= since,
                },
            );
        }
        let mut voted = conn.prepare_cached(
            "SELECT v.paper_key, p.listed_at, COUNT(*) + COALESCE(p.upvotes, 0)
             FROM votes v JOIN papers p ON p.key = v.paper_key
             WHERE v.cast_at >= ?1 GROUP BY v.paper_key",
        )?;
        let rows = voted.query_map([since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (key, listed_at, votes) = row?;
            out.insert(
                key,
                Candidate {
                    key,
                    listed_at,
                    votes: votes as usize,
                    in_window: true,
                },
            );
        }
        Ok(out.into_values().collect())
    }

    pub fn newest(&self, offset: usize, limit: usize) -> Result<Vec<PaperKey>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(NEWEST_SQL)?;
        let rows = stmt.query_map(params![limit as i64, offset as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn facets(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, Facets>> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached("SELECT published, categories FROM papers WHERE key = ?1")?;
        let mut out = HashMap::with_capacity(keys.len());
        for &key in keys {
            let row: Option<(Option<String>, String)> = stmt
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((published, categories)) = row {
                out.insert(key, crate::common::facets(key, published, &categories)?);
            }
        }
        Ok(out)
    }

    pub fn for_each_facets(&self, mut f: impl FnMut(PaperKey, Facets)) -> Result<()> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT key, published, categories FROM papers")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let key: PaperKey = r.get(0)?;
            let categories: String = r.get(2)?;
            f(key, crate::common::facets(key, r.get(1)?, &categories)?);
        }
        Ok(())
    }
}
