//! Per-IP rate limits (governor's GCRA): pages and API reads, votes, and subscription requests.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::{ApiError, AppState};

pub(crate) type Limiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

/// A limiter allowing `per_minute` requests a minute, in bursts of up to a sixth of that (at
/// least 5); `None` for 0.
pub(crate) fn limiter(per_minute: u32) -> Option<Limiter> {
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new((per_minute / 6).max(5)).expect("at least 5");
    Some(Arc::new(DefaultKeyedRateLimiter::keyed(
        Quota::per_minute(rate).allow_burst(burst),
    )))
}

/// A limiter allowing `per_hour` requests an hour, in bursts of up to 3; `None` for 0.
pub(crate) fn hourly_limiter(per_hour: u32) -> Option<Limiter> {
    let rate = NonZeroU32::new(per_hour)?;
    let burst = NonZeroU32::new(per_hour.min(3)).expect("at least 1");
    Some(Arc::new(DefaultKeyedRateLimiter::keyed(
        Quota::per_hour(rate).allow_burst(burst),
    )))
}

/// The peer's IP address (unspecified when the server runs without connection info, as in
/// handler tests). Proxies are not trusted: behind one, every visitor shares its address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

fn check(limiter: &Option<Limiter>, ip: IpAddr) -> Result<(), ApiError> {
    match limiter {
        Some(l) => l.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(wait.as_secs().max(1))
        }),
        None => Ok(()),
    }
}

/// Checks the vote limit for `ip`.
pub(crate) fn check_vote(state: &AppState, ip: ClientIp) -> Result<(), ApiError> {
    check(&state.0.votes, ip.0)
}

/// Checks the subscription-request limit for `ip` (each request may send a mail).
pub(crate) fn check_subscribe(state: &AppState, ip: ClientIp) -> Result<(), ApiError> {
    check(&state.0.subscribes, ip.0)
}

/// Middleware: the read limit, for everything but health checks, metrics, static files and
/// one-click unsubscribes.
pub(crate) async fn reads(
    State(state): State<AppState>,
    ip: ClientIp,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // One-click unsubscribes come from mail providers' servers, many users behind one address.
    let exempt = path == "/healthz"
        || path == "/metrics"
        || path.starts_with("/static/")
        || (path == "/unsubscribe" && request.method() == axum::http::Method::POST);
    if !exempt {
        if let Err(e) = check(&state.0.reads, ip.0) {
            return if path.starts_with("/api/") {
                e.into_response()
            } else {
                crate::web::error_page(e)
            };
        }
    }
    next.run(request).await
}

/// Drops the state of addresses that have been quiet, so memory stays bounded.
pub(crate) fn forget_idle(state: &AppState) {
    for limiter in [&state.0.reads, &state.0.votes, &state.0.subscribes]
        .into_iter()
        .flatten()
    {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}
