//! Accounts, sessions, API tokens, collections and dismissed papers (see [`crate::accounts`]).
//! Every statement that touches an account's rows names the account: a collection id alone
//! reaches nothing, so one account can never read or change another's collections.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::SqliteStore;
use crate::accounts::{self, voter_of, COLLECTION_COLUMNS, SIGNIN_TOKEN_KEEP_S, TOUCH_EVERY_S};
use crate::{
    Account, AccountExport, ApiToken, Collection, Error, ExportedAccount, ExportedCollection,
    ExportedMark, ExportedPaper, ExportedSubscription, ExportedToken, MailKind, OutgoingMail,
    PaperKey, Result, Rules, SignIn, DEFAULT_COLLECTION, MAX_API_TOKENS, MAX_COLLECTIONS,
    MAX_COLLECTION_PAPERS,
};

fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        email: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn collection_row(r: &Row<'_>) -> rusqlite::Result<Collection> {
    let rules: String = r.get(4)?;
    Ok(Collection {
        id: r.get(0)?,
        account_id: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        rules: Rules::from_json(&rules),
        digest: r.get(5)?,
        has_feed: r.get(6)?,
        papers: r.get::<_, i64>(7)? as usize,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        last_used_at: r.get(3)?,
    })
}

fn collection_by_id(conn: &Connection, account_id: i64, id: i64) -> Result<Option<Collection>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.id = ?2 AND c.account_id = ?1"
        ))?
        .query_row(params![account_id, id], collection_row)
        .optional()?)
}

fn marks(conn: &Connection, sql: &str, param: &dyn rusqlite::ToSql) -> Result<Vec<ExportedMark>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([param], |r| {
        Ok(ExportedMark {
            id: r.get(0)?,
            at: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl SqliteStore {
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // `email` is NOCASE: one address in any case.
        let last: Option<i64> = tx.query_row(
            "SELECT MAX(created_at) FROM signin_tokens WHERE email = ?1",
            [email],
            |r| r.get(0),
        )?;
        if last.is_some_and(|last| now - last < resend_after) {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM signin_tokens WHERE email = ?1 AND (used_at IS NOT NULL OR expires_at <= ?2)
                AND created_at < ?3",
            params![email, now, now - SIGNIN_TOKEN_KEEP_S],
        )?;
        // (`voter` is unused: votes move from the visitor who opens the link, not the asker.)
        tx.execute(
            "INSERT INTO signin_tokens (hash, email, voter, created_at, expires_at)
             VALUES (?1, ?2, '', ?3, ?4)",
            params![token_hash, email, now, expires_at],
        )?;
        let mail = render();
        tx.execute(
            "INSERT INTO outbox (subscriber_id, kind, state, recipient, message_id, message,
                                 papers, next_attempt_at, created_at)
             VALUES (NULL, ?1, 'pending', ?2, ?3, ?4, 0, ?5, ?5)",
            params![
                MailKind::Signin.as_str(),
                mail.recipient,
                mail.message_id,
                mail.message,
                now
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let email: Option<String> = tx
            .query_row(
                "UPDATE signin_tokens SET used_at = ?2
                 WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
                 RETURNING email",
                params![token_hash, now],
                |r| r.get(0),
            )
            .optional()?;
        let Some(email) = email else {
            return Ok(None);
        };
        let created = tx.execute(
            "INSERT INTO accounts (email, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![email, now],
        )? == 1;
        let account = tx.query_row(
            "SELECT id, email, created_at FROM accounts WHERE email = ?1",
            [&email],
            account_row,
        )?;
        tx.execute(
            "INSERT INTO collections (account_id, name, created_at)
             SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM collections WHERE account_id = ?1)
             ON CONFLICT DO NOTHING",
            params![account.id, DEFAULT_COLLECTION, now],
        )?;
        let mut votes_moved = 0;
        let to = account.voter();
        if !voter.is_empty() && voter != to {
            votes_moved = tx.execute(
                "INSERT INTO votes (paper_key, voter, cast_at)
                 SELECT paper_key, ?2, cast_at FROM votes WHERE voter = ?1
                 ON CONFLICT (paper_key, voter) DO NOTHING",
                params![voter, to],
            )?;
            tx.execute("DELETE FROM votes WHERE voter = ?1", [&voter])?;
        }
        tx.execute(
            "INSERT INTO sessions (hash, account_id, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?3)",
            params![session_hash, account.id, now],
        )?;
        tx.commit()?;
        Ok(Some(SignIn {
            account,
            created,
            votes_moved,
        }))
    }

    pub fn session(&self, session_hash: &[u8], now: i64, max_age: i64) -> Result<Option<Account>> {
        let found: Option<(Account, i64, i64)> = self
            .read()?
            .prepare_cached(
                "SELECT a.id, a.email, a.created_at, s.created_at, s.last_seen_at
                 FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.hash = ?1",
            )?
            .query_row([session_hash], |r| {
                Ok((account_row(r)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((account, created_at, last_seen_at)) = found else {
            return Ok(None);
        };
        if created_at.saturating_add(max_age) < now {
            self.conn()
                .execute("DELETE FROM sessions WHERE hash = ?1", [session_hash])?;
            return Ok(None);
        }
        if now - last_seen_at >= TOUCH_EVERY_S {
            self.conn().execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE hash = ?1 AND last_seen_at < ?2",
                params![session_hash, now],
            )?;
        }
        Ok(Some(account))
    }

    pub fn end_session(&self, session_hash: &[u8]) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [session_hash])?
            == 1)
    }

    pub fn end_all_sessions(&self, account_id: i64) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE account_id = ?1", [account_id])?)
    }

    pub fn account(&self, account_id: i64) -> Result<Option<Account>> {
        Ok(self
            .read()?
            .prepare_cached("SELECT id, email, created_at FROM accounts WHERE id = ?1")?
            .query_row([account_id], account_row)
            .optional()?)
    }

    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        Ok(self
            .read()?
            .prepare_cached("SELECT id, email, created_at FROM accounts WHERE email = ?1")?
            .query_row([email], account_row)
            .optional()?)
    }

    pub fn delete_account(&self, account_id: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let email: Option<String> = tx
            .query_row(
                "SELECT email FROM accounts WHERE id = ?1",
                [account_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(email) = email else {
            return Ok(false);
        };
        tx.execute("DELETE FROM votes WHERE voter = ?1", [voter_of(account_id)])?;
        tx.execute("DELETE FROM signin_tokens WHERE email = ?1", [&email])?;
        // Sign-in mails have no subscriber: they are found by their recipient.
        tx.execute(
            "DELETE FROM outbox WHERE recipient = ?1 COLLATE NOCASE
                OR subscriber_id IN (SELECT id FROM subscribers WHERE email = ?1)",
            [&email],
        )?;
        // Its digest ledger (`digest_papers`) goes with it.
        tx.execute("DELETE FROM subscribers WHERE email = ?1", [&email])?;
        // Sessions, API tokens, collections (and their papers) and dismissed papers go with
        // the account (ON DELETE CASCADE).
        tx.execute("DELETE FROM accounts WHERE id = ?1", [account_id])?;
        tx.commit()?;
        Ok(true)
    }

    pub fn export_account(&self, account_id: i64) -> Result<Option<AccountExport>> {
        let conn = self.read()?;
        // One snapshot: the export is of one moment.
        let tx = conn.unchecked_transaction()?;
        let Some(account) = tx
            .query_row(
                "SELECT id, email, created_at FROM accounts WHERE id = ?1",
                [account_id],
                account_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut collections = Vec::new();
        {
            let mut list = tx.prepare(
                "SELECT id, name, created_at, rules, digest FROM collections
                 WHERE account_id = ?1 ORDER BY created_at, id",
            )?;
            let mut papers = tx.prepare(
                "SELECT p.id, cp.added_at FROM collection_papers cp
                 JOIN papers p ON p.key = cp.paper_key
                 WHERE cp.collection_id = ?1 ORDER BY cp.added_at DESC, cp.paper_key DESC",
            )?;
            let rows: Vec<(i64, String, i64, String, bool)> = list
                .query_map([account_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (id, name, created_at, rules, digest) in rows {
                let papers = papers
                    .query_map([id], |r| {
                        Ok(ExportedPaper {
                            id: r.get(0)?,
                            added_at: r.get(1)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                collections.push(ExportedCollection {
                    name,
                    created_at,
                    rules: Rules::from_json(&rules),
                    digest,
                    papers,
                });
            }
        }
        let not_interested = marks(
            &tx,
            "SELECT p.id, d.at FROM dismissed d JOIN papers p ON p.key = d.paper_key
             WHERE d.account_id = ?1 ORDER BY d.at DESC, d.paper_key",
            &account_id,
        )?;
        let votes = marks(
            &tx,
            "SELECT p.id, v.cast_at FROM votes v JOIN papers p ON p.key = v.paper_key
             WHERE v.voter = ?1 ORDER BY v.cast_at DESC, v.paper_key",
            &account.voter(),
        )?;
        let api_tokens = tx
            .prepare(
                "SELECT name, created_at, last_used_at FROM api_tokens
                 WHERE account_id = ?1 ORDER BY created_at, id",
            )?
            .query_map([account_id], |r| {
                Ok(ExportedToken {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let subscription = tx
            .query_row(
                "SELECT interests, categories, hour, timezone, status FROM subscribers
                 WHERE email = ?1",
                [&account.email],
                |r| {
                    let categories: String = r.get(1)?;
                    Ok(ExportedSubscription {
                        interests: r.get(0)?,
                        categories: serde_json::from_str(&categories).unwrap_or_default(),
                        hour: r.get(2)?,
                        timezone: r.get(3)?,
                        status: r.get(4)?,
                    })
                },
            )
            .optional()?;
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tokens: Option<i64> = tx
            .query_row(
                "SELECT (SELECT COUNT(*) FROM api_tokens WHERE account_id = a.id)
                 FROM accounts a WHERE a.id = ?1",
                [account_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(tokens) = tokens else {
            return Err(Error::Refused(format!("there is no account {account_id}")));
        };
        if tokens as usize >= MAX_API_TOKENS {
            return Err(accounts::too_many_tokens());
        }
        tx.execute(
            "INSERT INTO api_tokens (account_id, name, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![account_id, name, token_hash, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(ApiToken {
            id,
            name: name.to_string(),
            created_at: now,
            last_used_at: None,
        })
    }

    pub fn api_tokens(&self, account_id: i64) -> Result<Vec<ApiToken>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, created_at, last_used_at FROM api_tokens
             WHERE account_id = ?1 ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([account_id], token_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn revoke_api_token(&self, account_id: i64, token_id: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM api_tokens WHERE id = ?2 AND account_id = ?1",
            params![account_id, token_id],
        )? == 1)
    }

    pub fn account_by_api_token(&self, token_hash: &[u8], now: i64) -> Result<Option<Account>> {
        let found: Option<(Account, i64, Option<i64>)> = self
            .read()?
            .prepare_cached(
                "SELECT a.id, a.email, a.created_at, t.id, t.last_used_at
                 FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok((account_row(r)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((account, token_id, last_used_at)) = found else {
            return Ok(None);
        };
        if last_used_at.is_none_or(|last| now - last >= TOUCH_EVERY_S) {
            self.conn().execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![token_id, now],
            )?;
        }
        Ok(Some(account))
    }

    pub fn collections(&self, account_id: i64) -> Result<Vec<Collection>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.account_id = ?1
             ORDER BY c.created_at, c.id"
        ))?;
        let rows = stmt.query_map([account_id], collection_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn collection(&self, account_id: i64, collection_id: i64) -> Result<Option<Collection>> {
        collection_by_id(&*self.read()?, account_id, collection_id)
    }

    pub fn create_collection(
        &self,
        account_id: i64,
        name: &str,
        now: i64,
    ) -> Result<Option<Collection>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT (SELECT COUNT(*) FROM collections WHERE account_id = a.id)
                 FROM accounts a WHERE a.id = ?1",
                [account_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(existing) = existing else {
            return Ok(None);
        };
        if existing as usize >= MAX_COLLECTIONS {
            return Err(accounts::too_many_collections());
        }
        // A name the account has already (in any case) conflicts with `collections_name`.
        let n = tx.execute(
            "INSERT INTO collections (account_id, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![account_id, name, now],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let collection = collection_by_id(&tx, account_id, tx.last_insert_rowid())?;
        tx.commit()?;
        Ok(collection)
    }

    pub fn rename_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        name: &str,
    ) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE collections SET name = ?3 WHERE id = ?2 AND account_id = ?1
                AND NOT EXISTS (SELECT 1 FROM collections
                                WHERE account_id = ?1 AND name = ?3 COLLATE NOCASE AND id != ?2)",
            params![account_id, collection_id, name],
        )? == 1)
    }

    pub fn delete_collection(&self, account_id: i64, collection_id: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM collections WHERE id = ?2 AND account_id = ?1",
            params![account_id, collection_id],
        )? == 1)
    }

    pub fn set_rules(&self, account_id: i64, collection_id: i64, rules: &Rules) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE collections SET rules = ?3 WHERE id = ?2 AND account_id = ?1",
            params![account_id, collection_id, rules.to_json()],
        )? == 1)
    }

    pub fn set_collection_digest(
        &self,
        account_id: i64,
        collection_id: i64,
        on: bool,
    ) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE collections SET digest = ?3 WHERE id = ?2 AND account_id = ?1",
            params![account_id, collection_id, on],
        )? == 1)
    }

    pub fn set_feed_token(
        &self,
        account_id: i64,
        collection_id: i64,
        hash: Option<&[u8]>,
    ) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE collections SET feed_hash = ?3 WHERE id = ?2 AND account_id = ?1",
            params![account_id, collection_id, hash],
        )? == 1)
    }

    pub fn collection_by_feed_token(&self, hash: &[u8]) -> Result<Option<Collection>> {
        Ok(self
            .read()?
            .prepare_cached(&format!(
                "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.feed_hash = ?1"
            ))?
            .query_row([hash], collection_row)
            .optional()?)
    }

    pub fn add_to_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        keys: &[PaperKey],
        now: i64,
    ) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let owned = tx
            .prepare_cached("SELECT 1 FROM collections WHERE id = ?2 AND account_id = ?1")?
            .exists(params![account_id, collection_id])?;
        if !owned {
            return Ok(0);
        }
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO collection_papers (collection_id, paper_key, added_at)
                 SELECT ?1, key, ?3 FROM papers WHERE key = ?2
                 ON CONFLICT DO NOTHING",
            )?;
            let mut undismiss = tx
                .prepare_cached("DELETE FROM dismissed WHERE account_id = ?1 AND paper_key = ?2")?;
            for &key in keys {
                added += insert.execute(params![collection_id, key, now])?;
                undismiss.execute(params![account_id, key])?;
            }
        }
        let papers: i64 = tx.query_row(
            "SELECT COUNT(*) FROM collection_papers WHERE collection_id = ?1",
            [collection_id],
            |r| r.get(0),
        )?;
        if papers as usize > MAX_COLLECTION_PAPERS {
            // Dropping the transaction rolls the whole addition back.
            return Err(accounts::too_many_papers());
        }
        tx.commit()?;
        Ok(added)
    }

    pub fn remove_from_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        key: PaperKey,
    ) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM collection_papers WHERE collection_id = ?2 AND paper_key = ?3
                AND EXISTS (SELECT 1 FROM collections WHERE id = ?2 AND account_id = ?1)",
            params![account_id, collection_id, key],
        )? == 1)
    }

    pub fn collection_papers(
        &self,
        account_id: i64,
        collection_id: i64,
    ) -> Result<Vec<(PaperKey, i64)>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT cp.paper_key, cp.added_at FROM collection_papers cp
             JOIN collections c ON c.id = cp.collection_id
             WHERE c.id = ?2 AND c.account_id = ?1
             ORDER BY cp.added_at DESC, cp.paper_key DESC",
        )?;
        let rows = stmt.query_map(params![account_id, collection_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn saved_in(
        &self,
        account_id: i64,
        keys: &[PaperKey],
    ) -> Result<HashMap<PaperKey, Vec<i64>>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT cp.collection_id FROM collection_papers cp
             JOIN collections c ON c.id = cp.collection_id
             WHERE cp.paper_key = ?2 AND c.account_id = ?1 ORDER BY cp.collection_id",
        )?;
        let mut out = HashMap::new();
        for &key in keys {
            let ids: Vec<i64> = stmt
                .query_map(params![account_id, key], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !ids.is_empty() {
                out.insert(key, ids);
            }
        }
        Ok(out)
    }

    pub fn dismiss(&self, account_id: i64, key: PaperKey, now: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "INSERT INTO dismissed (account_id, paper_key, at)
             SELECT a.id, p.key, ?3 FROM accounts a, papers p WHERE a.id = ?1 AND p.key = ?2
             ON CONFLICT DO NOTHING",
            params![account_id, key, now],
        )? == 1)
    }

    pub fn undismiss(&self, account_id: i64, key: PaperKey) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM dismissed WHERE account_id = ?1 AND paper_key = ?2",
            params![account_id, key],
        )? == 1)
    }

    pub fn dismissed(&self, account_id: i64) -> Result<Vec<PaperKey>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT paper_key FROM dismissed WHERE account_id = ?1 ORDER BY at DESC, paper_key",
        )?;
        let rows = stmt.query_map([account_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn digest_collections(&self, email: &str) -> Result<Vec<Collection>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections c JOIN accounts a ON a.id = c.account_id
             WHERE a.email = ?1 AND c.digest ORDER BY c.created_at, c.id"
        ))?;
        let rows = stmt.query_map([email], collection_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
