//! What a reader of Hugging Face Papers or arxiv-sanity expects (issue 18): real papers before
//! the demo, honest result counts, authors and ids, daily pages, feeds, cards, edge states, and
//! the subscription page without mail — over HTTP, and in headless Chromium.

use std::path::Path;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use fantoccini::Locator;
use paperscout_app::{Engine, IngestOptions, Input};

use crate::browser::{browser, start_driver, start_server_mailing, text, text_once, Shots};
use crate::{app, get, open_engine, post_form, send, Answer};

/// The Hugging Face daily papers file of the ingest tests (30 real papers of June 2026, one
/// with 118 upvotes).
fn hf_daily() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/data/fixtures/hf-daily-papers/hf_daily_papers.json")
}

/// The demo corpus plus the Hugging Face file, everything encoded.
fn demo_and_real(dir: &Path) -> Arc<Engine> {
    let engine = open_engine(dir, true);
    engine
        .ingest(
            &[Input::resolve(&hf_daily(), None).unwrap()],
            IngestOptions {
                encode: true,
                ..Default::default()
            },
        )
        .unwrap();
    engine.ensure_embeddings().unwrap();
    engine
}

/// Parses an Atom answer with `feed-rs`, as a feed reader would, and checks what readers rely
/// on: the content type, the feed's id, title and `updated`, and each entry's stable id, link
/// and `updated`.
pub(super) fn feed(answer: &Answer) -> feed_rs::model::Feed {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    let f = feed_rs::parser::parse(answer.body.as_bytes())
        .unwrap_or_else(|e| panic!("not a feed ({e}): {}", answer.body));
    assert_eq!(f.feed_type, feed_rs::model::FeedType::Atom);
    assert!(f.id.starts_with("http://127.0.0.1:7878/"), "{}", f.id);
    assert!(f.title.is_some() && f.updated.is_some());
    assert!(f.links.iter().any(|l| l.rel.as_deref() == Some("self")));
    for e in &f.entries {
        assert!(
            e.id.starts_with("http://127.0.0.1:7878/papers/"),
            "{}",
            e.id
        );
        assert!(e.updated.is_some() && e.title.is_some());
        assert_eq!(e.links[0].href, e.id);
    }
    f
}

fn entry_titles(f: &feed_rs::model::Feed) -> Vec<String> {
    f.entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_daily_pages_authors_and_ids_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let engine = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || demo_and_real(&dir)
    })
    .await
    .unwrap();
    let app = app(engine.clone(), 0);

    // Real papers first in Trending and New, and in their feeds.
    let trending = feed(&get(&app, "/trending.atom?window=week").await);
    assert_eq!(trending.entries.len(), 50);
    let first = &trending.entries[0];
    assert!(
        !first.id.contains("/papers/title:"),
        "a real paper first: {}",
        first.id
    );
    let new = feed(&get(&app, "/new.atom").await);
    assert!(new.entries[..30]
        .iter()
        .all(|e| e.id.contains("/papers/arxiv:")));
    assert!(
        !new.entries[30].id.contains("/papers/arxiv:"),
        "then the demo"
    );
    // The same ids on a second fetch: readers dedupe on them.
    let again = feed(&get(&app, "/new.atom").await);
    assert_eq!(
        new.entries.iter().map(|e| &e.id).collect::<Vec<_>>(),
        again.entries.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    assert!(get(&app, "/?window=week").await.body.contains(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"paperscout: trending papers\" href=\"/trending.atom?window=week\">"
    ));

    // A day: its papers by votes, previous and next, the JSON API and the feed agree.
    let top = engine
        .newest(0, 30)
        .unwrap()
        .into_iter()
        .max_by_key(|i| i.votes)
        .unwrap();
    assert_eq!(top.votes, 118);
    let day = top.paper.published.unwrap();
    let page = get(&app, &format!("/papers/date/{day}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let first_card = page.body.find("<li class=\"paper\">").unwrap();
    assert!(page.body[first_card..].contains(&top.paper.title.replace('&', "&amp;")));
    assert!(page.body.contains(&format!(
        "href=\"/papers/date/{}\"",
        day.pred_opt().unwrap()
    )));
    assert!(page.body.contains(&format!("/papers/date/{day}.atom")));
    let api = get(&app, &format!("/api/papers?date={day}&limit=100"))
        .await
        .json();
    assert_eq!(api["sort"], "votes");
    assert_eq!(api["papers"][0]["id"], top.paper.id.as_str());
    assert_eq!(api["papers"][0]["votes"], 118);
    let n = api["total"].as_u64().unwrap() as usize;
    assert_eq!(api["papers"].as_array().unwrap().len(), n);
    let f = feed(&get(&app, &format!("/papers/date/{day}.atom")).await);
    assert_eq!(f.entries.len(), n);
    assert_eq!(
        f.entries[0].id,
        format!("http://127.0.0.1:7878/papers/{}", top.paper.id)
    );
    assert_eq!(
        entry_titles(&f)[0],
        paperscout_app::math_to_unicode(&top.paper.title)
    );
    let week = get(&app, "/api/papers?date=2026-W24").await.json();
    let month = get(&app, "/api/papers?date=2026-06").await.json();
    assert!(week["total"].as_u64().unwrap() >= n as u64);
    assert_eq!(
        month["total"].as_u64().unwrap(),
        29,
        "June 2026: all but one"
    );
    for path in [
        "/papers/week/2026-W24",
        "/papers/month/2026-06",
        "/papers/week/2026-W24.atom",
        "/papers/month/2026-06.atom",
    ] {
        assert_eq!(get(&app, path).await.status, StatusCode::OK, "{path}");
    }
    feed(&get(&app, "/papers/month/2026-06.atom").await);
    // Empty days say why, and where the nearest papers are.
    let sunday = get(&app, "/papers/date/2026-06-14").await;
    assert!(sunday.body.contains("a weekend"), "{}", sunday.body);
    assert!(sunday.body.contains("Nearest days with papers"));
    let future = get(&app, "/papers/date/2999-01-01").await;
    assert!(future.body.contains("has not come yet"));
    assert_eq!(
        get(&app, "/papers/date/2026-13-01").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/papers/date/2026-W24").await.status,
        StatusCode::BAD_REQUEST
    );
    get(&app, "/api/papers?date=yesterday")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid");
    get(&app, "/api/papers?date=2026-06&sort=new")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid");
    let latest = get(&app, "/papers").await;
    assert_eq!(latest.status, StatusCode::SEE_OTHER);
    assert_eq!(latest.headers[header::LOCATION], "/papers/date/2026-06-11");

    // Authors: a link on every card, a page, a feed, and a name in the search box.
    let author = &top.paper.authors[0];
    let path = format!(
        "/authors/{}",
        percent_encoding::utf8_percent_encode(author, percent_encoding::NON_ALPHANUMERIC)
    );
    assert!(
        page.body.contains(&format!("href=\"{path}\"")),
        "author links on cards"
    );
    let author_page = get(&app, &path).await;
    assert_eq!(author_page.status, StatusCode::OK);
    assert!(author_page.body.contains(&format!("<h1>{author}</h1>")));
    let af = feed(&get(&app, &format!("{path}.atom")).await);
    assert_eq!(
        af.entries[0]
            .authors
            .iter()
            .filter(|a| a.name.as_deref() == Some(author.as_str()))
            .count(),
        1
    );
    assert_eq!(
        get(&app, "/authors/Nobody%20At%20All").await.status,
        StatusCode::NOT_FOUND
    );
    let by_name = get(
        &app,
        &format!("/api/search?mode=lexical&q={}", author.replace(' ', "+")),
    )
    .await
    .json();
    assert_eq!(
        by_name["hits"][0]["id"],
        top.paper.id.as_str(),
        "a name finds its author's papers first"
    );

    // Pasted ids and URLs go to the paper; an unknown one says so and links to arXiv.
    let arxiv = top.paper.id.value();
    for q in [
        arxiv.to_string(),
        format!("https://arxiv.org/abs/{arxiv}v2"),
        format!("https://huggingface.co/papers/{arxiv}"),
    ] {
        let answer = get(
            &app,
            &format!(
                "/search?q={}",
                percent_encoding::utf8_percent_encode(&q, percent_encoding::NON_ALPHANUMERIC)
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{q}");
        assert_eq!(
            answer.headers[header::LOCATION],
            format!("/papers/arxiv:{arxiv}")
        );
    }
    let missing = get(&app, "/search?q=2101.99999").await;
    assert!(missing
        .body
        .contains("arXiv:2101.99999 is not in this corpus"));
    assert!(missing.body.contains("https://arxiv.org/abs/2101.99999"));

    // Search feeds, and the relevance floor on the page and the API.
    let sf = feed(&get(&app, "/search.atom?q=memory+for+LLM+agents&mode=hybrid").await);
    assert!(!sf.entries.is_empty());
    assert!(
        feed(&get(&app, "/search.atom?q=qxzvw+blorptang&mode=semantic").await)
            .entries
            .is_empty()
    );
    let nonsense = get(&app, "/search?q=qxzvw+blorptang+fnord&mode=semantic").await;
    assert!(
        nonsense.body.contains("0 close matches (semantic)"),
        "{}",
        nonsense.body
    );
    assert!(nonsense.body.contains("No close matches for"));
    assert_eq!(
        get(&app, "/api/search?q=qxzvw+blorptang&mode=hybrid")
            .await
            .json()["total"],
        0
    );

    // Cards: votes, categories, PDF chips, real ids only; math as Unicode; cite.
    let hits = get(&app, "/search?q=memory+evolution+agents").await;
    assert!(hits.body.contains("class=\"chip votes\""));
    assert!(hits.body.contains(">arXiv:"));
    let demo = get(&app, "/new?page=3").await;
    assert!(
        demo.body.contains("<li class=\"paper\">") && !demo.body.contains(">title:"),
        "no synthetic ids on cards"
    );
    let bib = get(&app, &format!("/papers/arxiv:{arxiv}.bib")).await;
    assert_eq!(bib.status, StatusCode::OK);
    assert!(bib.body.starts_with("@misc{") && bib.body.contains(&format!("eprint = {{{arxiv}}}")));
    let paper = get(&app, &format!("/papers/arxiv:{arxiv}")).await;
    assert!(paper.body.contains("<meta name=\"description\""));
    assert!(paper
        .body
        .contains("<meta property=\"og:type\" content=\"article\">"));
    assert!(paper.body.contains("<summary>Cite</summary>"));
    let icon = get(&app, "/favicon.ico").await;
    assert_eq!(
        (icon.status, &icon.headers[header::CONTENT_TYPE]),
        (
            StatusCode::OK,
            &"image/svg+xml".parse::<header::HeaderValue>().unwrap()
        )
    );

    // Operators: counts per source.
    let sources = get(&app, "/api/harvests").await.json();
    assert_eq!(sources["papers"], 258);
    let hf = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "hf-daily")
        .unwrap();
    assert_eq!(hf["papers"], 30);
    // The OpenAPI document describes the date parameter.
    let doc = get(&app, "/api/openapi.json").await.body;
    assert!(doc.contains("ISO week"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_without_mail_keeps_the_input_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(dir.path(), false);
    // `app` configures no SMTP server: mail is off.
    let app = app(engine, 0);
    let form = get(&app, "/subscribe").await;
    assert!(
        form.body.contains("<fieldset disabled>"),
        "inert without mail"
    );
    assert!(form.body.contains("Mail is not set up on this server"));
    let cookie = form.cookie().unwrap();
    let csrf = crate::csrf(&form.body);
    let answer = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        &format!("csrf={csrf}&email=ada%40example.org&interests=sparse+retrieval&hour=7&timezone=Europe%2FParis"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !answer.body.contains("Something went wrong"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("role=\"alert\""));
    assert!(
        answer.body.contains("value=\"ada@example.org\""),
        "the address is kept"
    );
    assert!(
        answer.body.contains(">sparse retrieval</textarea>"),
        "the interests are kept"
    );
    assert!(answer.body.contains("value=\"Europe/Paris\""));
    // An expired form is shown again with what was typed, not lost.
    let answer = post_form(
        &app,
        "/subscribe",
        Some(&cookie),
        "csrf=forged&email=ada%40example.org",
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("value=\"ada@example.org\""));
    // The API takes interests as a list too, and explains a wrong type in plain words.
    let json = |body: &str| {
        axum::http::Request::post("/api/subscriptions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    };
    let listed = send(
        &app,
        json(r#"{"email":"ada@example.org","interests":["sparse retrieval","cross-encoders"]}"#),
    )
    .await;
    // (Accepted as far as parsing goes: refused only because mail is off.)
    listed.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let wrong = send(&app, json(r#"{"email":"ada@example.org","interests":42}"#)).await;
    let message = wrong.assert_error(StatusCode::BAD_REQUEST, "invalid");
    assert!(message.contains("`interests` must be a text"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_for_readers_in_a_real_browser() {
    let shots = Shots(Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots.0).unwrap();
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let engine = tokio::task::spawn_blocking({
        let dir = data.path().to_path_buf();
        move || demo_and_real(&dir)
    })
    .await
    .unwrap();
    let top = engine
        .newest(0, 30)
        .unwrap()
        .into_iter()
        .max_by_key(|i| i.votes)
        .unwrap();
    // Mail off: the subscription page must say so.
    let server = start_server_mailing(engine.clone(), None).await;
    let (_driver, driver_url) = start_driver().await;
    let client = browser(&driver_url, profile.path()).await;
    let site = format!("http://{}", server.addr);
    let go = |path: &str| format!("{site}{path}");

    // Real papers above the demo: the first card of Trending and of New is a Hugging Face one.
    client.goto(&go("/?window=week")).await.unwrap();
    let first = text(&client, "ol.papers li.paper h2 a").await;
    assert_eq!(
        first,
        paperscout_app::math_to_unicode(&top.paper.title),
        "the 118-upvote paper leads"
    );
    client.goto(&go("/new")).await.unwrap();
    let chips = text(&client, "ol.papers li.paper p.chips").await;
    assert!(chips.contains("arXiv:"), "{chips}");
    shots.take(&client, "18-1-new-real-first").await;

    // Nonsense: "no close matches".
    client
        .goto(&go("/search?q=qxzvw+blorptang+fnord&mode=semantic"))
        .await
        .unwrap();
    let empty = text(&client, "main .empty").await;
    assert!(empty.contains("No close matches"), "{empty}");
    assert_eq!(text(&client, "p.count").await, "0 close matches (semantic)");
    shots.take(&client, "18-2-nonsense").await;

    // A pasted arXiv URL in the header's search box lands on its paper.
    let search_box = client
        .find(Locator::Css("header form.search input[name=q]"))
        .await
        .unwrap();
    search_box.clear().await.unwrap();
    search_box
        .send_keys(&format!("https://arxiv.org/abs/{}v1", top.paper.id.value()))
        .await
        .unwrap();
    search_box.send_keys("\u{E007}").await.unwrap();
    let wanted = paperscout_app::math_to_unicode(&top.paper.title);
    assert_eq!(
        text_once(&client, "article h1", |t| t == wanted).await,
        wanted
    );
    shots.take(&client, "18-3-pasted-url").await;

    // An author link on the paper page, then the author's page.
    let author = &top.paper.authors[0];
    client
        .find(Locator::LinkText(author))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_once(&client, "h1", |h| h == author).await, *author);
    let listed = text(&client, "ol.papers li.paper h2 a").await;
    assert_eq!(listed, wanted);
    shots.take(&client, "18-4-author").await;

    // The day's page, then previous and next.
    let day = top.paper.published.unwrap();
    client
        .goto(&go(&format!("/papers/date/{day}")))
        .await
        .unwrap();
    let label = |d: chrono::NaiveDate| format!("Papers of {}", d.format("%A, %B %-d, %Y"));
    assert_eq!(text(&client, "h1").await, label(day));
    assert_eq!(
        text(&client, "ol.papers li.paper h2 a").await,
        wanted,
        "most upvoted first"
    );
    shots.take(&client, "18-5-day").await;
    client
        .find(Locator::Css("nav.dates a[rel=prev]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let prev = day.pred_opt().unwrap();
    assert_eq!(
        text_once(&client, "h1", |h| h == label(prev)).await,
        label(prev)
    );
    client
        .find(Locator::Css("nav.dates a[rel=next]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        text_once(&client, "h1", |h| h == label(day)).await,
        label(day)
    );
    client
        .find(Locator::LinkText("Month"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        text_once(&client, "h1", |h| h == "Papers of June 2026").await,
        "Papers of June 2026"
    );
    shots.take(&client, "18-6-month").await;

    // Edge states: a page past the end, a zero caused by filters (cleared in one click), a
    // far page of a feed.
    client
        .goto(&go("/search?q=model&mode=lexical&page=40"))
        .await
        .unwrap();
    let past = text(&client, ".past-end").await;
    assert!(past.contains("past the last page"), "{past}");
    shots.take(&client, "18-7a-past-the-end").await;
    client
        .find(Locator::LinkText("Go to the last page"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_once(&client, "nav.pager span", |t| {
        t.starts_with("Page ") && t != "Page 40"
    })
    .await;
    client
        .goto(&go("/search?q=agents&mode=lexical&category=zz.NONE"))
        .await
        .unwrap();
    let filtered = text(&client, "main .empty").await;
    assert!(
        filtered.contains("Nothing matches with these filters"),
        "{filtered}"
    );
    shots.take(&client, "18-7-filters-zero").await;
    client
        .find(Locator::LinkText("Clear filters"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let count = text_once(&client, "p.count", |c| !c.starts_with("0 ")).await;
    assert!(
        count.ends_with("results (lexical)") && !count.starts_with("0 "),
        "{count}"
    );
    client.goto(&go("/new?page=999")).await.unwrap();
    assert!(text(&client, ".past-end")
        .await
        .contains("Page 999 is past the last page"));

    // Subscribing with mail off: said, and the form is inert.
    client.goto(&go("/subscribe")).await.unwrap();
    assert!(text(&client, "p.notice")
        .await
        .contains("Mail is not set up"));
    let disabled = client
        .find(Locator::Css("form.subscribe fieldset"))
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap();
    assert!(disabled.is_some(), "the fieldset is disabled");
    let button = client
        .find(Locator::Css("form.subscribe button"))
        .await
        .unwrap();
    assert!(!button.is_enabled().await.unwrap());
    shots.take(&client, "18-8-subscribe-mail-off").await;

    // Phone sizes of the new pages.
    client.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        (format!("/papers/date/{day}"), "18-9-day-phone"),
        (cards_author_path(author), "18-10-author-phone"),
        ("/search?q=memory+agents".to_string(), "18-11-search-phone"),
        ("/subscribe".to_string(), "18-12-subscribe-phone"),
    ] {
        client.goto(&go(&path)).await.unwrap();
        text(&client, "h1").await;
        shots.take(&client, name).await;
    }
    client.close().await.unwrap();
    server.stop().await;
}

fn cards_author_path(name: &str) -> String {
    format!(
        "/authors/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    )
}
