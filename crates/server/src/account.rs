//! Signed-in readers. A request names an account by the session cookie that sign-in sets
//! (signed, HttpOnly, SameSite=Lax) or by a personal API token in `Authorization: Bearer ps_…`.
//! The [`resolve`] layer looks either up once per request (on the blocking pool: it reads the
//! store) and leaves a [`Reader`] in the request's extensions, with the account's voter id for
//! [`Visitor`](crate::voter::Visitor), so a signed-in reader votes as their account anywhere.
//! Handlers take [`MaybeReader`] or [`Reader`] (401 without one).
//!
//! Imports `error`, `extract` (the same-site check) and `voter` (the cookie key and flags);
//! the layer is given the engine and the voter keys as its state.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::SignedCookieJar;
use chrono::Utc;
use paperscout_app::digest::signin::{API_TOKEN_PREFIX, SESSION_MAX_AGE_S};
use paperscout_app::store::Account;
use paperscout_app::Engine;

use crate::error::ApiError;
use crate::extract::check_same_site;
use crate::voter::{SignedInVoter, Voters};

/// The session cookie's name; its value is the session's secret.
pub(crate) const SESSION_COOKIE: &str = "paperscout_session";

/// How a request proved who it is.
#[derive(Clone, Debug)]
pub(crate) enum Via {
    /// The session cookie, holding this secret.
    Session(String),
    /// A personal API token.
    Token,
}

/// The signed-in reader of a request.
#[derive(Clone, Debug)]
pub(crate) struct Reader {
    pub account: Account,
    pub via: Via,
}

impl Reader {
    /// Whether a change may go ahead. A browser sends the session cookie with any request,
    /// even one another site makes it send, so a change authenticated by the cookie must come
    /// from this site's pages; another site cannot make a browser send an API token.
    pub(crate) fn check_write(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match self.via {
            Via::Token => Ok(()),
            Via::Session(_) => check_same_site(headers),
        }
    }
}

/// The signed-in reader, if any.
pub(crate) struct MaybeReader(pub Option<Reader>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeReader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(MaybeReader(parts.extensions.get::<Reader>().cloned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Reader>().cloned().ok_or_else(|| {
            ApiError::unauthorized(
                "sign in first: open the link /signin mails you, or send a personal API token as `Authorization: Bearer ps_…`",
            )
        })
    }
}

/// The API token a request carries, if its `Authorization` is a bearer token of ours; other
/// schemes (a proxy's Basic auth) are not ours to judge.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(API_TOKEN_PREFIX))
        .then(|| token.to_string())
}

/// The layer: finds the account a request names. A bearer token that names none is refused
/// (401): a client that sends one wants to act as someone. A session cookie that names none
/// (signed out elsewhere, expired) is as good as none, and the answer removes it.
pub(crate) async fn resolve(
    State((engine, voters)): State<(Arc<Engine>, Arc<Voters>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer(request.headers());
    let jar = SignedCookieJar::from_headers(request.headers(), voters.cookie_key().clone());
    let session = jar.get(SESSION_COOKIE).map(|c| c.value().to_string());
    if token.is_none() && session.is_none() {
        return next.run(request).await;
    }
    let looked_up = {
        let (token, session) = (token.clone(), session.clone());
        tokio::task::spawn_blocking(move || -> paperscout_app::Result<Option<Reader>> {
            let now = Utc::now();
            if let Some(t) = token {
                return Ok(engine.api_token_account(&t, now)?.map(|account| Reader {
                    account,
                    via: Via::Token,
                }));
            }
            let secret = session.unwrap_or_default();
            Ok(engine.session_account(&secret, now)?.map(|account| Reader {
                account,
                via: Via::Session(secret),
            }))
        })
        .await
    };
    let reader = match looked_up {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    match reader {
        Some(reader) => {
            request.extensions_mut().insert(SignedInVoter {
                voter: reader.account.voter(),
                account_id: reader.account.id,
            });
            request.extensions_mut().insert(reader);
            next.run(request).await
        }
        None if token.is_some() => ApiError::unauthorized(
            "this API token is not valid: it may have been revoked or mistyped",
        )
        .into_response(),
        None => {
            let mut response = next.run(request).await;
            let gone = axum::response::IntoResponse::into_response((
                end_session_cookie(jar, voters.secure_cookies()),
                (),
            ));
            for value in gone.headers().get_all(header::SET_COOKIE) {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, value.clone());
            }
            response
        }
    }
}

fn session_cookie_base(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

/// `jar` with the session cookie for `secret` (it lasts as long as the session).
pub(crate) fn start_session_cookie(
    jar: SignedCookieJar,
    secret: String,
    secure: bool,
) -> SignedCookieJar {
    let mut cookie = session_cookie_base(secret, secure);
    cookie.set_max_age(cookie::time::Duration::seconds(SESSION_MAX_AGE_S));
    jar.add(cookie)
}

/// `jar` removing the session cookie.
pub(crate) fn end_session_cookie(jar: SignedCookieJar, secure: bool) -> SignedCookieJar {
    jar.remove(session_cookie_base(String::new(), secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_bearer_tokens_are_taken() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            bearer(&h)
        };
        assert_eq!(with("Bearer ps_abc").as_deref(), Some("ps_abc"));
        assert_eq!(with("bearer  ps_abc ").as_deref(), Some("ps_abc"));
        assert_eq!(with("Basic dXNlcjpwYXNz"), None);
        assert_eq!(with("Bearer somebody-elses"), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
