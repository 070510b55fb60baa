//! The routes: one file per part of the site, none importing another. This module wires them
//! to paths and wraps them in the layers (limits, voter cookies, metrics, body and time limits,
//! error dressing, panics, security headers), and holds the OpenAPI document.
//!
//! Route modules may import `error`, `respond`, `extract`, `limit` (for `ClientIp`), `voter`
//! (for `Visitor`), `account` (for `Reader`), `cards`, `atom` and `state`; never each other.

mod api;
mod assets;
mod browse;
mod digest;
mod feeds;
mod harvest;
mod library;
mod library_api;
mod ops;
mod signin;
mod web;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
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
use crate::{
    account, limit, metrics, respond, voter, CSP, MAX_BODY_BYTES, MAX_IMPORT_BYTES, REQUEST_TIMEOUT,
};

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
        .route("/signin", get(signin::form).post(signin::request))
        .route(
            "/signin/confirm",
            get(signin::confirm_page).post(signin::confirm),
        )
        .route("/signout", post(signin::signout))
        .route("/account", get(signin::account_page))
        .route(
            "/account/signout-everywhere",
            post(signin::signout_everywhere),
        )
        .route("/account/export", get(signin::export))
        .route("/account/tokens", post(signin::create_token))
        .route("/account/tokens/{id}/revoke", post(signin::revoke_token))
        .route("/account/delete", post(signin::delete))
        .route("/library", get(library::library).post(library::create))
        .route("/library/{cid}", get(library::collection))
        .route("/library/{cid}/rename", post(library::rename))
        .route("/library/{cid}/delete", post(library::delete))
        .route("/library/{cid}/rules", post(library::rules))
        .route("/library/{cid}/digest", post(library::digest))
        .route("/library/{cid}/feed", post(library::feed))
        .route("/library/{cid}/remove", post(library::remove))
        .route("/library/{cid}/export.bib", get(library::export))
        .route("/papers/{id}/save", post(library::save))
        .route("/papers/{id}/not-interested", post(library::not_interested))
        .route("/for-you", get(library::for_you_all))
        .route("/for-you/{cid}", get(library::for_you_one))
        .route("/feeds/{file}", get(library::private_feed))
        .route("/api/signin", post(library_api::signin))
        .route(
            "/api/account",
            get(library_api::account).delete(library_api::delete_account),
        )
        .route("/api/account/export", get(library_api::export))
        .route("/api/account/signout", post(library_api::signout))
        .route(
            "/api/account/tokens",
            get(library_api::tokens).post(library_api::create_token),
        )
        .route(
            "/api/account/tokens/{token_id}",
            delete(library_api::revoke_token),
        )
        .route(
            "/api/collections",
            get(library_api::collections).post(library_api::create_collection),
        )
        .route(
            "/api/collections/{collection_id}",
            get(library_api::collection)
                .patch(library_api::patch_collection)
                .delete(library_api::delete_collection),
        )
        .route(
            "/api/collections/{collection_id}/papers/{id}",
            put(library_api::save).delete(library_api::unsave),
        )
        .route(
            "/api/collections/{collection_id}/export.bib",
            get(library_api::export_bibtex),
        )
        .route(
            "/api/collections/{collection_id}/feed",
            post(library_api::feed_on).delete(library_api::feed_off),
        )
        .route(
            "/api/papers/{id}/not-interested",
            put(library_api::dismiss).delete(library_api::undismiss),
        )
        .route("/api/for-you", get(library_api::for_you))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(ops::healthz));
    let site = if state.metrics_elsewhere() {
        site
    } else {
        site.route("/metrics", get(ops::metrics))
    };
    // Library imports carry files: a larger body limit of their own; everything else, 16 KiB.
    let imports = Router::new()
        .route("/library/{cid}/import", post(library::import))
        .route(
            "/api/collections/{collection_id}/import",
            post(library_api::import),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_IMPORT_BYTES));
    site.layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(imports)
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            (state.engine().clone(), state.voters().clone()),
            account::resolve,
        ))
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
        healthz,
        library_api::signin,
        library_api::account,
        library_api::export,
        library_api::delete_account,
        library_api::signout,
        library_api::tokens,
        library_api::create_token,
        library_api::revoke_token,
        library_api::collections,
        library_api::create_collection,
        library_api::collection,
        library_api::patch_collection,
        library_api::delete_collection,
        library_api::save,
        library_api::unsave,
        library_api::import,
        library_api::export_bibtex,
        library_api::feed_on,
        library_api::feed_off,
        library_api::dismiss,
        library_api::undismiss,
        library_api::for_you
    ),
    components(schemas(ErrorBody, ApiErrorKind, ModeParam, WindowParam, SortParam)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The two ways to be signed in: a personal API token, or the session cookie sign-in sets.
#[derive(Debug)]
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal API token (`ps_…`), made on the account page or with POST /api/account/tokens",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::account::SESSION_COOKIE,
            ))),
        );
    }
}

/// `GET /api/openapi.json`.
async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
