//! A reader's library in a real browser: sign in through the link mailed to a real SMTP sink,
//! save two papers, mark one "not interested", see "For you" with its reasons, import a BibTeX
//! file, and subscribe to the collection's private feed.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use paperscout_mailsink::MailSink;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::{browser, start_driver, start_server, text, text_once, Shots};
use crate::open_engine;

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("`{css}`: {e}"));
}

/// The `n`-th (from 0) card's buttons' labels, once they read `done`.
async fn card_buttons(client: &Client, n: usize, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cards = client
            .find_all(Locator::Css("ol.papers li.paper div.shelf"))
            .await
            .unwrap();
        if let Some(card) = cards.get(n) {
            if let Ok(t) = card.text().await {
                if done(&t) || Instant::now() >= deadline {
                    return t;
                }
            }
        }
        assert!(Instant::now() < deadline, "no card {n} with its buttons");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain HTTP GET of `url` on loopback (a feed reader's request): status line and body.
async fn fetch(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_save_dismiss_for_you_import_and_feed_in_a_real_browser() {
    let shots = Shots(Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots.0).unwrap();
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let engine = open_engine(data.path(), true);
    let e = engine.clone();
    let newest = tokio::task::spawn_blocking(move || {
        e.ensure_embeddings().unwrap();
        e.newest(0, 40).unwrap()
    })
    .await
    .unwrap();
    let sink = MailSink::start();
    let server = start_server(engine.clone(), &sink).await;
    let (_driver, driver_url) = start_driver().await;
    let client = browser(&driver_url, profile.path()).await;
    let site = format!("http://{}", server.addr);

    // Sign in: the address, the mail, the link's button.
    client.goto(&format!("{site}/library")).await.unwrap();
    click(&client, "main a[href='/signin']").await;
    client
        .wait()
        .for_element(Locator::Css("form.signin input[name=email]"))
        .await
        .unwrap()
        .send_keys("reader@example.org")
        .await
        .unwrap();
    click(&client, "form.signin button[type=submit]").await;
    assert_eq!(
        text_once(&client, "h1", |h| h == "Check your inbox").await,
        "Check your inbox"
    );
    let s = sink.clone();
    assert!(
        tokio::task::spawn_blocking(move || s.wait_for(1, Duration::from_secs(20)))
            .await
            .unwrap(),
        "the sign-in mail arrives"
    );
    let mail = sink.messages()[0].text();
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/signin/confirm?t="))
        .unwrap_or_else(|| panic!("a sign-in link in {mail}"))
        .to_string();
    assert!(link.starts_with(&site), "{link}");
    client.goto(&link).await.unwrap();
    shots.take(&client, "l1-signin-confirm").await;
    click(&client, "main form button[type=submit]").await;
    let welcome = text_once(&client, "p.result", |t| t.contains("Welcome")).await;
    assert!(welcome.contains("Welcome"), "{welcome}");
    shots.take(&client, "l2-library").await;

    // Save the two newest papers from the New list, and mark the third "not interested".
    client.goto(&format!("{site}/new")).await.unwrap();
    for n in 0..2 {
        let before = card_buttons(&client, n, |t| t.contains("Save")).await;
        assert!(before.contains("☆ Save"), "{before}");
        let forms = client
            .find_all(Locator::Css("ol.papers li.paper div.shelf button.save"))
            .await
            .unwrap();
        forms[n].click().await.unwrap();
        let after = card_buttons(&client, n, |t| t.contains("★ Saved")).await;
        assert!(after.contains("★ Saved"), "card {n}: {after}");
    }
    let dismiss = client
        .find_all(Locator::Css("ol.papers li.paper div.shelf button.dismiss"))
        .await
        .unwrap();
    dismiss[2].click().await.unwrap();
    let marked = card_buttons(&client, 2, |t| t.contains("undo")).await;
    assert!(marked.contains("Not interested ✓"), "{marked}");
    shots.take(&client, "l3-saved-and-dismissed").await;

    // For you: a cold start from the two, each card saying why.
    client.goto(&format!("{site}/for-you")).await.unwrap();
    let method = text(&client, "p.method").await;
    assert!(method.contains("similarity to the 2 papers"), "{method}");
    let why = text(&client, "ol.papers li.paper p.why").await;
    assert!(why.starts_with("Near your"), "{why}");
    let shown: Vec<String> = {
        let mut out = Vec::new();
        for a in client
            .find_all(Locator::Css("ol.papers li.paper h2 a"))
            .await
            .unwrap()
        {
            out.push(a.text().await.unwrap());
        }
        out
    };
    for p in &newest[..3] {
        assert!(
            !shown.contains(&p.paper.title),
            "saved and dismissed papers are not recommended: {}",
            p.paper.title
        );
    }
    shots.take(&client, "l4-for-you").await;

    // Import a BibTeX file into Saved: one entry matches a paper here by title, one does not.
    let bib = data.path().join("mine.bib");
    std::fs::write(
        &bib,
        format!(
            "@article{{known,\n  title = {{{}}},\n  year = {{2020}}\n}}\n\n@misc{{elsewhere,\n  title = {{A Paper This Corpus Does Not Hold}}\n}}\n",
            newest[5].paper.title
        ),
    )
    .unwrap();
    client.goto(&format!("{site}/library")).await.unwrap();
    click(&client, "ul.collections li a").await;
    text_once(&client, "h1", |h| h == "Saved").await;
    client
        .find(Locator::Css("section.import input[type=file]"))
        .await
        .unwrap()
        .send_keys(bib.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "section.import button[type=submit]").await;
    let report = text(&client, "section.import-report p.result").await;
    assert!(
        report.contains("2 entries read (BibTeX): 1 matched (1 new to this collection), 1 not in this corpus, 0 could not be read"),
        "{report}"
    );
    let missing = text(&client, "table.unmatched td").await;
    assert_eq!(missing, "elsewhere");
    shots.take(&client, "l5-import").await;

    // Subscribe to the collection's private feed, as a feed reader would.
    click(&client, "section.delivery form.feed button").await;
    let url = text(&client, "code.secret").await;
    assert!(url.starts_with(&format!("{site}/feeds/")), "{url}");
    shots.take(&client, "l6-feed").await;
    let (status, body) = fetch(&url).await;
    assert!(status.contains("200"), "{status}");
    let feed = feed_rs::parser::parse(body.as_bytes()).expect("an Atom feed");
    assert!(!feed.entries.is_empty(), "the feed lists recommendations");

    server.stop().await;
}
