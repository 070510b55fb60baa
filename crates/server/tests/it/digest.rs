//! The digest's routes over HTTP, with a real SMTP server on loopback receiving the mail.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use paperscout_app::digest::DigestConfig;
use paperscout_app::SmtpUrl;
use paperscout_mailsink::{MailSink, Received};
use paperscout_server::{router, AppState, Options};

use super::{csrf, get, post_form, send, tricky, SECRET};

const BASE: &str = "https://papers.example.org";

/// The token of the first `path?t=` link in a mail's text.
fn token_in(text: &str, path: &str) -> String {
    let at = text
        .find(&format!("{path}?t="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    text[at + path.len() + 3..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn post_json(app: &axum::Router, uri: &str, body: &str, content_type: &str) -> super::Answer {
    send(
        app,
        Request::post(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn delivered(state: &AppState, sink: &MailSink, n: usize) -> Vec<Received> {
    let d = state.digests().clone();
    tokio::task::spawn_blocking(move || d.deliver(Utc::now()).unwrap())
        .await
        .unwrap();
    assert!(
        sink.wait_for(n, Duration::from_secs(10)),
        "expected {n} mails"
    );
    sink.messages()
}

#[tokio::test]
async fn subscribe_confirm_manage_preview_and_one_click_unsubscribe_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MailSink::start();
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    options.subscribes_per_hour = 3;
    options.digest = DigestConfig {
        base_url: BASE.into(),
        from: "paperscout <digest@papers.example.org>".into(),
        smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
        ..DigestConfig::default()
    };
    let state = AppState::new(tricky(dir.path()), &options).unwrap();
    let app = router(state.clone());

    // The form (1st request from this address).
    let form = get(&app, "/subscribe").await;
    assert!(!form.body.contains("Mail is not set up"));
    let cookie = form.cookie().unwrap();
    let done = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        &format!(
            "csrf={}&email=ada%40example.org&interests=sparse+retrieval&categories=cs.IR&hour=7&timezone=Europe%2FParis",
            csrf(&form.body)
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Check your inbox"));
    let mails = delivered(&state, &sink, 1).await;
    let confirm = token_in(&mails[0].text(), "/subscribe/confirm");

    // The API: the same answer for the known address and for a new one (2nd, 3rd request).
    let known = post_json(
        &app,
        "/api/subscriptions",
        r#"{"email": "ada@example.org"}"#,
        "application/json",
    )
    .await;
    let unknown = post_json(&app, "/api/subscriptions", r#"{"email": "bob@example.org", "interests": "cross-encoders", "hour": 9, "timezone": "Asia/Tokyo"}"#, "application/json").await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.body);
    assert_eq!(
        (known.status, known.body.as_str()),
        (unknown.status, unknown.body.as_str())
    );
    assert_eq!(known.json()["status"], "pending");
    // A 4th request from the same address within the hour: rate-limited.
    let limited = post_json(
        &app,
        "/api/subscriptions",
        r#"{"email": "eve@example.org"}"#,
        "application/json",
    )
    .await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Bob gets a confirmation; ada's second request was moments after her first: no mail.
    let mails = delivered(&state, &sink, 2).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].to, vec!["bob@example.org".to_string()]);

    // Opening the link shows a button; only the POST confirms (mail scanners open links).
    let page = get(&app, &format!("/subscribe/confirm?t={confirm}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Confirm the subscription"));
    let bad = post_form(&app, "/subscribe/confirm", None, "t=00ff").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("link is not valid"));
    let ok = post_form(&app, "/subscribe/confirm", None, &format!("t={confirm}")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(
        ok.body.contains("You are subscribed")
            && ok.body.contains("07:00")
            && ok.body.contains("Europe/Paris")
    );
    let manage = token_in(&ok.body, "/subscription");

    // Manage: change the interests and hour; bad input is refused with a reason.
    let page = get(&app, &format!("/subscription?t={manage}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("ada@example.org")
            && page.body.contains("sparse retrieval")
            && page.body.contains("cs.IR")
    );
    let saved = post_form(
        &app,
        "/subscription",
        None,
        &format!("t={manage}&interests=dense+retrieval&categories=&hour=6&timezone=UTC"),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved.") && saved.body.contains("dense retrieval"));
    let bad = post_form(&app, "/subscription", None, &format!("t={manage}&hour=25")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("0 to 23"), "{}", bad.body);

    // Preview: the next digest as a page, with inline styles allowed and nothing else.
    let preview = get(&app, &format!("/subscription/preview?t={manage}")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Your papers for"));
    let csp = preview.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script"),
        "{csp}"
    );
    assert_eq!(
        get(&app, "/subscription/preview?t=abc").await.status,
        StatusCode::BAD_REQUEST
    );

    // The digest itself: every link in it works on this server.
    let d = state.digests().clone();
    let report = tokio::task::spawn_blocking(move || d.run(Utc::now(), true).unwrap())
        .await
        .unwrap();
    assert_eq!(report.delivery.sent, 1, "{report:?}");
    let mails = delivered(&state, &sink, 3).await;
    let digest = &mails[2];
    assert_eq!(digest.to, vec!["ada@example.org".to_string()]);
    let html = digest.html();
    assert!(html.contains("matches: dense retrieval"), "{html}");
    let links: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect();
    assert!(links.iter().any(|l| l.contains("/papers/")), "{links:?}");
    for link in &links {
        let path = link
            .strip_prefix(BASE)
            .unwrap_or_else(|| panic!("{link} is not on the site"));
        let path = if path.is_empty() { "/" } else { path };
        let page = get(&app, path).await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.body);
    }

    // Unsubscribe: GET shows a button; the RFC 8058 POST (no cookie, no CSRF token) does it.
    let digests = state.digests().clone();
    let s = tokio::task::spawn_blocking(move || digests.subscriber(&manage, Utc::now()).unwrap())
        .await
        .unwrap();
    let unsubscribe = state.digests().links(&s).unsubscribe;
    let path = unsubscribe.strip_prefix(BASE).unwrap().to_string();
    let page = get(&app, &path).await;
    assert!(page
        .body
        .contains("<form method=\"post\" action=\"/unsubscribe?t="));
    let gone = post_form(&app, &path, None, "List-Unsubscribe=One-Click").await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(gone.body.contains("You are unsubscribed"));
    // Again: still fine (mail providers retry).
    assert_eq!(
        post_form(&app, &path, None, "List-Unsubscribe=One-Click")
            .await
            .status,
        StatusCode::OK
    );
    let t = token_in(&ok.body, "/subscription");
    assert_eq!(
        get(&app, &format!("/subscription?t={t}")).await.status,
        StatusCode::BAD_REQUEST,
        "its manage link is dead"
    );

    // Malformed API bodies get JSON errors naming the problem.
    let e = post_json(&app, "/api/subscriptions", "{", "application/json").await;
    assert!(e
        .assert_error(StatusCode::BAD_REQUEST, "invalid")
        .contains("JSON"));
    let e = post_json(
        &app,
        "/api/subscriptions",
        r#"{"email": "x@example.org", "plan": "gold"}"#,
        "application/json",
    )
    .await;
    assert!(e
        .assert_error(StatusCode::BAD_REQUEST, "invalid")
        .contains("plan"));
    let e = post_json(&app, "/api/subscriptions", "email=x", "text/plain").await;
    e.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    // Metrics count the mail.
    let metrics = get(&app, "/metrics").await.body;
    assert!(
        metrics.contains("paperscout_mail_sent_total{kind=\"confirm\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paperscout_mail_outbox_pending 0"),
        "{metrics}"
    );
}
