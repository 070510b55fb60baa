//! Digest subscribers, the papers each one has been sent, and the outbox: the ledger through
//! which every mail goes. A mail is written to the outbox in the same transaction as the state
//! change it belongs to (a subscription, a day's digest), and sent from there; so a crash can
//! delay a mail but neither lose it nor, for digests, make a second one for the same day.

use crate::PaperKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberStatus {
    /// Asked to subscribe; nothing but the confirmation mail goes out until confirmed.
    Pending,
    Active,
    Unsubscribed,
}

impl SubscriberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberStatus::Pending => "pending",
            SubscriberStatus::Active => "active",
            SubscriberStatus::Unsubscribed => "unsubscribed",
        }
    }

    pub(crate) fn parse(s: &str) -> SubscriberStatus {
        match s {
            "active" => SubscriberStatus::Active,
            "unsubscribed" => SubscriberStatus::Unsubscribed,
            _ => SubscriberStatus::Pending,
        }
    }
}

/// What a subscriber asked for (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub email: String,
    /// Free text, e.g. "sparse retrieval, cross-encoders".
    pub interests: String,
    pub categories: Vec<String>,
    /// Local delivery hour, 0 to 23.
    pub hour: u8,
    /// IANA time zone name.
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: i64,
    /// Random bytes that signed links name the subscriber by; replaced on resubscription, so
    /// links from before an unsubscription stop working.
    pub handle: Vec<u8>,
    pub subscription: Subscription,
    pub status: SubscriberStatus,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    /// Papers with a larger key are new to this subscriber.
    pub since_key: PaperKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Confirm your subscription" (double opt-in).
    Confirm,
    /// "You are already subscribed; here is how to manage it".
    Notice,
    Digest,
    /// A sign-in link (see [`crate::Store::queue_signin`]): it belongs to no subscriber.
    Signin,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Confirm => "confirm",
            MailKind::Notice => "notice",
            MailKind::Digest => "digest",
            MailKind::Signin => "signin",
        }
    }

    pub(crate) fn parse(s: &str) -> MailKind {
        match s {
            "confirm" => MailKind::Confirm,
            "notice" => MailKind::Notice,
            "signin" => MailKind::Signin,
            _ => MailKind::Digest,
        }
    }
}

/// A rendered mail to put in the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: MailKind,
    pub recipient: String,
    pub message_id: String,
    /// The whole RFC 5322 message, sent byte for byte (so a retry sends the same mail).
    pub message: Vec<u8>,
    /// Papers listed (digests).
    pub papers: usize,
}

/// A mail waiting in the outbox.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    /// `None` for a sign-in mail, which belongs to no subscriber.
    pub subscriber_id: Option<i64>,
    /// The subscriber's status; [`SubscriberStatus::Active`] for a sign-in mail (always
    /// deliverable).
    pub subscriber_status: SubscriberStatus,
    pub kind: MailKind,
    pub local_date: Option<String>,
    pub recipient: String,
    pub message: Vec<u8>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What [`crate::Store::subscribe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// A new (or renewed) pending subscription; the confirmation mail is queued.
    Confirm(Subscriber),
    /// The address is already subscribed; a notice with its manage link is queued.
    AlreadyActive(Subscriber),
    /// A mail went to this address moments ago; nothing more is sent for now.
    Throttled,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: usize,
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}
