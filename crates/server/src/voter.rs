//! Anonymous visitors: a random id in a signed cookie identifies a voter (one vote per voter per
//! paper) until accounts exist, and binds the CSRF token that every form carries. Imports no
//! sibling: the middleware and the [`Visitor`] extractor take [`Voters`] from the state.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::SignedCookieJar;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use std::sync::Arc;

/// The keys that sign voter cookies and CSRF tokens, and how cookies are marked.
pub(crate) struct Voters {
    cookie_key: Key,
    csrf_key: Vec<u8>,
    secure_cookies: bool,
}

impl Voters {
    pub(crate) fn new(cookie_key: Key, csrf_key: Vec<u8>, secure_cookies: bool) -> Voters {
        Voters {
            cookie_key,
            csrf_key,
            secure_cookies,
        }
    }

    pub(crate) fn cookie_key(&self) -> &Key {
        &self.cookie_key
    }

    /// Whether cookies are marked `Secure` (the site is served over HTTPS).
    pub(crate) fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    fn mac(&self, visitor: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf_key).expect("any key length");
        mac.update(visitor.as_bytes());
        mac
    }

    /// The CSRF token for `visitor`'s forms.
    pub(crate) fn csrf_token(&self, visitor: &Visitor) -> String {
        hex::encode(self.mac(&visitor.id).finalize().into_bytes())
    }

    /// Whether `token` is `visitor`'s CSRF token (compared in constant time). A new visitor,
    /// whose cookie did not come with the request, never passes.
    pub(crate) fn csrf_ok(&self, visitor: &Visitor, token: &str) -> bool {
        !visitor.is_new
            && hex::decode(token)
                .map(|t| self.mac(&visitor.id).verify_slice(&t).is_ok())
                .unwrap_or(false)
    }
}

pub(crate) const COOKIE: &str = "paperscout_voter";
const COOKIE_MAX_AGE_DAYS: i64 = 400;

/// The visitor making a request. A visitor without a (validly signed) cookie gets a new id, and
/// `jar` sets the cookie when it is part of the response. A signed-in reader votes (and signs
/// forms) as their account, whichever browser they use: see [`SignedInVoter`].
pub(crate) struct Visitor {
    pub id: String,
    pub jar: SignedCookieJar,
    pub is_new: bool,
    /// The anonymous id of the voter cookie, whoever is signed in (whose votes a sign-in moves).
    pub anonymous_id: Option<String>,
    /// The signed-in account, if any.
    pub account_id: Option<i64>,
}

/// Put in a request's extensions by the sign-in layer (`account::resolve`): the signed-in
/// account and its voter id, which [`Visitor`] then is.
#[derive(Clone)]
pub(crate) struct SignedInVoter {
    pub voter: String,
    pub account_id: i64,
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `headers` carry a validly signed voter cookie.
fn has_cookie(headers: &axum::http::HeaderMap, key: &axum_extra::extract::cookie::Key) -> bool {
    SignedCookieJar::from_headers(headers, key.clone())
        .get(COOKIE)
        .is_some_and(|c| valid_id(c.value()))
}

/// Middleware: a request that came without the voter cookie gets one with the answer (unless
/// the handler set it already), so that a vote can require a cookie this server issued; no
/// answer that sets a cookie, nor any page that holds a subscriber's token, is stored by any
/// cache; and no other answer to a visit is kept by a shared cache.
pub(crate) async fn cookies(
    axum::extract::State(voters): axum::extract::State<Arc<Voters>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let path = request.uri().path();
    // Static files, probes and scrapes are not visits (and static files stay cacheable).
    let visit = !(path.starts_with("/static/") || path == "/healthz" || path == "/metrics");
    let had_cookie = !visit || has_cookie(request.headers(), &voters.cookie_key);
    let private = matches!(
        request.uri().path(),
        "/subscription"
            | "/subscription/preview"
            | "/unsubscribe"
            | "/subscribe/confirm"
            | "/signin/confirm"
            | "/account"
    ) || path.starts_with("/library")
        || path.starts_with("/for-you")
        || path.starts_with("/api/account")
        || path.starts_with("/api/collections")
        || path.starts_with("/api/for-you");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let sets_voter = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(COOKIE.as_bytes()));
    if !had_cookie && !sets_voter {
        let jar = new_visitor_cookie(
            SignedCookieJar::new(voters.cookie_key.clone()),
            voters.secure_cookies,
        )
        .1;
        let issued = axum::response::IntoResponse::into_response((jar, ()));
        for value in issued.headers().get_all(header::SET_COOKIE) {
            headers.append(header::SET_COOKIE, value.clone());
        }
    }
    if private || headers.contains_key(header::SET_COOKIE) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if visit && !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry the visitor's CSRF token and votes: never from a shared cache.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    response
}

/// A new visitor id and `jar` with its cookie added.
fn new_visitor_cookie(jar: SignedCookieJar, secure: bool) -> (String, SignedCookieJar) {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let id = hex::encode(bytes);
    let cookie = Cookie::build((COOKIE, id.clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::days(COOKIE_MAX_AGE_DAYS))
        .secure(secure)
        .build();
    (id, jar.add(cookie))
}

impl<S> FromRequestParts<S> for Visitor
where
    S: Send + Sync,
    Arc<Voters>: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let voters = Arc::<Voters>::from_ref(state);
        let jar = SignedCookieJar::from_headers(&parts.headers, voters.cookie_key.clone());
        let anonymous = jar
            .get(COOKIE)
            .map(|c| c.value().to_string())
            .filter(|id| valid_id(id));
        if let Some(signed_in) = parts.extensions.get::<SignedInVoter>() {
            return Ok(Visitor {
                id: signed_in.voter.clone(),
                jar,
                is_new: false,
                anonymous_id: anonymous,
                account_id: Some(signed_in.account_id),
            });
        }
        if let Some(id) = anonymous {
            return Ok(Visitor {
                id: id.clone(),
                jar,
                is_new: false,
                anonymous_id: Some(id),
                account_id: None,
            });
        }
        let (id, jar) = new_visitor_cookie(jar, voters.secure_cookies);
        Ok(Visitor {
            id: id.clone(),
            jar,
            is_new: true,
            anonymous_id: Some(id),
            account_id: None,
        })
    }
}
