//! The server's routes, driven in-process with `Router::oneshot` (no sockets), on real engines
//! with the real model; `browser` drives the real server in headless Chromium.

mod browser;
mod digest;
mod hardening;
mod library;
mod library_browser;
mod site;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use paperscout_app::{Config, Engine, ModelSpec, NoProgress};
use paperscout_server::{router, AppState, Options};
use serde_json::Value;
use tower::ServiceExt;

pub fn open_engine(dir: &Path, demo: bool) -> Arc<Engine> {
    let mut model = ModelSpec::new(paperscout_testkit::cache_dir());
    model.dir = paperscout_testkit::model_dir();
    let config = Config {
        demo,
        ..Config::new(dir.to_path_buf(), model)
    };
    Arc::new(Engine::open(config, Arc::new(NoProgress)).unwrap())
}

pub const SECRET: &[u8] = b"a test secret that is long enough to sign cookies";

fn app(engine: Arc<Engine>, votes_per_minute: u32) -> Router {
    let mut options = Options::new(SECRET.to_vec());
    options.votes_per_minute = votes_per_minute;
    options.reads_per_minute = 0;
    // (Every oneshot request comes from one unknown address; the encoder's gate has tests
    // of its own in `hardening`.)
    options.encoder.units_per_minute = 0;
    router(AppState::new(engine, &options).unwrap())
}

/// The demo corpus, encoded once and shared by the read-only tests.
fn demo() -> Router {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let engine = open_engine(&dir, true);
        engine.ensure_embeddings().unwrap();
        engine
    });
    app(engine.clone(), 0)
}

/// A small corpus of awkward papers: markup in titles, a DOI with a slash, `&` in a link.
fn tricky(dir: &Path) -> Arc<Engine> {
    let engine = open_engine(dir, false);
    let lines = [
        serde_json::json!({"id": "2401.00001", "title": "<script>alert(1)</script> & \"quoted\" <b>retrieval</b>", "abstract": "Dense retrieval with <em>tags</em> & ampersands for passage ranking.", "authors": ["O'Brien <ob@example.org>"], "published": "2024-01-05", "categories": ["cs.IR"], "links": {"pdf": "https://example.org/pdf?a=1&b=2", "code": "https://github.com/example/repo"}, "source": "jsonl"}),
        serde_json::json!({"id": "doi:10.1145/3397271.3401075", "title": "ColBERT: late interaction", "abstract": "Late interaction over BERT for efficient passage retrieval.", "published": "2020-07-25", "source": "jsonl"}),
        serde_json::json!({"id": "2402.00002", "title": "Sparse retrieval with learned term weights", "abstract": "SPLADE learns sparse lexical expansions for first-stage retrieval.", "published": "2024-02-01", "source": "jsonl"}),
    ];
    let path = dir.join("tricky.jsonl");
    std::fs::write(
        &path,
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    engine
        .ingest(
            &[paperscout_app::Input::resolve(&path, None).unwrap()],
            paperscout_app::IngestOptions::default(),
        )
        .unwrap();
    engine
}

#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `Set-Cookie` header as a `Cookie` header value.
    fn cookie(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
    }

    fn assert_error(&self, status: StatusCode, kind: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let json = self.json();
        assert_eq!(json["kind"], kind, "{}", self.body);
        json["error"].as_str().unwrap().to_string()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn with_cookie(app: &Router, method: Method, uri: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

async fn post_form(app: &Router, uri: &str, cookie: Option<&str>, form: &str) -> Answer {
    let mut request =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    send(app, request.body(Body::from(form.to_string())).unwrap()).await
}

/// The CSRF token in a page's first form.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn search_api_returns_highlighted_hits_in_every_mode() {
    let app = demo();
    for mode in ["hybrid", "semantic", "lexical"] {
        let answer = get(
            &app,
            &format!("/api/search?q=contrastive%20sentence%20embeddings&mode={mode}&limit=5"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["mode"], mode);
        let hits = json["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 5);
        assert!(json["total"].as_u64().unwrap() >= 5);
        let first = &hits[0];
        for field in ["id", "title", "authors", "score", "snippet", "url"] {
            assert!(
                !first[field].is_null(),
                "{mode}: hit lacks {field}: {first}"
            );
        }
        if mode == "lexical" {
            assert!(first["snippet"]["html"]
                .as_str()
                .unwrap()
                .contains("<mark>"));
            assert!(!first["snippet"]["highlights"]
                .as_array()
                .unwrap()
                .is_empty());
        }
    }
    // Pages are slices of one ranking.
    let all = get(&app, "/api/search?q=dense%20retrieval&limit=6")
        .await
        .json();
    let second = get(&app, "/api/search?q=dense%20retrieval&limit=3&offset=3")
        .await
        .json();
    assert_eq!(all["hits"][3]["id"], second["hits"][0]["id"]);
    assert_eq!(all["hits"][5]["id"], second["hits"][2]["id"]);
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_never_crash_the_server() {
    let app = demo();
    let long = "a".repeat(1001);
    let cases = [
        ("/api/search".to_string(), "empty"),
        ("/api/search?q=%20%20".to_string(), "empty"),
        (format!("/api/search?q={long}"), "1001 characters"),
        (
            "/api/search?q=x&mode=fuzzy".to_string(),
            "unknown search mode",
        ),
        ("/api/search?q=x&limit=0".to_string(), "at least 1"),
        ("/api/search?q=x&limit=101".to_string(), "the most is 100"),
        ("/api/search?q=x&limit=ten".to_string(), "bad query string"),
        ("/api/search?q=x&offset=5000".to_string(), "1000 deep"),
        (
            "/api/search?q=x&from=yesterday".to_string(),
            "`from` must be a date",
        ),
        (
            "/api/search?q=x&from=2024-02-01&to=2024-01-01".to_string(),
            "date range is empty",
        ),
        ("/api/search?q=%00%01".to_string(), "control characters"),
        ("/api/trending?window=year".to_string(), "`year`"),
        ("/api/papers?sort=best".to_string(), "unknown sort"),
        (
            "/api/papers?offset=18446744073709551615".to_string(),
            "the most is",
        ),
        (
            "/api/trending?offset=99999999999".to_string(),
            "the most is",
        ),
        (
            "/api/papers/2401.00001/similar?limit=-1".to_string(),
            "bad query string",
        ),
    ];
    for (uri, says) in cases {
        let answer = get(&app, &uri).await;
        let message = answer.assert_error(StatusCode::BAD_REQUEST, "invalid");
        assert!(message.contains(says), "{uri}: {message}");
    }
    for uri in [
        "/api/papers/arxiv:9999.99999",
        "/api/papers/not-an-id",
        "/api/papers/arxiv:9999.99999/similar",
        "/api/nothing-here",
    ] {
        get(&app, uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    let visitor = get(&app, "/api/trending").await.cookie().unwrap();
    let answer = with_cookie(
        &app,
        Method::POST,
        "/api/papers/arxiv:9999.99999/upvote",
        Some(&visitor),
    )
    .await;
    answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    // Wrong method, oversized body.
    let answer = with_cookie(&app, Method::PUT, "/api/search?q=x", None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let big = format!("csrf=x&email={}", "a".repeat(20_000));
    let answer = post_form(&app, "/subscribe", None, &big).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.body
    );
    // HTML pages answer errors as pages.
    let answer = get(&app, "/nowhere").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("<h1>Not found</h1>"),
        "{}",
        answer.body
    );
    let answer = get(&app, "/?window=year").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // A page far past the end is a page saying so, with the way back (not an error).
    let answer = get(&app, "/new?page=18446744073709551615").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.contains("past the last page"),
        "{}",
        answer.body
    );
    let answer = get(&app, &format!("/search?q={long}")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("1001 characters"),
        "the search page explains the error"
    );
}

#[tokio::test]
async fn paper_similar_feeds_health_metrics_and_openapi_answer() {
    let app = demo();
    let search = get(&app, "/api/search?q=DeCLUTR&mode=lexical&limit=1")
        .await
        .json();
    let id = search["hits"][0]["id"].as_str().unwrap().to_string();
    let paper = get(&app, &format!("/api/papers/{id}")).await;
    assert_eq!(paper.status, StatusCode::OK);
    let paper = paper.json();
    assert!(paper["title"].as_str().unwrap().contains("DeCLUTR"));
    assert!(paper["abstract"].as_str().unwrap().len() > 100);
    assert_eq!(paper["votes"], 0);

    let similar = get(&app, &format!("/api/papers/{id}/similar?limit=4"))
        .await
        .json();
    let papers = similar["papers"].as_array().unwrap();
    assert_eq!(papers.len(), 4);
    assert!(
        papers.iter().all(|p| p["id"] != id.as_str()),
        "a paper is not similar to itself"
    );

    for uri in [
        "/api/trending",
        "/api/trending?window=week&limit=3",
        "/api/papers?sort=trending&window=month",
    ] {
        let feed = get(&app, uri).await;
        assert_eq!(feed.status, StatusCode::OK, "{uri}");
        let feed = feed.json();
        assert_eq!(feed["sort"], "trending");
        assert!(
            !feed["papers"].as_array().unwrap().is_empty(),
            "{uri}: never empty"
        );
        assert!(feed["papers"][0]["trending_score"].as_f64().unwrap() > 0.0);
    }
    let new = get(&app, "/api/papers?limit=100&offset=200").await.json();
    assert_eq!(new["sort"], "new");
    assert_eq!(
        new["papers"].as_array().unwrap().len(),
        28,
        "228 demo papers"
    );

    let health = get(&app, "/healthz").await.json();
    assert_eq!(
        (health["status"].as_str(), health["papers"].as_u64()),
        (Some("ok"), Some(228))
    );
    assert_eq!(
        health["model"], "ready",
        "the shared demo engine has encoded its papers"
    );

    let metrics = get(&app, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.body.contains("paperscout_papers 228"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(r#"paperscout_http_requests_total{method="GET",route="/api/papers/{id}/similar",status="200"}"#),
        "{}",
        metrics.body
    );
    assert!(metrics
        .body
        .contains("paperscout_http_request_duration_seconds_bucket"));

    let spec = get(&app, "/api/openapi.json").await.json();
    let mut paths: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/account",
            "/api/account/export",
            "/api/account/signout",
            "/api/account/tokens",
            "/api/account/tokens/{token_id}",
            "/api/collections",
            "/api/collections/{collection_id}",
            "/api/collections/{collection_id}/export.bib",
            "/api/collections/{collection_id}/feed",
            "/api/collections/{collection_id}/import",
            "/api/collections/{collection_id}/papers/{id}",
            "/api/for-you",
            "/api/harvests",
            "/api/papers",
            "/api/papers/{id}",
            "/api/papers/{id}/not-interested",
            "/api/papers/{id}/similar",
            "/api/papers/{id}/upvote",
            "/api/search",
            "/api/signin",
            "/api/subscriptions",
            "/api/trending",
            "/healthz"
        ]
    );
    assert!(spec["paths"]["/api/papers/{id}/upvote"]["delete"].is_object());
    let params: Vec<&str> = spec["paths"]["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        ["q", "mode", "limit", "offset", "from", "to", "category"]
    );

    let css = get(&app, "/static/style.css").await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(
        get(&app, "/static/nothing.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn pages_render_for_people() {
    let app = demo();
    let home = get(&app, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(home.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(
        home.cookie().unwrap().starts_with("paperscout_voter="),
        "a new visitor gets a cookie"
    );
    assert!(home.body.contains("Trending papers"));
    assert_eq!(
        home.body.matches("<li class=\"paper\">").count(),
        20,
        "a page of 20"
    );
    assert!(home.body.contains("rel=\"next\""));
    let week = get(&app, "/?window=week&page=2").await;
    assert!(week.body.contains("rel=\"prev\""));
    assert!(get(&app, "/new").await.body.contains("New papers"));
    let sources = get(&app, "/sources").await;
    assert_eq!(sources.status, StatusCode::OK);
    assert!(
        sources.body.contains("No harvest has run")
            && sources.body.contains("Demo corpus (bundled)"),
        "{}",
        sources.body
    );
    let harvests = get(&app, "/api/harvests").await.json();
    assert_eq!(
        (
            &harvests["scheduled"],
            &harvests["harvests"],
            &harvests["papers"]
        ),
        (
            &serde_json::json!(false),
            &serde_json::json!([]),
            &serde_json::json!(228)
        )
    );
    assert_eq!(harvests["sources"][0]["source"], "demo");
    assert_eq!(harvests["sources"][0]["papers"], 228);

    let results = get(
        &app,
        "/search?q=contrastive+sentence+embeddings&mode=lexical",
    )
    .await;
    assert_eq!(results.status, StatusCode::OK);
    assert!(results.body.contains("results (lexical)"), "a result count");
    assert!(results.body.contains("<mark>"), "highlighted snippets");
    assert!(results.body.contains("<option value=\"lexical\" selected>"));
    let empty = get(&app, "/search").await;
    assert!(empty.body.contains("Words, an author, or an arXiv id"));

    let id = get(&app, "/api/search?q=DeCLUTR&mode=lexical&limit=1")
        .await
        .json()["hits"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let page = get(&app, &id).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Similar papers"));
    assert!(page.body.contains("class=\"vote\""));
    assert_eq!(
        page.body.matches("<li class=\"paper\">").count(),
        6,
        "six similar papers"
    );

    let subscribe = get(&app, "/subscribe").await;
    assert!(subscribe.body.contains("Mail is not set up on this server"));
    assert!(subscribe.body.contains("name=\"timezone\""));
}

#[tokio::test]
async fn everything_a_paper_carries_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(tricky(dir.path()), 0);
    for uri in [
        "/papers/2401.00001",
        "/new",
        "/?window=month",
        "/search?q=retrieval&mode=lexical",
    ] {
        let page = get(&app, uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        assert!(
            !page.body.contains("<script>alert"),
            "{uri}: unescaped title"
        );
        assert!(!page.body.contains("<b>retrieval"), "{uri}");
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"),
            "{uri}"
        );
    }
    let page = get(&app, "/papers/2401.00001").await.body;
    assert!(page.contains("href=\"https://example.org/pdf?a=1&amp;b=2\""));
    assert!(page.contains("href=\"https://github.com/example/repo\""));
    assert!(page.contains("&lt;em&gt;tags&lt;/em&gt;"));
    assert!(page.contains("O'Brien &lt;ob@example.org&gt;"));
    // The same search as a query param with markup is echoed escaped.
    let page = get(&app, "/search?q=%22%3E%3Cscript%3Ex%3C%2Fscript%3E")
        .await
        .body;
    assert!(!page.contains("<script>x"));

    // A DOI id has a slash, percent-encoded in links, and round-trips.
    let doi = get(&app, "/api/papers/doi:10.1145%2F3397271.3401075").await;
    assert_eq!(doi.status, StatusCode::OK, "{}", doi.body);
    let doi = doi.json();
    assert_eq!(doi["url"], "/papers/doi:10.1145%2F3397271.3401075");
    assert_eq!(
        get(&app, "/papers/doi:10.1145%2F3397271.3401075")
            .await
            .status,
        StatusCode::OK
    );
    // Filters.
    let filtered = get(
        &app,
        "/api/search?q=retrieval&mode=lexical&from=2024-01-01&category=cs.ir",
    )
    .await
    .json();
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["hits"][0]["id"], "arxiv:2401.00001");
}

#[tokio::test]
async fn one_vote_per_visitor_rate_limited_and_persistent() {
    let dir = tempfile::tempdir().unwrap();
    let engine = tricky(dir.path());
    let app = app(engine.clone(), 6);
    let uri = "/api/papers/2402.00002/upvote";
    // Without the cookie the site sets, every request would be a new voter: refused.
    let cookieless = with_cookie(&app, Method::POST, uri, None).await;
    cookieless.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let cookie = get(&app, "/api/papers/2402.00002")
        .await
        .cookie()
        .expect("a first visit gets a signed cookie");
    let first = with_cookie(&app, Method::POST, uri, Some(&cookie)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        (
            first.json()["votes"].as_u64(),
            first.json()["voted"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let again = with_cookie(&app, Method::POST, uri, Some(&cookie))
        .await
        .json();
    assert_eq!(again["votes"], 1, "the same visitor votes once");
    // A forged cookie is no cookie: refused, and replaced by a signed one, which may vote.
    let forged = format!("paperscout_voter={}", "0".repeat(32));
    let refused = with_cookie(&app, Method::POST, uri, Some(&forged)).await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let replaced = refused.cookie().expect("the forged cookie is replaced");
    let other = with_cookie(&app, Method::POST, uri, Some(&replaced)).await;
    assert_eq!(other.json()["votes"], 2);
    let paper = with_cookie(&app, Method::GET, "/api/papers/2402.00002", Some(&cookie))
        .await
        .json();
    assert_eq!(
        (paper["votes"].as_u64(), paper["voted"].as_bool()),
        (Some(2), Some(true))
    );

    // The voted paper leads trending.
    let trending = get(&app, "/api/trending").await.json();
    assert_eq!(trending["papers"][0]["id"], "arxiv:2402.00002");
    assert_eq!(trending["papers"][0]["votes"], 2);

    // A browser voting on behalf of another site is refused (before it counts against the
    // rate limit); the site's own pages pass (unit-tested in api.rs).
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://elsewhere.example"),
    ] {
        let request = Request::post(uri)
            .header(header::HOST, "papers.example")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        send(&app, request)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }

    let back = with_cookie(&app, Method::DELETE, uri, Some(&cookie))
        .await
        .json();
    assert_eq!(
        (back["votes"].as_u64(), back["voted"].as_bool()),
        (Some(1), Some(false))
    );
    with_cookie(&app, Method::POST, uri, Some(&cookie)).await;

    // 6 a minute, in bursts of at most 5: the sixth vote request in a row is refused.
    let limited = with_cookie(&app, Method::POST, uri, Some(&cookie)).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));

    // Restart: papers and votes are still there.
    drop(app);
    drop(engine);
    let engine = open_engine(dir.path(), false);
    let app = self::app(engine, 6);
    let paper = with_cookie(&app, Method::GET, "/api/papers/2402.00002", Some(&cookie))
        .await
        .json();
    assert_eq!(
        (paper["votes"].as_u64(), paper["voted"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(get(&app, "/healthz").await.json()["papers"], 3);
}

#[tokio::test]
async fn forms_need_their_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(tricky(dir.path()), 0);
    let page = get(&app, "/new").await;
    let cookie = page.cookie().unwrap();
    let token = csrf(&page.body);
    let uri = "/papers/2402.00002/upvote";

    let no_cookie = post_form(&app, uri, None, &format!("csrf={token}")).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let wrong = post_form(
        &app,
        uri,
        Some(&cookie),
        &format!("csrf={}", "ab".repeat(32)),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("expired"));
    let missing = post_form(&app, uri, Some(&cookie), "").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let votes = get(&app, "/api/papers/2402.00002").await.json()["votes"].as_u64();
    assert_eq!(votes, Some(0), "no vote from a forged form");

    let ok = post_form(&app, uri, Some(&cookie), &format!("csrf={token}")).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers[header::LOCATION], "/papers/arxiv:2402.00002");
    let page = with_cookie(&app, Method::GET, "/papers/2402.00002", Some(&cookie))
        .await
        .body;
    assert!(
        page.contains("aria-pressed=\"true\""),
        "the page shows the vote"
    );
    assert!(page.contains("action=\"/papers/arxiv:2402.00002/unvote\""));
    let ok = post_form(
        &app,
        "/papers/2402.00002/unvote",
        Some(&cookie),
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(get(&app, "/api/papers/2402.00002").await.json()["votes"], 0);

    // The subscribe form: checked; without a mail server, refused plainly.
    let done = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        &format!("csrf={token}&email=ada%40example.org&interests=sparse&hour=8&timezone=UTC"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(done.body.contains("has not configured an SMTP server"));
    let bad = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        &format!("csrf={token}&email=nobody"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not an email address"));
    assert!(
        bad.body.contains("value=\"nobody\""),
        "the form keeps what was typed"
    );
    let forged = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        "csrf=00&email=ada%40example.org",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
