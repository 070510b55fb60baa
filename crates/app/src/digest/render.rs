//! The mails: a digest as HTML (inline styles, no script, no remote images: what common mail
//! clients render) and plain text, plus the confirmation and notice mails. maud escapes every
//! interpolated string.

use std::str::FromStr;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use maud::{html, Markup, DOCTYPE};
use paperscout_model::PaperId;
use paperscout_store::{MailKind, OutgoingMail, Subscriber};
use rand::RngCore;

use super::select::{Digest, DigestItem};
use super::{Digests, Links};

const EXCERPT_CHARS: usize = 220;
const MAX_AUTHORS: usize = 4;

/// The site path of a paper's page (`/papers/…`, the id percent-encoded as one segment).
pub fn paper_path(id: &PaperId) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b':');
    format!(
        "/papers/{}",
        percent_encoding::utf8_percent_encode(id.as_str(), SEGMENT)
    )
}

/// About two lines of a mail client's width, cut at a word.
fn excerpt(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

fn authors(list: &[String]) -> String {
    let mut s = list
        .iter()
        .take(MAX_AUTHORS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > MAX_AUTHORS {
        s.push_str(" et al.");
    }
    s
}

fn byline(item: &DigestItem) -> String {
    let mut parts = Vec::new();
    let a = authors(&item.paper.authors);
    if !a.is_empty() {
        parts.push(a);
    }
    if let Some(d) = item.paper.published {
        parts.push(d.format("%-d %b %Y").to_string());
    }
    parts.join(" · ")
}

/// "paperscout · 3 trending, 2 for you · Mon 30 Nov 2026".
pub(crate) fn subject(d: &Digest) -> String {
    let day = d.local_date.format("%a %-d %b %Y");
    if d.is_empty() {
        return format!("paperscout · nothing new · {day}");
    }
    let mut what = Vec::new();
    if !d.trending.is_empty() {
        what.push(format!("{} trending", d.trending.len()));
    }
    if !d.matches.is_empty() {
        what.push(format!("{} for you", d.matches.len()));
    }
    format!("paperscout · {} · {day}", what.join(", "))
}

const BODY: &str = "margin:0;padding:0;background:#f6f6f4;";
const CARD: &str = "max-width:640px;margin:0 auto;padding:24px 20px;background:#ffffff;\
                    font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1d1f;\
                    font-size:15px;line-height:1.45;";
const H1: &str = "font-size:20px;margin:0 0 4px 0;";
const H2: &str =
    "font-size:16px;margin:24px 0 8px 0;padding-bottom:4px;border-bottom:1px solid #e5e5e0;";
const ITEM: &str = "margin:0 0 18px 0;";
const TITLE: &str = "font-size:16px;font-weight:600;color:#1a0dab;text-decoration:none;";
const META: &str = "margin:2px 0;color:#5f6368;font-size:13px;";
const REASON: &str = "display:inline-block;margin:2px 0;padding:1px 6px;border-radius:3px;\
                      background:#eef3fd;color:#174ea6;font-size:12px;";
const TEXT: &str = "margin:4px 0 0 0;color:#3c4043;";
const FOOT: &str =
    "margin-top:28px;padding-top:12px;border-top:1px solid #e5e5e0;color:#5f6368;font-size:12px;";
const LINK: &str = "color:#5f6368;";

fn item_html(base: &str, item: &DigestItem) -> Markup {
    let url = format!("{base}{}", paper_path(&item.paper.id));
    html! {
        div style=(ITEM) {
            a href=(url) style=(TITLE) { (item.paper.title) }
            @let by = byline(item);
            @if !by.is_empty() { p style=(META) { (by) } }
            span style=(REASON) { (item.reason.to_string()) }
            @let ex = excerpt(&item.paper.abstract_text);
            @if !ex.is_empty() { p style=(TEXT) { (ex) } }
        }
    }
}

/// The digest as an HTML document: the mail's HTML part, and the browser preview.
pub(crate) fn digest_html(d: &Digests, s: &Subscriber, links: &Links, digest: &Digest) -> String {
    let base = &d.config.base_url;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (subject(digest)) }
            }
            body style=(BODY) {
                div style=(CARD) {
                    h1 style=(H1) { "Your papers for " (digest.local_date.format("%A %-d %B %Y")) }
                    @if digest.is_empty() {
                        p { (nothing_new(digest)) }
                    }
                    @if !digest.trending.is_empty() {
                        h2 style=(H2) { "Trending today" }
                        @for item in &digest.trending { (item_html(base, item)) }
                    }
                    @if !digest.matches.is_empty() {
                        h2 style=(H2) { "New and matching your interests" }
                        @for item in &digest.matches { (item_html(base, item)) }
                    } @else if !digest.is_empty() && digest.has_interests {
                        p style=(META) { "No new paper matched your interests today." }
                    }
                    (footer_html(s, links, base))
                }
            }
        }
    }
    .into_string()
}

fn footer_html(s: &Subscriber, links: &Links, base: &str) -> Markup {
    html! {
        div style=(FOOT) {
            p style="margin:0 0 6px 0;" {
                "You get this because " (s.subscription.email) " subscribed to the daily digest of "
                a href=(base) style=(LINK) { (base) } ", delivered at "
                (format!("{:02}:00", s.subscription.hour)) " " (s.subscription.timezone) "."
                @if !s.subscription.interests.is_empty() {
                    " Interests: " (s.subscription.interests) "."
                }
            }
            p style="margin:0;" {
                a href=(links.manage) style=(LINK) { "Change interests or time" } " · "
                a href=(links.preview) style=(LINK) { "Preview tomorrow's" } " · "
                a href=(links.unsubscribe) style=(LINK) { "Unsubscribe" }
            }
        }
    }
}

fn nothing_new(d: &Digest) -> &'static str {
    if d.has_interests {
        "Nothing new today: no paper is trending that you have not seen, and no new paper matches your interests."
    } else {
        "Nothing new today: no paper is trending that you have not seen."
    }
}

fn item_text(base: &str, item: &DigestItem, out: &mut String) {
    out.push_str(&format!("* {}\n", one_line(&item.paper.title)));
    let by = byline(item);
    if !by.is_empty() {
        out.push_str(&format!("  {}\n", one_line(&by)));
    }
    out.push_str(&format!("  [{}]\n", item.reason));
    let ex = excerpt(&item.paper.abstract_text);
    if !ex.is_empty() {
        out.push_str(&format!("  {}\n", one_line(&ex)));
    }
    out.push_str(&format!("  {base}{}\n\n", paper_path(&item.paper.id)));
}

/// Text from papers may hold line breaks or control characters; a text mail gets neither.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn digest_text(d: &Digests, s: &Subscriber, links: &Links, digest: &Digest) -> String {
    let base = &d.config.base_url;
    let mut out = format!(
        "Your papers for {}\n\n",
        digest.local_date.format("%A %-d %B %Y")
    );
    if digest.is_empty() {
        out.push_str(nothing_new(digest));
        out.push_str("\n\n");
    }
    if !digest.trending.is_empty() {
        out.push_str("TRENDING TODAY\n\n");
        for item in &digest.trending {
            item_text(base, item, &mut out);
        }
    }
    if !digest.matches.is_empty() {
        out.push_str("NEW AND MATCHING YOUR INTERESTS\n\n");
        for item in &digest.matches {
            item_text(base, item, &mut out);
        }
    } else if !digest.is_empty() && digest.has_interests {
        out.push_str("No new paper matched your interests today.\n\n");
    }
    out.push_str(&format!(
        "-- \nYou get this because {} subscribed to the daily digest of {base}.\n\
         Change interests or time: {}\nUnsubscribe: {}\n",
        s.subscription.email, links.manage, links.unsubscribe
    ));
    out
}

fn message_id(d: &Digests, kind: MailKind) -> String {
    let mut r = [0u8; 12];
    rand::rng().fill_bytes(&mut r);
    format!(
        "<{}.{}@{}>",
        kind.as_str(),
        hex::encode(r),
        d.from.email.domain()
    )
}

/// What a mail says: its subject, plain-text part and HTML part.
struct Content {
    subject: String,
    text: String,
    html: String,
}

/// Builds the RFC 5322 message. Mail with `links` (to subscribers) carries the one-click
/// unsubscribe headers of RFC 8058 (and RFC 2369's `List-Unsubscribe` with an https and a
/// mailto URL).
fn message(
    d: &Digests,
    recipient: &str,
    kind: MailKind,
    links: Option<&Links>,
    content: Content,
    now: DateTime<Utc>,
    papers: usize,
) -> OutgoingMail {
    let Content {
        subject,
        text,
        html,
    } = content;
    let parsed = lettre::Address::from_str(recipient)
        .ok()
        .filter(|_| super::plain_address(recipient));
    let to = match parsed {
        Some(a) => Mailbox::new(None, a),
        // Validated when stored; a row edited by hand (or stored before the check was this
        // strict) is the only way here, and its mail fails as a bad recipient.
        None => Mailbox::new(
            None,
            lettre::Address::new("invalid", "invalid.invalid").expect("valid"),
        ),
    };
    let id = message_id(d, kind);
    let mut builder = Message::builder()
        .from(d.from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(id.clone()))
        .date(SystemTime::from(now))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
    if let Some(links) = links {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{}>, <{}>", links.unsubscribe, links.unsubscribe_mailto),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .expect("a message with From, To and a body always builds");
    OutgoingMail {
        kind,
        recipient: recipient.to_string(),
        message_id: id,
        message: message.formatted(),
        papers,
    }
}

pub(crate) fn digest_mail(
    d: &Digests,
    s: &Subscriber,
    digest: &Digest,
    now: DateTime<Utc>,
) -> OutgoingMail {
    let links = d.links(s);
    message(
        d,
        &s.subscription.email,
        MailKind::Digest,
        Some(&links),
        Content {
            subject: subject(digest),
            text: digest_text(d, s, &links, digest),
            html: digest_html(d, s, &links, digest),
        },
        now,
        digest.trending.len() + digest.matches.len(),
    )
}

fn simple_html(title: &str, paragraphs: &[Markup]) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } }
            body style=(BODY) {
                div style=(CARD) {
                    h1 style=(H1) { (title) }
                    @for p in paragraphs { p { (p) } }
                }
            }
        }
    }
    .into_string()
}

/// The mail a subscription request calls for: a confirmation, or (for an address already
/// subscribed) a notice with its links, so the requester learns nothing either way.
pub(crate) fn request_mail(
    d: &Digests,
    s: &Subscriber,
    kind: MailKind,
    now: DateTime<Utc>,
) -> OutgoingMail {
    let base = &d.config.base_url;
    let when = format!("{:02}:00 {}", s.subscription.hour, s.subscription.timezone);
    match kind {
        MailKind::Notice => {
            let links = d.links(s);
            let title = "You are already subscribed";
            let text = format!(
                "Someone (perhaps you) asked to subscribe {} to the daily paper digest of {base}.\n\
                 This address is already subscribed; nothing has changed.\n\n\
                 Change interests or time: {}\nUnsubscribe: {}\n",
                s.subscription.email, links.manage, links.unsubscribe
            );
            let html = simple_html(
                title,
                &[
                    html! { "Someone (perhaps you) asked to subscribe " (s.subscription.email) " to the daily paper digest of " a href=(base) { (base) } ". This address is already subscribed; nothing has changed." },
                    html! { a href=(links.manage) { "Change interests or time" } " · " a href=(links.unsubscribe) { "Unsubscribe" } },
                ],
            );
            message(
                d,
                &s.subscription.email,
                kind,
                Some(&links),
                Content {
                    subject: "paperscout: you are already subscribed".into(),
                    text,
                    html,
                },
                now,
                0,
            )
        }
        _ => {
            let link = d.confirm_link(s, now);
            let title = "Confirm your daily digest";
            let text = format!(
                "Someone (perhaps you) asked to get trending research papers from {base} by mail \
                 once a day, at {when}.\n\n\
                 To confirm, open this link within 7 days:\n{link}\n\n\
                 If it was not you, ignore this mail: nothing will be sent.\n"
            );
            let html = simple_html(
                title,
                &[
                    html! { "Someone (perhaps you) asked to get trending research papers from " a href=(base) { (base) } " by mail once a day, at " (when) "." },
                    html! { a href=(link) style="display:inline-block;padding:8px 14px;background:#1a73e8;color:#ffffff;border-radius:4px;text-decoration:none;" { "Confirm the subscription" } },
                    html! { "The link works for 7 days. If it was not you, ignore this mail: nothing will be sent." },
                ],
            );
            message(
                d,
                &s.subscription.email,
                MailKind::Confirm,
                None,
                Content {
                    subject: "Confirm your paperscout digest".into(),
                    text,
                    html,
                },
                now,
                0,
            )
        }
    }
}

/// The mail with a sign-in link (`link` works once, for `valid_minutes`).
pub(crate) fn signin_mail(
    d: &Digests,
    email: &str,
    link: &str,
    valid_minutes: i64,
    now: DateTime<Utc>,
) -> OutgoingMail {
    let base = &d.config.base_url;
    let title = "Sign in to paperscout";
    let text = format!(
        "Someone (perhaps you) asked to sign in to {base} with this address.\n\n\
         To sign in, open this link within {valid_minutes} minutes (it works once):\n{link}\n\n\
         If it was not you, ignore this mail: nobody can sign in without the link.\n"
    );
    let html = simple_html(
        title,
        &[
            html! { "Someone (perhaps you) asked to sign in to " a href=(base) { (base) } " with this address." },
            html! { a href=(link) style="display:inline-block;padding:8px 14px;background:#1a73e8;color:#ffffff;border-radius:4px;text-decoration:none;" { "Sign in" } },
            html! { "The link works once, for " (valid_minutes) " minutes. If it was not you, ignore this mail: nobody can sign in without the link." },
        ],
    );
    message(
        d,
        email,
        MailKind::Signin,
        None,
        Content {
            subject: "Your paperscout sign-in link".into(),
            text,
            html,
        },
        now,
        0,
    )
}
