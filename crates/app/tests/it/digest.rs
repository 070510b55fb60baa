//! The daily digest against a real SMTP server on loopback (mailin-embedded), with the real
//! model, and a driven clock: no test sleeps for hours.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Days, Utc};
use paperscout_app::digest::DigestConfig;
use paperscout_app::{Digests, Engine, IngestOptions, SmtpUrl, SubscriptionRequest};
use paperscout_mailsink::{MailSink, Received};

use super::{demo_subset, input, jsonl, open, paper_line};

const BASE: &str = "https://papers.example.org";
const SECRET: &[u8] = b"a test secret that is long enough for hmac keys";
const WAIT: Duration = Duration::from_secs(10);

fn digests(engine: Arc<Engine>, sink: &MailSink, send_empty: bool) -> Digests {
    let config = DigestConfig {
        base_url: BASE.into(),
        from: "paperscout <digest@papers.example.org>".into(),
        smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
        send_empty,
        ..DigestConfig::default()
    };
    Digests::new(engine, config, SECRET).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn request(email: &str, interests: &str, hour: u8, tz: &str) -> SubscriptionRequest {
    SubscriptionRequest {
        email: email.into(),
        interests: interests.into(),
        categories: Vec::new(),
        hour: Some(hour),
        timezone: Some(tz.into()),
    }
}

/// The token of the first link to `path` in a mail's text part.
fn token(mail: &Received, path: &str) -> String {
    let text = mail.text();
    let start = text
        .find(&format!("{BASE}{path}?t="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    text[start..]
        .split_once("?t=")
        .unwrap()
        .1
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

/// Subscribes and confirms `email`; returns the confirmation mail.
fn subscribe_and_confirm(
    d: &Digests,
    sink: &MailSink,
    req: SubscriptionRequest,
    now: DateTime<Utc>,
) -> Received {
    let before = sink.count();
    d.subscribe(&req, now).unwrap();
    d.deliver(now).unwrap();
    assert!(sink.wait_for(before + 1, WAIT), "no confirmation mail");
    let mail = sink.messages()[before].clone();
    assert_eq!(mail.to, vec![req.email.clone()]);
    d.confirm(&token(&mail, "/subscribe/confirm"), now).unwrap();
    mail
}

#[test]
fn subscribe_confirm_receive_the_right_papers_and_unsubscribe_in_one_click() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path(), false));
    engine
        .ingest(
            &[input(&demo_subset(dir.path(), 40))],
            IngestOptions {
                skip_bad: false,
                encode: true,
                ..Default::default()
            },
        )
        .unwrap();
    let sink = MailSink::start();
    let d = digests(engine.clone(), &sink, false);
    // A month from now, so the demo papers are older than a first digest's look-back.
    let day0 = Utc::now().date_naive() + Days::days(30);
    let t0 = day0.and_hms_opt(5, 0, 0).unwrap().and_utc();

    // Subscribe: nothing but the confirmation goes out before confirming.
    let req = request(
        "ada@example.org",
        "sparse retrieval, cross-encoders",
        8,
        "Europe/Paris",
    );
    d.subscribe(&req, t0).unwrap();
    assert_eq!(
        d.run(t0 + Days::hours(3), false).unwrap().queued,
        0,
        "no digest before confirming"
    );
    assert!(sink.wait_for(1, WAIT));
    let confirm = sink.messages()[0].clone();
    assert_eq!(confirm.subject(), "Confirm your paperscout digest");
    assert!(confirm.html().contains("Confirm the subscription"));
    assert!(
        confirm.header("List-Unsubscribe").is_none(),
        "nothing to unsubscribe from yet"
    );
    // A forged or mangled token confirms nothing.
    let good = token(&confirm, "/subscribe/confirm");
    let mut forged = good.clone().into_bytes();
    forged[0] = if forged[0] == b'a' { b'b' } else { b'a' };
    assert!(d
        .confirm(std::str::from_utf8(&forged).unwrap(), t0)
        .is_err());
    // Expired after a week.
    assert!(d.confirm(&good, t0 + Days::days(8)).is_err());
    let s = d.confirm(&good, t0 + Days::minutes(5)).unwrap();
    assert_eq!(s.subscription.timezone, "Europe/Paris");

    // Asking again for a subscribed address: a notice with its links, nothing changes.
    d.subscribe(
        &request("ADA@example.org", "something else", 3, "UTC"),
        t0 + Days::minutes(30),
    )
    .unwrap();
    d.deliver(t0 + Days::minutes(30)).unwrap();
    assert!(sink.wait_for(2, WAIT));
    let notice = sink.messages()[1].clone();
    assert!(
        notice.text().contains("already subscribed"),
        "{}",
        notice.text()
    );
    assert!(notice.header("List-Unsubscribe-Post").is_some());
    // And again moments later: throttled, no third mail.
    d.subscribe(&req, t0 + Days::minutes(31)).unwrap();
    d.deliver(t0 + Days::minutes(31)).unwrap();

    // Today: one upvote, and three new papers, two of them on the subscriber's interests.
    let voted = engine.store().get_by_key(3).unwrap().unwrap().paper.id;
    engine
        .upvote(&voted, "someone", t0 + Days::minutes(40))
        .unwrap();
    let new = jsonl(dir.path(), "new.jsonl", &[
        paper_line("2611.00001", "Learned sparse retrieval with expansion and term weighting",
            "We study learned sparse retrieval models such as SPLADE that expand documents and weight terms for inverted-index retrieval, improving over BM25 on passage ranking."),
        paper_line("2611.00002", "Soil bacteria under drought stress",
            "Field measurements of soil microbial communities across three drought seasons show shifts in nitrogen-fixing bacteria and fungal biomass."),
        paper_line("2611.00003", "Distilling cross-encoders into fast rerankers",
            "Cross-encoders rerank passages accurately but slowly; we distill a cross-encoder reranker into a smaller model for query-passage relevance scoring."),
    ]);
    engine
        .ingest(
            &[input(&new)],
            IngestOptions {
                skip_bad: false,
                encode: true,
                ..Default::default()
            },
        )
        .unwrap();

    // 06:59 UTC is 07:59 in Paris: not yet.
    assert_eq!(d.run(t0 + Days::minutes(119), false).unwrap().queued, 0);
    // 07:00 UTC = 08:00 in Paris: the digest.
    let report = d.run(t0 + Days::hours(2), false).unwrap();
    assert_eq!((report.queued, report.delivery.sent), (1, 1), "{report:?}");
    assert!(sink.wait_for(3, WAIT));
    let all = sink.messages();
    assert_eq!(all.len(), 3, "the throttled request sent nothing");
    let mail = all[2].clone();
    assert_eq!(mail.to, vec!["ada@example.org".to_string()]);
    assert_eq!(mail.from, "digest@papers.example.org");

    // Headers: RFC 8058 one-click unsubscribe with an https and a mailto URL, Date, Message-ID.
    let lu = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(lu.contains(&format!("<{BASE}/unsubscribe?t=")), "{lu}");
    assert!(
        lu.contains("<mailto:digest@papers.example.org?subject=unsubscribe%20"),
        "{lu}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(mail
        .header("Message-ID")
        .is_some_and(|m| m.ends_with("@papers.example.org>")));
    let parsed = mail.parsed();
    let date = parsed.date().expect("a Date header");
    assert_eq!(date.to_timestamp(), (t0 + Days::hours(2)).timestamp());
    assert_eq!(parsed.text_body_count(), 1);
    assert_eq!(parsed.html_body_count(), 1);
    drop(parsed);

    // The papers: the upvoted one as trending, the two on-topic new ones as matches, with why.
    let (text, html) = (mail.text(), mail.html());
    let voted_title = engine.paper(&voted).unwrap().paper.title;
    assert!(text.contains(&voted_title), "{text}");
    assert!(text.contains("[trending · 1 upvote]"), "{text}");
    assert!(
        text.contains("Learned sparse retrieval with expansion"),
        "{text}"
    );
    assert!(text.contains("[matches: sparse retrieval"), "{text}");
    assert!(text.contains("Distilling cross-encoders"), "{text}");
    assert!(text.contains("cross-encoders]"), "{text}");
    assert!(
        !text.contains("Soil bacteria"),
        "an unrelated paper passed the threshold: {text}"
    );
    // Links to the site, in both parts.
    let link = format!("{BASE}/papers/arxiv:2611.00001");
    assert!(
        text.contains(&link) && html.contains(&link),
        "{link} in {text}"
    );
    assert!(
        html.contains("style=") && !html.contains("<script"),
        "inline styles, no script"
    );
    assert!(
        mail.subject()
            .starts_with("paperscout · 1 trending, 2 for you"),
        "{}",
        mail.subject()
    );

    // Once a day: later runs the same day send nothing.
    assert_eq!(d.run(t0 + Days::hours(5), false).unwrap().queued, 0);
    // The next day nothing is new (every paper was sent): no mail by default, and the day is
    // recorded so it is not built again.
    let next = d.run(t0 + Days::days(1) + Days::hours(2), false).unwrap();
    assert_eq!((next.queued, next.skipped_empty), (0, 1), "{next:?}");
    assert_eq!(
        d.run(t0 + Days::days(1) + Days::hours(3), false)
            .unwrap()
            .due,
        0
    );

    // The preview shows what the next digest would hold, for its owner's signed link only.
    let manage = token(&mail, "/subscription");
    let preview = d.preview(&manage, t0 + Days::days(1)).unwrap();
    assert!(preview.contains("Nothing new today"), "{preview}");
    assert!(
        d.preview(&token(&mail, "/unsubscribe"), t0).is_err(),
        "an unsubscribe token is not a manage token"
    );

    // One-click unsubscribe (what a mail provider POSTs): no mail afterwards, and it sticks.
    let unsub = lu
        .split("unsubscribe?t=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_string();
    d.unsubscribe(&unsub, t0 + Days::days(1) + Days::hours(4))
        .unwrap();
    d.unsubscribe(&unsub, t0 + Days::days(1) + Days::hours(4))
        .unwrap();
    engine
        .upvote(
            &engine.store().get_by_key(5).unwrap().unwrap().paper.id,
            "x",
            t0 + Days::days(2),
        )
        .unwrap();
    let after = d.run(t0 + Days::days(2) + Days::hours(2), false).unwrap();
    assert_eq!(after.due, 0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.count(), 3, "no mail after unsubscribing");
    assert!(
        d.preview(&manage, t0 + Days::days(2)).is_err(),
        "its links stop working"
    );
}

#[test]
fn subscribers_in_two_time_zones_get_their_digest_at_their_own_hour() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path(), false));
    engine
        .ingest(
            &[input(&demo_subset(dir.path(), 5))],
            IngestOptions {
                skip_bad: false,
                encode: false,
                ..Default::default()
            },
        )
        .unwrap();
    let sink = MailSink::start();
    let d = digests(engine.clone(), &sink, true);
    let start = at("2026-12-01T00:00:00Z");
    subscribe_and_confirm(
        &d,
        &sink,
        request("tokyo@example.org", "", 8, "Asia/Tokyo"),
        start,
    );
    subscribe_and_confirm(
        &d,
        &sink,
        request("newyork@example.org", "", 8, "America/New_York"),
        start,
    );
    let confirmations = sink.count();
    // Drive the clock through two days, every 10 minutes, as the scheduler would.
    let mut arrivals: Vec<(String, String)> = Vec::new();
    let mut now = start;
    while now < start + Days::days(2) {
        let before = sink.count();
        let report = d.run(now, false).unwrap();
        if report.delivery.sent > 0 {
            assert!(sink.wait_for(before + report.delivery.sent, WAIT));
            for m in &sink.messages()[before..] {
                arrivals.push((m.to[0].clone(), now.format("%Y-%m-%dT%H:%M").to_string()));
            }
        }
        now += Days::minutes(10);
    }
    assert_eq!(sink.count() - confirmations, 4, "{arrivals:?}");
    let times = |who: &str| -> Vec<&str> {
        arrivals
            .iter()
            .filter(|a| a.0 == who)
            .map(|a| a.1.as_str())
            .collect()
    };
    // 08:00 in Tokyo is 23:00 UTC the day before (it was already 09:00 there when they
    // confirmed, so their first digest is the next day's); 08:00 in New York (EST) is 13:00 UTC.
    assert_eq!(
        times("tokyo@example.org"),
        ["2026-12-01T23:00", "2026-12-02T23:00"]
    );
    assert_eq!(
        times("newyork@example.org"),
        ["2026-12-01T13:00", "2026-12-02T13:00"]
    );
}

#[test]
fn failed_sends_are_retried_with_backoff_and_permanent_failures_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path(), false));
    let sink = MailSink::start();
    let d = digests(engine, &sink, true);
    let t = at("2026-12-01T10:00:00Z");
    sink.fail_next_temporarily(2);
    d.subscribe(&request("retry@example.org", "", 8, "UTC"), t)
        .unwrap();
    let first = d.deliver(t).unwrap();
    assert_eq!((first.sent, first.retrying), (0, 1));
    // Not before the backoff (1 minute, then 2).
    assert_eq!(d.deliver(t + Days::seconds(30)).unwrap().sent, 0);
    assert_eq!(d.deliver(t + Days::seconds(61)).unwrap().retrying, 1);
    assert_eq!(d.deliver(t + Days::seconds(61 + 60)).unwrap().sent, 0);
    assert_eq!(d.deliver(t + Days::seconds(61 + 121)).unwrap().sent, 1);
    assert!(sink.wait_for(1, WAIT));
    assert_eq!(
        d.stats()
            .failed_attempts
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    sink.fail_next_permanently(1);
    d.subscribe(&request("bounce@example.org", "", 8, "UTC"), t)
        .unwrap();
    let r = d.deliver(t + Days::hours(1)).unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    assert_eq!(
        d.deliver(t + Days::days(1)).unwrap(),
        Default::default(),
        "given up for good"
    );
    assert_eq!(d.engine().store().outbox_stats().unwrap().failed, 1);
}

#[test]
fn the_same_answer_whether_an_address_is_known_or_not_and_no_mail_without_smtp() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path(), false));
    let sink = MailSink::start();
    let d = digests(engine.clone(), &sink, true);
    let t = at("2026-12-01T10:00:00Z");
    subscribe_and_confirm(&d, &sink, request("known@example.org", "", 8, "UTC"), t);
    // Known, unknown: both Ok(()), the caller learns nothing.
    assert!(d
        .subscribe(
            &request("known@example.org", "", 8, "UTC"),
            t + Days::hours(1)
        )
        .is_ok());
    assert!(d
        .subscribe(
            &request("unknown@example.org", "", 8, "UTC"),
            t + Days::hours(1)
        )
        .is_ok());
    // Bad input says what is wrong.
    let e = d
        .subscribe(&request("not-an-address", "", 8, "UTC"), t)
        .unwrap_err();
    assert!(e.to_string().contains("not an email address"), "{e}");

    let no_smtp = Digests::new(engine, DigestConfig::default(), SECRET).unwrap();
    let e = no_smtp
        .subscribe(&request("a@example.org", "", 8, "UTC"), t)
        .unwrap_err();
    assert_eq!(e.kind(), paperscout_app::ErrorKind::Unavailable);
    assert!(e.to_string().contains("PAPERSCOUT_SMTP_URL"), "{e}");
}
