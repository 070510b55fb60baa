//! Subscribers, the papers sent to each, and the outbox (see [`crate::subscribers`]). Every
//! digest claim is one transaction guarded by the outbox's unique (subscriber, day) index, and
//! every send takes its mail by a conditional update, so several processes sharing the
//! database never make or send a day's digest twice.

use std::collections::HashSet;

use postgres::{GenericClient, Row};

use super::{count, get, limit, PgStore};
use crate::{
    MailKind, OutboxStats, OutgoingMail, PaperKey, QueuedMail, Result, SubscribeOutcome,
    Subscriber, SubscriberStatus, Subscription,
};

/// Advisory lock namespace for "a subscription request for address X".
const SUBSCRIBE_LOCK_NAMESPACE: i32 = 0x7375; // "su"

const SUBSCRIBER_COLUMNS: &str = "id, handle, email, interests, categories, hour, timezone, \
                                  status, created_at, confirmed_at, since_key";

fn subscriber_row(r: &Row) -> Result<Subscriber> {
    let categories: String = get(r, 4)?;
    let hour: i64 = get(r, 5)?;
    Ok(Subscriber {
        id: get(r, 0)?,
        handle: get(r, 1)?,
        subscription: Subscription {
            email: get(r, 2)?,
            interests: get(r, 3)?,
            categories: serde_json::from_str(&categories).unwrap_or_default(),
            hour: u8::try_from(hour).unwrap_or(0),
            timezone: get(r, 6)?,
        },
        status: SubscriberStatus::parse(get(r, 7)?),
        created_at: get(r, 8)?,
        confirmed_at: get(r, 9)?,
        since_key: get(r, 10)?,
    })
}

fn by_handle(
    conn: &mut impl GenericClient,
    handle: &[u8],
    extra: &str,
) -> Result<Option<Subscriber>> {
    conn.query_opt(
        &format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE handle = $1 {extra}"),
        &[&handle],
    )?
    .map(|r| subscriber_row(&r))
    .transpose()
}

fn enqueue(
    tx: &mut impl GenericClient,
    subscriber_id: i64,
    mail: &OutgoingMail,
    local_date: Option<&str>,
    now: i64,
) -> Result<bool> {
    let n = tx.execute(
        "INSERT INTO outbox (subscriber_id, kind, local_date, state, recipient, message_id,
                             message, papers, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $8)
         ON CONFLICT DO NOTHING",
        &[
            &subscriber_id,
            &mail.kind.as_str(),
            &local_date,
            &mail.recipient,
            &mail.message_id,
            &mail.message,
            &(mail.papers as i64),
            &now,
        ],
    )?;
    Ok(n == 1)
}

impl PgStore {
    pub fn subscribe(
        &self,
        request: &Subscription,
        new_handle: &[u8],
        now: i64,
        resend_after: i64,
        render: impl FnOnce(&Subscriber, MailKind) -> OutgoingMail,
    ) -> Result<SubscribeOutcome> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // Two requests for one address at once (two replicas): one decides after the other.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(lower($2)))",
            &[&SUBSCRIBE_LOCK_NAMESPACE, &request.email],
        )?;
        let existing = tx
            .query_opt(
                "SELECT id, status, last_request_mail_at FROM subscribers
                 WHERE lower(email) = lower($1)",
                &[&request.email],
            )?
            .map(|r| -> Result<(i64, String, Option<i64>)> {
                Ok((get(&r, 0)?, get(&r, 1)?, get(&r, 2)?))
            })
            .transpose()?;
        if let Some((_, _, Some(last))) = existing {
            if now - last < resend_after {
                return Ok(SubscribeOutcome::Throttled);
            }
        }
        let categories = serde_json::to_string(&request.categories).expect("strings serialise");
        let hour = i64::from(request.hour);
        let (id, kind) =
            match existing {
                None => {
                    let row = tx.query_one(
                    "INSERT INTO subscribers (handle, email, interests, categories, hour, timezone,
                                              status, created_at, last_request_mail_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) RETURNING id",
                    &[
                        &new_handle,
                        &request.email,
                        &request.interests,
                        &categories,
                        &hour,
                        &request.timezone,
                        &now,
                    ],
                )?;
                    (get(&row, 0)?, MailKind::Confirm)
                }
                Some((id, status, _)) => {
                    let kind =
                        match SubscriberStatus::parse(&status) {
                            SubscriberStatus::Active => MailKind::Notice,
                            SubscriberStatus::Pending => {
                                tx.execute(
                            "UPDATE subscribers SET interests = $2, categories = $3, hour = $4,
                                    timezone = $5 WHERE id = $1",
                            &[&id, &request.interests, &categories, &hour, &request.timezone],
                        )?;
                                MailKind::Confirm
                            }
                            SubscriberStatus::Unsubscribed => {
                                tx.execute(
                            "UPDATE subscribers SET handle = $2, interests = $3, categories = $4,
                                    hour = $5, timezone = $6, status = 'pending', created_at = $7,
                                    confirmed_at = NULL, unsubscribed_at = NULL WHERE id = $1",
                            &[
                                &id,
                                &new_handle,
                                &request.interests,
                                &categories,
                                &hour,
                                &request.timezone,
                                &now,
                            ],
                        )?;
                                MailKind::Confirm
                            }
                        };
                    tx.execute(
                        "UPDATE subscribers SET last_request_mail_at = $2 WHERE id = $1",
                        &[&id, &now],
                    )?;
                    (id, kind)
                }
            };
        let row = tx.query_one(
            &format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = $1"),
            &[&id],
        )?;
        let subscriber = subscriber_row(&row)?;
        let mail = render(&subscriber, kind);
        enqueue(&mut tx, id, &mail, None, now)?;
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
        self.conn()?
            .query_opt(
                "INSERT INTO subscribers (handle, email, interests, categories, hour, timezone,
                                          status, created_at, confirmed_at, since_key)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[
                    &handle,
                    &s.email,
                    &s.interests,
                    &serde_json::to_string(&s.categories).expect("strings serialise"),
                    &i64::from(s.hour),
                    &s.timezone,
                    &now,
                    &since_key,
                ],
            )?
            .map(|r| get(&r, 0))
            .transpose()
    }

    pub fn subscriber_by_handle(&self, handle: &[u8]) -> Result<Option<Subscriber>> {
        by_handle(&mut **self.conn()?, handle, "")
    }

    pub fn confirm(
        &self,
        handle: &[u8],
        now: i64,
        since_key: PaperKey,
    ) -> Result<Option<Subscriber>> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        tx.execute(
            "UPDATE subscribers SET status = 'active', confirmed_at = $2, since_key = $3
             WHERE handle = $1 AND status = 'pending'",
            &[&handle, &now, &since_key],
        )?;
        let s = by_handle(&mut tx, handle, "AND status = 'active'")?;
        tx.commit()?;
        Ok(s)
    }

    pub fn unsubscribe(&self, handle: &[u8], now: i64) -> Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        let Some(row) = tx.query_opt(
            "SELECT id FROM subscribers WHERE handle = $1 FOR UPDATE",
            &[&handle],
        )?
        else {
            return Ok(false);
        };
        let id: i64 = get(&row, 0)?;
        tx.execute(
            "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = $2
             WHERE id = $1 AND status != 'unsubscribed'",
            &[&id, &now],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'cancelled', message = NULL
             WHERE subscriber_id = $1 AND state = 'pending'",
            &[&id],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn update_preferences(
        &self,
        handle: &[u8],
        s: &Subscription,
    ) -> Result<Option<Subscriber>> {
        let n = self.conn()?.execute(
            "UPDATE subscribers SET interests = $2, categories = $3, hour = $4, timezone = $5
             WHERE handle = $1 AND status != 'unsubscribed'",
            &[
                &handle,
                &s.interests,
                &serde_json::to_string(&s.categories).expect("strings serialise"),
                &i64::from(s.hour),
                &s.timezone,
            ],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.subscriber_by_handle(handle)
    }

    pub fn active_subscribers(&self) -> Result<Vec<Subscriber>> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE status = 'active' ORDER BY id"
                ),
                &[],
            )?
            .iter()
            .map(subscriber_row)
            .collect()
    }

    pub fn digest_claimed(&self, subscriber_id: i64, local_date: &str) -> Result<bool> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT 1 FROM outbox WHERE kind = 'digest' AND subscriber_id = $1 AND local_date = $2",
                &[&subscriber_id, &local_date],
            )?
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
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // The subscriber's row stays locked until the claim commits: an unsubscription waits
        // for it, and so does another process claiming the same subscriber.
        let Some(row) = tx.query_opt(
            "SELECT email FROM subscribers WHERE id = $1 AND status = 'active' FOR UPDATE",
            &[&subscriber_id],
        )?
        else {
            return Ok(false);
        };
        let email: String = get(&row, 0)?;
        // A paper already sent to this subscriber is never sent again, even by a digest built
        // from a stale view (a scheduler that lost its role and has not noticed yet): such a
        // claim is refused, and the next run builds the digest anew.
        if tx
            .query_opt(
                "SELECT 1 FROM digest_papers WHERE subscriber_id = $1 AND paper_key = ANY($2) LIMIT 1",
                &[&subscriber_id, &papers],
            )?
            .is_some()
        {
            return Ok(false);
        }
        let inserted = match mail {
            Some(m) => enqueue(&mut tx, subscriber_id, m, Some(local_date), now)?,
            None => {
                tx.execute(
                    "INSERT INTO outbox (subscriber_id, kind, local_date, state, recipient,
                                         next_attempt_at, created_at, sent_at)
                     VALUES ($1, 'digest', $2, 'skipped', $3, $4, $4, $4)
                     ON CONFLICT DO NOTHING",
                    &[&subscriber_id, &local_date, &email, &now],
                )? == 1
            }
        };
        if !inserted {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO digest_papers (subscriber_id, paper_key, local_date)
             SELECT $1, k, $3 FROM unnest($2::BIGINT[]) AS k
             ON CONFLICT DO NOTHING",
            &[&subscriber_id, &papers, &local_date],
        )?;
        tx.execute(
            "UPDATE subscribers SET since_key = GREATEST(since_key, $2) WHERE id = $1",
            &[&subscriber_id, &since_key],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn sent_papers(&self, subscriber_id: i64) -> Result<HashSet<PaperKey>> {
        self.conn()?
            .query(
                "SELECT paper_key FROM digest_papers WHERE subscriber_id = $1",
                &[&subscriber_id],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    pub fn due_mail(&self, now: i64, n: usize) -> Result<Vec<QueuedMail>> {
        // A mail of a subscriber goes with its row (ON DELETE CASCADE): only sign-in mails, which
        // have none, find no subscriber, and they are always deliverable.
        self.conn()?
            .query(
                "SELECT o.id, o.subscriber_id, COALESCE(s.status, 'active'), o.kind,
                        o.local_date, o.recipient, o.message, o.attempts
                 FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id
                 WHERE o.state = 'pending' AND o.next_attempt_at <= $1
                 ORDER BY o.next_attempt_at, o.id LIMIT $2",
                &[&now, &limit(n)],
            )?
            .iter()
            .map(|r| {
                let attempts: i64 = get(r, 7)?;
                Ok(QueuedMail {
                    id: get(r, 0)?,
                    subscriber_id: get(r, 1)?,
                    subscriber_status: SubscriberStatus::parse(get(r, 2)?),
                    kind: MailKind::parse(get(r, 3)?),
                    local_date: get(r, 4)?,
                    recipient: get(r, 5)?,
                    message: get::<Option<Vec<u8>>>(r, 6)?.unwrap_or_default(),
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    pub fn lease_mail(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        Ok(self.conn()?.execute(
            "UPDATE outbox SET next_attempt_at = $3
             WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $2",
            &[&id, &now, &until],
        )? == 1)
    }

    pub fn mark_sent(&self, id: i64, now: i64) -> Result<()> {
        self.conn()?.execute(
            "UPDATE outbox SET state = 'sent', sent_at = $2, message = NULL WHERE id = $1",
            &[&id, &now],
        )?;
        Ok(())
    }

    pub fn mark_attempt_failed(&self, id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        let mut conn = self.conn()?;
        match retry_at {
            Some(at) => conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
                 WHERE id = $1",
                &[&id, &error, &at],
            )?,
            None => conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, state = 'failed'
                 WHERE id = $1",
                &[&id, &error],
            )?,
        };
        Ok(())
    }

    pub fn cancel_mail(&self, id: i64) -> Result<()> {
        self.conn()?.execute(
            "UPDATE outbox SET state = 'cancelled', message = NULL WHERE id = $1",
            &[&id],
        )?;
        Ok(())
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let mut out = OutboxStats::default();
        for r in self
            .conn()?
            .query("SELECT state, COUNT(*) FROM outbox GROUP BY state", &[])?
        {
            let state: String = get(&r, 0)?;
            let n = count(get(&r, 1)?);
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
        let row = self
            .conn()?
            .query_one("SELECT COALESCE(MAX(key), 0) FROM papers", &[])?;
        get(&row, 0)
    }

    pub fn last_key_added_before(&self, at: i64) -> Result<PaperKey> {
        let row = self.conn()?.query_one(
            "SELECT COALESCE(MAX(key), 0) FROM papers WHERE added_at < $1",
            &[&at],
        )?;
        get(&row, 0)
    }

    pub fn keys_after(&self, key: PaperKey) -> Result<Vec<PaperKey>> {
        self.conn()?
            .query(
                "SELECT key FROM papers WHERE key > $1 ORDER BY key",
                &[&key],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }
}
