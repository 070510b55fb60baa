//! The real server on loopback, driven by headless Chromium through chromedriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs). Screenshots of every page go to
//! `target/tmp/screenshots/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use paperscout_app::digest::DigestConfig;
use paperscout_app::{Engine, HarvestStatus, SmtpUrl};
use paperscout_mailsink::MailSink;
use paperscout_server::{AppState, Options};
use tokio::sync::oneshot;

use crate::{open_engine, SECRET};

fn find(program: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{program} is not installed: the browser tests need Debian's chromium and chromium-driver \
         (`apt-get install chromium chromium-driver`; .ci/run installs them), or {env} pointing at it"
    );
}

pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start_driver() -> (Driver, String) {
    let port = free_port();
    let child = Command::new(find("chromedriver", "CHROMEDRIVER"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (driver, url)
}

pub(crate) async fn browser(driver: &str, profile: &Path) -> Client {
    let chromium = find("chromium", "CHROMIUM");
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a chromium session")
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

/// The server, sending its mail to `sink`.
pub(crate) async fn start_server(engine: Arc<Engine>, sink: &MailSink) -> Server {
    start_server_mailing(engine, Some(sink)).await
}

/// The server, sending its mail to `sink`, or with mail off (`None`: no SMTP configured).
pub(crate) async fn start_server_mailing(engine: Arc<Engine>, sink: Option<&MailSink>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = Options::new(SECRET.to_vec());
    options.digest = DigestConfig {
        base_url: format!("http://{addr}"),
        from: "paperscout <digest@papers.example.org>".into(),
        smtp: sink.map(|sink| SmtpUrl::new(&sink.url()).unwrap()),
        ..DigestConfig::default()
    };
    let state = AppState::new(engine, &options).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        paperscout_server::serve(state, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server { addr, stop, done }
}

impl Server {
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
}

pub(crate) struct Shots(pub(crate) PathBuf);

impl Shots {
    pub(crate) async fn take(&self, client: &Client, name: &str) {
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
        std::fs::write(self.0.join(format!("{name}.png")), png).unwrap();
    }
}

/// The text of the first element matching `css`, waiting for it to appear. An element found
/// just before the page it was on is replaced (a form's navigation finishing) is stale: it is
/// looked up again on the new page.
pub(crate) async fn text(client: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let element = client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        match element.text().await {
            Ok(text) => return text,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("`{css}`: {e}"),
        }
    }
}

/// The text of `css` once it satisfies `done`: after a click the old page can still be shown
/// for a moment, so a heading read at once may be the previous page's (CI saw exactly that).
pub(crate) async fn text_once(client: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = text(client, css).await;
        if done(&now) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_open_upvote_and_see_it_trend_in_a_real_browser() {
    let shots = Shots(Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots.0).unwrap();
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let engine = open_engine(data.path(), true);
    // Encode the demo first so similar papers are complete (serve would do it in the background).
    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.ensure_embeddings().unwrap())
        .await
        .unwrap();
    let sink = MailSink::start();
    let server = start_server(engine.clone(), &sink).await;
    let (_driver, driver_url) = start_driver().await;
    let client = browser(&driver_url, profile.path()).await;
    let site = format!("http://{}", server.addr);

    // Home: trending, before any vote.
    client.goto(&format!("{site}/")).await.unwrap();
    assert_eq!(text(&client, "h1").await, "Trending papers");
    shots.take(&client, "1-home").await;

    // Search from the header box.
    let query = "contrastive learning of sentence embeddings";
    let search_box = client
        .find(Locator::Css("header form.search input[name=q]"))
        .await
        .unwrap();
    search_box.send_keys(query).await.unwrap();
    search_box.send_keys("\u{E007}").await.unwrap(); // Enter
    let count = text(&client, "p.count").await;
    assert!(count.contains("close matches (hybrid)"), "{count}");
    let titles: Vec<String> = {
        let mut out = Vec::new();
        for a in client
            .find_all(Locator::Css("ol.papers li h2 a"))
            .await
            .unwrap()
        {
            out.push(a.text().await.unwrap());
        }
        out
    };
    let wanted = titles
        .iter()
        .position(|t| t.contains("DeCLUTR"))
        .unwrap_or_else(|| panic!("DeCLUTR among the results: {titles:?}"));
    assert!(wanted < 5, "DeCLUTR near the top: {titles:?}");
    shots.take(&client, "2-search").await;

    // Open it.
    let links = client
        .find_all(Locator::Css("ol.papers li h2 a"))
        .await
        .unwrap();
    links[wanted].click().await.unwrap();
    let title = text(&client, "article h1").await;
    assert!(title.contains("DeCLUTR"), "{title}");
    let similar = client
        .find_all(Locator::Css("section.similar li.paper"))
        .await
        .unwrap();
    assert_eq!(similar.len(), 6, "similar papers");
    assert_eq!(text(&client, "article form.vote .count").await, "0");
    shots.take(&client, "3-paper").await;
    let paper_url = client.current_url().await.unwrap();

    // Upvote (the script calls the API; the count updates in place).
    client
        .find(Locator::Css("article form.vote button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while text(&client, "article form.vote .count").await != "1" {
        assert!(Instant::now() < deadline, "the count never became 1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shots.take(&client, "4-upvoted").await;

    // It now leads trending.
    client.goto(&format!("{site}/")).await.unwrap();
    let top = text(&client, "ol.papers li.paper h2 a").await;
    assert!(top.contains("DeCLUTR"), "top of trending: {top}");
    let pressed = client
        .find(Locator::Css("ol.papers li.paper form.vote button"))
        .await
        .unwrap()
        .attr("aria-pressed")
        .await
        .unwrap();
    assert_eq!(pressed.as_deref(), Some("true"));
    shots.take(&client, "5-trending").await;

    // On a phone.
    client.set_window_size(390, 844).await.unwrap();
    client.refresh().await.unwrap();
    text(&client, "ol.papers").await;
    shots.take(&client, "6-home-phone").await;
    client.goto(paper_url.as_str()).await.unwrap();
    text(&client, "article h1").await;
    shots.take(&client, "7-paper-phone").await;
    client.set_window_size(1280, 900).await.unwrap();
    client.goto(&format!("{site}/subscribe")).await.unwrap();
    text(&client, "form.subscribe").await;
    shots.take(&client, "8-subscribe").await;

    // Subscribe to the digest; the scheduler mails the confirmation at once.
    let field = |css: &'static str| client.find(Locator::Css(css));
    field("form.subscribe input[name=email]")
        .await
        .unwrap()
        .send_keys("ada@example.org")
        .await
        .unwrap();
    field("form.subscribe textarea[name=interests]")
        .await
        .unwrap()
        .send_keys("contrastive sentence embeddings, dense retrieval")
        .await
        .unwrap();
    let tz = field("form.subscribe input[name=timezone]").await.unwrap();
    tz.clear().await.unwrap();
    tz.send_keys("Europe/Paris").await.unwrap();
    field("form.subscribe button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        text_once(&client, "h1", |h| h == "Check your inbox").await,
        "Check your inbox"
    );
    shots.take(&client, "8b-check-inbox").await;
    let s = sink.clone();
    assert!(
        tokio::task::spawn_blocking(move || s.wait_for(1, Duration::from_secs(20)))
            .await
            .unwrap(),
        "the confirmation mail arrives without waiting for the minute tick"
    );
    let mail = sink.messages()[0].text();
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/subscribe/confirm?t="))
        .unwrap_or_else(|| panic!("a confirmation link in {mail}"))
        .to_string();
    assert!(link.starts_with(&site), "{link}");
    client.goto(&link).await.unwrap();
    field("main form button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        text_once(&client, "h1", |h| h == "You are subscribed").await,
        "You are subscribed"
    );
    shots.take(&client, "8c-subscribed").await;
    // The preview of the first digest: the trending paper, and papers matching the interests.
    client
        .find(Locator::LinkText("Preview your next digest"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = text_once(&client, "h1", |h| h.starts_with("Your papers for")).await;
    assert!(heading.starts_with("Your papers for"), "{heading}");
    let page = client.source().await.unwrap();
    assert!(
        page.contains("DeCLUTR") && page.contains("trending · 1 upvote"),
        "the upvoted paper trends"
    );
    assert!(
        page.contains("matches: contrastive sentence embeddings"),
        "matches with reasons"
    );
    shots.take(&client, "8d-digest-preview").await;
    client.set_window_size(390, 844).await.unwrap();
    client.refresh().await.unwrap();
    text(&client, "h1").await;
    shots.take(&client, "8e-digest-preview-phone").await;
    client.set_window_size(1280, 900).await.unwrap();

    // Restart the server on the same data: the vote is still there, and still this visitor's.
    server.stop().await;
    drop(engine);
    let engine = open_engine(data.path(), true);
    let server_engine = engine.clone();
    let server = start_server(engine, &sink).await;
    let moved = paper_url
        .as_str()
        .replace(&site, &format!("http://{}", server.addr));
    client.goto(&moved).await.unwrap();
    assert_eq!(text(&client, "article form.vote .count").await, "1");
    let pressed = client
        .find(Locator::Css("article form.vote button"))
        .await
        .unwrap()
        .attr("aria-pressed")
        .await
        .unwrap();
    assert_eq!(pressed.as_deref(), Some("true"));
    shots.take(&client, "9-after-restart").await;

    // Sources: two harvests as the scheduler records them, one with nothing new.
    let store = server_engine.store();
    let now = chrono::Utc::now().timestamp();
    let run = store
        .start_harvest("arxiv:cs", now - 3600)
        .unwrap()
        .unwrap();
    store
        .finish_harvest(run, HarvestStatus::Ok, None, now - 3500)
        .unwrap();
    let run = store.start_harvest("hf-daily", now - 60).unwrap().unwrap();
    let why = "Hugging Face lists no daily papers for 2026-11-29 (a weekend: few papers are submitted then)";
    store
        .finish_harvest(run, HarvestStatus::Empty, Some(why), now)
        .unwrap();
    client
        .goto(&format!("http://{}/sources", server.addr))
        .await
        .unwrap();
    let table = text(&client, "table.harvests").await;
    assert!(
        table.contains("arXiv cs") && table.contains("Hugging Face daily papers"),
        "{table}"
    );
    assert!(table.contains("a weekend"), "{table}");
    shots.take(&client, "10-sources").await;

    client.close().await.unwrap();
    server.stop().await;
    eprintln!("screenshots in {}", shots.0.display());
}
