//! Accounts without passwords: a sign-in link by mail, redeemed once for a session.
//!
//! Every secret handed out (sign-in link, session, API token, feed token) is 32 random bytes;
//! the store keeps only its SHA-256, so a copy of the database signs nobody in. A request for
//! a link answers the same whether the address has an account or not (and whether a link was
//! mailed moments ago), so the form tells nobody which addresses are known.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest as _, Sha256};

use super::{plain_address, render, Digests};
use crate::{Error, Result};
use paperscout_store::{Account, SignIn};

/// How long a sign-in link works.
pub const SIGNIN_VALID_S: i64 = 30 * 60;
/// At most one sign-in mail per address this often.
pub const SIGNIN_RESEND_S: i64 = 60;
/// How long a session lasts from sign-in.
pub const SESSION_MAX_AGE_S: i64 = 30 * 24 * 3600;

/// A new random secret, hex (64 characters), with an optional prefix.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the store keeps of a secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.trim().as_bytes()).to_vec()
}

/// Whether `token` looks like a secret this server makes (refused early otherwise).
pub fn well_formed(token: &str, prefix: &str) -> bool {
    token
        .strip_prefix(prefix)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Digests {
    /// Mails a sign-in link to `email`. The answer is the same whether the address has an
    /// account, and whether a link went to it moments ago (then nothing is sent).
    pub fn request_signin(&self, email: &str, now: DateTime<Utc>) -> Result<()> {
        let email = email.trim();
        if email.is_empty() || email.len() > 254 || !plain_address(email) {
            return Err(Error::Invalid(format!(
                "{:?} is not an email address this server can send to",
                email.chars().take(80).collect::<String>()
            )));
        }
        if self.transport.is_none() {
            return Err(Self::unavailable());
        }
        let token = new_secret("");
        let link = format!("{}/signin/confirm?t={token}", self.config.base_url);
        let queued = self.engine.store.queue_signin(
            email,
            &secret_hash(&token),
            now.timestamp(),
            now.timestamp() + SIGNIN_VALID_S,
            SIGNIN_RESEND_S,
            || render::signin_mail(self, email, &link, SIGNIN_VALID_S / 60, now),
        )?;
        if queued {
            tracing::info!("sign-in link queued");
        } else {
            tracing::info!("sign-in requested moments after another for the address: no mail");
        }
        Ok(())
    }

    /// Redeems a sign-in link for the anonymous visitor `voter` who opened it (their votes
    /// become the account's): the account (made on first sign-in) and a new session's secret.
    /// A link works once and until it expires; any other token is refused alike.
    pub fn redeem_signin(
        &self,
        token: &str,
        voter: &str,
        now: DateTime<Utc>,
    ) -> Result<(SignIn, String)> {
        let refused = || {
            Error::Invalid(
                "this sign-in link is not valid: it may have expired (links work for 30 \
                 minutes), been used already, or been mistyped. Ask for a new one."
                    .into(),
            )
        };
        if !well_formed(token.trim(), "") {
            return Err(refused());
        }
        let session = new_secret("");
        let signin = self
            .engine
            .store
            .redeem_signin(
                &secret_hash(token),
                &secret_hash(&session),
                voter,
                now.timestamp(),
            )?
            .ok_or_else(refused)?;
        Ok((signin, session))
    }
}

impl crate::Engine {
    /// The account of session `secret`, if it is live.
    pub fn session_account(&self, secret: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        if !well_formed(secret, "") {
            return Ok(None);
        }
        Ok(self
            .store
            .session(&secret_hash(secret), now.timestamp(), SESSION_MAX_AGE_S)?)
    }

    /// Signs the session `secret` out (nothing when there is none).
    pub fn end_session(&self, secret: &str) -> Result<()> {
        self.store.end_session(&secret_hash(secret))?;
        Ok(())
    }

    /// Signs every session of the account out: how many there were.
    pub fn end_all_sessions(&self, account_id: i64) -> Result<usize> {
        Ok(self.store.end_all_sessions(account_id)?)
    }

    /// Everything held about the account, for its holder.
    pub fn export_account(&self, account_id: i64) -> Result<paperscout_store::AccountExport> {
        self.store
            .export_account(account_id)?
            .ok_or_else(|| Error::NotFound("there is no such account".into()))
    }

    /// Deletes the account and every personal row that goes with it (see
    /// [`paperscout_store::Store::delete_account`]).
    pub fn delete_account(&self, account_id: i64) -> Result<()> {
        if !self.store.delete_account(account_id)? {
            return Err(Error::NotFound("there is no such account".into()));
        }
        Ok(())
    }

    /// The account of API token `secret` (`ps_…`), if it is not revoked.
    pub fn api_token_account(&self, secret: &str, now: DateTime<Utc>) -> Result<Option<Account>> {
        if !well_formed(secret, API_TOKEN_PREFIX) {
            return Ok(None);
        }
        Ok(self
            .store
            .account_by_api_token(&secret_hash(secret), now.timestamp())?)
    }

    /// A new API token for the account: its record and its secret (shown once).
    pub fn create_api_token(
        &self,
        account_id: i64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(paperscout_store::ApiToken, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a token's name is 1 to 100 characters, on one line".into(),
            ));
        }
        if self.store.api_tokens(account_id)?.len() >= paperscout_store::MAX_API_TOKENS {
            return Err(Error::Invalid(format!(
                "an account has at most {} API tokens: revoke one first",
                paperscout_store::MAX_API_TOKENS
            )));
        }
        let secret = new_secret(API_TOKEN_PREFIX);
        let token = self.store.create_api_token(
            account_id,
            name,
            &secret_hash(&secret),
            now.timestamp(),
        )?;
        Ok((token, secret))
    }

    /// Gives collection `collection_id` a new private feed secret (replacing any earlier one,
    /// whose feed stops working), or with `on` false removes it.
    pub fn set_feed(
        &self,
        account_id: i64,
        collection_id: i64,
        on: bool,
    ) -> Result<Option<String>> {
        let secret = on.then(|| new_secret(""));
        let hash = secret.as_deref().map(secret_hash);
        if !self
            .store
            .set_feed_token(account_id, collection_id, hash.as_deref())?
        {
            return Err(Error::NotFound(format!("no collection {collection_id}")));
        }
        Ok(secret)
    }

    /// The collection whose private feed secret is `secret`, and its recommendations.
    pub fn collection_feed(
        &self,
        secret: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(paperscout_store::Collection, crate::library::ForYou)> {
        let missing = || Error::NotFound("no such feed (it may have been revoked)".into());
        if !well_formed(secret, "") {
            return Err(missing());
        }
        let c = self
            .store
            .collection_by_feed_token(&secret_hash(secret))?
            .ok_or_else(missing)?;
        let page = self.for_you(c.account_id, Some(c.id), crate::Window::Week, now, limit)?;
        Ok((c, page))
    }
}

/// API tokens start with this, so that a leaked one is recognisable (secret scanners).
pub const API_TOKEN_PREFIX: &str = "ps_";
