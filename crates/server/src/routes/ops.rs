//! What operators and probes ask: liveness and readiness, and Prometheus metrics.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::metrics::StoreFigures;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub(crate) struct EncodingDto {
    done: usize,
    total: usize,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always "ok" when the server answers and its store is readable.
    status: String,
    papers: usize,
    /// Progress of the encoding running now, if any.
    encoding: Option<EncodingDto>,
    /// The sentence encoder: not_loaded, loading, ready or failed.
    model: String,
}

/// Liveness and readiness: 503 (`busy`, with `Retry-After`) while the database is
/// unreachable.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = ErrorBody), (status = 500, body = ErrorBody)))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let status = state.blocking(|e| e.status()).await?;
    Ok(Json(Health {
        status: "ok".into(),
        papers: status.papers,
        encoding: status
            .encoding
            .map(|(done, total)| EncodingDto { done, total }),
        model: status.model.as_str().to_string(),
    }))
}

/// `GET /metrics`: the engine's and the digest's figures read now, with the request counters.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (status, outbox, figures) = state
        .blocking(|e| {
            let figures = StoreFigures {
                pool: e.store().pool_state(),
                queue_depth: e.queue_depth()?,
                queue: e.queue_stats(),
            };
            Ok((e.status()?, e.store().outbox_stats()?, figures))
        })
        .await?;
    state
        .metrics()
        .render(&status, &outbox, state.digests().stats(), &figures)
}
