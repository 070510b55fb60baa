//! The routes: one file per part of the site, none importing another. This module wires them
//! to paths and wraps them in the layers (limits, voter cookies, metrics, body and time limits,
//! error dressing, panics, security headers), and holds the OpenAPI document.
//!
//! Route modules may import `error`, `respond`, `extract`, `limit` (for `ClientIp`), `voter`
//! (for `Visitor`) and `state`; never each other.

mod api;
mod assets;
mod browse;
mod digest;
mod feeds;
mod harvest;
mod ops;
mod web;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

// (`__path_*`: what `#[utoipa::path]` generates next to each handler, for `paths(...)`.)
use api::{
    __path_paper, __path_papers, __path_search, __path_similar, __path_trending, __path_unvote,
    __path_upvote,
};
use ops::__path_healthz;

use crate::error::{ApiErrorKind, ErrorBody};
use crate::extract::{ModeParam, SortParam, WindowParam};
use crate::state::AppState;
use crate::{limit, metrics, respond, voter, CSP, MAX_BODY_BYTES, REQUEST_TIMEOUT};

/// Every route of the site and the API.
pub fn router(state: AppState) -> Router {
    let site = Router::new()
        .route("/", get(web::home))
        .route("/new", get(web::newest))
        .route("/trending.atom", get(feeds::trending))
        .route("/new.atom", get(feeds::newest))
        .route("/search.atom", get(feeds::search))
        .route("/papers", get(browse::latest))
        .route("/papers/date/{day}", get(browse::day))
        .route("/papers/week/{week}", get(browse::week))
        .route("/papers/month/{month}", get(browse::month))
        .route("/authors/{name}", get(browse::author))
        .route("/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .route("/search", get(web::search))
        .route("/papers/{id}", get(web::paper))
        .route("/papers/{id}/upvote", post(web::upvote))
        .route("/papers/{id}/unvote", post(web::unvote))
        .route(
            "/subscribe",
            get(digest::subscribe_form).post(digest::subscribe),
        )
        .route(
            "/subscribe/confirm",
            get(digest::confirm_page).post(digest::confirm),
        )
        .route(
            "/subscription",
            get(digest::manage_page).post(digest::manage),
        )
        .route("/subscription/preview", get(digest::preview))
        .route(
            "/unsubscribe",
            get(digest::unsubscribe_page).post(digest::unsubscribe),
        )
        .route("/api/subscriptions", post(digest::api_subscribe))
        .route("/api/harvests", get(harvest::api_harvests))
        .route("/sources", get(harvest::page))
        .route("/static/{file}", get(assets::serve))
        .route("/api/search", get(api::search))
        .route("/api/papers", get(api::papers))
        .route("/api/papers/{id}", get(api::paper))
        .route("/api/papers/{id}/similar", get(api::similar))
        .route(
            "/api/papers/{id}/upvote",
            post(api::upvote).delete(api::unvote),
        )
        .route("/api/trending", get(api::trending))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(ops::healthz));
    let site = if state.metrics_elsewhere() {
        site
    } else {
        site.route("/metrics", get(ops::metrics))
    };
    site.fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.limits().clone(),
            limit::reads,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.voters().clone(),
            voter::cookies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics().clone(),
            metrics::track,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Inside the headers below, outside what answers with bare statuses (body limit,
        // timeout, method routing): every error has the route's body and the security headers.
        .layer(axum::middleware::from_fn(respond::dress_bare_errors))
        .layer(CatchPanicLayer::custom(respond::panic_response))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own (an address only the scraper reaches), when
/// [`Options::metrics_elsewhere`](crate::Options::metrics_elsewhere) keeps it off the site.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(respond::panic_response))
        .with_state(state)
}

#[derive(OpenApi, Debug)]
#[openapi(
    info(
        title = "paperscout",
        description = "Search, browse and upvote research papers. Errors are JSON `{\"error\", \"kind\"}`: 400 invalid, 404 not_found, 429 rate_limited (with Retry-After), 503 unavailable, 500 internal."
    ),
    // utoipa tags each operation by the module path written here unless the handler names
    // its tag: the API's own routes are listed bare (untagged, as they always were), and the
    // digest's and harvest's handlers name the tags they had before the routes moved.
    paths(
        search,
        paper,
        similar,
        papers,
        trending,
        upvote,
        unvote,
        digest::api_subscribe,
        harvest::api_harvests,
        healthz
    ),
    components(schemas(ErrorBody, ApiErrorKind, ModeParam, WindowParam, SortParam))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
