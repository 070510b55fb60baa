//! Accounts and libraries over HTTP: sign-in by a link mailed to a real SMTP server on
//! loopback, the session cookie, API tokens, collections, "not interested", "For you", the
//! private feed, import, sign-out and deletion.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use paperscout_app::digest::DigestConfig;
use paperscout_app::SmtpUrl;
use paperscout_mailsink::MailSink;
use paperscout_server::{router, AppState, Options};

use super::{csrf, send, tricky, Answer, SECRET};

/// Every cookie an answer sets, as `name=value` pairs.
fn set_cookies(a: &Answer) -> Vec<(String, String, String)> {
    a.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| {
            let full = v.to_str().unwrap().to_string();
            let pair = full.split(';').next().unwrap().to_string();
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_string(), value.to_string(), full)
        })
        .collect()
}

/// A browser's cookies: what answers set, sent with the next requests.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, a: &Answer) {
        for (name, value, full) in set_cookies(a) {
            self.0.retain(|(n, _)| *n != name);
            let removed = full.contains("Max-Age=0") || value.is_empty();
            if !removed {
                self.0.push((name, value));
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

struct Client {
    app: Router,
    jar: Jar,
}

impl Client {
    async fn call(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if !self.jar.0.is_empty() {
            request = request.header(header::COOKIE, self.jar.header());
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some((content_type, b)) => request
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(b))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let answer = send(&self.app, request).await;
        self.jar.take(&answer);
        answer
    }

    async fn get(&mut self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None, &[]).await
    }

    async fn form(&mut self, uri: &str, form: &str) -> Answer {
        self.call(
            Method::POST,
            uri,
            Some(("application/x-www-form-urlencoded", form.to_string())),
            &[],
        )
        .await
    }

    /// An API call from this site's own page (the browser says so in Sec-Fetch-Site).
    async fn api(&mut self, method: Method, uri: &str, json: Option<&str>) -> Answer {
        let body = json.map(|j| ("application/json", j.to_string()));
        self.call(method, uri, body, &[("sec-fetch-site", "same-origin")])
            .await
    }
}

async fn bearer(
    app: &Router,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let request = match body {
        Some((ct, b)) => request
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    send(app, request).await
}

/// The token of the first `/signin/confirm?t=` link in a mail.
fn link_token(text: &str) -> String {
    let at = text
        .find("/signin/confirm?t=")
        .unwrap_or_else(|| panic!("no sign-in link in {text}"));
    text[at + 18..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn deliver(
    state: &AppState,
    sink: &MailSink,
    n: usize,
) -> Vec<paperscout_mailsink::Received> {
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

/// The value of `name="…" value="…"` in a page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + name.len()
        + 15;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_mailed_link_then_library_feed_tokens_sign_out_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MailSink::start();
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    options.subscribes_per_hour = 20;
    options.secure_cookies = true;
    options.digest = DigestConfig {
        from: "paperscout <digest@papers.example.org>".into(),
        smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
        ..DigestConfig::default()
    };
    let engine = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            let e = tricky(&dir);
            e.ensure_embeddings().unwrap();
            e
        }
    })
    .await
    .unwrap();
    let state = AppState::new(engine.clone(), &options).unwrap();
    let app = router(state.clone());
    let mut browser = Client {
        app: app.clone(),
        jar: Jar::default(),
    };

    // Signed out: the library invites to sign in, the API says 401 in its own words.
    let library = browser.get("/library").await;
    assert!(library.body.contains("Sign in by mail"), "{}", library.body);
    let anon = browser.get("/api/collections").await;
    anon.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(anon.headers.contains_key(header::WWW_AUTHENTICATE));

    // An anonymous upvote, which signing in brings along.
    let paper = browser.get("/papers/2402.00002").await;
    let up = browser
        .form(
            "/papers/2402.00002/upvote",
            &format!("csrf={}", csrf(&paper.body)),
        )
        .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.body);

    // Asking for a link: the same answer for any address; a form without its token is refused.
    let form = browser.get("/signin").await;
    let token = csrf(&form.body);
    let refused = browser
        .form("/signin", "csrf=00&email=reader%40example.org")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let asked = browser
        .form(
            "/signin",
            &format!("csrf={token}&email=reader%40example.org"),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let mails = deliver(&state, &sink, 1).await;
    assert_eq!(mails[0].to, vec!["reader@example.org".to_string()]);
    let link = link_token(&mails[0].text());
    assert_eq!(link.len(), 64);

    // The link's page is a button (a GET signs nobody in); a forged or CSRF-less POST fails.
    let page = browser.get(&format!("/signin/confirm?t={link}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!browser.jar.has("paperscout_session"));
    let page_csrf = hidden(&page.body, "csrf");
    let forged = browser
        .form(
            "/signin/confirm",
            &format!("t={}&csrf={page_csrf}", "ab".repeat(32)),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.body.contains("not valid"));
    let no_csrf = browser.form("/signin/confirm", &format!("t={link}")).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let signed_in = browser
        .form("/signin/confirm", &format!("t={link}&csrf={page_csrf}"))
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.headers[header::LOCATION], "/library?welcome=1");
    let (_, session, flags) = set_cookies(&signed_in)
        .into_iter()
        .find(|(n, _, _)| n == "paperscout_session")
        .expect("a session cookie");
    for flag in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=2592000",
    ] {
        assert!(flags.contains(flag), "{flag} missing from {flags}");
    }
    assert!(!session.contains(&link), "the cookie is not the link");
    assert_eq!(
        signed_in.headers[header::CACHE_CONTROL],
        "no-store",
        "an answer that sets a session is never cached"
    );
    // Single use.
    let mut other = Client {
        app: app.clone(),
        jar: Jar::default(),
    };
    let other_page = other.get(&format!("/signin/confirm?t={link}")).await;
    let again = other
        .form(
            "/signin/confirm",
            &format!("t={link}&csrf={}", hidden(&other_page.body, "csrf")),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(!other.jar.has("paperscout_session"));

    // Signed in: the account, with its Saved collection and the anonymous vote.
    let me = browser.get("/api/account").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me = me.json();
    assert_eq!(me["email"], "reader@example.org");
    assert_eq!(me["collections"][0]["name"], "Saved");
    let saved_id = me["collections"][0]["id"].as_i64().unwrap();
    let account = engine
        .store()
        .account_by_email("reader@example.org")
        .unwrap()
        .unwrap();
    let key = engine.paper(&"2402.00002".parse().unwrap()).unwrap().key;
    assert!(engine
        .store()
        .voted_by(&account.voter(), &[key])
        .unwrap()
        .contains(&key));

    // A second request for a link, for a known and an unknown address: the same page.
    let form = browser.get("/signin").await;
    assert_eq!(
        form.status,
        StatusCode::SEE_OTHER,
        "signed in: the account page"
    );
    let mut stranger = Client {
        app: app.clone(),
        jar: Jar::default(),
    };
    let f = stranger.get("/signin").await;
    let known = stranger
        .form(
            "/signin",
            &format!("csrf={}&email=reader%40example.org", csrf(&f.body)),
        )
        .await;
    let unknown = stranger
        .form(
            "/signin",
            &format!("csrf={}&email=nobody%40example.org", csrf(&f.body)),
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));

    // An expired link signs nobody in (links work for 30 minutes).
    let mails = deliver(&state, &sink, 2).await;
    let late = link_token(&mails.last().unwrap().text());
    assert_eq!(
        mails.last().unwrap().to,
        vec!["nobody@example.org".to_string()]
    );
    let d = state.digests().clone();
    let expired = tokio::task::spawn_blocking(move || {
        d.redeem_signin(&late, "", Utc::now() + chrono::Duration::minutes(31))
    })
    .await
    .unwrap();
    assert!(expired.is_err());

    // Save two papers from their pages; "not interested" on the third through the API.
    for id in ["2401.00001", "2402.00002"] {
        let page = browser.get(&format!("/papers/{id}")).await;
        assert!(page.body.contains("☆ Save"), "{}", page.body);
        let saved = browser
            .form(
                &format!("/papers/{id}/save"),
                &format!("csrf={}&back=%2Flibrary", csrf(&page.body)),
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        assert_eq!(saved.headers[header::LOCATION], "/library");
    }
    let cross = browser
        .call(
            Method::PUT,
            "/api/papers/doi:10.1145%2F3397271.3401075/not-interested",
            None,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    cross.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let marked = browser
        .api(
            Method::PUT,
            "/api/papers/doi:10.1145%2F3397271.3401075/not-interested",
            None,
        )
        .await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
    assert_eq!(marked.json()["not_interested"], true);
    let page = browser.get(&format!("/library/{saved_id}")).await;
    assert!(
        page.body.contains("2 papers") && page.body.contains("★ Saved"),
        "{}",
        page.body
    );

    // For you: a cold start from two papers, each with its reasons.
    let fy = browser
        .get(&format!("/api/for-you?collection={saved_id}"))
        .await;
    assert_eq!(fy.status, StatusCode::OK, "{}", fy.body);
    let fy = fy.json();
    assert_eq!(fy["method"], "cold start");
    assert_eq!(fy["library"], 2);
    assert!(
        fy["papers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["paper"]["id"] != "2402.00002"),
        "saved papers are not recommended"
    );
    let page = browser.get("/for-you").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("For you"));

    // A personal API token: shown once, works as a bearer token, and nothing else does.
    let made = browser
        .api(
            Method::POST,
            "/api/account/tokens",
            Some(r#"{"name": "laptop"}"#),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let api_token = made.json()["token"].as_str().unwrap().to_string();
    let token_id = made.json()["id"].as_i64().unwrap();
    assert!(api_token.starts_with("ps_") && api_token.len() == 67);
    let listed = bearer(&app, Method::GET, "/api/collections", &api_token, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.json()[0]["papers"], 2);
    let wrong = bearer(
        &app,
        Method::GET,
        "/api/collections",
        &format!("ps_{}", "0".repeat(64)),
        None,
    )
    .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Import through the API: the report names what matched and what did not.
    let bib =
        "@article{colbert, title = {ColBERT: late interaction}, doi = {10.1145/3397271.3401075}}\n\
               @misc{nothere, title = {A paper this corpus lacks}}\n";
    let imported = bearer(
        &app,
        Method::POST,
        &format!("/api/collections/{saved_id}/import"),
        &api_token,
        Some(("application/x-bibtex", bib)),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let report = imported.json();
    assert_eq!(
        (report["entries"].as_u64(), report["added"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(report["matched"][0]["by"], "DOI");
    assert_eq!(report["unmatched"][0]["key"], "nothere");
    let export = bearer(
        &app,
        Method::GET,
        &format!("/api/collections/{saved_id}/export.bib"),
        &api_token,
        None,
    )
    .await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(
        biblatex::Bibliography::parse(&export.body).unwrap().len(),
        3
    );

    // The private feed parses as Atom; revoked, it is gone.
    let on = bearer(
        &app,
        Method::POST,
        &format!("/api/collections/{saved_id}/feed"),
        &api_token,
        None,
    )
    .await;
    assert_eq!(on.status, StatusCode::CREATED, "{}", on.body);
    let url = on.json()["url"].as_str().unwrap().to_string();
    let path = &url[url.find("/feeds/").unwrap()..];
    let atom = browser.get(path).await;
    let parsed = super::site::feed(&atom);
    assert!(parsed.title.unwrap().content.contains("Saved"));
    assert!(atom.headers[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("private"));
    let off = bearer(
        &app,
        Method::DELETE,
        &format!("/api/collections/{saved_id}/feed"),
        &api_token,
        None,
    )
    .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT);
    assert_eq!(browser.get(path).await.status, StatusCode::NOT_FOUND);

    // Another account's collection is as good as missing.
    let theirs = bearer(
        &app,
        Method::GET,
        &format!("/api/collections/{}", saved_id + 1000),
        &api_token,
        None,
    )
    .await;
    theirs.assert_error(StatusCode::NOT_FOUND, "not_found");

    // Sign out: this browser's session ends, and its cookie no longer signs anyone in.
    let old_cookie = browser.jar.clone();
    let account_page = browser.get("/account").await;
    let out = browser
        .form("/signout", &format!("csrf={}", csrf(&account_page.body)))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.jar.has("paperscout_session"));
    let replayed = send(
        &app,
        Request::get("/api/account")
            .header(header::COOKIE, old_cookie.header())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    replayed.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Revoked, the token stops working; deletion through a new token removes the account.
    let gone = bearer(
        &app,
        Method::DELETE,
        &format!("/api/account/tokens/{token_id}"),
        &api_token,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    bearer(&app, Method::GET, "/api/account", &api_token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let e2 = engine.clone();
    let (_, second) =
        tokio::task::spawn_blocking(move || e2.create_api_token(account.id, "cleanup", Utc::now()))
            .await
            .unwrap()
            .unwrap();
    let deleted = bearer(&app, Method::DELETE, "/api/account", &second, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        engine
            .store()
            .account_by_email("reader@example.org")
            .unwrap(),
        None
    );
    bearer(&app, Method::GET, "/api/account", &second, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}
