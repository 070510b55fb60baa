//! Harvest runs and each harvest's resume state.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{SqliteStore, Writer};
use crate::{HarvestRun, HarvestStatus, PageCounts, Result, HARVEST_STALE_SECS};

impl SqliteStore {
    pub fn start_harvest(&self, harvest: &str, now: i64) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let live: Option<i64> = tx
            .query_row(
                "SELECT id FROM harvests WHERE harvest = ?1 AND status = 'running' AND heartbeat_at > ?2",
                params![harvest, now - HARVEST_STALE_SECS],
                |r| r.get(0),
            )
            .optional()?;
        if live.is_some() {
            return Ok(None);
        }
        tx.execute(
            "UPDATE harvests SET status = 'failed', finished_at = heartbeat_at,
                message = 'interrupted: the process running it stopped'
             WHERE harvest = ?1 AND status = 'running'",
            [harvest],
        )?;
        tx.execute(
            "INSERT INTO harvests (harvest, started_at, heartbeat_at, status) VALUES (?1, ?2, ?2, 'running')",
            params![harvest, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    pub fn finish_harvest(
        &self,
        id: i64,
        status: HarvestStatus,
        message: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE harvests SET status = ?2, message = ?3, finished_at = ?4, heartbeat_at = ?4 WHERE id = ?1",
            params![id, status.as_str(), message, now],
        )?;
        Ok(())
    }

    pub fn last_harvests(&self) -> Result<Vec<HarvestRun>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "{SELECT_RUN} WHERE id IN (SELECT MAX(id) FROM harvests GROUP BY harvest) ORDER BY harvest"
        ))?;
        let rows = stmt.query_map([], run)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn harvest_runs(&self, harvest: &str, limit: usize) -> Result<Vec<HarvestRun>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "{SELECT_RUN} WHERE harvest = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![harvest, limit as i64], run)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn harvest_state(&self, harvest: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state FROM harvest_state WHERE harvest = ?1",
                [harvest],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_harvest_state(&self, harvest: &str, state: &str, now: i64) -> Result<()> {
        save_state(&self.conn(), harvest, state, now)
    }
}

impl Writer<'_> {
    /// Saves `state` for `harvest` in this write's transaction, so the state (the next page's
    /// resumption token) is committed with the page's papers or not at all; and adds the
    /// page's counts to run `run`.
    pub(crate) fn set_harvest_state(
        &mut self,
        harvest: &str,
        state: &str,
        run: i64,
        counts: PageCounts,
    ) -> Result<()> {
        save_state(self.tx, harvest, state, self.now)?;
        self.tx.execute(
            "UPDATE harvests SET pages = pages + 1, records = records + ?2, added = added + ?3,
                updated = updated + ?4, heartbeat_at = ?5 WHERE id = ?1",
            params![
                run,
                counts.records as i64,
                counts.added as i64,
                counts.updated as i64,
                self.now
            ],
        )?;
        Ok(())
    }
}

fn save_state(conn: &rusqlite::Connection, harvest: &str, state: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO harvest_state (harvest, state, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (harvest) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        params![harvest, state, now],
    )?;
    Ok(())
}

const SELECT_RUN: &str = "SELECT id, harvest, started_at, finished_at, status, pages, records, \
                          added, updated, message FROM harvests";

fn run(r: &rusqlite::Row<'_>) -> rusqlite::Result<HarvestRun> {
    Ok(HarvestRun {
        id: r.get(0)?,
        harvest: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        status: HarvestStatus::parse(&r.get::<_, String>(4)?),
        pages: r.get::<_, i64>(5)? as u64,
        records: r.get::<_, i64>(6)? as u64,
        added: r.get::<_, i64>(7)? as u64,
        updated: r.get::<_, i64>(8)? as u64,
        message: r.get(9)?,
    })
}
