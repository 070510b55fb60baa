//! Sending what the outbox holds, over SMTP (lettre), with retries and backoff.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::{SmtpTransport, Transport as _};
use paperscout_store::{MailKind, QueuedMail, SubscriberStatus};

use super::Digests;
use crate::{error_chain, Error, Result};
use paperscout_model::sync::MutexExt;

/// Failed attempts before a mail is given up (backoff 1, 2, 4 … 60 minutes: about 5 hours).
pub const MAX_ATTEMPTS: u32 = 10;
/// A mail being sent is leased for this long, so a second process (a cron `digest send`
/// beside `serve`) never sends it too; a crash mid-send retries it after the lease.
const LEASE_S: i64 = 120;
const BATCH: usize = 200;
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An SMTP URL in lettre's form (`smtp://user:pass@host:587?tls=required`, `smtps://…`).
/// Its password never appears in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn new(url: &str) -> Result<SmtpUrl> {
        let url = url.trim();
        let redacted = SmtpUrl(url.to_string()).to_string();
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err(Error::Invalid(format!(
                "the SMTP URL {redacted:?} must start with smtp:// or smtps:// \
                 (e.g. smtp://user:pass@mail.example.org:587?tls=required)"
            )));
        }
        SmtpTransport::from_url(url)
            .map_err(|e| Error::Invalid(format!("the SMTP URL {redacted:?} is not valid: {e}")))?;
        Ok(SmtpUrl(url.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SmtpUrl {
    /// The URL with the password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.0;
        let Some(scheme_end) = s.find("://").map(|i| i + 3) else {
            return f.write_str(s);
        };
        let rest = &s[scheme_end..];
        let host_start = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..host_start].rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let shown = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_string()
                };
                write!(f, "{}{shown}{}", &s[..scheme_end], &rest[at..])
            }
            None => f.write_str(s),
        }
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

pub(crate) struct Transport {
    smtp: SmtpTransport,
}

impl Transport {
    pub(crate) fn new(url: &SmtpUrl) -> Result<Transport> {
        let smtp = SmtpTransport::from_url(url.expose())
            .map_err(|e| Error::Invalid(format!("the SMTP URL {url} is not valid: {e}")))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Transport { smtp })
    }
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Mails given up on (permanent SMTP errors, or too many attempts).
    pub failed: usize,
    /// Mails dropped because their subscriber left.
    pub cancelled: usize,
}

/// The wait before retry number `attempt` (1-based): 1, 2, 4 … minutes, at most an hour.
pub(crate) fn backoff_s(attempt: u32) -> i64 {
    (60i64 << attempt.saturating_sub(1).min(6)).min(3600)
}

impl Digests {
    pub(crate) fn deliver_locked(&self, now: DateTime<Utc>) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let Some(transport) = &self.transport else {
            return Ok(report);
        };
        let store = &self.engine.store;
        loop {
            let batch = store.due_mail(now.timestamp(), BATCH)?;
            if batch.is_empty() {
                break;
            }
            let mut queue = std::collections::VecDeque::new();
            for mail in batch {
                if !store.lease_mail(mail.id, now.timestamp(), now.timestamp() + LEASE_S)? {
                    continue; // another process took it
                }
                let wanted = match mail.kind {
                    MailKind::Confirm => mail.subscriber_status != SubscriberStatus::Unsubscribed,
                    _ => mail.subscriber_status == SubscriberStatus::Active,
                };
                if wanted {
                    queue.push_back(mail);
                } else {
                    store.cancel_mail(mail.id)?;
                    report.cancelled += 1;
                }
            }
            self.send_all(transport, queue, now, &mut report)?;
        }
        if report != DeliveryReport::default() {
            tracing::info!(
                sent = report.sent,
                retrying = report.retrying,
                failed = report.failed,
                cancelled = report.cancelled,
                "mail delivery"
            );
        }
        Ok(report)
    }

    /// Sends `queue` over up to `smtp_connections` connections at once. One connection sends
    /// one mail at a time, waiting for each reply; and lettre writes a message's final
    /// `.` apart from its body, so with Nagle's algorithm on its socket (lettre does not set
    /// TCP_NODELAY) each mail also waits for the server's delayed ACK, ~40 ms on Linux.
    /// Concurrent connections hide both.
    fn send_all(
        &self,
        transport: &Transport,
        queue: std::collections::VecDeque<QueuedMail>,
        now: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<()> {
        let workers = self.config.smtp_connections.clamp(1, 32).min(queue.len());
        let queue = std::sync::Mutex::new(queue);
        let shared = std::sync::Mutex::new(std::mem::take(report));
        let failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let next = queue.lock_unpoisoned().pop_front();
                    let Some(mail) = next else { break };
                    let mut mine = DeliveryReport::default();
                    let result = self.send_one(transport, &mail, now, &mut mine);
                    let mut r = shared.lock_unpoisoned();
                    r.sent += mine.sent;
                    r.retrying += mine.retrying;
                    r.failed += mine.failed;
                    drop(r);
                    if let Err(e) = result {
                        // The store failed: stop; leased mails are retried after the lease.
                        *failure.lock_unpoisoned() = Some(e);
                        queue.lock_unpoisoned().clear();
                    }
                });
            }
        });
        *report = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn send_one(
        &self,
        transport: &Transport,
        mail: &QueuedMail,
        now: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<()> {
        let store = &self.engine.store;
        let parsed = mail
            .recipient
            .parse::<lettre::Address>()
            .map_err(|e| e.to_string())
            .and_then(|a| {
                if super::plain_address(&mail.recipient) {
                    Ok(a)
                } else {
                    Err("not a plain ASCII address; never retried".to_string())
                }
            });
        let to = match parsed {
            Ok(a) => a,
            Err(e) => {
                store.mark_attempt_failed(mail.id, &format!("bad recipient: {e}"), None)?;
                report.failed += 1;
                return Ok(());
            }
        };
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to])
            .expect("one recipient is always a valid envelope");
        match transport.smtp.send_raw(&envelope, &mail.message) {
            Ok(_) => {
                if self.fault.as_deref() == Some("crash-after-send") {
                    eprintln!("PAPERSCOUT_FAULT: crashing after sending, before recording it");
                    std::process::abort();
                }
                store.mark_sent(mail.id, now.timestamp())?;
                let counter = match mail.kind {
                    MailKind::Confirm => &self.stats.sent_confirm,
                    MailKind::Notice => &self.stats.sent_notice,
                    MailKind::Digest => &self.stats.sent_digest,
                    MailKind::Signin => &self.stats.sent_signin,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                report.sent += 1;
            }
            Err(e) => {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let attempt = mail.attempts + 1;
                let error = error_chain(&e);
                if e.is_permanent() || attempt >= MAX_ATTEMPTS {
                    tracing::error!(
                        mail = mail.id,
                        kind = mail.kind.as_str(),
                        attempt,
                        error = %error,
                        "cannot send a mail; giving up"
                    );
                    store.mark_attempt_failed(mail.id, &error, None)?;
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    report.failed += 1;
                } else {
                    let wait = backoff_s(attempt);
                    tracing::warn!(
                        mail = mail.id,
                        kind = mail.kind.as_str(),
                        attempt,
                        retry_in_s = wait,
                        error = %error,
                        "cannot send a mail; will retry"
                    );
                    store.mark_attempt_failed(mail.id, &error, Some(now.timestamp() + wait))?;
                    report.retrying += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let u = SmtpUrl::new("smtp://ada:s3cr%40t@mail.example.org:587?tls=required").unwrap();
        assert_eq!(
            u.to_string(),
            "smtp://ada:***@mail.example.org:587?tls=required"
        );
        assert!(!format!("{u:?}").contains("s3cr"));
        let plain = SmtpUrl::new("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(plain.to_string(), "smtp://127.0.0.1:2525");
        let e = SmtpUrl::new("http://user:hunter2@x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp://") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(
            (1..=9).map(backoff_s).collect::<Vec<_>>(),
            vec![60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
    }
}
