//! Accounts, sessions, API tokens, collections and dismissed papers (see the SQLite twin).
//! Caps (tokens, collections, papers per collection) are checked under a row lock on the
//! account or the collection, so two requests at once cannot both pass a cap by one; sign-in
//! requests for one address are serialised by an advisory lock, as subscriptions are.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::{GenericClient, IsolationLevel, Row};

use super::{count, get, PgStore};
use crate::accounts::{self, voter_of, COLLECTION_COLUMNS, SIGNIN_TOKEN_KEEP_S, TOUCH_EVERY_S};
use crate::{
    Account, AccountExport, ApiToken, Collection, Error, ExportedAccount, ExportedCollection,
    ExportedMark, ExportedPaper, ExportedSubscription, ExportedToken, MailKind, OutgoingMail,
    PaperKey, Result, Rules, SignIn, DEFAULT_COLLECTION, MAX_API_TOKENS, MAX_COLLECTIONS,
    MAX_COLLECTION_PAPERS,
};

/// Advisory lock namespace for "a sign-in request for address X".
const SIGNIN_LOCK_NAMESPACE: i32 = 0x7369; // "si"

fn account_row(r: &Row) -> Result<Account> {
    Ok(Account {
        id: get(r, 0)?,
        email: get(r, 1)?,
        created_at: get(r, 2)?,
    })
}

fn collection_row(r: &Row) -> Result<Collection> {
    Ok(Collection {
        id: get(r, 0)?,
        account_id: get(r, 1)?,
        name: get(r, 2)?,
        created_at: get(r, 3)?,
        rules: Rules::from_json(get(r, 4)?),
        digest: get(r, 5)?,
        has_feed: get(r, 6)?,
        papers: count(get(r, 7)?),
    })
}

fn token_row(r: &Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: get(r, 0)?,
        name: get(r, 1)?,
        created_at: get(r, 2)?,
        last_used_at: get(r, 3)?,
    })
}

fn collection_by_id(
    conn: &mut impl GenericClient,
    account_id: i64,
    id: i64,
) -> Result<Option<Collection>> {
    conn.query_opt(
        &format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.id = $2 AND c.account_id = $1"
        ),
        &[&account_id, &id],
    )?
    .map(|r| collection_row(&r))
    .transpose()
}

fn marks(
    conn: &mut impl GenericClient,
    sql: &str,
    param: &(dyn postgres::types::ToSql + Sync),
) -> Result<Vec<ExportedMark>> {
    conn.query(sql, &[param])?
        .iter()
        .map(|r| {
            Ok(ExportedMark {
                id: get(r, 0)?,
                at: get(r, 1)?,
            })
        })
        .collect()
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl PgStore {
    #[allow(clippy::too_many_arguments)]
    pub fn queue_signin(
        &self,
        email: &str,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
        resend_after: i64,
        render: impl FnOnce() -> OutgoingMail,
    ) -> Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // Two requests for one address at once (two replicas): one decides after the other.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(lower($2)))",
            &[&SIGNIN_LOCK_NAMESPACE, &email],
        )?;
        let last: Option<i64> = get(
            &tx.query_one(
                "SELECT MAX(created_at) FROM signin_tokens WHERE lower(email) = lower($1)",
                &[&email],
            )?,
            0,
        )?;
        if last.is_some_and(|last| now - last < resend_after) {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM signin_tokens WHERE lower(email) = lower($1)
                AND (used_at IS NOT NULL OR expires_at <= $2) AND created_at < $3",
            &[&email, &now, &(now - SIGNIN_TOKEN_KEEP_S)],
        )?;
        // (`voter` is unused: votes move from the visitor who opens the link, not the asker.)
        tx.execute(
            "INSERT INTO signin_tokens (hash, email, voter, created_at, expires_at)
             VALUES ($1, $2, '', $3, $4)",
            &[&token_hash, &email, &now, &expires_at],
        )?;
        let mail = render();
        tx.execute(
            "INSERT INTO outbox (subscriber_id, kind, state, recipient, message_id, message,
                                 papers, next_attempt_at, created_at)
             VALUES (NULL, $1, 'pending', $2, $3, $4, 0, $5, $5)",
            &[
                &MailKind::Signin.as_str(),
                &mail.recipient,
                &mail.message_id,
                &mail.message,
                &now,
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn redeem_signin(
        &self,
        token_hash: &[u8],
        session_hash: &[u8],
        voter: &str,
        now: i64,
    ) -> Result<Option<SignIn>> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        // Single use: of two redeems at once, the second waits for the first's row lock, then
        // finds the token used and changes nothing.
        let Some(token) = tx.query_opt(
            "UPDATE signin_tokens SET used_at = $2
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING email",
            &[&token_hash, &now],
        )?
        else {
            return Ok(None);
        };
        let email: String = get(&token, 0)?;
        // Two first sign-ins of one address at once: the second insert waits for the first
        // and does nothing; the select then sees the committed account.
        let inserted = tx.query_opt(
            "INSERT INTO accounts (email, created_at) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING id, email, created_at",
            &[&email, &now],
        )?;
        let created = inserted.is_some();
        let account = match inserted {
            Some(r) => account_row(&r)?,
            None => account_row(&tx.query_one(
                "SELECT id, email, created_at FROM accounts WHERE lower(email) = lower($1)",
                &[&email],
            )?)?,
        };
        tx.execute(
            "INSERT INTO collections (account_id, name, created_at)
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM collections WHERE account_id = $1)
             ON CONFLICT DO NOTHING",
            &[&account.id, &DEFAULT_COLLECTION, &now],
        )?;
        let mut votes_moved = 0;
        let to = account.voter();
        if !voter.is_empty() && voter != to {
            votes_moved = tx.execute(
                "INSERT INTO votes (paper_key, voter, cast_at)
                 SELECT paper_key, $2, cast_at FROM votes WHERE voter = $1
                 ON CONFLICT (paper_key, voter) DO NOTHING",
                &[&voter, &to],
            )? as usize;
            tx.execute("DELETE FROM votes WHERE voter = $1", &[&voter])?;
        }
        tx.execute(
            "INSERT INTO sessions (hash, account_id, created_at, last_seen_at)
             VALUES ($1, $2, $3, $3)",
            &[&session_hash, &account.id, &now],
        )?;
        tx.commit()?;
        Ok(Some(SignIn {
            account,
            created,
            votes_moved,
        }))
    }

    pub fn session(&self, session_hash: &[u8], now: i64, max_age: i64) -> Result<Option<Account>> {
        let mut conn = self.conn()?;
        let Some(r) = conn.query_opt(
            "SELECT a.id, a.email, a.created_at, s.created_at, s.last_seen_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.hash = $1",
            &[&session_hash],
        )?
        else {
            return Ok(None);
        };
        let account = account_row(&r)?;
        let created_at: i64 = get(&r, 3)?;
        let last_seen_at: i64 = get(&r, 4)?;
        if created_at.saturating_add(max_age) < now {
            conn.execute("DELETE FROM sessions WHERE hash = $1", &[&session_hash])?;
            return Ok(None);
        }
        if now - last_seen_at >= TOUCH_EVERY_S {
            conn.execute(
                "UPDATE sessions SET last_seen_at = $2 WHERE hash = $1 AND last_seen_at < $2",
                &[&session_hash, &now],
            )?;
        }
        Ok(Some(account))
    }

    pub fn end_session(&self, session_hash: &[u8]) -> Result<bool> {
        Ok(self
            .conn()?
            .execute("DELETE FROM sessions WHERE hash = $1", &[&session_hash])?
            == 1)
    }

    pub fn end_all_sessions(&self, account_id: i64) -> Result<usize> {
        Ok(self
            .conn()?
            .execute("DELETE FROM sessions WHERE account_id = $1", &[&account_id])?
            as usize)
    }

    pub fn account(&self, account_id: i64) -> Result<Option<Account>> {
        self.conn()?
            .query_opt(
                "SELECT id, email, created_at FROM accounts WHERE id = $1",
                &[&account_id],
            )?
            .map(|r| account_row(&r))
            .transpose()
    }

    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        self.conn()?
            .query_opt(
                "SELECT id, email, created_at FROM accounts WHERE lower(email) = lower($1)",
                &[&email],
            )?
            .map(|r| account_row(&r))
            .transpose()
    }

    pub fn delete_account(&self, account_id: i64) -> Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        let Some(row) = tx.query_opt(
            "SELECT email FROM accounts WHERE id = $1 FOR UPDATE",
            &[&account_id],
        )?
        else {
            return Ok(false);
        };
        let email: String = get(&row, 0)?;
        tx.execute(
            "DELETE FROM votes WHERE voter = $1",
            &[&voter_of(account_id)],
        )?;
        tx.execute(
            "DELETE FROM signin_tokens WHERE lower(email) = lower($1)",
            &[&email],
        )?;
        // Sign-in mails have no subscriber: they are found by their recipient.
        tx.execute(
            "DELETE FROM outbox WHERE lower(recipient) = lower($1)
                OR subscriber_id IN (SELECT id FROM subscribers WHERE lower(email) = lower($1))",
            &[&email],
        )?;
        // Its digest ledger (`digest_papers`) goes with it.
        tx.execute(
            "DELETE FROM subscribers WHERE lower(email) = lower($1)",
            &[&email],
        )?;
        // Sessions, API tokens, collections (and their papers) and dismissed papers go with
        // the account (ON DELETE CASCADE).
        tx.execute("DELETE FROM accounts WHERE id = $1", &[&account_id])?;
        tx.commit()?;
        Ok(true)
    }

    pub fn export_account(&self, account_id: i64) -> Result<Option<AccountExport>> {
        let mut conn = self.conn()?;
        // One snapshot: the export is of one moment.
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let Some(row) = tx.query_opt(
            "SELECT id, email, created_at FROM accounts WHERE id = $1",
            &[&account_id],
        )?
        else {
            return Ok(None);
        };
        let account = account_row(&row)?;
        let mut collections = Vec::new();
        let rows = tx.query(
            "SELECT id, name, created_at, rules, digest FROM collections
             WHERE account_id = $1 ORDER BY created_at, id",
            &[&account_id],
        )?;
        for r in &rows {
            let id: i64 = get(r, 0)?;
            let papers = tx
                .query(
                    "SELECT p.id, cp.added_at FROM collection_papers cp
                     JOIN papers p ON p.key = cp.paper_key
                     WHERE cp.collection_id = $1 ORDER BY cp.added_at DESC, cp.paper_key DESC",
                    &[&id],
                )?
                .iter()
                .map(|p| {
                    Ok(ExportedPaper {
                        id: get(p, 0)?,
                        added_at: get(p, 1)?,
                    })
                })
                .collect::<Result<_>>()?;
            collections.push(ExportedCollection {
                name: get(r, 1)?,
                created_at: get(r, 2)?,
                rules: Rules::from_json(get(r, 3)?),
                digest: get(r, 4)?,
                papers,
            });
        }
        let not_interested = marks(
            &mut tx,
            "SELECT p.id, d.at FROM dismissed d JOIN papers p ON p.key = d.paper_key
             WHERE d.account_id = $1 ORDER BY d.at DESC, d.paper_key",
            &account_id,
        )?;
        let votes = marks(
            &mut tx,
            "SELECT p.id, v.cast_at FROM votes v JOIN papers p ON p.key = v.paper_key
             WHERE v.voter = $1 ORDER BY v.cast_at DESC, v.paper_key",
            &account.voter(),
        )?;
        let api_tokens = tx
            .query(
                "SELECT name, created_at, last_used_at FROM api_tokens
                 WHERE account_id = $1 ORDER BY created_at, id",
                &[&account_id],
            )?
            .iter()
            .map(|r| {
                Ok(ExportedToken {
                    name: get(r, 0)?,
                    created_at: get(r, 1)?,
                    last_used_at: get(r, 2)?,
                })
            })
            .collect::<Result<_>>()?;
        let subscription = tx
            .query_opt(
                "SELECT interests, categories, hour, timezone, status FROM subscribers
                 WHERE lower(email) = lower($1)",
                &[&account.email],
            )?
            .map(|r| -> Result<ExportedSubscription> {
                let categories: String = get(&r, 1)?;
                let hour: i64 = get(&r, 2)?;
                Ok(ExportedSubscription {
                    interests: get(&r, 0)?,
                    categories: serde_json::from_str(&categories).unwrap_or_default(),
                    hour: u8::try_from(hour).unwrap_or(0),
                    timezone: get(&r, 3)?,
                    status: get(&r, 4)?,
                })
            })
            .transpose()?;
        tx.commit()?;
        Ok(Some(AccountExport {
            account: ExportedAccount {
                email: account.email,
                created_at: account.created_at,
            },
            collections,
            not_interested,
            votes,
            api_tokens,
            subscription,
        }))
    }

    pub fn create_api_token(
        &self,
        account_id: i64,
        name: &str,
        token_hash: &[u8],
        now: i64,
    ) -> Result<ApiToken> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        if tx
            .query_opt(
                "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
                &[&account_id],
            )?
            .is_none()
        {
            return Err(Error::Refused(format!("there is no account {account_id}")));
        }
        let tokens: i64 = get(
            &tx.query_one(
                "SELECT COUNT(*) FROM api_tokens WHERE account_id = $1",
                &[&account_id],
            )?,
            0,
        )?;
        if count(tokens) >= MAX_API_TOKENS {
            return Err(accounts::too_many_tokens());
        }
        let id: i64 = get(
            &tx.query_one(
                "INSERT INTO api_tokens (account_id, name, hash, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&account_id, &name, &token_hash, &now],
            )?,
            0,
        )?;
        tx.commit()?;
        Ok(ApiToken {
            id,
            name: name.to_string(),
            created_at: now,
            last_used_at: None,
        })
    }

    pub fn api_tokens(&self, account_id: i64) -> Result<Vec<ApiToken>> {
        self.conn()?
            .query(
                "SELECT id, name, created_at, last_used_at FROM api_tokens
                 WHERE account_id = $1 ORDER BY created_at, id",
                &[&account_id],
            )?
            .iter()
            .map(token_row)
            .collect()
    }

    pub fn revoke_api_token(&self, account_id: i64, token_id: i64) -> Result<bool> {
        Ok(self.conn()?.execute(
            "DELETE FROM api_tokens WHERE id = $2 AND account_id = $1",
            &[&account_id, &token_id],
        )? == 1)
    }

    pub fn account_by_api_token(&self, token_hash: &[u8], now: i64) -> Result<Option<Account>> {
        let mut conn = self.conn()?;
        let Some(r) = conn.query_opt(
            "SELECT a.id, a.email, a.created_at, t.id, t.last_used_at
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = $1",
            &[&token_hash],
        )?
        else {
            return Ok(None);
        };
        let account = account_row(&r)?;
        let token_id: i64 = get(&r, 3)?;
        let last_used_at: Option<i64> = get(&r, 4)?;
        if last_used_at.is_none_or(|last| now - last >= TOUCH_EVERY_S) {
            conn.execute(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
                &[&token_id, &now],
            )?;
        }
        Ok(Some(account))
    }

    pub fn collections(&self, account_id: i64) -> Result<Vec<Collection>> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.account_id = $1
                     ORDER BY c.created_at, c.id"
                ),
                &[&account_id],
            )?
            .iter()
            .map(collection_row)
            .collect()
    }

    pub fn collection(&self, account_id: i64, collection_id: i64) -> Result<Option<Collection>> {
        collection_by_id(&mut **self.conn()?, account_id, collection_id)
    }

    pub fn create_collection(
        &self,
        account_id: i64,
        name: &str,
        now: i64,
    ) -> Result<Option<Collection>> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        if tx
            .query_opt(
                "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
                &[&account_id],
            )?
            .is_none()
        {
            return Ok(None);
        }
        let existing: i64 = get(
            &tx.query_one(
                "SELECT COUNT(*) FROM collections WHERE account_id = $1",
                &[&account_id],
            )?,
            0,
        )?;
        if count(existing) >= MAX_COLLECTIONS {
            return Err(accounts::too_many_collections());
        }
        // A name the account has already (in any case) conflicts with `collections_name`.
        let Some(row) = tx.query_opt(
            "INSERT INTO collections (account_id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING id",
            &[&account_id, &name, &now],
        )?
        else {
            return Ok(None);
        };
        let collection = collection_by_id(&mut tx, account_id, get(&row, 0)?)?;
        tx.commit()?;
        Ok(collection)
    }

    pub fn rename_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        name: &str,
    ) -> Result<bool> {
        let renamed = self.conn()?.execute(
            "UPDATE collections SET name = $3 WHERE id = $2 AND account_id = $1
                AND NOT EXISTS (SELECT 1 FROM collections
                                WHERE account_id = $1 AND lower(name) = lower($3) AND id != $2)",
            &[&account_id, &collection_id, &name],
        );
        match renamed {
            Ok(n) => Ok(n == 1),
            // The same name taken by another request at this very moment.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub fn delete_collection(&self, account_id: i64, collection_id: i64) -> Result<bool> {
        Ok(self.conn()?.execute(
            "DELETE FROM collections WHERE id = $2 AND account_id = $1",
            &[&account_id, &collection_id],
        )? == 1)
    }

    pub fn set_rules(&self, account_id: i64, collection_id: i64, rules: &Rules) -> Result<bool> {
        Ok(self.conn()?.execute(
            "UPDATE collections SET rules = $3 WHERE id = $2 AND account_id = $1",
            &[&account_id, &collection_id, &rules.to_json()],
        )? == 1)
    }

    pub fn set_collection_digest(
        &self,
        account_id: i64,
        collection_id: i64,
        on: bool,
    ) -> Result<bool> {
        Ok(self.conn()?.execute(
            "UPDATE collections SET digest = $3 WHERE id = $2 AND account_id = $1",
            &[&account_id, &collection_id, &on],
        )? == 1)
    }

    pub fn set_feed_token(
        &self,
        account_id: i64,
        collection_id: i64,
        hash: Option<&[u8]>,
    ) -> Result<bool> {
        Ok(self.conn()?.execute(
            "UPDATE collections SET feed_hash = $3 WHERE id = $2 AND account_id = $1",
            &[&account_id, &collection_id, &hash],
        )? == 1)
    }

    pub fn collection_by_feed_token(&self, hash: &[u8]) -> Result<Option<Collection>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.feed_hash = $1"),
                &[&hash],
            )?
            .map(|r| collection_row(&r))
            .transpose()
    }

    pub fn add_to_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        keys: &[PaperKey],
        now: i64,
    ) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = self.begin(&mut conn)?;
        if tx
            .query_opt(
                "SELECT 1 FROM collections WHERE id = $2 AND account_id = $1 FOR NO KEY UPDATE",
                &[&account_id, &collection_id],
            )?
            .is_none()
        {
            return Ok(0);
        }
        let added = tx.execute(
            "INSERT INTO collection_papers (collection_id, paper_key, added_at)
             SELECT $1, key, $3 FROM papers WHERE key = ANY($2)
             ON CONFLICT DO NOTHING",
            &[&collection_id, &keys, &now],
        )?;
        let papers: i64 = get(
            &tx.query_one(
                "SELECT COUNT(*) FROM collection_papers WHERE collection_id = $1",
                &[&collection_id],
            )?,
            0,
        )?;
        if count(papers) > MAX_COLLECTION_PAPERS {
            // Dropping the transaction rolls the whole addition back.
            return Err(accounts::too_many_papers());
        }
        tx.execute(
            "DELETE FROM dismissed WHERE account_id = $1 AND paper_key = ANY($2)",
            &[&account_id, &keys],
        )?;
        tx.commit()?;
        Ok(added as usize)
    }

    pub fn remove_from_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        key: PaperKey,
    ) -> Result<bool> {
        Ok(self.conn()?.execute(
            "DELETE FROM collection_papers WHERE collection_id = $2 AND paper_key = $3
                AND EXISTS (SELECT 1 FROM collections WHERE id = $2 AND account_id = $1)",
            &[&account_id, &collection_id, &key],
        )? == 1)
    }

    pub fn collection_papers(
        &self,
        account_id: i64,
        collection_id: i64,
    ) -> Result<Vec<(PaperKey, i64)>> {
        self.conn()?
            .query(
                "SELECT cp.paper_key, cp.added_at FROM collection_papers cp
                 JOIN collections c ON c.id = cp.collection_id
                 WHERE c.id = $2 AND c.account_id = $1
                 ORDER BY cp.added_at DESC, cp.paper_key DESC",
                &[&account_id, &collection_id],
            )?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
            .collect()
    }

    pub fn saved_in(
        &self,
        account_id: i64,
        keys: &[PaperKey],
    ) -> Result<HashMap<PaperKey, Vec<i64>>> {
        let rows = self.conn()?.query(
            "SELECT cp.paper_key, cp.collection_id FROM collection_papers cp
             JOIN collections c ON c.id = cp.collection_id
             WHERE cp.paper_key = ANY($2) AND c.account_id = $1
             ORDER BY cp.paper_key, cp.collection_id",
            &[&account_id, &keys],
        )?;
        let mut out: HashMap<PaperKey, Vec<i64>> = HashMap::new();
        for r in &rows {
            out.entry(get(r, 0)?).or_default().push(get(r, 1)?);
        }
        Ok(out)
    }

    pub fn dismiss(&self, account_id: i64, key: PaperKey, now: i64) -> Result<bool> {
        Ok(self.conn()?.execute(
            "INSERT INTO dismissed (account_id, paper_key, at)
             SELECT a.id, p.key, $3 FROM accounts a, papers p WHERE a.id = $1 AND p.key = $2
             ON CONFLICT DO NOTHING",
            &[&account_id, &key, &now],
        )? == 1)
    }

    pub fn undismiss(&self, account_id: i64, key: PaperKey) -> Result<bool> {
        Ok(self.conn()?.execute(
            "DELETE FROM dismissed WHERE account_id = $1 AND paper_key = $2",
            &[&account_id, &key],
        )? == 1)
    }

    pub fn dismissed(&self, account_id: i64) -> Result<Vec<PaperKey>> {
        self.conn()?
            .query(
                "SELECT paper_key FROM dismissed WHERE account_id = $1 ORDER BY at DESC, paper_key",
                &[&account_id],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    pub fn digest_collections(&self, email: &str) -> Result<Vec<Collection>> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {COLLECTION_COLUMNS} FROM collections c
                     JOIN accounts a ON a.id = c.account_id
                     WHERE lower(a.email) = lower($1) AND c.digest ORDER BY c.created_at, c.id"
                ),
                &[&email],
            )?
            .iter()
            .map(collection_row)
            .collect()
    }
}
