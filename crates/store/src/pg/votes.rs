//! Upvotes and the feed-order queries (see [`crate::sqlite`]'s twin for the reasoning).

use std::collections::{HashMap, HashSet};

use super::{count, get, limit, PgStore};
use crate::{Candidate, Facets, PaperKey, Result};

impl PgStore {
    pub fn vote(&self, key: PaperKey, voter: &str, at: i64) -> Result<bool> {
        // One statement: no paper, no row; a vote already cast, no row.
        let n = self.conn()?.execute(
            "INSERT INTO votes (paper_key, voter, cast_at)
             SELECT key, $2, $3 FROM papers WHERE key = $1
             ON CONFLICT (paper_key, voter) DO NOTHING",
            &[&key, &voter, &at],
        )?;
        Ok(n == 1)
    }

    pub fn unvote(&self, key: PaperKey, voter: &str) -> Result<bool> {
        let n = self.conn()?.execute(
            "DELETE FROM votes WHERE paper_key = $1 AND voter = $2",
            &[&key, &voter],
        )?;
        Ok(n == 1)
    }

    pub fn vote_counts(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, usize>> {
        let rows = self.conn()?.query(
            "SELECT p.key, (SELECT COUNT(*) FROM votes v WHERE v.paper_key = p.key)
                           + COALESCE(p.upvotes, 0)
             FROM papers p WHERE p.key = ANY($1)",
            &[&keys],
        )?;
        let mut out = HashMap::new();
        for r in &rows {
            let n: i64 = get(r, 1)?;
            if n > 0 {
                out.insert(get(r, 0)?, count(n));
            }
        }
        Ok(out)
    }

    pub fn voted_by(&self, voter: &str, keys: &[PaperKey]) -> Result<HashSet<PaperKey>> {
        self.conn()?
            .query(
                "SELECT paper_key FROM votes WHERE voter = $1 AND paper_key = ANY($2)",
                &[&voter, &keys],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    pub fn trending_candidates(&self, since: i64, recent: usize) -> Result<Vec<Candidate>> {
        let mut conn = self.conn()?;
        let mut out: HashMap<PaperKey, Candidate> = HashMap::new();
        let listed = conn.query(
            "SELECT key, listed_at, upvotes FROM papers WHERE upvotes > 0 AND listed_at >= $1
             UNION
             SELECT key, listed_at, COALESCE(upvotes, 0) FROM (
                SELECT key, listed_at, upvotes FROM papers
                ORDER BY listed_at DESC, key ASC LIMIT $2) newest",
            &[&since, &limit(recent)],
        )?;
        for r in &listed {
            let (key, listed_at, upvotes): (i64, i64, i64) = (get(r, 0)?, get(r, 1)?, get(r, 2)?);
            out.insert(
                key,
                Candidate {
                    key,
                    listed_at,
                    votes: count(upvotes),
                    in_window: listed_at >= since,
                },
            );
        }
        let voted = conn.query(
            "SELECT v.paper_key, p.listed_at, COUNT(*) + COALESCE(p.upvotes, 0)
             FROM votes v JOIN papers p ON p.key = v.paper_key
             WHERE v.cast_at >= $1 GROUP BY v.paper_key, p.listed_at, p.upvotes",
            &[&since],
        )?;
        for r in &voted {
            let (key, listed_at, votes): (i64, i64, i64) = (get(r, 0)?, get(r, 1)?, get(r, 2)?);
            out.insert(
                key,
                Candidate {
                    key,
                    listed_at,
                    votes: count(votes),
                    in_window: true,
                },
            );
        }
        Ok(out.into_values().collect())
    }

    pub fn newest(&self, offset: usize, n: usize) -> Result<Vec<PaperKey>> {
        self.conn()?
            .query(
                "SELECT key FROM papers ORDER BY listed_at DESC, key ASC LIMIT $1 OFFSET $2",
                &[&limit(n), &limit(offset)],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    pub fn facets(&self, keys: &[PaperKey]) -> Result<HashMap<PaperKey, Facets>> {
        let rows = self.conn()?.query(
            "SELECT key, published, categories FROM papers WHERE key = ANY($1)",
            &[&keys],
        )?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: PaperKey = get(r, 0)?;
            let categories: String = get(r, 2)?;
            out.insert(key, crate::common::facets(key, get(r, 1)?, &categories)?);
        }
        Ok(out)
    }

    pub fn for_each_facets(&self, mut f: impl FnMut(PaperKey, Facets)) -> Result<()> {
        let rows = self
            .conn()?
            .query("SELECT key, published, categories FROM papers", &[])?;
        for r in &rows {
            let key: PaperKey = get(r, 0)?;
            let categories: String = get(r, 2)?;
            f(key, crate::common::facets(key, get(r, 1)?, &categories)?);
        }
        Ok(())
    }
}
