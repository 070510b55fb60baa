//! A signed-in reader's library as pages: collections (make, rename, delete, rules, digest,
//! private feed, BibTeX import and export), save and "not interested" on any paper, "For you"
//! (over one collection or all of them), and the private Atom feed a feed token opens.
//!
//! Every change is a POST carrying the CSRF token, answered by a redirect back (post, redirect,
//! get) or, for an import and a new feed address, by a page that shows the result once.

use std::collections::HashSet;

use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use paperscout_app::library::{ForYou, ImportReport, MAX_RULE_ITEMS};
use paperscout_app::store::Rules;
use paperscout_app::{math_to_unicode, FeedItem, Window};
use serde::Deserialize;

use crate::account::MaybeReader;
use crate::atom::{self, Entry, FeedMeta, FEED_SIZE};
use crate::cards::{self, Card, Shelf, Voting};
use crate::error::ApiError;
use crate::extract::{paper_id, window, PagePath, PageQuery};
use crate::respond::{error_page, layout, layout_with, paper_path, Head, Nav};
use crate::state::AppState;
use crate::voter::Visitor;

/// Recommendations on a "For you" page.
const FOR_YOU_SIZE: usize = 50;
/// Papers a collection's page lists (the newest saved; the export has them all).
const COLLECTION_PAGE: usize = 200;

type Page = Result<Response, Response>;

fn page(title: &str, nav: Nav, body: Markup) -> Markup {
    layout(title, nav, "", None, body)
}

/// Where a visitor who is not signed in goes (`visitor.account_id.ok_or_else(to_signin)?`).
fn to_signin() -> Response {
    Redirect::to("/signin").into_response()
}

/// A path on this site to come back to (never another site's address).
fn back_to(back: &str, fallback: &str) -> String {
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(char::is_control)
        && back.len() <= 500;
    if ok { back } else { fallback }.to_string()
}

fn date(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.format("%-d %b %Y").to_string())
        .unwrap_or_default()
}

/// The form fields every change carries.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ChangeForm {
    #[serde(default)]
    csrf: String,
    /// A collection name (new collection, rename).
    #[serde(default)]
    name: String,
    /// "1" to turn something on, anything else off; for save and "not interested", "1" in
    /// `undo` takes it back.
    #[serde(default)]
    on: String,
    #[serde(default)]
    undo: String,
    /// The collection to save into (default: the first, "Saved").
    #[serde(default)]
    collection: String,
    /// A paper id (removing a paper from a collection).
    #[serde(default)]
    id: String,
    #[serde(default)]
    back: String,
}

/// The signed-in reader's account and the form, once its CSRF token is checked; a visitor
/// goes to the sign-in page, a bad form gets an error page.
// The error is the answer itself (a redirect or an error page), handed straight up by `?`
// in handlers that answer a `Response` either way: boxing it would only add an unbox there.
#[allow(clippy::result_large_err)]
fn signed_in(
    state: &AppState,
    visitor: &Visitor,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Result<(i64, ChangeForm), Response> {
    let account = visitor.account_id.ok_or_else(to_signin)?;
    let Form(form) = form.map_err(|e| error_page(e.into()))?;
    if state.voters().csrf_ok(visitor, &form.csrf) {
        Ok((account, form))
    } else {
        Err(error_page(ApiError::stale_form()))
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct LibraryQuery {
    welcome: Option<String>,
}

/// `GET /library`: the reader's collections (the sign-in page for a visitor).
pub(crate) async fn library(
    State(state): State<AppState>,
    visitor: Visitor,
    MaybeReader(reader): MaybeReader,
    PageQuery(q): PageQuery<LibraryQuery>,
) -> Page {
    let Some(reader) = reader else {
        let body = html! {
            h1 { "Your library" }
            p { "Save papers into collections, mark what you are not interested in, import your BibTeX, and get a feed that learns from it. "
                a href="/signin" { "Sign in by mail" } " to start (no password)." }
        };
        return Ok((visitor.jar, page("Your library", Nav::Library, body)).into_response());
    };
    let account = reader.account.id;
    let collections = state
        .blocking(move |e| Ok(e.store().collections(account)?))
        .await
        .map_err(error_page)?;
    let csrf = state.voters().csrf_token(&visitor);
    let body = html! {
        div.heading {
            h1 { "Your library" }
            p { "Signed in as " (reader.account.email) " · " a href="/account" { "Account" } }
        }
        @if q.welcome.is_some() {
            p.result role="status" { "Welcome! Your account is made, with a collection called Saved. Save papers from any list, or import a BibTeX file below; then open For you." }
        }
        p { a.button href="/for-you" { "For you, from all your collections" } }
        @if collections.is_empty() {
            p.empty { "No collections yet." }
        } @else {
            ul.collections {
                @for c in &collections {
                    li {
                        a href=(format!("/library/{}", c.id)) { (c.name) }
                        " · " (c.papers) " paper" @if c.papers != 1 { "s" }
                        @if c.digest { " · in your daily digest" }
                        @if c.has_feed { " · has a private feed" }
                        " · " a href=(format!("/for-you/{}", c.id)) { "For you" }
                    }
                }
            }
        }
        form.inline method="post" action="/library" {
            input type="hidden" name="csrf" value=(csrf);
            label { "New collection" input type="text" name="name" required maxlength="100" placeholder="Reading group"; }
            button type="submit" { "Make it" }
        }
    };
    Ok((visitor.jar, page("Your library", Nav::Library, body)).into_response())
}

/// `POST /library`: a new collection.
pub(crate) async fn create(
    State(state): State<AppState>,
    visitor: Visitor,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let c = state
        .blocking(move |e| e.create_collection(account, &form.name, Utc::now()))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&format!("/library/{}", c.id))).into_response())
}

/// Rules as a form shows them: one list per field, entries separated by commas (authors by
/// semicolons or lines: their names may hold commas).
fn rules_of_form(must: &str, never: &str, categories: &str, authors: &str) -> Rules {
    let split = |s: &str, seps: &[char]| -> Vec<String> {
        s.split(|c| seps.contains(&c))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    Rules {
        must: split(must, &[',', '\n']),
        never: split(never, &[',', '\n']),
        categories: split(categories, &[',', '\n', ' ']),
        authors: split(authors, &[';', '\n']),
    }
}

/// What a collection page may show once, after a change.
#[derive(Default)]
struct Notice {
    message: Option<Markup>,
    feed_url: Option<String>,
    report: Option<ImportReport>,
}

/// `GET /library/{cid}`.
pub(crate) async fn collection(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
) -> Page {
    let account = visitor.account_id.ok_or_else(to_signin)?;
    collection_page(&state, visitor, account, cid, Notice::default()).await
}

async fn collection_page(
    state: &AppState,
    visitor: Visitor,
    account: i64,
    cid: i64,
    notice: Notice,
) -> Page {
    let (c, items) = state
        .blocking(move |e| e.collection_items(account, cid, COLLECTION_PAGE))
        .await
        .map_err(error_page)?;
    let csrf = state.voters().csrf_token(&visitor);
    let base = format!("/library/{}", c.id);
    let keys: Vec<i64> = items.iter().map(|i| i.key).collect();
    let shelf = Shelf::of(state, &visitor, keys, base.clone()).await;
    let voted = HashSet::new();
    let cards: Vec<Card<'_>> = items.iter().map(Card::of_item).collect();
    let voting = Voting {
        state,
        visitor: &visitor,
        voted: &voted,
        shelf: shelf.as_ref(),
    };
    let body = html! {
        div.heading {
            h1 { (c.name) }
            p { (c.papers) " paper" @if c.papers != 1 { "s" } " · made " (date(c.created_at)) " · "
                a href=(format!("/for-you/{}", c.id)) { "For you, from this collection" } " · "
                a href=(format!("{base}/export.bib")) download=(format!("{}.bib", c.name)) { "Export as BibTeX" } }
        }
        @if let Some(m) = notice.message { (m) }
        @if let Some(url) = &notice.feed_url {
            p.result role="status" {
                "Your private feed (shown once; anyone with this address can read it, so keep it to yourself): "
                code.secret { (url) }
            }
        }
        @if let Some(r) = &notice.report { (import_report(r)) }
        section.import {
            h2 { "Import" }
            form method="post" action=(format!("{base}/import")) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(csrf);
                label { "A BibTeX, RIS or CSL-JSON file (Zotero, Mendeley, JabRef, Google Scholar and arXiv export one of them)"
                    input type="file" name="file" accept=".bib,.bibtex,.ris,.json,text/x-bibtex,application/x-bibtex,application/x-research-info-systems,application/vnd.citationstyles.csl+json,application/json,text/plain" required;
                }
                button type="submit" { "Import into " (c.name) }
            }
            p.hint { "Entries are matched to papers here by arXiv id, then DOI, then title; the report says which matched and which did not." }
        }
        section.papers {
            h2 { "Papers" }
            @if items.is_empty() {
                p.empty { "Nothing saved here yet: press ☆ Save on any paper, or import a BibTeX file." }
            } @else {
                (cards::list(&cards, 1, Some(&voting)))
                @if c.papers > items.len() { p.hint { "The newest " (items.len()) " of " (c.papers) " are shown; the export has them all." } }
            }
        }
        section.rules {
            h2 { "Rules" }
            p.hint { "For you and the digest keep to these. Up to " (MAX_RULE_ITEMS) " entries each." }
            form method="post" action=(format!("{base}/rules")) {
                input type="hidden" name="csrf" value=(csrf);
                label { "Must mention one of (separated by commas)" input type="text" name="must" maxlength="5000" value=(c.rules.must.join(", ")); }
                label { "Never mention (separated by commas)" input type="text" name="never" maxlength="5000" value=(c.rules.never.join(", ")); }
                label { "Only these categories (e.g. cs.IR cs.CL; cs keeps all of cs)" input type="text" name="categories" maxlength="5000" value=(c.rules.categories.join(" ")); }
                label { "Follow these authors: always shown (separated by semicolons)" input type="text" name="authors" maxlength="5000" value=(c.rules.authors.join("; ")); }
                button type="submit" { "Save the rules" }
            }
        }
        section.delivery {
            h2 { "Delivery" }
            form.inline.digest method="post" action=(format!("{base}/digest")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="on" value=(if c.digest { "0" } else { "1" });
                @if c.digest {
                    span { "In your daily digest. " } button type="submit" { "Leave it out of the digest" }
                } @else {
                    span { "Not in your daily digest. " } button type="submit" { "Add it to my daily digest" }
                }
            }
            p.hint { "The digest goes to your account's address once a day; " a href="/subscribe" { "subscribe" } " with the same address to set its hour." }
            form.inline.feed method="post" action=(format!("{base}/feed")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="on" value="1";
                button type="submit" { @if c.has_feed { "Make a new feed address (the old one stops working)" } @else { "Make a private Atom feed" } }
            }
            @if c.has_feed {
                form.inline.feed-off method="post" action=(format!("{base}/feed")) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="on" value="0";
                    button type="submit" { "Turn the feed off" }
                }
            }
        }
        section.manage {
            h2 { "Collection" }
            form.inline method="post" action=(format!("{base}/rename")) {
                input type="hidden" name="csrf" value=(csrf);
                label { "Name" input type="text" name="name" required maxlength="100" value=(c.name); }
                button type="submit" { "Rename" }
            }
            form.inline method="post" action=(format!("{base}/delete")) {
                input type="hidden" name="csrf" value=(csrf);
                button.danger type="submit" { "Delete this collection" }
            }
        }
    };
    Ok((visitor.jar, page(&c.name, Nav::Library, body)).into_response())
}

fn import_report(r: &ImportReport) -> Markup {
    html! {
        section.import-report role="status" {
            h2 { "What the import did" }
            p.result {
                (r.entries) " entr" @if r.entries == 1 { "y" } @else { "ies" } " read ("
                (match r.format { "ris" => "RIS", "csl-json" => "CSL-JSON", _ => "BibTeX" }) "): "
                (r.matched.len()) " matched (" (r.added) " new to this collection), "
                (r.unmatched.len()) " not in this corpus, "
                (r.broken.len()) " could not be read."
            }
            @if !r.matched.is_empty() {
                h3 { "Matched" }
                table.matched {
                    thead { tr { th { "Entry" } th { "Line" } th { "By" } th { "Paper" } } }
                    tbody { @for m in &r.matched {
                        tr { td { (m.key.as_deref().unwrap_or("—")) } td { (m.line) } td { (m.by) }
                             td { a href=(paper_path(&m.id)) { (math_to_unicode(&m.title)) } } }
                    } }
                }
            }
            @if !r.unmatched.is_empty() {
                h3 { "Not in this corpus" }
                table.unmatched {
                    thead { tr { th { "Entry" } th { "Line" } th { "Title" } th { "Why" } } }
                    tbody { @for m in &r.unmatched {
                        tr { td { (m.key.as_deref().unwrap_or("—")) } td { (m.line) }
                             td { (m.title.as_deref().unwrap_or("")) } td { (m.reason) } }
                    } }
                }
            }
            @if !r.broken.is_empty() {
                h3 { "Could not be read" }
                table.broken {
                    thead { tr { th { "Entry" } th { "Line" } th { "Why" } } }
                    tbody { @for m in &r.broken {
                        tr { td { (m.key.as_deref().unwrap_or("—")) } td { (m.line) } td { (m.reason) } }
                    } }
                }
            }
        }
    }
}

/// `POST /library/{cid}/rename`.
pub(crate) async fn rename(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    state
        .blocking(move |e| e.rename_collection(account, cid, &form.name))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&format!("/library/{cid}"))).into_response())
}

/// `POST /library/{cid}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, _) = signed_in(&state, &visitor, form)?;
    state
        .blocking(move |e| e.delete_collection(account, cid))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to("/library")).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct RulesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    must: String,
    #[serde(default)]
    never: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    authors: String,
}

/// `POST /library/{cid}/rules`.
pub(crate) async fn rules(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<RulesForm>, FormRejection>,
) -> Page {
    let account = visitor.account_id.ok_or_else(to_signin)?;
    let Form(form) = form.map_err(|e| error_page(e.into()))?;
    if !state.voters().csrf_ok(&visitor, &form.csrf) {
        return Err(error_page(ApiError::stale_form()));
    }
    let rules = rules_of_form(&form.must, &form.never, &form.categories, &form.authors);
    let result = state
        .blocking(move |e| e.set_collection_rules(account, cid, &rules))
        .await;
    let notice = match result {
        Ok(_) => html! { p.result role="status" { "Rules saved." } },
        // Said on the page, which shows the rules as they were.
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::NOT_FOUND => {
            html! { p.error role="alert" { "The rules were not saved: " (e.message) } }
        }
        Err(e) => return Err(error_page(e)),
    };
    let notice = Notice {
        message: Some(notice),
        ..Notice::default()
    };
    collection_page(&state, visitor, account, cid, notice).await
}

/// `POST /library/{cid}/digest`.
pub(crate) async fn digest(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let on = form.on == "1";
    state
        .blocking(move |e| e.set_collection_digest(account, cid, on))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&format!("/library/{cid}"))).into_response())
}

/// `POST /library/{cid}/feed`: a new private feed address (shown once), or the feed off.
pub(crate) async fn feed(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let on = form.on == "1";
    let secret = state
        .blocking(move |e| e.set_feed(account, cid, on))
        .await
        .map_err(error_page)?;
    let notice = Notice {
        message: (!on).then(
            || html! { p.result role="status" { "The feed is off: its address no longer works." } },
        ),
        feed_url: secret.map(|s| feed_url(&state, &s)),
        report: None,
    };
    collection_page(&state, visitor, account, cid, notice).await
}

/// The address of the private feed with secret `secret`.
pub(crate) fn feed_url(state: &AppState, secret: &str) -> String {
    format!("{}/feeds/{secret}.atom", state.digests().config().base_url)
}

/// `POST /library/{cid}/import` (multipart: `csrf`, `file`).
pub(crate) async fn import(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Page {
    let account = visitor.account_id.ok_or_else(to_signin)?;
    let bad = |m: String| error_page(ApiError::invalid(m));
    let mut multipart =
        multipart.map_err(|e| bad(format!("the import is not a file upload: {e}")))?;
    let (mut csrf, mut file, mut name) = (String::new(), None, String::from("upload"));
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("the upload broke off: {e}")))?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                if let Some(n) = field.file_name() {
                    name = n.chars().filter(|c| !c.is_control()).take(200).collect();
                }
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| bad(format!("the file could not be read: {e}")))?,
                );
            }
            _ => {}
        }
    }
    if !state.voters().csrf_ok(&visitor, &csrf) {
        return Err(error_page(ApiError::stale_form()));
    }
    let file = file.ok_or_else(|| bad("choose a BibTeX file to import".into()))?;
    let report = state
        .blocking(move |e| e.import_references(account, cid, &name, &file, Utc::now()))
        .await
        .map_err(error_page)?;
    let notice = Notice {
        report: Some(report),
        ..Notice::default()
    };
    collection_page(&state, visitor, account, cid, notice).await
}

/// `GET /library/{cid}/export.bib`.
pub(crate) async fn export(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
) -> Page {
    let account = visitor.account_id.ok_or_else(to_signin)?;
    let (c, bib) = state
        .blocking(move |e| Ok((e.owned(account, cid)?, e.export_bibtex(account, cid)?)))
        .await
        .map_err(error_page)?;
    let file: String = c
        .name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/x-bibtex; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.bib\""),
            ),
        ],
        bib,
    )
        .into_response())
}

/// `POST /library/{cid}/remove`: takes paper `id` out of the collection.
pub(crate) async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let id = paper_id(&form.id).map_err(error_page)?;
    state
        .blocking(move |e| e.unsave_paper(account, cid, &id))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&format!("/library/{cid}"))).into_response())
}

/// `POST /papers/{id}/save`: into `collection` (default: the first), or with `undo` out of
/// it (without `collection`: out of every collection holding it).
pub(crate) async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let id = paper_id(&raw).map_err(error_page)?;
    let chosen: Option<i64> = match form.collection.trim() {
        "" => None,
        c => Some(c.parse().map_err(|_| {
            error_page(ApiError::invalid(format!(
                "{c:?} is not a collection number"
            )))
        })?),
    };
    let undo = form.undo == "1";
    let back = back_to(&form.back, &paper_path(&id));
    state
        .blocking(move |e| {
            let now = Utc::now();
            if undo {
                let targets = match chosen {
                    Some(c) => vec![c],
                    None => e
                        .store()
                        .collections(account)?
                        .iter()
                        .map(|c| c.id)
                        .collect(),
                };
                for c in targets {
                    e.unsave_paper(account, c, &id)?;
                }
                return Ok(());
            }
            let target = match chosen {
                Some(c) => c,
                None => e.default_collection(account, now)?.id,
            };
            e.save_paper(account, target, &id, now)?;
            Ok(())
        })
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&back)).into_response())
}

/// `POST /papers/{id}/not-interested` (with `undo`: takes the mark back).
pub(crate) async fn not_interested(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(raw): PagePath<String>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Page {
    let (account, form) = signed_in(&state, &visitor, form)?;
    let id = paper_id(&raw).map_err(error_page)?;
    let on = form.undo != "1";
    let back = back_to(&form.back, &paper_path(&id));
    state
        .blocking(move |e| e.set_not_interested(account, &id, on, Utc::now()))
        .await
        .map_err(error_page)?;
    Ok((visitor.jar, Redirect::to(&back)).into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ForYouQuery {
    window: Option<String>,
}

/// `GET /for-you`: recommendations from all the reader's collections.
pub(crate) async fn for_you_all(
    State(state): State<AppState>,
    visitor: Visitor,
    PageQuery(q): PageQuery<ForYouQuery>,
) -> Page {
    for_you(state, visitor, None, q).await
}

/// `GET /for-you/{cid}`: recommendations from one collection.
pub(crate) async fn for_you_one(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(cid): PagePath<i64>,
    PageQuery(q): PageQuery<ForYouQuery>,
) -> Page {
    for_you(state, visitor, Some(cid), q).await
}

async fn for_you(state: AppState, visitor: Visitor, cid: Option<i64>, q: ForYouQuery) -> Page {
    let Some(account) = visitor.account_id else {
        let body = html! {
            h1 { "For you" }
            p { "A feed of new papers ranked by what you save and what you mark \"not interested\": "
                a href="/signin" { "sign in by mail" } " (no password) and save a paper or two." }
        };
        return Ok((visitor.jar, page("For you", Nav::ForYou, body)).into_response());
    };
    let window = window(q.window.as_deref()).map_err(error_page)?;
    let voter = visitor.id.clone();
    let (fy, name, voted) = state
        .blocking(move |e| {
            let name = match cid {
                Some(c) => Some(e.owned(account, c)?.name),
                None => None,
            };
            let fy = e.for_you(account, cid, window, Utc::now(), FOR_YOU_SIZE)?;
            let keys: Vec<i64> = fy.items.iter().map(|r| r.item.key).collect();
            Ok((fy, name, e.voted_by(&voter, &keys)?))
        })
        .await
        .map_err(error_page)?;
    let base = match cid {
        Some(c) => format!("/for-you/{c}"),
        None => "/for-you".to_string(),
    };
    let here = format!("{base}?window={window}");
    let keys = fy.items.iter().map(|r| r.item.key).collect();
    let shelf = Shelf::of(&state, &visitor, keys, here).await;
    let cards: Vec<Card<'_>> = fy
        .items
        .iter()
        .map(|r| Card {
            why: Some(&r.why),
            ..Card::of_item(&r.item)
        })
        .collect();
    let voting = Voting {
        state: &state,
        visitor: &visitor,
        voted: &voted,
        shelf: shelf.as_ref(),
    };
    let title = match &name {
        Some(n) => format!("For you: {n}"),
        None => "For you".to_string(),
    };
    let body = html! {
        div.heading {
            h1 { (title) }
            nav.tabs aria-label="Window" {
                @for w in Window::ALL {
                    a href=(format!("{base}?window={w}")) class=[(w == window).then_some("active")] {
                        (match w { Window::Day => "Today", Window::Week => "This week", Window::Month => "This month" })
                    }
                }
            }
        }
        p.method { (method_line(&fy)) }
        @if fy.items.is_empty() {
            p.empty { "Nothing to show yet: save a paper or two (☆ Save on any list), or import a BibTeX file into "
                a href="/library" { "your library" } "." }
        } @else {
            (cards::list(&cards, 1, Some(&voting)))
        }
    };
    let head = Head::default();
    Ok((
        visitor.jar,
        layout_with(&title, Nav::ForYou, "", None, &head, body),
    )
        .into_response())
}

fn method_line(fy: &ForYou) -> String {
    let papers = |n: usize| format!("{n} paper{}", if n == 1 { "" } else { "s" });
    match fy.method {
        "learned" => format!(
            "Ranked by a model learned from {} you saved and {} you are not interested in, over the {} latest papers{}.",
            papers(fy.library),
            papers(fy.dismissed),
            fy.candidates,
            if fy.excluded_by_rules > 0 { format!("; your rules left out {}", fy.excluded_by_rules) } else { String::new() }
        ),
        "cold start" => format!(
            "Ranked by similarity to the {} you saved (with three or more, a model learns from them).",
            papers(fy.library)
        ),
        _ => "Save papers to get recommendations.".to_string(),
    }
}

/// `GET /feeds/{token}.atom`: a collection's private feed (404 once revoked).
pub(crate) async fn private_feed(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let secret = file
        .strip_suffix(".atom")
        .ok_or_else(|| ApiError::not_found("no such feed"))?
        .to_string();
    let secret2 = secret.clone();
    let (c, fy) = state
        .blocking(move |e| e.collection_feed(&secret2, Utc::now(), FEED_SIZE))
        .await?;
    let items: Vec<&FeedItem> = fy.items.iter().map(|r| &r.item).collect();
    let entries: Vec<Entry<'_>> = items.iter().map(|i| Entry::of_item(i)).collect();
    let title = format!("paperscout: for you ({})", c.name);
    let mut response = atom::response(
        &FeedMeta {
            title: &title,
            base_url: &state.digests().config().base_url,
            page: &format!("/for-you/{}", c.id),
            path: &format!("/feeds/{secret}.atom"),
        },
        &entries,
    );
    // The feed is one reader's: no shared cache keeps it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}
