//! Accounts and what belongs to them: sign-in by mailed link, browser sessions, API tokens,
//! collections of saved papers ("libraries") and papers marked "not interested".
//!
//! Secrets never reach the store: sign-in links, session cookies, API tokens and feed tokens
//! are random values whose SHA-256 the caller computes and the store keeps, so a copy of the
//! database signs no one in. An account is known by its address, compared without regard to
//! case; the digest subscriber with the same address is that account's subscription (matched
//! by address, not by a column: either may come first, and there is nothing to keep in step).

use serde::{Deserialize, Serialize};

/// The collection every account starts with.
pub const DEFAULT_COLLECTION: &str = "Saved";
/// Collections per account.
pub const MAX_COLLECTIONS: usize = 100;
/// Papers per collection.
pub const MAX_COLLECTION_PAPERS: usize = 10_000;
/// API tokens per account.
pub const MAX_API_TOKENS: usize = 20;
/// How often (seconds) a session's `last_seen_at` or a token's `last_used_at` is written: each
/// request reads them, and writing on every request would make every page view a write.
pub(crate) const TOUCH_EVERY_S: i64 = 60;
/// How long (seconds) used or expired sign-in tokens stay before the next request for the same
/// address clears them away.
pub(crate) const SIGNIN_TOKEN_KEEP_S: i64 = 86_400;

/// A [`Collection`]'s columns, from `collections c` (the same text for both backends).
pub(crate) const COLLECTION_COLUMNS: &str = "c.id, c.account_id, c.name, c.created_at, c.rules, \
     c.digest, c.feed_hash IS NOT NULL, \
     (SELECT COUNT(*) FROM collection_papers cp WHERE cp.collection_id = c.id)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub created_at: i64,
}

impl Account {
    /// The voter id its votes are cast under in `votes.voter`.
    pub fn voter(&self) -> String {
        voter_of(self.id)
    }
}

/// The voter id of account `id` (see [`Account::voter`]).
pub(crate) fn voter_of(id: i64) -> String {
    format!("account:{id}")
}

/// What redeeming a sign-in link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub account: Account,
    /// The account was made by this sign-in (the address's first).
    pub created: bool,
    /// Votes of the anonymous visitor who asked for the link, now the account's.
    pub votes_moved: usize,
}

/// An API token as its owner sees it (never its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    /// Updated at most once a minute.
    pub last_used_at: Option<i64>,
}

/// What a collection's feed and digest look for in new papers. Kept as JSON text, so rules
/// can grow fields without a migration; fields missing from older rows read as empty.
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
pub struct Rules {
    pub must: Vec<String>,
    pub never: Vec<String>,
    pub categories: Vec<String>,
    pub authors: Vec<String>,
}

impl Rules {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("strings serialise")
    }

    /// Rules as stored; the store writes them itself, so text that does not parse (edited
    /// by hand) reads as no rules rather than failing every page of the account.
    pub(crate) fn from_json(text: &str) -> Rules {
        serde_json::from_str(text).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub created_at: i64,
    pub rules: Rules,
    /// Whether the daily digest includes this collection's new matches.
    pub digest: bool,
    /// Whether a feed token is set (the token itself is known to its owner only).
    pub has_feed: bool,
    /// Papers in it.
    pub papers: usize,
}

/// Everything the store holds about an account, for the account holder to take away. Tokens
/// appear by name and dates only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountExport {
    pub account: ExportedAccount,
    pub collections: Vec<ExportedCollection>,
    pub not_interested: Vec<ExportedMark>,
    pub votes: Vec<ExportedMark>,
    pub api_tokens: Vec<ExportedToken>,
    pub subscription: Option<ExportedSubscription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedAccount {
    pub email: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedCollection {
    pub name: String,
    pub created_at: i64,
    pub rules: Rules,
    pub digest: bool,
    /// Newest first.
    pub papers: Vec<ExportedPaper>,
}

/// A paper in a collection, by its id ([`paperscout_model::PaperId::as_str`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedPaper {
    pub id: String,
    pub added_at: i64,
}

/// A paper marked (voted for, or not interested), by its id, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedMark {
    pub id: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedToken {
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedSubscription {
    pub interests: String,
    pub categories: Vec<String>,
    pub hour: u8,
    pub timezone: String,
    /// `pending`, `active` or `unsubscribed`.
    pub status: String,
}

pub(crate) fn too_many_tokens() -> crate::Error {
    crate::Error::Refused(format!(
        "an account may hold at most {MAX_API_TOKENS} API tokens; revoke one first"
    ))
}

pub(crate) fn too_many_collections() -> crate::Error {
    crate::Error::Refused(format!(
        "an account may hold at most {MAX_COLLECTIONS} collections; delete one first"
    ))
}

pub(crate) fn too_many_papers() -> crate::Error {
    crate::Error::Refused(format!(
        "a collection may hold at most {MAX_COLLECTION_PAPERS} papers; remove some or start another collection"
    ))
}
