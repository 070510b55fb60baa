//! Browsing by date and by author: the daily, weekly and monthly pages (as on Hugging Face
//! Papers: a day's papers by votes, previous/next), `/papers` (the latest day with papers),
//! and author pages (their papers, newest first).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::SignedCookieJar;
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use maud::{html, Markup};
use paperscout_app::Neighbours;
use serde::Deserialize;

use crate::atom::{self, Entry, FeedMeta, FEED_SIZE};
use crate::cards::{self, pager, Card, Shelf, Voting, PAGE_SIZE};
use crate::error::ApiError;
use crate::extract::{PagePath, PageQuery, Period};
use crate::respond::{error_page, layout_with, Head, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

/// Pages go this deep.
const MAX_PAGES: usize = 500;

type Page = Result<(SignedCookieJar, Markup), Response>;

#[derive(Debug, Deserialize)]
pub(crate) struct PageParam {
    page: Option<usize>,
}

fn page_number(page: Option<usize>) -> Result<usize, ApiError> {
    match page.unwrap_or(1) {
        0 => Err(ApiError::invalid("pages start at 1")),
        p if p > MAX_PAGES => Err(ApiError::not_found(format!(
            "page {p} is past the last page"
        ))),
        p => Ok(p),
    }
}

/// `GET /papers`: the latest day with papers (today when none has a date).
pub(crate) async fn latest(State(state): State<AppState>) -> Response {
    let today = Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let day = state
        .blocking(move |e| e.published_neighbours(tomorrow, tomorrow))
        .await
        .ok()
        .and_then(|n| n.before)
        .unwrap_or(today);
    Redirect::to(&Period::Day(day).path()).into_response()
}

/// `GET /papers/date/{day}`.
pub(crate) async fn day(
    state: State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    PageQuery(q): PageQuery<PageParam>,
) -> Response {
    period_page(state, visitor, raw, q, Period::Day).await
}

/// `GET /papers/week/{week}`.
pub(crate) async fn week(
    state: State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    PageQuery(q): PageQuery<PageParam>,
) -> Response {
    period_page(state, visitor, raw, q, Period::Week).await
}

/// `GET /papers/month/{month}`.
pub(crate) async fn month(
    state: State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    PageQuery(q): PageQuery<PageParam>,
) -> Response {
    period_page(state, visitor, raw, q, Period::Month).await
}

/// Parses the period in a path of the kind `kind` builds (a day path takes only a day).
fn period_of(raw: &str, kind: fn(NaiveDate) -> Period) -> Result<Period, ApiError> {
    let p = Period::parse(raw)?;
    let expected = kind(p.range().0);
    if std::mem::discriminant(&p) != std::mem::discriminant(&expected) {
        return Err(ApiError::invalid(format!(
            "`{raw}` is not a {} here: see {}",
            match expected {
                Period::Day(_) => "day (YYYY-MM-DD)",
                Period::Week(_) => "week (YYYY-Www)",
                Period::Month(_) => "month (YYYY-MM)",
            },
            p.path()
        )));
    }
    Ok(p)
}

async fn period_page(
    State(state): State<AppState>,
    visitor: Visitor,
    raw: String,
    q: PageParam,
    kind: fn(NaiveDate) -> Period,
) -> Response {
    if let Some(raw) = raw.strip_suffix(".atom") {
        return match period_feed(&state, raw, kind).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    match render_period(state, visitor, &raw, q, kind).await {
        Ok(page) => page.into_response(),
        Err(r) => r,
    }
}

async fn render_period(
    state: AppState,
    visitor: Visitor,
    raw: &str,
    q: PageParam,
    kind: fn(NaiveDate) -> Period,
) -> Page {
    let period = period_of(raw, kind).map_err(error_page)?;
    let page = page_number(q.page).map_err(error_page)?;
    let (from, to) = period.range();
    let offset = (page - 1) * PAGE_SIZE;
    let voter = visitor.id.clone();
    let ((items, total), neighbours, voted, status) = state
        .blocking(move |e| {
            let found = e.published(from, to, offset, PAGE_SIZE)?;
            let neighbours = if found.1 == 0 {
                e.published_neighbours(from, to)?
            } else {
                Neighbours::default()
            };
            let keys: Vec<i64> = found.0.iter().map(|i| i.key).collect();
            Ok((found, neighbours, e.voted_by(&voter, &keys)?, e.activity()))
        })
        .await
        .map_err(error_page)?;
    let today = Utc::now().date_naive();
    let title = format!("Papers of {}", period.label());
    let cards: Vec<Card<'_>> = items.iter().map(Card::of_item).collect();
    let keys = items.iter().map(|i| i.key).collect();
    let back = format!("{}?page={page}", period.path());
    let shelf = Shelf::of(&state, &visitor, keys, back).await;
    let voting = Voting {
        state: &state,
        visitor: &visitor,
        voted: &voted,
        shelf: shelf.as_ref(),
    };
    let next = period.next().filter(|n| n.range().0 <= today);
    let tabs = [
        ("Day", Period::Day(from)),
        ("Week", Period::Week(from).same_kind_at(from)),
        ("Month", Period::Month(from).same_kind_at(from)),
    ];
    let body = html! {
        div.heading {
            h1 { (title) }
            nav.tabs aria-label="Day, week or month" {
                @for (label, p) in tabs {
                    a href=(p.path()) class=[(std::mem::discriminant(&p) == std::mem::discriminant(&period)).then_some("active")] { (label) }
                }
            }
        }
        nav.pager.dates aria-label="Other dates" {
            @if let Some(p) = period.prev() { a rel="prev" href=(p.path()) { "← " (p.short_label()) } }
            span { (total) " paper" @if total != 1 { "s" } }
            @if let Some(n) = next { a rel="next" href=(n.path()) { (n.short_label()) " →" } }
        }
        @if items.is_empty() && total > 0 {
            p.empty role="status" { "Page " (page) " is past the last page. " a href=(period.path()) { "Back to the first page" } }
        } @else if items.is_empty() {
            div.empty role="status" {
                p { (why_empty(period, today)) }
                @if neighbours.before.is_some() || neighbours.after.is_some() {
                    p {
                        "Nearest days with papers: "
                        @if let Some(d) = neighbours.before { a href=(Period::Day(d).path()) { (Period::Day(d).label()) } }
                        @if neighbours.before.is_some() && neighbours.after.is_some() { " · " }
                        @if let Some(d) = neighbours.after { a href=(Period::Day(d).path()) { (Period::Day(d).label()) } }
                    }
                }
            }
        } @else {
            (cards::list(&cards, offset + 1, Some(&voting)))
        }
        (pager(&period.path(), page, offset + items.len() < total))
    };
    let head = Head {
        feeds: vec![(
            format!("paperscout: {}", title.to_lowercase()),
            format!("{}.atom", period.path()),
        )],
        ..Head::default()
    };
    Ok((
        visitor.jar.clone(),
        layout_with(&title, Nav::Daily, "", Some(&status), &head, body),
    ))
}

/// `GET /papers/date/{day}.atom` (and week, month): the period's most upvoted papers.
async fn period_feed(
    state: &AppState,
    raw: &str,
    kind: fn(NaiveDate) -> Period,
) -> Result<Response, ApiError> {
    let period = period_of(raw, kind)?;
    let (from, to) = period.range();
    let (items, _) = state
        .blocking(move |e| e.published(from, to, 0, FEED_SIZE))
        .await?;
    let entries: Vec<Entry<'_>> = items.iter().map(Entry::of_item).collect();
    let page = period.path();
    let path = format!("{page}.atom");
    let title = format!("paperscout: papers of {}", period.label());
    Ok(atom::response(
        &FeedMeta {
            title: &title,
            base_url: &state.digests().config().base_url,
            page: &page,
            path: &path,
        },
        &entries,
    ))
}

/// Why a period has no papers, as far as the server can tell.
fn why_empty(period: Period, today: NaiveDate) -> String {
    let (from, to) = period.range();
    if from > today {
        return "This date has not come yet.".into();
    }
    if let Period::Day(d) = period {
        if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return "No papers on this day: it is a weekend, and arXiv announces no papers on \
                    weekends."
                .into();
        }
    }
    let _ = to;
    "No paper in this corpus was published on these dates: no harvest or ingest covered them \
     yet (`paperscout harvest arxiv --from … --until …` fetches them)."
        .into()
}

/// `GET /authors/{name}`: the papers of one author, newest first.
pub(crate) async fn author(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    PageQuery(q): PageQuery<PageParam>,
) -> Response {
    if let Some(name) = raw.strip_suffix(".atom") {
        return match author_feed(&state, name).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    match render_author(state, visitor, raw, q).await {
        Ok(page) => page.into_response(),
        Err(r) => r,
    }
}

async fn render_author(state: AppState, visitor: Visitor, name: String, q: PageParam) -> Page {
    let page = page_number(q.page).map_err(error_page)?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 300 {
        return Err(error_page(ApiError::not_found("no such author")));
    }
    let offset = (page - 1) * PAGE_SIZE;
    let voter = visitor.id.clone();
    let wanted = name.clone();
    let ((items, total), voted, status) = state
        .blocking(move |e| {
            let found = e.author_papers(&wanted, offset, PAGE_SIZE)?;
            let keys: Vec<i64> = found.0.iter().map(|i| i.key).collect();
            Ok((found, e.voted_by(&voter, &keys)?, e.activity()))
        })
        .await
        .map_err(error_page)?;
    if total == 0 {
        return Err(error_page(ApiError::not_found(format!(
            "no paper by {name} in this corpus"
        ))));
    }
    // The name as the papers write it (the URL may differ in case).
    let shown = items
        .first()
        .and_then(|i| {
            i.paper.authors.iter().find(|a| {
                paperscout_app::normalize_name(a) == paperscout_app::normalize_name(&name)
            })
        })
        .cloned()
        .unwrap_or(name.clone());
    let cards: Vec<Card<'_>> = items.iter().map(Card::of_item).collect();
    let keys = items.iter().map(|i| i.key).collect();
    let shelf = Shelf::of(&state, &visitor, keys, cards::author_path(&shown)).await;
    let voting = Voting {
        state: &state,
        visitor: &visitor,
        voted: &voted,
        shelf: shelf.as_ref(),
    };
    let coauthors = coauthors(&items, &shown);
    let path = cards::author_path(&shown);
    let body = html! {
        div.heading {
            h1 { (shown) }
            p.count { (total) " paper" @if total != 1 { "s" } " in this corpus, newest first" }
        }
        @if !coauthors.is_empty() {
            p.coauthors { "Often with: " (cards::authors(&coauthors, true)) }
        }
        @if items.is_empty() {
            p.empty role="status" { "Page " (page) " is past the last page. " a href=(path) { "Back to the first page" } }
        } @else {
            (cards::list(&cards, offset + 1, Some(&voting)))
        }
        (pager(&path, page, offset + items.len() < total))
    };
    let head = Head {
        description: Some(format!("Papers by {shown} on paperscout.")),
        feeds: vec![(
            format!("paperscout: papers by {shown}"),
            format!("{path}.atom"),
        )],
        ..Head::default()
    };
    Ok((
        visitor.jar.clone(),
        layout_with(&shown, Nav::None, "", Some(&status), &head, body),
    ))
}

/// `GET /authors/{name}.atom`: the author's newest papers.
async fn author_feed(state: &AppState, name: &str) -> Result<Response, ApiError> {
    let wanted = name.trim().to_string();
    let (items, total) = state
        .blocking(move |e| e.author_papers(&wanted, 0, FEED_SIZE))
        .await?;
    if total == 0 {
        return Err(ApiError::not_found(format!(
            "no paper by {name} in this corpus"
        )));
    }
    let entries: Vec<Entry<'_>> = items.iter().map(Entry::of_item).collect();
    let page = cards::author_path(name);
    let path = format!("{page}.atom");
    let title = format!("paperscout: papers by {}", name.trim());
    Ok(atom::response(
        &FeedMeta {
            title: &title,
            base_url: &state.digests().config().base_url,
            page: &page,
            path: &path,
        },
        &entries,
    ))
}

/// The names that appear most often beside `name` on these papers (at most 8; the first 100
/// names of each paper, so a collaboration's thousands of authors stay cheap).
fn coauthors(items: &[paperscout_app::FeedItem], name: &str) -> Vec<String> {
    let me = paperscout_app::normalize_name(name);
    let mut counts: std::collections::HashMap<String, (String, usize)> = Default::default();
    for item in items {
        let mut on_this_paper = HashSet::new();
        for a in item.paper.authors.iter().take(100) {
            let n = paperscout_app::normalize_name(a);
            if n != me && on_this_paper.insert(n.clone()) {
                counts.entry(n).or_insert_with(|| (a.clone(), 0)).1 += 1;
            }
        }
    }
    let mut counts: Vec<(String, usize)> = counts.into_values().filter(|c| c.1 > 1).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.into_iter().take(8).map(|c| c.0).collect()
}
