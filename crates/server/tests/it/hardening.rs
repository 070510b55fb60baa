//! What a hostile or unlucky client must not be able to do (issue 13): crash the process with
//! one query, grow the metrics without bound, hold connections open, make a vote fail because
//! another process writes, make a request do an ingest's work, or starve others of the encoder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use paperscout_app::Engine;
use paperscout_server::{AppState, ConnectionLimits, EncoderLimits, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{demo, get, open_engine, send, tricky, with_cookie, SECRET};

/// Queries built to break parsers: nesting, unbalanced brackets and quotes, operators, field
/// syntax, up to the length limit (1,000 characters) and far past it.
fn hostile_queries() -> Vec<String> {
    let mut out = Vec::new();
    for unit in [
        "(", ")", "[", "{", "\"", "+", "-", "title:(", "NOT (", "a AND (", "\\", "*", "^", "~",
        "title:*", ":", "((\"", "[a TO", "%",
    ] {
        for len in [10, 200, 999, 5_000] {
            let mut q = String::new();
            while q.chars().count() + unit.chars().count() <= len {
                q.push_str(unit);
            }
            q.push('x');
            out.push(q);
        }
    }
    out.push("title:*".into());
    out.push("key:1".into());
    out.push("author:".into());
    out
}

fn encode(q: &str) -> String {
    percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn hostile_queries_in_every_mode_and_on_the_page_never_take_the_server_down() {
    let app = demo();
    for q in hostile_queries() {
        let long = q.chars().count() > 1000;
        for mode in ["lexical", "hybrid", "semantic"] {
            let answer = get(&app, &format!("/api/search?q={}&mode={mode}", encode(&q))).await;
            let expected = if long {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            assert_eq!(answer.status, expected, "{mode} {q:.40}: {}", answer.body);
            answer.json();
        }
        let page = get(&app, &format!("/search?q={}&mode=lexical", encode(&q))).await;
        assert!(
            page.status == StatusCode::OK || (long && page.status == StatusCode::BAD_REQUEST),
            "{q:.40}: {}",
            page.status
        );
        assert!(
            page.body.contains("<html"),
            "the search page answers a page"
        );
    }
    let after = get(&app, "/api/search?q=dense%20retrieval&mode=lexical").await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(!after.json()["hits"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = demo();
    for i in 0..300 {
        let method = Method::from_bytes(format!("M{i}{}", "X".repeat(2000)).as_bytes()).unwrap();
        let request = Request::builder()
            .method(method)
            .uri("/api/search?q=x")
            .body(Body::empty())
            .unwrap();
        let answer = send(&app, request).await;
        assert!(answer.status.is_client_error(), "{}", answer.status);
    }
    let metrics = get(&app, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.body.contains("method=\"other\""),
        "{}",
        metrics.body
    );
    assert!(!metrics.body.contains("XXXX"));
    assert!(metrics.body.len() < 200_000, "{} bytes", metrics.body.len());
}

#[tokio::test]
async fn errors_from_middleware_have_the_routes_body_and_headers() {
    let app = demo();
    // 405 under /api: JSON, with Allow and the security headers.
    let answer = with_cookie(&app, Method::PUT, "/api/search?q=x", None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.json()["kind"], "invalid");
    assert!(answer.headers.contains_key(header::ALLOW));
    for h in [
        header::CONTENT_SECURITY_POLICY,
        header::X_CONTENT_TYPE_OPTIONS,
    ] {
        assert!(answer.headers.contains_key(&h), "405 lacks {h}");
    }
    // 405 on a page: a page.
    let answer = with_cookie(&app, Method::DELETE, "/new", None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.body.contains("<html"), "{}", answer.body);
    // 413 from the body limit: JSON under /api, with the security headers.
    let big = "x".repeat(40_000);
    let request = Request::post("/api/subscriptions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["kind"], "too_large");
    assert!(answer.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    // A malformed query string on a page is a page, not JSON.
    for uri in ["/?page=-1", "/new?page=x", "/search?q=x&page=-3"] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(answer.body.contains("<html"), "{uri}: {}", answer.body);
        assert!(answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}

#[tokio::test]
async fn cookies_are_issued_on_first_visit_and_private_pages_are_not_cached() {
    let app = demo();
    let first = get(&app, "/api/trending").await;
    assert!(
        first.cookie().is_some(),
        "an API answer sets the voter cookie"
    );
    assert_eq!(first.headers[header::CACHE_CONTROL], "no-store");
    let cookie = first.cookie().unwrap();
    let again = with_cookie(&app, Method::GET, "/api/trending", Some(&cookie)).await;
    assert!(
        again.cookie().is_none(),
        "a returning visitor keeps its cookie"
    );
    assert_eq!(again.headers[header::CACHE_CONTROL], "private, no-cache");
    let manage = with_cookie(&app, Method::GET, "/subscription?t=x", Some(&cookie)).await;
    assert_eq!(manage.headers[header::CACHE_CONTROL], "no-store");
    // A page with forms holds this visitor's CSRF token: no shared cache may keep it.
    let id = first.json()["papers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = with_cookie(
        &app,
        Method::GET,
        &format!("/papers/{}", encode(&id)),
        Some(&cookie),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("csrf"), "the page has a form");
    assert_eq!(page.headers[header::CACHE_CONTROL], "private, no-cache");
    let css = get(&app, "/static/style.css").await;
    assert!(css.cookie().is_none(), "static files are no visit");
    assert_ne!(
        css.headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_vote_waits_briefly_for_another_process_then_answers_busy() {
    let dir = tempfile::tempdir().unwrap();
    let engine = tricky(dir.path());
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    let wait = Duration::from_millis(1500);
    options.write_wait = wait;
    let app = paperscout_server::router(AppState::new(engine, &options).unwrap());
    let cookie = get(&app, "/api/papers/2402.00002").await.cookie().unwrap();
    // Another process (another engine on the same data dir) holds the store's write lock.
    let other = open_engine(dir.path(), false);
    let (held, release) = (
        Arc::new(std::sync::Barrier::new(2)),
        Arc::new(std::sync::Barrier::new(2)),
    );
    let writer = {
        let (held, release) = (held.clone(), release.clone());
        std::thread::spawn(move || {
            other
                .store()
                .write(|_| {
                    held.wait();
                    release.wait();
                    Ok::<_, paperscout_app::Error>(())
                })
                .unwrap();
        })
    };
    tokio::task::spawn_blocking({
        let held = held.clone();
        move || held.wait()
    })
    .await
    .unwrap();
    let uri = "/api/papers/2402.00002/upvote";
    let started = Instant::now();
    let vote = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { with_cookie(&app, Method::POST, uri, Some(&cookie)).await }
    });
    // While the vote waits for the write lock, reads go on: pages never queue behind it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = get(&app, "/api/papers/2402.00002").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let trending = get(&app, "/api/trending").await;
    assert_eq!(trending.status, StatusCode::OK, "{}", trending.body);
    assert!(
        !vote.is_finished(),
        "the reads answered while the vote was still waiting"
    );
    let busy = vote.await.unwrap();
    busy.assert_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert!(busy.headers.contains_key(header::RETRY_AFTER));
    assert!(
        started.elapsed() >= wait,
        "the vote waited for the lock before giving up ({:?})",
        started.elapsed()
    );
    tokio::task::spawn_blocking(move || release.wait())
        .await
        .unwrap();
    writer.join().unwrap();
    let ok = with_cookie(&app, Method::POST, uri, Some(&cookie)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn under_a_server_no_request_encodes_or_loads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = tricky(dir.path());
    // What `serve` does: requests leave encoding to the upkeep thread (not started here).
    engine.set_background(true);
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    let app = paperscout_server::router(AppState::new(engine.clone(), &options).unwrap());
    for mode in ["hybrid", "semantic"] {
        let answer = get(&app, &format!("/api/search?q=retrieval&mode={mode}")).await;
        answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert!(answer.headers.contains_key(header::RETRY_AFTER));
    }
    // Keyword search serves what is indexed.
    let lexical = get(&app, "/api/search?q=retrieval&mode=lexical").await;
    assert_eq!(lexical.status, StatusCode::OK);
    // Nothing was encoded by those requests; the upkeep round does it.
    assert_eq!(engine.status().unwrap().model.as_str(), "not_loaded");
    assert_eq!(engine.upkeep().unwrap(), 3);
    let hybrid = get(&app, "/api/search?q=retrieval&mode=hybrid").await;
    assert_eq!(hybrid.status, StatusCode::OK, "{}", hybrid.body);
}

fn from(ip: [u8; 4], uri: &str) -> Request<Body> {
    let mut request = Request::get(uri).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    request
}

#[tokio::test]
async fn long_encoder_queries_spend_one_address_allowance_not_everyones() {
    static ENGINE: std::sync::OnceLock<Arc<Engine>> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let engine = open_engine(&dir, true);
        engine.ensure_embeddings().unwrap();
        engine
    });
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    options.encoder = EncoderLimits {
        queue: 8,
        per_ip: 2,
        units_per_minute: 60,
    };
    let app = paperscout_server::router(AppState::new(engine.clone(), &options).unwrap());
    let long = encode(&"contrastive sentence embeddings ".repeat(31));
    // 60 units a minute in bursts of 20: two 1,000-character queries (10 units each) pass,
    // the third waits.
    let uri = format!("/api/search?q={long}&mode=hybrid");
    for _ in 0..2 {
        let answer = send(&app, from([127, 0, 0, 2], &uri)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let limited = send(&app, from([127, 0, 0, 2], &uri)).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Keyword search costs the encoder nothing; other addresses are unaffected.
    let lexical = send(
        &app,
        from(
            [127, 0, 0, 2],
            &format!("/api/search?q={long}&mode=lexical"),
        ),
    )
    .await;
    assert_eq!(lexical.status, StatusCode::OK);
    let other = send(
        &app,
        from([127, 0, 0, 3], "/api/search?q=sentence%20embeddings"),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
}

/// A real server on a loopback port with small connection limits, and its shutdown trigger.
async fn real_server(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap().keep();
    let engine = tricky(&dir);
    let mut options = Options::new(SECRET.to_vec());
    options.reads_per_minute = 0;
    options.connections = limits;
    let state = AppState::new(engine, &options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paperscout_server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Whether the server closed `stream` within `within` (reads until EOF or an error).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Opens `n` connections (kept open: returned), then asserts one more is closed at once.
async fn fill_then_refused(addr: SocketAddr, n: usize, what: &str) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(1)).await,
        "{what}"
    );
    held
}

async fn fetch(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    out
}

#[tokio::test]
async fn slow_idle_and_too_many_connections_are_cut_off() {
    // The idle timeout is the shorter here, so that it, not hyper's header deadline (which
    // also runs while a keep-alive connection waits for its next request), closes the idle one.
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(1),
        max_connections: 64,
        max_per_ip: 4,
        drain_timeout: Duration::from_secs(2),
    };
    let (addr, stop) = real_server(limits).await;
    assert!(fetch(addr, "/healthz").await.starts_with("HTTP/1.1 200"));

    // Slowloris: a request head dribbled a header at a time never completes.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let dribble = async {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    dribble.await;
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "slow headers were cut off"
    );

    // An idle keep-alive connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_millis(2500)).await,
        "idle connection closed after the idle timeout, before the header deadline"
    );

    // Per address: 4 connections; a fifth is closed at once.
    let held = fill_then_refused(addr, 4, "over the per-IP cap").await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // And the server still answers.
    assert!(fetch(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
}

#[tokio::test]
async fn connections_beyond_the_total_cap_are_closed() {
    let limits = ConnectionLimits {
        max_connections: 3,
        ..ConnectionLimits::default()
    };
    let (addr, stop) = real_server(limits).await;
    let mut held = fill_then_refused(addr, 3, "over the total cap").await;
    // One given back makes room again.
    held.pop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fetch(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
}

#[tokio::test]
async fn hostile_queries_over_a_real_socket_leave_the_server_answering() {
    let (addr, stop) = real_server(ConnectionLimits::default()).await;
    for q in hostile_queries().into_iter().filter(|q| q.len() <= 1000) {
        let answer = fetch(addr, &format!("/api/search?mode=lexical&q={}", encode(&q))).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{q:.40}: {answer:.200}");
    }
    let deep = encode(&"(".repeat(5000));
    let answer = fetch(addr, &format!("/search?mode=lexical&q={deep}")).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:.200}");
    assert!(fetch(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
}
