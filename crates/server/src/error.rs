//! Errors as HTTP answers: JSON `{"error", "kind"}` with the right status. Internal errors are
//! logged in full and answered without details.

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperscout_app::ErrorKind;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// Seconds, for 429s.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    error: String,
    /// What kind of failure, for programs: invalid, not_found, rate_limited, forbidden,
    /// too_large, unsupported_media_type, timeout, unavailable, busy (retry after
    /// Retry-After seconds) or internal.
    kind: &'static str,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid",
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden",
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limited",
            message: format!("too many requests from your address; try again in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "unavailable",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`: the server is momentarily busy (another process writing the
    /// store, background work not done yet, the encoder's queue full). Says nothing more:
    /// the cause may name files.
    pub fn busy(retry_after: u64) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "busy",
            message: format!("the server is busy; try again in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    pub fn internal() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: "internal error; the server log has the details".into(),
            retry_after: None,
        }
    }

    /// The status-specific kind for statuses produced by middleware (413, 408).
    pub fn from_status(status: StatusCode) -> ApiError {
        let (kind, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too_large",
                format!(
                    "the request body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ),
            ),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long".to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as JSON, with Content-Type: application/json".to_string(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("invalid", "this method is not allowed here".to_string())
            }
            s if s.is_server_error() => return ApiError::internal(),
            _ => (
                "invalid",
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_string(),
            ),
        };
        ApiError {
            status,
            kind,
            message,
            retry_after: None,
        }
    }
}

/// What a busy answer asks clients to wait, in seconds.
pub(crate) const BUSY_RETRY_SECS: u64 = 2;

/// The error and its causes, one after another.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl From<paperscout_app::Error> for ApiError {
    fn from(e: paperscout_app::Error) -> ApiError {
        match e.kind() {
            ErrorKind::Invalid => ApiError::invalid(e.to_string()),
            ErrorKind::NotFound => ApiError::not_found(e.to_string()),
            ErrorKind::Unavailable => ApiError::unavailable(e.to_string()),
            ErrorKind::Busy => {
                tracing::info!(error = %chain(&e), "busy; asked the client to retry");
                ApiError::busy(BUSY_RETRY_SECS)
            }
            ErrorKind::Internal => {
                tracing::error!(error = %chain(&e), "request failed");
                ApiError::internal()
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::invalid(format!("bad query string: {}", e.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::invalid(format!("bad path: {}", e.body_text()))
    }
}

impl From<FormRejection> for ApiError {
    fn from(e: FormRejection) -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        ApiError::invalid(format!("bad form: {}", e.body_text()))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        tracing::error!(error = %e, "a request's blocking work panicked or was cancelled");
        ApiError::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
                kind: self.kind,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
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
        crate::web::error_page(e)
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
    fn internal_errors_answer_500_without_their_details() {
        let e = paperscout_app::Error::Io {
            context: "cannot read /secret/path/papers.sqlite".into(),
            source: std::io::Error::other("disk on fire"),
        };
        let answer = ApiError::from(e);
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.kind, "internal");
        assert!(
            !answer.message.contains("/secret/path"),
            "{}",
            answer.message
        );
        assert!(!answer.message.contains("fire"));

        let panic = panic_response(Box::new("boom"));
        assert_eq!(panic.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn user_errors_keep_their_message() {
        let answer = ApiError::from(paperscout_app::Error::Invalid("the query is empty".into()));
        assert_eq!(
            (answer.status, answer.kind),
            (StatusCode::BAD_REQUEST, "invalid")
        );
        assert_eq!(answer.message, "the query is empty");
        let limited = ApiError::rate_limited(3).into_response();
        assert_eq!(limited.headers()[header::RETRY_AFTER], "3");
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
