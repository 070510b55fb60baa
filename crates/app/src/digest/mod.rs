//! The daily digest: subscriptions with double opt-in, the choice of papers for each
//! subscriber's day, the mail, and its delivery through an outbox.
//!
//! Exactly once per subscriber per local day: a digest is *claimed* by writing its rendered
//! mail into the outbox, keyed by (subscriber, local date), in the same transaction that marks
//! its papers as sent; delivery then works through the outbox, retrying with backoff. A crash
//! before the claim commits leaves nothing (the next run builds the digest again); after it,
//! the mail waits in the outbox and the next run sends it. The one window that can still
//! duplicate a mail is between the SMTP server accepting it and the outbox recording that
//! (milliseconds); a resend is then byte-identical, same `Message-ID`, which mail systems
//! de-duplicate.

mod deliver;
mod render;
mod schedule;
mod select;
pub mod signin;
mod token;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hmac::{Hmac, Mac};
use paperscout_store::SubscribeOutcome;
use rand::RngCore;
use sha2::Sha256;

pub use deliver::{DeliveryReport, SmtpUrl};
pub use paperscout_store::{MailKind, OutboxStats, Subscriber, SubscriberStatus, Subscription};
pub use render::paper_path;
pub use select::{Digest, DigestItem, Reason};
pub use token::Purpose;

use crate::{Engine, Error, Result};
use paperscout_model::sync::MutexExt;

/// How long a confirmation link works.
const CONFIRM_VALID_S: i64 = 7 * 24 * 3600;
/// At most one confirmation (or "already subscribed") mail per address in this many seconds.
const RESEND_AFTER_S: i64 = 15 * 60;
/// A first digest looks back this far for papers matching the new subscriber's interests.
const FIRST_DIGEST_LOOKBACK_S: i64 = 7 * 24 * 3600;
pub const MAX_INTERESTS_CHARS: usize = 500;
pub const MAX_TOPICS: usize = 10;
const MAX_TOPIC_CHARS: usize = 100;
pub const MAX_CATEGORIES: usize = 20;
pub const DEFAULT_HOUR: u8 = 8;

/// Digest and mail settings (config file `[digest]`, `[smtp]`, `[site]`, or the environment).
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// The site's public address, for links in mail (no trailing slash).
    pub base_url: String,
    /// The `From` of every mail, e.g. `paperscout <digest@example.org>`.
    pub from: String,
    /// Where mail goes; `None`: subscribing is refused, as no mail could be sent.
    pub smtp: Option<SmtpUrl>,
    /// SMTP connections used at once when sending.
    pub smtp_connections: usize,
    /// On a day with nothing new: send a one-line mail saying so (true) or nothing (false).
    pub send_empty: bool,
    /// Trending papers per digest.
    pub trending: usize,
    /// Papers matching the subscriber's interests per digest, at most.
    pub max_matches: usize,
    /// The least cosine similarity between an interest and a paper for the paper to match.
    pub min_similarity: f32,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            base_url: "http://127.0.0.1:7878".into(),
            from: "paperscout <digest@localhost>".into(),
            smtp: None,
            smtp_connections: 4,
            send_empty: false,
            trending: 5,
            max_matches: 10,
            min_similarity: DEFAULT_MIN_SIMILARITY,
        }
    }
}

/// The default match threshold; see BENCHMARKS.md ("Digest match threshold") for how it was
/// chosen on SciFact's judgements.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.40;

/// A subscription as a user submits it (from a form or JSON), before validation.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionRequest {
    pub email: String,
    pub interests: String,
    pub categories: Vec<String>,
    pub hour: Option<u8>,
    pub timezone: Option<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct DigestStats {
    pub sent_confirm: AtomicU64,
    pub sent_notice: AtomicU64,
    pub sent_digest: AtomicU64,
    pub sent_signin: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: AtomicU64,
    /// Mails given up on.
    pub failed: AtomicU64,
    pub digests_built: AtomicU64,
    pub digests_skipped_empty: AtomicU64,
}

impl DigestStats {
    pub fn sent(&self, kind: MailKind) -> u64 {
        match kind {
            MailKind::Confirm => self.sent_confirm.load(Ordering::Relaxed),
            MailKind::Notice => self.sent_notice.load(Ordering::Relaxed),
            MailKind::Digest => self.sent_digest.load(Ordering::Relaxed),
            MailKind::Signin => self.sent_signin.load(Ordering::Relaxed),
        }
    }
}

/// What one scheduler run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Seconds spent choosing papers, rendering and claiming digests.
    pub build_s: f64,
    /// Seconds spent sending.
    pub deliver_s: f64,
    /// Subscribers whose digest was due and not yet claimed.
    pub due: usize,
    /// Digests written to the outbox.
    pub queued: usize,
    /// Days recorded with nothing to send (`send_empty` off).
    pub skipped_empty: usize,
    pub delivery: DeliveryReport,
}

/// A digest that would go out (dry runs).
#[derive(Debug, Clone)]
pub struct Planned {
    pub email: String,
    pub local_date: chrono::NaiveDate,
    pub digest: Digest,
    pub subject: String,
}

/// The links a subscriber's mail and pages carry.
#[derive(Debug, Clone)]
pub struct Links {
    pub manage: String,
    pub unsubscribe: String,
    pub preview: String,
    /// For `List-Unsubscribe: <mailto:…>`.
    pub unsubscribe_mailto: String,
}

/// Subscriptions and digests over one [`Engine`]. Share it behind an `Arc`.
pub struct Digests {
    engine: Arc<Engine>,
    config: DigestConfig,
    /// `config.from`, parsed (checked once, in `new`).
    from: lettre::message::Mailbox,
    signer: token::Signer,
    transport: Option<deliver::Transport>,
    stats: DigestStats,
    /// One run (build and delivery) at a time in this process.
    running: Mutex<()>,
    /// Test hook: `PAPERSCOUT_FAULT=crash-after-claim` aborts the process right after a
    /// digest is claimed, as a crash would; the crash tests use it.
    fault: Option<String>,
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Digests {
    /// `secret`: the server's secret (at least 32 bytes); the link-signing key is derived from it.
    pub fn new(engine: Arc<Engine>, config: DigestConfig, secret: &[u8]) -> Result<Digests> {
        if secret.len() < 32 {
            return Err(Error::Invalid(
                "the secret must be at least 32 bytes".into(),
            ));
        }
        let from = lettre::message::Mailbox::from_str(&config.from).map_err(|e| {
            Error::Invalid(format!(
                "the sender address {:?} is not valid: {e}",
                config.from
            ))
        })?;
        let base = config.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(Error::Invalid(format!(
                "the base URL {:?} must be an http(s) URL, e.g. https://papers.example.org",
                config.base_url
            )));
        }
        let mut config = config;
        config.base_url = base;
        let transport = match &config.smtp {
            Some(url) => Some(deliver::Transport::new(url)?),
            None => None,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"paperscout digest key");
        let key = mac.finalize().into_bytes();
        Ok(Digests {
            engine,
            config,
            from,
            signer: token::Signer::new(&key),
            transport,
            stats: DigestStats::default(),
            running: Mutex::new(()),
            fault: std::env::var("PAPERSCOUT_FAULT").ok(),
        })
    }

    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn stats(&self) -> &DigestStats {
        &self.stats
    }

    /// Whether mail can be sent (an SMTP server is configured).
    pub fn can_send(&self) -> bool {
        self.transport.is_some()
    }

    fn unavailable() -> Error {
        Error::Unavailable(
            "this server sends no mail: its operator has not configured an SMTP server \
             (smtp.url in the config file, or PAPERSCOUT_SMTP_URL)"
                .into(),
        )
    }

    /// Records a subscription request and queues the confirmation mail. The outcome is not
    /// returned on purpose: callers answer the same whether the address was known or not.
    pub fn subscribe(&self, request: &SubscriptionRequest, now: DateTime<Utc>) -> Result<()> {
        let sub = validate(request)?;
        if self.transport.is_none() {
            return Err(Self::unavailable());
        }
        let mut handle = [0u8; token::HANDLE_BYTES];
        rand::rng().fill_bytes(&mut handle);
        let outcome = self.engine.store.subscribe(
            &sub,
            &handle,
            now.timestamp(),
            RESEND_AFTER_S,
            |s, kind| render::request_mail(self, s, kind, now),
        )?;
        match outcome {
            SubscribeOutcome::Throttled => {
                tracing::info!("subscription request for an address mailed moments ago: no mail")
            }
            SubscribeOutcome::Confirm(_) => {
                tracing::info!("subscription requested; confirmation queued")
            }
            SubscribeOutcome::AlreadyActive(_) => {
                tracing::info!("subscription request for an active address; notice queued")
            }
        }
        Ok(())
    }

    fn bad_link() -> Error {
        Error::Invalid(
            "this link is not valid: it may have expired, been mistyped, or belong to a \
             subscription that has ended"
                .into(),
        )
    }

    fn handle(&self, purpose: Purpose, token: &str, now: DateTime<Utc>) -> Result<Vec<u8>> {
        self.signer
            .verify(purpose, token, now.timestamp())
            .ok_or_else(Self::bad_link)
    }

    /// Adds an active subscriber without the confirmation round trip: for moving a list whose
    /// consent was collected elsewhere, and for benchmarks. Papers with keys above `since_key`
    /// count as new for its first digest. False when the address is already known.
    pub fn import(
        &self,
        request: &SubscriptionRequest,
        since_key: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sub = validate(request)?;
        let mut handle = [0u8; token::HANDLE_BYTES];
        rand::rng().fill_bytes(&mut handle);
        Ok(self
            .engine
            .store
            .import_subscriber(&sub, &handle, now.timestamp(), since_key)?
            .is_some())
    }

    /// Confirms a subscription (the link in the confirmation mail). Confirming twice is fine.
    pub fn confirm(&self, token: &str, now: DateTime<Utc>) -> Result<Subscriber> {
        let handle = self.handle(Purpose::Confirm, token, now)?;
        let since = self
            .engine
            .store
            .last_key_added_before(now.timestamp() - FIRST_DIGEST_LOOKBACK_S)?;
        self.engine
            .store
            .confirm(&handle, now.timestamp(), since)?
            .ok_or_else(Self::bad_link)
    }

    /// Ends a subscription (the unsubscribe link, or `List-Unsubscribe-Post`). Idempotent.
    pub fn unsubscribe(&self, token: &str, now: DateTime<Utc>) -> Result<()> {
        let handle = self.handle(Purpose::Unsubscribe, token, now)?;
        if self.engine.store.unsubscribe(&handle, now.timestamp())? {
            tracing::info!("unsubscribed");
            Ok(())
        } else {
            Err(Self::bad_link())
        }
    }

    /// The subscriber a manage link names, if still subscribed (or pending).
    pub fn subscriber(&self, token: &str, now: DateTime<Utc>) -> Result<Subscriber> {
        let handle = self.handle(Purpose::Manage, token, now)?;
        self.engine
            .store
            .subscriber_by_handle(&handle)?
            .filter(|s| s.status != SubscriberStatus::Unsubscribed)
            .ok_or_else(Self::bad_link)
    }

    /// Changes a subscriber's interests, categories, hour or time zone (not the address).
    pub fn update(
        &self,
        token: &str,
        request: &SubscriptionRequest,
        now: DateTime<Utc>,
    ) -> Result<Subscriber> {
        let current = self.subscriber(token, now)?;
        let mut request = request.clone();
        request.email = current.subscription.email.clone();
        let sub = validate(&request)?;
        self.engine
            .store
            .update_preferences(&current.handle, &sub)?
            .ok_or_else(Self::bad_link)
    }

    /// The signed links for a subscriber.
    pub fn links(&self, s: &Subscriber) -> Links {
        let base = &self.config.base_url;
        let manage = self.signer.sign(Purpose::Manage, &s.handle, 0);
        let unsubscribe = self.signer.sign(Purpose::Unsubscribe, &s.handle, 0);
        let from = &self.from.email;
        Links {
            manage: format!("{base}/subscription?t={manage}"),
            preview: format!("{base}/subscription/preview?t={manage}"),
            unsubscribe: format!("{base}/unsubscribe?t={unsubscribe}"),
            unsubscribe_mailto: format!("mailto:{from}?subject=unsubscribe%20{unsubscribe}"),
        }
    }

    /// The confirmation link for a pending subscriber (valid for a week from `now`).
    pub(crate) fn confirm_link(&self, s: &Subscriber, now: DateTime<Utc>) -> String {
        let t = self.signer.sign(
            Purpose::Confirm,
            &s.handle,
            now.timestamp() + CONFIRM_VALID_S,
        );
        format!("{}/subscribe/confirm?t={t}", self.config.base_url)
    }

    /// The next digest of the subscriber a manage link names, as it would be built at `now`,
    /// rendered as an HTML page. Nothing is recorded.
    pub fn preview(&self, token: &str, now: DateTime<Utc>) -> Result<String> {
        let s = self.subscriber(token, now)?;
        let tz = parse_tz(&s.subscription.timezone)?;
        let date = schedule::local_date(now, tz);
        let mut ctx = select::Context::new(&self.engine, &self.config, now, &[&s])?;
        let digest = ctx.build(&s, date)?;
        Ok(render::digest_html(self, &s, &self.links(&s), &digest))
    }

    /// Builds and queues every digest due at `now` (with `force`, every active subscriber's
    /// digest for their current local day, whatever the hour), then delivers what is queued.
    pub fn run(&self, now: DateTime<Utc>, force: bool) -> Result<RunReport> {
        let _one = self.running.lock_unpoisoned();
        let mut report = RunReport::default();
        if self.transport.is_none() {
            return Err(Self::unavailable());
        }
        let started = std::time::Instant::now();
        let due = self.due(now, force)?;
        report.due = due.len();
        if !due.is_empty() {
            let subscribers: Vec<&Subscriber> = due.iter().map(|d| &d.0).collect();
            if self.engine.is_background() {
                // Under a server, requests leave this to its upkeep thread; a digest run is
                // background work and waits for every paper to be indexed and encoded.
                self.engine.catch_up()?;
                self.engine.ensure_embeddings()?;
            }
            let mut ctx = select::Context::new(&self.engine, &self.config, now, &subscribers)?;
            for (s, date) in &due {
                let digest = ctx.build(s, *date)?;
                self.stats.digests_built.fetch_add(1, Ordering::Relaxed);
                let mail = if digest.is_empty() && !self.config.send_empty {
                    None
                } else {
                    Some(render::digest_mail(self, s, &digest, now))
                };
                let claimed = self.engine.store.claim_digest(
                    s.id,
                    &date.to_string(),
                    mail.as_ref(),
                    &digest.keys(),
                    digest.since_key,
                    now.timestamp(),
                )?;
                if !claimed {
                    continue;
                }
                if mail.is_some() {
                    report.queued += 1;
                } else {
                    report.skipped_empty += 1;
                    self.stats
                        .digests_skipped_empty
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(subscriber = s.id, date = %date, "nothing new today: no digest sent");
                }
                if self.fault.as_deref() == Some("crash-after-claim") {
                    eprintln!("PAPERSCOUT_FAULT: crashing after claiming a digest");
                    std::process::abort();
                }
            }
        }
        report.build_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        report.delivery = self.deliver_locked(now)?;
        report.deliver_s = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Sends what is queued in the outbox and due at `now` (confirmations, notices, digests).
    pub fn deliver(&self, now: DateTime<Utc>) -> Result<DeliveryReport> {
        let _one = self.running.lock_unpoisoned();
        self.deliver_locked(now)
    }

    /// The digests [`Digests::run`] would queue at `now`, built but neither recorded nor sent.
    pub fn dry_run(&self, now: DateTime<Utc>, force: bool) -> Result<Vec<Planned>> {
        let due = self.due(now, force)?;
        let subscribers: Vec<&Subscriber> = due.iter().map(|d| &d.0).collect();
        let mut ctx = select::Context::new(&self.engine, &self.config, now, &subscribers)?;
        let mut out = Vec::new();
        for (s, date) in &due {
            let digest = ctx.build(s, *date)?;
            out.push(Planned {
                email: s.subscription.email.clone(),
                local_date: *date,
                subject: render::subject(&digest),
                digest,
            });
        }
        Ok(out)
    }

    /// Active subscribers whose digest for their latest delivery day has not been claimed.
    fn due(&self, now: DateTime<Utc>, force: bool) -> Result<Vec<(Subscriber, chrono::NaiveDate)>> {
        let mut out = Vec::new();
        for s in self.engine.store.active_subscribers()? {
            let Ok(tz) = parse_tz(&s.subscription.timezone) else {
                tracing::warn!(subscriber = s.id, tz = %s.subscription.timezone, "unknown time zone; using UTC");
                continue;
            };
            let (date, at) = if force {
                let d = schedule::local_date(now, tz);
                (d, now)
            } else {
                schedule::latest_due(now, s.subscription.hour, tz)
            };
            // The first digest comes at the first delivery time after confirming.
            if !force && s.confirmed_at.is_some_and(|c| at.timestamp() < c) {
                continue;
            }
            if self.engine.store.digest_claimed(s.id, &date.to_string())? {
                continue;
            }
            out.push((s, date));
        }
        Ok(out)
    }
}

pub(crate) fn parse_tz(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        Error::Invalid(format!(
            "unknown time zone {name:?}: use an IANA name such as UTC, Europe/Paris or America/New_York"
        ))
    })
}

/// The interests as separate topics: split at commas, semicolons and line breaks.
pub fn topics(interests: &str) -> Vec<String> {
    interests
        .split([',', ';', '\n'])
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `email` is an address of the plain form everyone uses: a dot-atom local part (no
/// quotes, no comments) and a host name with a dot (no address literals like `[127.0.0.1]`),
/// at most 254 characters. RFC 5321 allows more; mail providers do not, and every accepted
/// address must render into a header and an SMTP envelope without surprises.
pub fn plain_address(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atom));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()));
    email.len() <= 254 && local_ok && domain_ok
}

/// Checks a subscription request, naming what is wrong.
pub fn validate(r: &SubscriptionRequest) -> Result<Subscription> {
    let email = r.email.trim();
    if email.is_empty() {
        return Err(Error::Invalid("the email address is missing".into()));
    }
    if !email.is_ascii() {
        return Err(Error::Invalid(format!(
            "{email:?} has characters outside ASCII; this server's mail goes only to plain ASCII addresses (name@example.org)"
        )));
    }
    if !plain_address(email) || lettre::Address::from_str(email).is_err() {
        return Err(Error::Invalid(format!(
            "{email:?} is not an email address that can receive mail (expected name@example.org)"
        )));
    }
    let interests = r.interests.trim();
    let chars = interests.chars().count();
    if chars > MAX_INTERESTS_CHARS {
        return Err(Error::Invalid(format!(
            "the interests are {chars} characters long; the limit is {MAX_INTERESTS_CHARS}"
        )));
    }
    if interests
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Error::Invalid(
            "the interests contain control characters".into(),
        ));
    }
    let topics = topics(interests);
    if topics.len() > MAX_TOPICS {
        return Err(Error::Invalid(format!(
            "{} interests given; the limit is {MAX_TOPICS} (separate them with commas)",
            topics.len()
        )));
    }
    if let Some(t) = topics.iter().find(|t| t.chars().count() > MAX_TOPIC_CHARS) {
        return Err(Error::Invalid(format!(
            "the interest {:?}… is longer than {MAX_TOPIC_CHARS} characters; separate interests with commas",
            t.chars().take(30).collect::<String>()
        )));
    }
    let mut categories: Vec<String> = Vec::new();
    for c in r.categories.iter().flat_map(|c| c.split([',', ' '])) {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        if c.len() > 32
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
        {
            return Err(Error::Invalid(format!(
                "{:?} is not a category (expected something like cs.IR or cs.CL)",
                c.chars().take(40).collect::<String>()
            )));
        }
        if !categories.iter().any(|x| x.eq_ignore_ascii_case(c)) {
            categories.push(c.to_string());
        }
    }
    if categories.len() > MAX_CATEGORIES {
        return Err(Error::Invalid(format!(
            "{} categories given; the limit is {MAX_CATEGORIES}",
            categories.len()
        )));
    }
    let hour = r.hour.unwrap_or(DEFAULT_HOUR);
    if hour > 23 {
        return Err(Error::Invalid(format!(
            "the delivery hour must be 0 to 23, not {hour}"
        )));
    }
    let tz = match r.timezone.as_deref().map(str::trim) {
        None | Some("") => Tz::UTC,
        Some(name) => parse_tz(name)?,
    };
    Ok(Subscription {
        email: email.to_string(),
        interests: topics.join(", "),
        categories,
        hour,
        timezone: tz.name().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(email: &str) -> SubscriptionRequest {
        SubscriptionRequest {
            email: email.into(),
            ..Default::default()
        }
    }

    #[test]
    fn only_plain_ascii_addresses_are_accepted() {
        for ok in [
            "a@b.co",
            "ada.lovelace+digest@mail.example.org",
            "x_y-z@a-b.example.com",
        ] {
            validate(&req(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // These once passed validation and then panicked in rendering, or were retried
        // forever although the SMTP server refuses them for good.
        for bad in [
            "\"a,b@evil.example\"@example.org",
            "v@[127.0.0.1]",
            "ädä@example.org",
            "a@exämple.org",
            "a..b@example.org",
            ".a@example.org",
            "a@-example.org",
            "a@example.123",
            "a@localhost",
            "(comment)a@example.org",
        ] {
            let e = validate(&req(bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{bad}");
        }
        assert!(validate(&req("ädä@example.org"))
            .unwrap_err()
            .to_string()
            .contains("ASCII"));
    }

    #[test]
    fn requests_are_checked_and_normalised() {
        let ok = validate(&SubscriptionRequest {
            email: " Ada@Example.org ".into(),
            interests: "sparse retrieval,  cross-encoders ;\n dense  passage retrieval".into(),
            categories: vec!["cs.IR cs.CL".into(), "cs.ir".into()],
            hour: Some(7),
            timezone: Some("Europe/Paris".into()),
        })
        .unwrap();
        assert_eq!(ok.email, "Ada@Example.org");
        assert_eq!(
            ok.interests,
            "sparse retrieval, cross-encoders, dense passage retrieval"
        );
        assert_eq!(ok.categories, vec!["cs.IR", "cs.CL"]);
        assert_eq!((ok.hour, ok.timezone.as_str()), (7, "Europe/Paris"));
        let defaults = validate(&req("a@b.co")).unwrap();
        assert_eq!((defaults.hour, defaults.timezone.as_str()), (8, "UTC"));

        for (bad, says) in [
            (req(""), "missing"),
            (req("nobody"), "not an email address"),
            (req("a@localhost"), "not an email address"),
            (req("a b@example.org"), "not an email address"),
            (
                req(&format!("{}@example.org", "a".repeat(250))),
                "not an email address",
            ),
            (
                SubscriptionRequest {
                    hour: Some(24),
                    ..req("a@b.co")
                },
                "0 to 23",
            ),
            (
                SubscriptionRequest {
                    timezone: Some("Mars/Olympus".into()),
                    ..req("a@b.co")
                },
                "unknown time zone",
            ),
            (
                SubscriptionRequest {
                    interests: "x".repeat(501),
                    ..req("a@b.co")
                },
                "limit is 500",
            ),
            (
                SubscriptionRequest {
                    interests: "a,".repeat(11),
                    ..req("a@b.co")
                },
                "limit is 10",
            ),
            (
                SubscriptionRequest {
                    interests: "y".repeat(120),
                    ..req("a@b.co")
                },
                "longer than 100",
            ),
            (
                SubscriptionRequest {
                    interests: "a\u{0}b".into(),
                    ..req("a@b.co")
                },
                "control",
            ),
            (
                SubscriptionRequest {
                    categories: vec!["<script>".into()],
                    ..req("a@b.co")
                },
                "not a category",
            ),
        ] {
            let e = validate(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{e:?} should say {says:?}");
        }
    }
}
