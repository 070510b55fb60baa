//! paperscout's web site and JSON API, on axum. This is the only crate that knows HTTP: it
//! turns requests into [`Engine`] calls (on the blocking pool: search runs the encoder and
//! SQLite) and renders what they return as JSON or server-side HTML.
//!
//! Security: every page is rendered with maud, which escapes all interpolated text; forms carry
//! a CSRF token bound to the visitor's signed cookie; votes and reads are rate-limited per IP;
//! request bodies are capped; a panic in a handler becomes a JSON 500, never a dropped
//! connection.

mod api;
mod assets;
mod digest;
mod error;
mod harvest;
mod limit;
mod metrics;
pub mod secret;
mod voter;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::Key;
use paperscout_app::{DigestConfig, Digests, Engine, HarvestPlan};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub use api::ApiDoc;
pub use error::ApiError;

/// The largest request body accepted (forms and JSON are tiny).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Requests taking longer than this get a 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Secret for signing cookies and CSRF tokens (at least 32 bytes; see [`secret`]).
    pub secret: Vec<u8>,
    /// Page and API requests per minute per IP (0: no limit).
    pub reads_per_minute: u32,
    /// Upvotes and unvotes per minute per IP (0: no limit).
    pub votes_per_minute: u32,
    /// Mark cookies `Secure` (when the site is served over HTTPS by a proxy).
    pub secure_cookies: bool,
    /// Subscription requests per hour per IP (0: no limit); each may send a mail.
    pub subscribes_per_hour: u32,
    /// The daily digest: mail server, sender, links.
    pub digest: DigestConfig,
    /// Scheduled harvests (none: the corpus changes only by `ingest` and `harvest`).
    pub harvest: Option<HarvestPlan>,
}

impl Options {
    pub fn new(secret: Vec<u8>) -> Options {
        Options {
            secret,
            reads_per_minute: 600,
            votes_per_minute: 30,
            secure_cookies: false,
            subscribes_per_hour: 10,
            digest: DigestConfig::default(),
            harvest: None,
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    engine: Arc<Engine>,
    cookie_key: Key,
    csrf_key: Vec<u8>,
    metrics: metrics::Metrics,
    reads: Option<limit::Limiter>,
    votes: Option<limit::Limiter>,
    subscribes: Option<limit::Limiter>,
    secure_cookies: bool,
    digests: Arc<Digests>,
    /// Wakes the mail scheduler (a subscription request queued a confirmation).
    mail_wakeup: Arc<tokio::sync::Notify>,
    harvest: Option<Arc<HarvestPlan>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>, options: &Options) -> Result<AppState, String> {
        let keys = secret::derive(&options.secret)?;
        let digests = Digests::new(engine.clone(), options.digest.clone(), &options.secret)
            .map_err(|e| e.to_string())?;
        Ok(AppState(Arc::new(Inner {
            engine,
            digests: Arc::new(digests),
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
            harvest: options.harvest.clone().map(Arc::new),
            subscribes: limit::hourly_limiter(options.subscribes_per_hour),
            cookie_key: Key::from(&keys.cookie),
            csrf_key: keys.csrf.to_vec(),
            metrics: metrics::Metrics::new(),
            reads: limit::limiter(options.reads_per_minute),
            votes: limit::limiter(options.votes_per_minute),
            secure_cookies: options.secure_cookies,
        })))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    pub fn digests(&self) -> &Arc<Digests> {
        &self.0.digests
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.0.cookie_key.clone()
    }
}

/// Every route of the site and the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::home))
        .route("/new", get(web::newest))
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
        .route("/api/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::render))
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::reads,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
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
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight. Encodes papers that
/// lack embeddings in the background meanwhile (searches use what is encoded so far), and,
/// when an SMTP server is configured, runs the daily digest scheduler.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine().clone();
    tokio::task::spawn_blocking(move || match engine.ensure_embeddings() {
        Ok(0) => tracing::info!("every paper is encoded"),
        Ok(n) => tracing::info!(papers = n, "encoded the papers that lacked embeddings"),
        Err(e) => tracing::error!(
            error = %error::chain(&e),
            "cannot encode papers; semantic and hybrid search will fail until this is fixed"
        ),
    });
    digest::spawn_scheduler(&state);
    harvest::spawn_scheduler(&state);
    let limits = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limit::forget_idle(&limits);
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
