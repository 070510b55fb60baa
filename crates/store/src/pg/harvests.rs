//! Harvest runs and each harvest's resume state (see [`crate::harvests`]).

use postgres::GenericClient;

use super::{get, PgStore, Writer};
use crate::{HarvestRun, HarvestStatus, PageCounts, Result, HARVEST_STALE_SECS};

/// Advisory lock keys for "starting a run of harvest X" are taken from this namespace.
const HARVEST_LOCK_NAMESPACE: i32 = 0x6876; // "hv"

impl PgStore {
    pub fn start_harvest(&self, harvest: &str, now: i64) -> Result<Option<i64>> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // Two processes starting the same harvest at once: one waits for the other's decision.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&HARVEST_LOCK_NAMESPACE, &harvest],
        )?;
        let live = tx.query_opt(
            "SELECT id FROM harvests WHERE harvest = $1 AND status = 'running' AND heartbeat_at > $2
             LIMIT 1",
            &[&harvest, &(now - HARVEST_STALE_SECS)],
        )?;
        if live.is_some() {
            return Ok(None);
        }
        tx.execute(
            "UPDATE harvests SET status = 'failed', finished_at = heartbeat_at,
                message = 'interrupted: the process running it stopped'
             WHERE harvest = $1 AND status = 'running'",
            &[&harvest],
        )?;
        let row = tx.query_one(
            "INSERT INTO harvests (harvest, started_at, heartbeat_at, status)
             VALUES ($1, $2, $2, 'running') RETURNING id",
            &[&harvest, &now],
        )?;
        let id = get(&row, 0)?;
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
        self.conn()?.execute(
            "UPDATE harvests SET status = $2, message = $3, finished_at = $4, heartbeat_at = $4
             WHERE id = $1",
            &[&id, &status.as_str(), &message, &now],
        )?;
        Ok(())
    }

    pub fn last_harvests(&self) -> Result<Vec<HarvestRun>> {
        self.conn()?
            .query(
                &format!(
                    "{SELECT_RUN} WHERE id IN (SELECT MAX(id) FROM harvests GROUP BY harvest)
                     ORDER BY harvest"
                ),
                &[],
            )?
            .iter()
            .map(run)
            .collect()
    }

    pub fn harvest_runs(&self, harvest: &str, n: usize) -> Result<Vec<HarvestRun>> {
        self.conn()?
            .query(
                &format!("{SELECT_RUN} WHERE harvest = $1 ORDER BY id DESC LIMIT $2"),
                &[&harvest, &super::limit(n)],
            )?
            .iter()
            .map(run)
            .collect()
    }

    pub fn harvest_state(&self, harvest: &str) -> Result<Option<String>> {
        self.conn()?
            .query_opt(
                "SELECT state FROM harvest_state WHERE harvest = $1",
                &[&harvest],
            )?
            .map(|r| get(&r, 0))
            .transpose()
    }

    pub fn set_harvest_state(&self, harvest: &str, state: &str, now: i64) -> Result<()> {
        save_state(&mut **self.conn()?, harvest, state, now)
    }
}

impl Writer<'_> {
    pub(crate) fn set_harvest_state(
        &mut self,
        harvest: &str,
        state: &str,
        run: i64,
        counts: PageCounts,
    ) -> Result<()> {
        save_state(&mut self.tx, harvest, state, self.now)?;
        self.tx.execute(
            "UPDATE harvests SET pages = pages + 1, records = records + $2, added = added + $3,
                updated = updated + $4, heartbeat_at = $5 WHERE id = $1",
            &[
                &run,
                &(counts.records as i64),
                &(counts.added as i64),
                &(counts.updated as i64),
                &self.now,
            ],
        )?;
        Ok(())
    }
}

fn save_state(conn: &mut impl GenericClient, harvest: &str, state: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO harvest_state (harvest, state, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (harvest) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        &[&harvest, &state, &now],
    )?;
    Ok(())
}

const SELECT_RUN: &str = "SELECT id, harvest, started_at, finished_at, status, pages, records, \
                          added, updated, message FROM harvests";

fn run(r: &postgres::Row) -> Result<HarvestRun> {
    let n = |i: usize| -> Result<u64> { Ok(get::<i64>(r, i)?.max(0) as u64) };
    Ok(HarvestRun {
        id: get(r, 0)?,
        harvest: get(r, 1)?,
        started_at: get(r, 2)?,
        finished_at: get(r, 3)?,
        status: HarvestStatus::parse(get(r, 4)?),
        pages: n(5)?,
        records: n(6)?,
        added: n(7)?,
        updated: n(8)?,
        message: get(r, 9)?,
    })
}
