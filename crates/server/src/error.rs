//! Errors as HTTP answers: JSON `{"error", "kind"}` with the right status. Internal errors are
//! logged in full and answered without details.

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperscout_app::{error_chain, ErrorKind};
use serde::Serialize;

/// What kind of failure an error is, for programs (the `kind` of every JSON error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// Malformed or out-of-range input (400, also 405).
    Invalid,
    /// No such paper, page or route (404).
    NotFound,
    /// Too many requests from this address (429, with Retry-After).
    RateLimited,
    /// Signing in is needed: no session, or an API token that is not valid (401).
    Unauthorized,
    /// A form token or cookie is missing or wrong, or another site sent the request (403).
    Forbidden,
    /// The request body is too large (413).
    TooLarge,
    /// The body is not JSON (415).
    UnsupportedMediaType,
    /// The request took too long (408).
    Timeout,
    /// A feature is off or failed here (503), e.g. mail without an SMTP server.
    Unavailable,
    /// Momentarily busy (503): retry after Retry-After seconds.
    Busy,
    /// A failure on the server's side (500); the server log has the details.
    Internal,
}

impl ApiErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorKind::Invalid => "invalid",
            ApiErrorKind::NotFound => "not_found",
            ApiErrorKind::RateLimited => "rate_limited",
            ApiErrorKind::Unauthorized => "unauthorized",
            ApiErrorKind::Forbidden => "forbidden",
            ApiErrorKind::TooLarge => "too_large",
            ApiErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ApiErrorKind::Timeout => "timeout",
            ApiErrorKind::Unavailable => "unavailable",
            ApiErrorKind::Busy => "busy",
            ApiErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ApiErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the wire name (`"not_found"`), as clients see it.
impl PartialEq<&str> for ApiErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ApiErrorKind,
    pub message: String,
    /// Seconds, for 429s.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    error: String,
    /// What kind of failure, for programs.
    kind: ApiErrorKind,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: ApiErrorKind::Invalid,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: ApiErrorKind::NotFound,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: ApiErrorKind::Unauthorized,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A form whose CSRF token is missing, stale or another visitor's: the one wording every
    /// page uses.
    pub fn stale_form() -> ApiError {
        ApiError::forbidden(
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            kind: ApiErrorKind::Forbidden,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: ApiErrorKind::RateLimited,
            message: format!("too many requests from your address; try again in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: ApiErrorKind::Unavailable,
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
            kind: ApiErrorKind::Busy,
            message: format!("the server is busy; try again in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    /// The database server cannot be reached (down or restarting): 503 with `Retry-After`.
    /// Names no host: the log has the details.
    pub fn database_down(retry_after: u64) -> ApiError {
        ApiError {
            message: format!("the database is unreachable; try again in {retry_after} s"),
            ..ApiError::busy(retry_after)
        }
    }

    pub fn internal() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: ApiErrorKind::Internal,
            message: "internal error; the server log has the details".into(),
            retry_after: None,
        }
    }

    /// The status-specific kind for statuses produced by middleware (413, 408).
    pub fn from_status(status: StatusCode) -> ApiError {
        let (kind, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                ApiErrorKind::TooLarge,
                format!(
                    "the request body is larger than {} bytes ({} for a library import)",
                    crate::MAX_BODY_BYTES,
                    crate::MAX_IMPORT_BYTES
                ),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                ApiErrorKind::Timeout,
                "the request took too long".to_string(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                ApiErrorKind::UnsupportedMediaType,
                "send the body as JSON, with Content-Type: application/json".to_string(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                ApiErrorKind::Invalid,
                "this method is not allowed here".to_string(),
            ),
            s if s.is_server_error() => return ApiError::internal(),
            _ => (
                ApiErrorKind::Invalid,
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

impl From<paperscout_app::Error> for ApiError {
    fn from(e: paperscout_app::Error) -> ApiError {
        // An account's limits (tokens, collections, papers per collection): the user's to fix.
        if let paperscout_app::Error::Store(paperscout_app::store::Error::Refused(m)) = &e {
            return ApiError::invalid(m.clone());
        }
        match e.kind() {
            ErrorKind::Invalid => ApiError::invalid(e.to_string()),
            ErrorKind::NotFound => ApiError::not_found(e.to_string()),
            ErrorKind::Unavailable => ApiError::unavailable(e.to_string()),
            ErrorKind::Busy if e.is_database_down() => {
                tracing::warn!(error = %error_chain(&e), "database unreachable; asked the client to retry");
                ApiError::database_down(BUSY_RETRY_SECS)
            }
            ErrorKind::Busy => {
                tracing::info!(error = %error_chain(&e), "busy; asked the client to retry");
                ApiError::busy(BUSY_RETRY_SECS)
            }
            ErrorKind::Internal => {
                tracing::error!(error = %error_chain(&e), "request failed");
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
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"paperscout\""),
            );
        }
        response
    }
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
    }

    #[test]
    fn user_errors_keep_their_message() {
        let answer = ApiError::from(paperscout_app::Error::Invalid("the query is empty".into()));
        assert_eq!(
            (answer.status, answer.kind.as_str()),
            (StatusCode::BAD_REQUEST, "invalid")
        );
        assert_eq!(answer.message, "the query is empty");
        let limited = ApiError::rate_limited(3).into_response();
        assert_eq!(limited.headers()[header::RETRY_AFTER], "3");
    }
}
