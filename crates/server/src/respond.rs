//! How answers are made: HTML pages (the layout every page shares, errors as pages), HTML
//! escaping, and the middleware that gives bare error answers (405, 408, 413, panics) the
//! route's kind of body. Imports only [`crate::error`].

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use paperscout_app::{Activity, ModelState};

use crate::error::ApiError;

/// The site path of a paper's page, with the id percent-encoded (DOIs contain `/`); the app
/// builds the links in mail with the same function.
pub(crate) use paperscout_app::paper_path;

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Trending,
    New,
    Daily,
    Search,
    Subscribe,
    ForYou,
    Library,
    Sources,
    None,
}

/// An [`ApiError`] answered as a page.
pub(crate) struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

/// An error as a page.
pub(crate) fn error_page(e: ApiError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Slow down",
        StatusCode::FORBIDDEN => "Form expired",
        StatusCode::UNAUTHORIZED => "Sign in",
        s if s.is_client_error() => "Bad request",
        _ => "Something went wrong",
    };
    let body = html! {
        section.notice {
            h1 { (title) }
            p { (e.message) }
            p { a href="/" { "Back to trending papers" } }
        }
    };
    let mut response = (e.status, layout(title, Nav::None, "", None, body)).into_response();
    if let Some(s) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
    }
    response
}

/// What a page says about itself in its `<head>`: a description (also for link previews:
/// OpenGraph and Twitter cards) and its feeds.
#[derive(Default)]
pub(crate) struct Head {
    pub description: Option<String>,
    /// `(title, href)` of each Atom feed of the page.
    pub feeds: Vec<(String, String)>,
    /// OpenGraph type: "article" for a paper, "website" otherwise.
    pub article: bool,
}

const SITE_DESCRIPTION: &str =
    "Search, browse and upvote research papers: trending, daily pages, feeds and a daily digest.";

/// The page around `body`: header with the search box and navigation, status banners
/// (model loading, encoding progress), footer.
pub(crate) fn layout(
    title: &str,
    nav: Nav,
    query: &str,
    status: Option<&Activity>,
    body: Markup,
) -> Markup {
    layout_with(title, nav, query, status, &Head::default(), body)
}

/// [`layout`] with a [`Head`].
pub(crate) fn layout_with(
    title: &str,
    nav: Nav,
    query: &str,
    status: Option<&Activity>,
    head: &Head,
    body: Markup,
) -> Markup {
    let description = head.description.as_deref().unwrap_or(SITE_DESCRIPTION);
    let item = |href: &str, label: &str, this: Nav| {
        html! { a href=(href) class=[(nav == this).then_some("active")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · paperscout" }
                meta name="description" content=(description);
                meta property="og:site_name" content="paperscout";
                meta property="og:title" content=(title);
                meta property="og:description" content=(description);
                meta property="og:type" content=(if head.article { "article" } else { "website" });
                meta name="twitter:card" content="summary";
                meta name="twitter:title" content=(title);
                meta name="twitter:description" content=(description);
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
                @for (feed_title, href) in &head.feeds {
                    link rel="alternate" type="application/atom+xml" title=(feed_title) href=(href);
                }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "paperscout" }
                    form.search role="search" action="/search" method="get" {
                        input type="search" name="q" value=(query) placeholder="Search papers…"
                            aria-label="Search papers" maxlength="1000";
                    }
                    nav {
                        (item("/", "Trending", Nav::Trending))
                        (item("/new", "New", Nav::New))
                        (item("/papers", "Daily", Nav::Daily))
                        (item("/for-you", "For you", Nav::ForYou))
                        (item("/library", "Library", Nav::Library))
                        (item("/subscribe", "Daily digest", Nav::Subscribe))
                    }
                }
                @if status.is_some_and(|s| s.model == ModelState::Loading) {
                    p.banner role="status" {
                        "Loading the sentence encoder (the first start fetches it, about 90 MB). "
                        "Keyword search works meanwhile; semantic and hybrid search wait for it."
                    }
                }
                @if status.is_some_and(|s| s.model == ModelState::Failed) {
                    p.banner role="status" {
                        "The sentence encoder could not be loaded (the server log says why): "
                        "semantic and hybrid search are unavailable; lexical search works."
                    }
                }
                @if let Some((done, total)) = status.and_then(|s| s.encoding) {
                    p.banner role="status" {
                        "Encoding papers for semantic search: " (done) " of " (total)
                        " done. Until it finishes, semantic results cover the papers encoded so far."
                    }
                }
                main { (body) }
                footer {
                    "paperscout · " a href="/sources" class=[(nav == Nav::Sources).then_some("active")] { "Sources" }
                    " · " a href="/api/openapi.json" { "API" }
                    @for (feed_title, href) in &head.feeds {
                        " · " a.feed href=(href) title=(feed_title) { "Atom feed" }
                    }
                }
            }
        }
    }
}

/// The note on a form that needs mail (subscribing, signing in) when no SMTP server is
/// configured; `what` is the action that is not possible ("subscribing").
pub(crate) fn mail_off_notice(what: &str) -> Markup {
    html! {
        p.notice role="note" {
            strong { "Mail is not set up on this server. " }
            "Its operator has not configured an SMTP server (PAPERSCOUT_SMTP_URL), so " (what) " is not possible here."
        }
    }
}

/// `s` escaped for HTML text and attributes.
pub(crate) fn escape(s: &str) -> String {
    html! { (s) }.into_string()
}

/// Middleware: an error answered without a body of ours (405 from method routing, 408 from
/// the timeout, 413 from the body limit, anything plain text) gets the route's kind of body:
/// JSON `{"error", "kind"}` under `/api` and for probes, an error page elsewhere. Its other
/// headers (`Allow`, `Retry-After`) are kept.
pub(crate) async fn dress_bare_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let dressed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if dressed {
        return response;
    }
    let e = ApiError::from_status(status);
    let json = path.starts_with("/api/") || path == "/healthz" || path == "/metrics";
    let mut new = if json {
        e.into_response()
    } else {
        error_page(e)
    };
    *new.status_mut() = status;
    // Every value of every header kept (two `Set-Cookie`s stay two), replacing the new body's.
    let kept =
        |name: &header::HeaderName| name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH;
    for name in response.headers().keys().filter(|n| kept(n)) {
        new.headers_mut().remove(name);
    }
    for (name, value) in response.headers().iter().filter(|(n, _)| kept(n)) {
        new.headers_mut().append(name.clone(), value.clone());
    }
    new
}

/// A handler panicked: answer 500 like any internal error (the panic is logged by the hook).
pub(crate) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_answers_500() {
        let panic = panic_response(Box::new("boom"));
        assert_eq!(panic.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn dressing_a_bare_error_keeps_every_header_value() {
        use tower::ServiceExt;
        let bare = || async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::response::AppendHeaders([
                    (header::SET_COOKIE, "a=1"),
                    (header::SET_COOKIE, "b=2"),
                    (header::ALLOW, "GET"),
                ]),
                "plain text",
            )
        };
        let app = axum::Router::new()
            .route("/api/x", axum::routing::get(bare))
            .layer(axum::middleware::from_fn(dress_bare_errors));
        let request = axum::http::Request::get("/api/x")
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = app.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(answer.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let cookies: Vec<_> = answer
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(answer.headers()[header::ALLOW], "GET");
    }
}
