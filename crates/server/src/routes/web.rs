//! The web site: server-rendered HTML (maud escapes every interpolated string), usable without
//! JavaScript; `static/app.js` only makes upvoting skip the page reload.

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::SignedCookieJar;
use chrono::Utc;
use maud::{html, Markup};
use paperscout_app::{math_to_unicode, PaperId, SearchMode, Window, MAX_RESULTS};
use serde::Deserialize;

use crate::cards::{self, pager, safe_url, vote_button, Card, Shelf, Voting, PAGE_SIZE};
use crate::error::ApiError;
use crate::extract::{mode, paper_id, window, PagePath, PageQuery, SearchParams};
use crate::limit::ClientIp;
use crate::respond::{error_page, layout, layout_with, paper_path, Head, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

const SIMILAR: usize = 6;
/// Feed pages go this deep (the API's offset bound, in pages).
const MAX_FEED_PAGES: usize = 500;

/// The fallback: JSON under `/api`, a page elsewhere.
pub(crate) async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let e = ApiError::not_found(format!("nothing at {}", uri.path()));
    if uri.path().starts_with("/api/") {
        e.into_response()
    } else {
        error_page(e)
    }
}

fn page_number(page: Option<usize>) -> Result<usize, ApiError> {
    match page.unwrap_or(1) {
        0 => Err(ApiError::invalid("pages start at 1")),
        p => Ok(p),
    }
}

/// What a page past the last one says, with the way back.
fn past_the_end(page: usize, total: Option<usize>, base: &str) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    let last = total.map(|t| t.div_ceil(PAGE_SIZE).max(1));
    html! {
        section.notice.past-end {
            p.empty role="status" {
                "Page " (page) " is past the last page"
                @if let (Some(t), Some(l)) = (total, last) {
                    " (" (t) " result" @if t != 1 { "s" } " on " (l) " page" @if l != 1 { "s" } ")"
                }
                "."
            }
            p {
                @match last {
                    Some(l) if l > 1 => a href=(format!("{base}{sep}page={l}")) { "Go to the last page" },
                    _ => a href=(base) { "Go to the first page" },
                }
            }
        }
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
    let offset = (page.min(MAX_FEED_PAGES + 1) - 1) * PAGE_SIZE;
    let beyond = page > MAX_FEED_PAGES;
    let (items, voted, status) = state
        .blocking(move |e| {
            if beyond {
                return Ok((Vec::new(), Default::default(), e.activity()));
            }
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
    let has_next = items.len() > PAGE_SIZE && page < MAX_FEED_PAGES;
    let items = &items[..items.len().min(PAGE_SIZE)];
    let (title, nav, base, feed) = if trending {
        (
            "Trending papers",
            Nav::Trending,
            format!("/?window={window}"),
            format!("/trending.atom?window={window}"),
        )
    } else {
        (
            "New papers",
            Nav::New,
            "/new".to_string(),
            "/new.atom".to_string(),
        )
    };
    let cards: Vec<Card<'_>> = items.iter().map(Card::of_item).collect();
    let keys = items.iter().map(|i| i.key).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    let shelf = Shelf::of(&state, &visitor, keys, format!("{base}{sep}page={page}")).await;
    let voting = Voting {
        state: &state,
        visitor: &visitor,
        voted: &voted,
        shelf: shelf.as_ref(),
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
        @if items.is_empty() && page > 1 {
            (past_the_end(page, None, &base))
        } @else if items.is_empty() {
            p.empty { "No papers yet. Add some with " code { "paperscout ingest FILE" } " or " code { "paperscout harvest" } "." }
        } @else {
            (cards::list(&cards, offset + 1, Some(&voting)))
        }
        (pager(&base, page, has_next))
    };
    let head = Head {
        feeds: vec![(format!("paperscout: {}", title.to_lowercase()), feed)],
        ..Head::default()
    };
    Ok((
        visitor.jar.clone(),
        layout_with(title, nav, "", Some(&status), &head, body),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchPageParams {
    #[serde(flatten)]
    search: SearchParams,
    page: Option<usize>,
}

/// Where a paper lives at its source (arXiv's abstract page, the DOI resolver).
fn source_url(id: &PaperId) -> Option<String> {
    match id.scheme() {
        "arxiv" => Some(format!("https://arxiv.org/abs/{}", id.value())),
        "doi" => Some(format!("https://doi.org/{}", id.value())),
        _ => None,
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
                    input type="search" name="q" value=(raw) placeholder="Words, an author, or an arXiv id, DOI or URL"
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
    // A pasted arXiv id, DOI or URL goes straight to its paper.
    let mut not_here = None;
    if let Some(id) = PaperId::from_pasted(&raw) {
        let lookup = id.clone();
        let found = state
            .blocking(move |e| Ok(e.store().get(&lookup)?.map(|p| p.paper.id)))
            .await
            .map_err(fail)?;
        match found {
            Some(found) => return Err(Redirect::to(&paper_path(&found)).into_response()),
            None => not_here = Some(id),
        }
    }
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    // Past any page a search can have, only the total is needed (for the way back).
    let (at, n) = if offset >= MAX_RESULTS {
        (0, 1)
    } else {
        (offset, PAGE_SIZE)
    };
    let (q, f) = (raw.clone(), filter.clone());
    let result = match state.limits().admit_encoder(ip, mode, &raw) {
        Ok(permit) => {
            state
                .blocking(move |e| {
                    let _permit = permit;
                    Ok((e.search_page(&q, mode, &f, at, n)?, e.activity()))
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
                        e.search_page(&q, SearchMode::Lexical, &f, at, n)?,
                        e.activity(),
                    ))
                })
                .await;
            (lexical, true)
        }
        other => (other, false),
    };
    let (mut results, status) = match result {
        Ok(r) => r,
        // A bad query is shown on the search page itself, with the form to fix it.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let body = html! { h1 { "Search" } (form(Some(&e.message))) };
            let page = layout("Search", Nav::Search, &raw, None, body);
            return Err((StatusCode::BAD_REQUEST, visitor.jar, page).into_response());
        }
        Err(e) => return Err(fail(e)),
    };
    if offset >= MAX_RESULTS {
        results.hits.clear();
    }
    let shown_mode = if fell_back { SearchMode::Lexical } else { mode };
    // Nothing close in semantic mode: the papers that contain the words, if any.
    let suggestions = if results.total == 0 && shown_mode == SearchMode::Semantic {
        let (q, f) = (raw.clone(), filter.clone());
        state
            .blocking(move |e| e.search_page(&q, SearchMode::Lexical, &f, 0, 5))
            .await
            .map(|r| r.hits)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let query_only = format!(
        "/search?{}",
        url_query(&[("q", raw.as_str()), ("mode", mode.as_str())])
    );
    let mut base = query_only.clone();
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
    let other_mode = |m: SearchMode| {
        html! { a href=(format!("/search?{}", url_query(&[("q", raw.as_str()), ("mode", m.as_str())]))) { (m) } }
    };
    let has_next = offset + results.hits.len() < results.total;
    let cards: Vec<Card<'_>> = results.hits.iter().map(Card::of_hit).collect();
    let close = shown_mode.needs_encoder();
    let body = html! {
        h1.visually-hidden { "Search results" }
        (form(None))
        @if let Some(id) = &not_here {
            p.banner.not-here role="status" {
                (cards::shown_id(id).unwrap_or_else(|| id.to_string())) " is not in this corpus. "
                @if let Some(url) = source_url(id) {
                    a href=(url) rel="noopener noreferrer nofollow" { "Open it at its source" } ". "
                }
                "Below: what the text finds here."
            }
        }
        @if fell_back {
            p.banner role="status" {
                "Semantic search is busy or still loading, so these are keyword (lexical) results. "
                "Try " (mode) " again in a few seconds."
            }
        }
        p.count {
            @if close {
                (results.total) " close match" @if results.total != 1 { "es" }
            } @else {
                (results.total) " result" @if results.total != 1 { "s" }
            }
            " (" (shown_mode) ")"
        }
        @if results.hits.is_empty() {
            @if results.total > 0 {
                (past_the_end(page, Some(results.total), &base))
            } @else if !filter.is_empty() {
                div.empty role="status" {
                    p { "Nothing matches with these filters." }
                    p { a.button href=(query_only) { "Clear filters" } " and search all papers." }
                }
            } @else if let Some((done, total)) = status.encoding.filter(|_| close) {
                p.empty role="status" {
                    "No close matches among the papers encoded so far (" (done) " of " (total)
                    "). Encoding is still running: try again when it finishes, or use "
                    (other_mode(SearchMode::Lexical)) " search now."
                }
            } @else if close {
                div.empty role="status" {
                    p { "No close matches for “" (raw.trim()) "”." }
                    @if suggestions.is_empty() {
                        p { "No paper contains these words either. Try other or fewer words." }
                    } @else {
                        p { "Papers that contain these words:" }
                        ul.suggestions {
                            @for hit in &suggestions {
                                li { a href=(paper_path(&hit.id)) { (paperscout_app::math_to_unicode(&hit.title)) } }
                            }
                        }
                    }
                }
            } @else {
                p.empty role="status" {
                    "No paper contains these words. Try "
                    (other_mode(SearchMode::Hybrid)) " or " (other_mode(SearchMode::Semantic))
                    " search, which match meaning."
                }
            }
        } @else {
            (cards::list(&cards, offset + 1, None))
        }
        (pager(&base, page, has_next))
    };
    let head = Head {
        feeds: vec![(
            format!("paperscout: search for “{}”", raw.trim()),
            format!("/search.atom?{}", base.trim_start_matches("/search?")),
        )],
        ..Head::default()
    };
    Ok((
        visitor.jar,
        layout_with(
            &format!("{} – search", raw.trim()),
            Nav::Search,
            &raw,
            Some(&status),
            &head,
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
    if let Some(raw) = raw.strip_suffix(".bib") {
        return Err(paper_bibtex(&state, raw).await);
    }
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
    let shelf = Shelf::of(
        &state,
        &visitor,
        vec![stored.key],
        paper_path(&stored.paper.id),
    )
    .await;
    let collections = match visitor.account_id {
        Some(account) => state
            .blocking(move |e| Ok(e.store().collections(account)?))
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let p = &stored.paper;
    // Where the paper lives at its sources: arXiv's abstract page, the DOI resolver.
    let at_source = |scheme: &str| p.ids().find(|i| i.scheme() == scheme).and_then(source_url);
    let (abs, doi) = (at_source("arxiv"), at_source("doi"));
    let links = [
        ("PDF", safe_url(p.links.pdf.as_deref())),
        ("arXiv", abs.as_deref()),
        ("DOI", doi.as_deref()),
        ("Code", safe_url(p.links.code.as_deref())),
        ("Project page", safe_url(p.links.project.as_deref())),
    ];
    let similar_cards: Vec<Card<'_>> = similar
        .as_ref()
        .map(|hits| hits.iter().map(Card::of_hit).collect())
        .unwrap_or_default();
    let title = math_to_unicode(&p.title);
    let body = html! {
        article.paper-page {
            div.title-row {
                (vote_button(&state, &visitor, &p.id, votes.votes, votes.voted))
                h1 { (title) }
            }
            (cards::meta(&p.authors, p.published, true))
            @if let Some(shelf) = &shelf {
                (cards::shelf_buttons(&state, &visitor, shelf, &p.id, Some(stored.key)))
                @if collections.len() > 1 {
                    form.inline.save-to method="post" action=(format!("{}/save", paper_path(&p.id))) {
                        input type="hidden" name="csrf" value=(state.voters().csrf_token(&visitor));
                        input type="hidden" name="back" value=(paper_path(&p.id));
                        label { "Save to "
                            select name="collection" {
                                @for c in &collections { option value=(c.id) { (c.name) } }
                            }
                        }
                        button type="submit" { "Save" }
                    }
                }
            }
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
                @if let Some(id) = cards::shown_id(&p.id) { span.id { (id) } }
            }
            h2 { "Abstract" }
            p.abstract { (math_to_unicode(&p.abstract_text)) }
            details.cite {
                summary { "Cite" }
                p { "BibTeX (" a href=(format!("{}.bib", paper_path(&p.id))) { "download" } "):" }
                pre { code { (bibtex(p)) } }
            }
        }
        section.similar {
            h2 { "Similar papers" }
            @match &similar {
                Ok(hits) if hits.is_empty() => p.empty { "No other papers yet." },
                Ok(_) => (cards::list(&similar_cards, 1, None)),
                Err(e) if e.status == StatusCode::BAD_REQUEST => p.empty { (e.message) },
                Err(_) => p.empty { "Similar papers are unavailable right now." },
            }
        }
    };
    let head = Head {
        description: Some(cards::description(&p.abstract_text)),
        article: true,
        ..Head::default()
    };
    Ok((
        visitor.jar.clone(),
        layout_with(&title, Nav::None, "", Some(&status), &head, body),
    ))
}

/// The citation on a paper's page and in `/papers/{id}.bib`: the library export's entry
/// ([`paperscout_app::library::bibtex_entry`]) without the abstract.
pub(crate) fn bibtex(p: &paperscout_app::Paper) -> String {
    paperscout_app::library::bibtex_entry(p, &mut std::collections::HashSet::new(), false)
}

/// `GET /papers/{id}.bib`: the paper's BibTeX entry, as a file.
pub(crate) async fn paper_bibtex(state: &AppState, raw: &str) -> Response {
    let id = match paper_id(raw) {
        Ok(id) => id,
        Err(e) => return error_page(e),
    };
    match state.blocking(move |e| e.paper(&id)).await {
        Ok(stored) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/x-bibtex; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"citation.bib\"".to_string(),
                ),
            ],
            bibtex(&stored.paper),
        )
            .into_response(),
        Err(e) => error_page(e),
    }
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
            return Err(ApiError::stale_form());
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

    #[test]
    fn bibtex_entries_escape_their_text_and_name_the_eprint() {
        let mut p = paperscout_app::Paper::new(
            "2401.00001".parse().unwrap(),
            "Sparse {retrieval} at $\\alpha$-scale} {".into(),
            "x".into(),
            paperscout_app::Source::ArxivApi,
        );
        p.authors = vec!["Ada Lovelace".into(), "Grace Hopper".into()];
        p.published = chrono::NaiveDate::from_ymd_opt(2024, 1, 2);
        p.categories = vec!["cs.IR".into()];
        let b = bibtex(&p);
        assert!(b.starts_with("@misc{lovelace2024sparse,\n"), "{b}");
        assert!(
            b.contains("title = {Sparse (retrieval) at $\\alpha$-scale) (}"),
            "{b}"
        );
        let mut q = p.clone();
        q.title = "Balanced {BERT} and $\\beta$".into();
        assert!(bibtex(&q).contains("title = {Balanced {BERT} and $\\beta$}"));
        assert!(b.contains("author = {Ada Lovelace and Grace Hopper}"));
        assert!(b.contains("eprint = {2401.00001}") && b.contains("primaryClass = {cs.IR}"));
        let parsed = biblatex::Bibliography::parse(&b).unwrap();
        assert_eq!(parsed.len(), 1);
    }
}
