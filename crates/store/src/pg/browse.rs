//! Browsing by date, per-source counts and removing a source (see the SQLite twin).

use chrono::NaiveDate;

use super::{count, get, limit, PgStore, CHANNEL};
use crate::{Neighbours, PaperKey, Result, SourceCount};

impl PgStore {
    pub fn source_counts(&self) -> Result<Vec<SourceCount>> {
        self.conn()?
            .query(
                "SELECT source, COUNT(*), MAX(updated_at) FROM papers GROUP BY source ORDER BY source",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(SourceCount {
                    source: get(r, 0)?,
                    papers: count(get(r, 1)?),
                    last_change: get(r, 2)?,
                })
            })
            .collect()
    }

    pub fn remove_source(&self, source: &str) -> Result<Vec<PaperKey>> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // Serialised with every other write that changes papers (see `write`).
        let generation: u64 = get::<String>(
            &tx.query_one(
                "SELECT value FROM meta WHERE key = 'generation' FOR UPDATE",
                &[],
            )?,
            0,
        )?
        .parse::<u64>()
        .unwrap_or(0)
            + 1;
        let keys: Vec<PaperKey> = tx
            .query(
                "DELETE FROM papers WHERE source = $1 RETURNING key",
                &[&source],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect::<Result<_>>()?;
        if keys.is_empty() {
            return Ok(keys);
        }
        tx.execute(
            "INSERT INTO removed_papers (key, generation) SELECT k, $2 FROM unnest($1::BIGINT[]) AS k
             ON CONFLICT (key) DO UPDATE SET generation = excluded.generation",
            &[&keys, &(generation as i64)],
        )?;
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'generation'",
            &[&generation.to_string()],
        )?;
        tx.execute("SELECT pg_notify($1, current_schema())", &[&CHANNEL])?;
        tx.commit()?;
        let mut keys = keys;
        keys.sort_unstable();
        Ok(keys)
    }

    pub fn removed_since(&self, generation: u64) -> Result<Vec<PaperKey>> {
        self.conn()?
            .query(
                "SELECT key FROM removed_papers WHERE generation > $1 ORDER BY key",
                &[&(generation as i64)],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    pub fn published_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        offset: usize,
        limit_n: usize,
    ) -> Result<(Vec<PaperKey>, usize)> {
        let mut conn = self.conn()?;
        let (from, to) = (from.to_string(), to.to_string());
        let keys = conn
            .query(
                "SELECT p.key FROM papers p
                 WHERE p.published >= $1 AND p.published <= $2
                 ORDER BY (SELECT COUNT(*) FROM votes v WHERE v.paper_key = p.key)
                          + COALESCE(p.upvotes, 0) DESC, p.key ASC
                 LIMIT $3 OFFSET $4",
                &[&from, &to, &limit(limit_n), &limit(offset)],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect::<Result<_>>()?;
        let total: i64 = get(
            &conn.query_one(
                "SELECT COUNT(*) FROM papers WHERE published >= $1 AND published <= $2",
                &[&from, &to],
            )?,
            0,
        )?;
        Ok((keys, count(total)))
    }

    pub fn published_neighbours(&self, from: NaiveDate, to: NaiveDate) -> Result<Neighbours> {
        let row = self.conn()?.query_one(
            "SELECT (SELECT MAX(published) FROM papers WHERE published < $1),
                    (SELECT MIN(published) FROM papers WHERE published > $2)",
            &[&from.to_string(), &to.to_string()],
        )?;
        let date = |i| -> Result<Option<NaiveDate>> {
            Ok(get::<Option<String>>(&row, i)?.and_then(|d| d.parse().ok()))
        };
        Ok(Neighbours {
            before: date(0)?,
            after: date(1)?,
        })
    }
}
