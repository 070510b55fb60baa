//! Subscribers, the papers sent to each, and the outbox (see [`crate::subscribers`]).

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::SqliteStore;
use crate::{
    MailKind, OutboxStats, OutgoingMail, PaperKey, QueuedMail, Result, SubscribeOutcome,
    Subscriber, SubscriberStatus, Subscription,
};

const SUBSCRIBER_COLUMNS: &str = "id, handle, email, interests, categories, hour, timezone, \
                                  status, created_at, confirmed_at, since_key";

fn subscriber_row(r: &Row<'_>) -> rusqlite::Result<Subscriber> {
    let categories: String = r.get(4)?;
    let status: String = r.get(7)?;
    Ok(Subscriber {
        id: r.get(0)?,
        handle: r.get(1)?,
        subscription: Subscription {
            email: r.get(2)?,
            interests: r.get(3)?,
            categories: serde_json::from_str(&categories).unwrap_or_default(),
            hour: r.get(5)?,
            timezone: r.get(6)?,
        },
        status: SubscriberStatus::parse(&status),
        created_at: r.get(8)?,
        confirmed_at: r.get(9)?,
        since_key: r.get(10)?,
    })
}

fn by_id(tx: &Transaction<'_>, id: i64) -> Result<Subscriber> {
    Ok(tx.query_row(
        &format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?1"),
        [id],
        subscriber_row,
    )?)
}

fn enqueue(
    tx: &Transaction<'_>,
    subscriber_id: i64,
    mail: &OutgoingMail,
    local_date: Option<&str>,
    now: i64,
) -> Result<bool> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO outbox (subscriber_id, kind, local_date, state, recipient,
                                       message_id, message, papers, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            subscriber_id,
            mail.kind.as_str(),
            local_date,
            mail.recipient,
            mail.message_id,
            mail.message,
            mail.papers as i64,
            now
        ],
    )?;
    Ok(n == 1)
}

impl SqliteStore {
    pub fn subscribe(
        &self,
        request: &Subscription,
        new_handle: &[u8],
        now: i64,
        resend_after: i64,
        render: impl FnOnce(&Subscriber, MailKind) -> OutgoingMail,
    ) -> Result<SubscribeOutcome> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(i64, String, Option<i64>)> = tx
            .query_row(
                "SELECT id, status, last_request_mail_at FROM subscribers WHERE email = ?1",
                [&request.email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((_, _, Some(last))) = existing {
            if now - last < resend_after {
                return Ok(SubscribeOutcome::Throttled);
            }
        }
        let categories = serde_json::to_string(&request.categories).expect("strings serialise");
        let (id, kind) = match existing {
            None => {
                tx.execute(
                    "INSERT INTO subscribers (handle, email, interests, categories, hour, timezone,
                                              status, created_at, last_request_mail_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
                    params![
                        new_handle,
                        request.email,
                        request.interests,
                        categories,
                        request.hour,
                        request.timezone,
                        now
                    ],
                )?;
                (tx.last_insert_rowid(), MailKind::Confirm)
            }
            Some((id, status, _)) => {
                let kind = match SubscriberStatus::parse(&status) {
                    SubscriberStatus::Active => MailKind::Notice,
                    SubscriberStatus::Pending => {
                        tx.execute(
                            "UPDATE subscribers SET interests = ?2, categories = ?3, hour = ?4,
                                    timezone = ?5 WHERE id = ?1",
                            params![
                                id,
                                request.interests,
                                categories,
                                request.hour,
                                request.timezone
                            ],
                        )?;
                        MailKind::Confirm
                    }
                    SubscriberStatus::Unsubscribed => {
                        tx.execute(
                            "UPDATE subscribers SET handle = ?2, interests = ?3, categories = ?4,
                                    hour = ?5, timezone = ?6, status = 'pending', created_at = ?7,
                                    confirmed_at = NULL, unsubscribed_at = NULL WHERE id = ?1",
                            params![
                                id,
                                new_handle,
                                request.interests,
                                categories,
                                request.hour,
                                request.timezone,
                                now
                            ],
                        )?;
                        MailKind::Confirm
                    }
                };
                tx.execute(
                    "UPDATE subscribers SET last_request_mail_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                (id, kind)
            }
        };
        let subscriber = by_id(&tx, id)?;
        let mail = render(&subscriber, kind);
        enqueue(&tx, id, &mail, None, now)?;
        tx.commit()?;
        Ok(match kind {
            MailKind::Notice => SubscribeOutcome::AlreadyActive(subscriber),
            _ => SubscribeOutcome::Confirm(subscriber),
        })
    }

    pub fn import_subscriber(
        &self,
        s: &Subscription,
        handle: &[u8],
        now: i64,
        since_key: PaperKey,
    ) -> Result<Option<i64>> {
        let n = self.conn().execute(
            "INSERT INTO subscribers (handle, email, interests, categories, hour, timezone, status,
                                      created_at, confirmed_at, since_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7, ?8)
             ON CONFLICT (email) DO NOTHING",
            params![
                handle,
                s.email,
                s.interests,
                serde_json::to_string(&s.categories).expect("strings serialise"),
                s.hour,
                s.timezone,
                now,
                since_key
            ],
        )?;
        Ok((n == 1).then(|| self.conn().last_insert_rowid()))
    }

    pub fn subscriber_by_handle(&self, handle: &[u8]) -> Result<Option<Subscriber>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE handle = ?1"
            ))?
            .query_row([handle], subscriber_row)
            .optional()?)
    }

    pub fn confirm(
        &self,
        handle: &[u8],
        now: i64,
        since_key: PaperKey,
    ) -> Result<Option<Subscriber>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE subscribers SET status = 'active', confirmed_at = ?2, since_key = ?3
             WHERE handle = ?1 AND status = 'pending'",
            params![handle, now, since_key],
        )?;
        let s = tx
            .query_row(
                &format!(
                    "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers
                     WHERE handle = ?1 AND status = 'active'"
                ),
                [handle],
                subscriber_row,
            )
            .optional()?;
        tx.commit()?;
        Ok(s)
    }

    pub fn unsubscribe(&self, handle: &[u8], now: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM subscribers WHERE handle = ?1",
                [handle],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(false) };
        tx.execute(
            "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?2
             WHERE id = ?1 AND status != 'unsubscribed'",
            params![id, now],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'cancelled', message = NULL
             WHERE subscriber_id = ?1 AND state = 'pending'",
            [id],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn update_preferences(
        &self,
        handle: &[u8],
        s: &Subscription,
    ) -> Result<Option<Subscriber>> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE subscribers SET interests = ?2, categories = ?3, hour = ?4, timezone = ?5
             WHERE handle = ?1 AND status != 'unsubscribed'",
            params![
                handle,
                s.interests,
                serde_json::to_string(&s.categories).expect("strings serialise"),
                s.hour,
                s.timezone
            ],
        )?;
        drop(conn);
        if n == 0 {
            return Ok(None);
        }
        self.subscriber_by_handle(handle)
    }

    pub fn active_subscribers(&self) -> Result<Vec<Subscriber>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE status = 'active' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], subscriber_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn digest_claimed(&self, subscriber_id: i64, local_date: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM outbox WHERE kind = 'digest' AND subscriber_id = ?1 AND local_date = ?2",
            )?
            .query_row(params![subscriber_id, local_date], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn claim_digest(
        &self,
        subscriber_id: i64,
        local_date: &str,
        mail: Option<&OutgoingMail>,
        papers: &[PaperKey],
        since_key: PaperKey,
        now: i64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let active = tx
            .query_row(
                "SELECT email FROM subscribers WHERE id = ?1 AND status = 'active'",
                [subscriber_id],
                |r| r.get::<_, String>(0),
            )
            .optional()?;
        let Some(email) = active else {
            return Ok(false);
        };
        // A paper already sent to this subscriber is never sent again, even by a digest built
        // from a stale view: such a claim is refused, and the next run builds it anew.
        {
            let mut sent = tx.prepare_cached(
                "SELECT 1 FROM digest_papers WHERE subscriber_id = ?1 AND paper_key = ?2",
            )?;
            for key in papers {
                if sent.exists(params![subscriber_id, key])? {
                    return Ok(false);
                }
            }
        }
        let inserted = match mail {
            Some(m) => enqueue(&tx, subscriber_id, m, Some(local_date), now)?,
            None => tx.execute(
                "INSERT OR IGNORE INTO outbox (subscriber_id, kind, local_date, state, recipient,
                                                   next_attempt_at, created_at, sent_at)
                     VALUES (?1, 'digest', ?2, 'skipped', ?3, ?4, ?4, ?4)",
                params![subscriber_id, local_date, email, now],
            )? == 1,
        };
        if !inserted {
            return Ok(false);
        }
        {
            let mut mark = tx.prepare_cached(
                "INSERT OR IGNORE INTO digest_papers (subscriber_id, paper_key, local_date)
                 VALUES (?1, ?2, ?3)",
            )?;
            for key in papers {
                mark.execute(params![subscriber_id, key, local_date])?;
            }
        }
        tx.execute(
            "UPDATE subscribers SET since_key = MAX(since_key, ?2) WHERE id = ?1",
            params![subscriber_id, since_key],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn sent_papers(&self, subscriber_id: i64) -> Result<HashSet<PaperKey>> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached("SELECT paper_key FROM digest_papers WHERE subscriber_id = ?1")?;
        let rows = stmt.query_map([subscriber_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn due_mail(&self, now: i64, limit: usize) -> Result<Vec<QueuedMail>> {
        // A mail of a subscriber goes with its row (ON DELETE CASCADE): only sign-in mails, which
        // have none, find no subscriber, and they are always deliverable.
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.subscriber_id, COALESCE(s.status, 'active'), o.kind, o.local_date,
                    o.recipient, o.message, o.attempts
             FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
             ORDER BY o.next_attempt_at, o.id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], |r| {
            let status: String = r.get(2)?;
            let kind: String = r.get(3)?;
            Ok(QueuedMail {
                id: r.get(0)?,
                subscriber_id: r.get(1)?,
                subscriber_status: SubscriberStatus::parse(&status),
                kind: MailKind::parse(&kind),
                local_date: r.get(4)?,
                recipient: r.get(5)?,
                message: r.get::<_, Option<Vec<u8>>>(6)?.unwrap_or_default(),
                attempts: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn lease_mail(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?3
                 WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?2",
            )?
            .execute(params![id, now, until])?
            == 1)
    }

    pub fn mark_sent(&self, id: i64, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, message = NULL WHERE id = ?1",
            )?
            .execute(params![id, now])?;
        Ok(())
    }

    pub fn mark_attempt_failed(&self, id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        let conn = self.conn();
        match retry_at {
            Some(at) => conn
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
                     WHERE id = ?1",
                )?
                .execute(params![id, error, at])?,
            None => conn
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, state = 'failed'
                     WHERE id = ?1",
                )?
                .execute(params![id, error])?,
        };
        Ok(())
    }

    pub fn cancel_mail(&self, id: i64) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE outbox SET state = 'cancelled', message = NULL WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
        let mut out = OutboxStats::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = n as usize;
            match state.as_str() {
                "pending" => out.pending = n,
                "sent" => out.sent = n,
                "failed" => out.failed = n,
                "skipped" => out.skipped = n,
                _ => {}
            }
        }
        Ok(out)
    }

    pub fn max_paper_key(&self) -> Result<PaperKey> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(key), 0) FROM papers", [], |r| r.get(0))?)
    }

    pub fn last_key_added_before(&self, at: i64) -> Result<PaperKey> {
        Ok(self.read()?.query_row(
            "SELECT COALESCE(MAX(key), 0) FROM papers
             WHERE CAST(strftime('%s', added_at) AS INTEGER) < ?1",
            [at],
            |r| r.get(0),
        )?)
    }

    pub fn keys_after(&self, key: PaperKey) -> Result<Vec<PaperKey>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT key FROM papers WHERE key > ?1 ORDER BY key")?;
        let rows = stmt.query_map([key], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
