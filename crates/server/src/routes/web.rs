//! The web site: server-rendered HTML (maud escapes every interpolated string), usable without
//! JavaScript; `static/app.js` only makes upvoting skip the page reload.

use std::collections::HashSet;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::SignedCookieJar;
use chrono::{NaiveDate, Utc};
use maud::{html, Markup, PreEscaped};
use paperscout_app::{FeedItem, Hit, PaperId, SearchMode, Window, MAX_RESULTS};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{mode, paper_id, window, PagePath, PageQuery, SearchParams};
use crate::limit::ClientIp;
use crate::respond::{error_page, layout, paper_path, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

const PAGE_SIZE: usize = 20;
const SIMILAR: usize = 6;
const EXCERPT_CHARS: usize = 320;
const MAX_AUTHORS: usize = 6;

/// The fallback: JSON under `/api`, a page elsewhere.
pub(crate) async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let e = ApiError::not_found(format!("nothing at {}", uri.path()));
    if uri.path().starts_with("/api/") {
        e.into_response()
    } else {
        error_page(e)
    }
}

fn excerpt(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

fn authors(list: &[String]) -> Markup {
    html! {
        @if !list.is_empty() {
            span.authors {
                (list.iter().take(MAX_AUTHORS).cloned().collect::<Vec<_>>().join(", "))
                @if list.len() > MAX_AUTHORS { " et al." }
            }
        }
    }
}

/// Authors and date, or nothing when both are unknown.
fn meta(list: &[String], published: Option<NaiveDate>) -> Markup {
    html! {
        @if !list.is_empty() || published.is_some() {
            p.meta { (authors(list)) " " (date(published)) }
        }
    }
}

fn date(d: Option<NaiveDate>) -> Markup {
    html! { @if let Some(d) = d { time datetime=(d) { (d.format("%b %-d, %Y")) } } }
}

/// An http(s) link, or nothing: a `javascript:` URL in the data never becomes a link.
fn safe_url(url: Option<&str>) -> Option<&str> {
    url.map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn vote_button(
    state: &AppState,
    visitor: &Visitor,
    id: &PaperId,
    votes: usize,
    voted: bool,
) -> Markup {
    let path = paper_path(id);
    let action = if voted {
        format!("{path}/unvote")
    } else {
        format!("{path}/upvote")
    };
    html! {
        form.vote method="post" action=(action) data-api=(format!("/api{path}/upvote")) data-voted=(voted) {
            input type="hidden" name="csrf" value=(state.voters().csrf_token(visitor));
            button type="submit" aria-pressed=(voted) title=(if voted { "Take back your upvote" } else { "Upvote" }) {
                span.arrow aria-hidden="true" { "▲" }
                span.count { (votes) }
            }
        }
    }
}

fn feed_list(
    state: &AppState,
    visitor: &Visitor,
    items: &[FeedItem],
    voted: &HashSet<i64>,
    first_rank: usize,
) -> Markup {
    html! {
        ol.papers start=(first_rank) {
            @for item in items {
                li.paper {
                    (vote_button(state, visitor, &item.paper.id, item.votes, voted.contains(&item.key)))
                    div.body {
                        h2 { a href=(paper_path(&item.paper.id)) { (item.paper.title) } }
                        (meta(&item.paper.authors, item.paper.published))
                        p.excerpt { (excerpt(&item.paper.abstract_text, EXCERPT_CHARS)) }
                    }
                }
            }
        }
    }
}

fn pager(base: &str, page: usize, has_next: bool) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        @if page > 1 || has_next {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(format!("{base}{sep}page={}", page - 1)) { "← Previous" } }
                span { "Page " (page) }
                @if has_next { a rel="next" href=(format!("{base}{sep}page={}", page + 1)) { "Next →" } }
            }
        }
    }
}

fn page_number(page: Option<usize>) -> Result<usize, ApiError> {
    match page.unwrap_or(1) {
        0 => Err(ApiError::invalid("pages start at 1")),
        p if (p - 1)
            .checked_mul(PAGE_SIZE)
            .is_none_or(|skip| skip > MAX_RESULTS) =>
        {
            Err(ApiError::invalid(format!("page {p} is past the last page")))
        }
        p => Ok(p),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct FeedParams {
    window: Option<String>,
    page: Option<usize>,
}

/// A page answer: HTML, with the visitor's cookie set if it is new.
type Page = Result<(SignedCookieJar, Markup), Response>;

fn fail(e: ApiError) -> Response {
    error_page(e)
}

/// `GET /`: trending papers.
pub(crate) async fn home(
    State(state): State<AppState>,
    visitor: Visitor,
    PageQuery(params): PageQuery<FeedParams>,
) -> Page {
    feed_page(state, visitor, params, true).await
}

/// `GET /new`: newest papers.
pub(crate) async fn newest(
    State(state): State<AppState>,
    visitor: Visitor,
    PageQuery(params): PageQuery<FeedParams>,
) -> Page {
    feed_page(state, visitor, params, false).await
}

async fn feed_page(state: AppState, visitor: Visitor, params: FeedParams, trending: bool) -> Page {
    let window = window(params.window.as_deref()).map_err(fail)?;
    let page = page_number(params.page).map_err(fail)?;
    let voter = visitor.id.clone();
    let offset = (page - 1) * PAGE_SIZE;
    let (items, voted, status) = state
        .blocking(move |e| {
            // One extra tells whether there is a next page.
            let items = if trending {
                e.trending(window, offset, PAGE_SIZE + 1, Utc::now())?
            } else {
                e.newest(offset, PAGE_SIZE + 1)?
            };
            let keys: Vec<i64> = items.iter().map(|i| i.key).collect();
            Ok((items, e.voted_by(&voter, &keys)?, e.activity()))
        })
        .await
        .map_err(fail)?;
    let has_next = items.len() > PAGE_SIZE;
    let items = &items[..items.len().min(PAGE_SIZE)];
    let (title, nav, base) = if trending {
        (
            "Trending papers",
            Nav::Trending,
            format!("/?window={window}"),
        )
    } else {
        ("New papers", Nav::New, "/new".to_string())
    };
    let body = html! {
        div.heading {
            h1 { (title) }
            @if trending {
                nav.tabs aria-label="Trending window" {
                    @for w in Window::ALL {
                        a href=(format!("/?window={w}")) class=[(w == window).then_some("active")] {
                            (match w { Window::Day => "Today", Window::Week => "This week", Window::Month => "This month" })
                        }
                    }
                }
            }
        }
        @if items.is_empty() {
            p.empty { "No papers yet. Add some with " code { "paperscout ingest FILE" } "." }
        } @else {
            (feed_list(&state, &visitor, items, &voted, offset + 1))
        }
        (pager(&base, page, has_next))
    };
    Ok((
        visitor.jar.clone(),
        layout(title, nav, "", Some(&status), body),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchPageParams {
    #[serde(flatten)]
    search: SearchParams,
    page: Option<usize>,
}

fn hit_list(hits: &[Hit], first_rank: usize) -> Markup {
    html! {
        ol.papers.hits start=(first_rank) {
            @for hit in hits {
                li.paper {
                    div.body {
                        h2 { a href=(paper_path(&hit.id)) { (hit.title) } }
                        (meta(&hit.authors, hit.published))
                        p.excerpt { (PreEscaped(hit.snippet.render("<mark>", "</mark>", crate::respond::escape))) }
                    }
                }
            }
        }
    }
}

/// `GET /search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    PageQuery(params): PageQuery<SearchPageParams>,
) -> Page {
    let raw = params.search.q.clone().unwrap_or_default();
    let mode = mode(params.search.mode.as_deref()).map_err(fail)?;
    let filter = params.search.filter().map_err(fail)?;
    let page = page_number(params.page).map_err(fail)?;
    let form = |error: Option<&str>| {
        html! {
            form.big-search action="/search" method="get" {
                div.row {
                    input type="search" name="q" value=(raw) placeholder="What are you looking for?"
                        aria-label="Query" maxlength="1000" autofocus;
                    select name="mode" aria-label="Mode" {
                        @for m in [SearchMode::Hybrid, SearchMode::Semantic, SearchMode::Lexical] {
                            option value=(m) selected[m == mode] { (m) }
                        }
                    }
                    button type="submit" { "Search" }
                }
                details.filters open[!filter.is_empty()] {
                    summary { "Filters" }
                    label { "From " input type="date" name="from" value=[filter.from]; }
                    label { "To " input type="date" name="to" value=[filter.to]; }
                    label { "Category " input type="text" name="category" value=[filter.category.as_deref()] placeholder="cs.IR" size="8"; }
                }
                @if let Some(e) = error { p.error role="alert" { (e) } }
            }
        }
    };
    if raw.trim().is_empty() {
        let body = html! { h1 { "Search" } (form(None)) };
        return Ok((visitor.jar, layout("Search", Nav::Search, "", None, body)));
    }
    let offset = (page - 1) * PAGE_SIZE;
    let q = raw.clone();
    let f = filter.clone();
    let result = match state.limits().admit_encoder(ip, mode, &raw) {
        Ok(permit) => {
            state
                .blocking(move |e| {
                    let _permit = permit;
                    Ok((
                        e.search_page(&q, mode, &f, offset, PAGE_SIZE)?,
                        e.activity(),
                    ))
                })
                .await
        }
        Err(e) => Err(e),
    };
    // The encoder is busy (loading, or its queue full): keyword results now, and say so.
    let (result, fell_back) = match result {
        Err(e) if e.kind == "busy" && mode.needs_encoder() => {
            let (q, f) = (raw.clone(), filter.clone());
            let lexical = state
                .blocking(move |e| {
                    Ok((
                        e.search_page(&q, SearchMode::Lexical, &f, offset, PAGE_SIZE)?,
                        e.activity(),
                    ))
                })
                .await;
            (lexical, true)
        }
        other => (other, false),
    };
    let (results, status) = match result {
        Ok(r) => r,
        // A bad query is shown on the search page itself, with the form to fix it.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let body = html! { h1 { "Search" } (form(Some(&e.message))) };
            let page = layout("Search", Nav::Search, &raw, None, body);
            return Err((StatusCode::BAD_REQUEST, visitor.jar, page).into_response());
        }
        Err(e) => return Err(fail(e)),
    };
    let mut base = url_query(&[("q", raw.as_str()), ("mode", mode.as_str())]);
    for (name, value) in [
        ("from", filter.from.map(|d| d.to_string())),
        ("to", filter.to.map(|d| d.to_string())),
        ("category", filter.category.clone()),
    ] {
        if let Some(v) = value {
            base.push('&');
            base.push_str(&url_query(&[(name, &v)]));
        }
    }
    let base = format!("/search?{base}");
    let has_next = offset + results.hits.len() < results.total;
    let body = html! {
        h1.visually-hidden { "Search results" }
        (form(None))
        @if fell_back {
            p.banner role="status" {
                "Semantic search is busy or still loading, so these are keyword (lexical) results. "
                "Try " (mode) " again in a few seconds."
            }
            p.count { (results.total) " result" @if results.total != 1 { "s" } " (lexical)" }
        } @else {
            p.count { (results.total) " result" @if results.total != 1 { "s" } " (" (mode) ")" }
        }
        @if results.hits.is_empty() {
            p.empty { "Nothing matches. Try other words, or the semantic mode, which matches meaning." }
        } @else {
            (hit_list(&results.hits, offset + 1))
        }
        (pager(&base, page, has_next))
    };
    Ok((
        visitor.jar,
        layout(
            &format!("{} – search", raw.trim()),
            Nav::Search,
            &raw,
            Some(&status),
            body,
        ),
    ))
}

fn url_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /papers/{id}`.
pub(crate) async fn paper(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
) -> Page {
    let id = paper_id(&raw).map_err(fail)?;
    let voter = visitor.id.clone();
    let (stored, votes, status) = state
        .blocking(move |e| {
            let stored = e.paper(&id)?;
            let votes = e.vote_state(stored.key, &voter)?;
            Ok((stored, votes, e.activity()))
        })
        .await
        .map_err(fail)?;
    let id = stored.paper.id.clone();
    let similar = state.blocking(move |e| e.similar(&id, SIMILAR)).await;
    let p = &stored.paper;
    // Where the paper lives at its sources: arXiv's abstract page, the DOI resolver.
    let abs = p
        .ids()
        .find(|i| i.scheme() == "arxiv")
        .map(|i| format!("https://arxiv.org/abs/{}", i.value()));
    let doi = p
        .ids()
        .find(|i| i.scheme() == "doi")
        .map(|i| format!("https://doi.org/{}", i.value()));
    let links = [
        ("PDF", safe_url(p.links.pdf.as_deref())),
        ("arXiv", abs.as_deref()),
        ("DOI", doi.as_deref()),
        ("Code", safe_url(p.links.code.as_deref())),
        ("Project page", safe_url(p.links.project.as_deref())),
    ];
    let body = html! {
        article.paper-page {
            div.title-row {
                (vote_button(&state, &visitor, &p.id, votes.votes, votes.voted))
                h1 { (p.title) }
            }
            (meta(&p.authors, p.published))
            @if let (Some(v), Some(updated)) = (p.version.filter(|v| *v > 1), p.updated) {
                p.version { "Version " (v) ", " (updated.format("%-d %b %Y").to_string()) }
            }
            @if !p.categories.is_empty() {
                p.categories { @for c in &p.categories { span.tag { (c) } " " } }
            }
            p.links {
                @for (label, url) in links {
                    @if let Some(url) = url { a.button href=(url) rel="noopener noreferrer nofollow" { (label) } " " }
                }
                span.id { (p.id) }
            }
            h2 { "Abstract" }
            p.abstract { (p.abstract_text) }
        }
        section.similar {
            h2 { "Similar papers" }
            @match &similar {
                Ok(hits) if hits.is_empty() => p.empty { "No other papers yet." },
                Ok(hits) => (hit_list(hits, 1)),
                Err(e) if e.status == StatusCode::BAD_REQUEST => p.empty { (e.message) },
                Err(_) => p.empty { "Similar papers are unavailable right now." },
            }
        }
    };
    Ok((
        visitor.jar.clone(),
        layout(&p.title, Nav::None, "", Some(&status), body),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct VoteForm {
    csrf: String,
}

/// `POST /papers/{id}/upvote` (the form; the API is `/api/papers/{id}/upvote`).
pub(crate) async fn upvote(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    form: Result<Form<VoteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    vote_form(state, ip, visitor, raw, form, true).await
}

/// `POST /papers/{id}/unvote`.
pub(crate) async fn unvote(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    form: Result<Form<VoteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    vote_form(state, ip, visitor, raw, form, false).await
}

async fn vote_form(
    state: AppState,
    ip: ClientIp,
    visitor: Visitor,
    raw: String,
    form: Result<Form<VoteForm>, axum::extract::rejection::FormRejection>,
    up: bool,
) -> Response {
    let result = async {
        let Form(form) = form.map_err(ApiError::from)?;
        if !state.voters().csrf_ok(&visitor, &form.csrf) {
            return Err(ApiError::forbidden(
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        let id = paper_id(&raw)?;
        state.vote(ip, &visitor, id.clone(), up).await?;
        Ok(id)
    }
    .await;
    match result {
        // Post/redirect/get: back to the paper, whose page shows the new count.
        Ok(id) => (visitor.jar, Redirect::to(&paper_path(&id))).into_response(),
        Err(e) => error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::escape;

    #[test]
    fn only_http_links_are_rendered() {
        // Ingest refuses other schemes; this is the second line of defence.
        assert_eq!(safe_url(Some(" https://a.org/x ")), Some("https://a.org/x"));
        assert_eq!(safe_url(Some("http://a.org")), Some("http://a.org"));
        assert_eq!(safe_url(Some("javascript:alert(1)")), None);
        assert_eq!(safe_url(Some("data:text/html,hi")), None);
        assert_eq!(safe_url(None), None);
    }

    #[test]
    fn excerpts_cut_at_a_word() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three four", 10), "one two…");
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
