//! Prometheus metrics at `/metrics` (OpenMetrics text): requests and latency by route, papers
//! indexed, encoding progress, votes, and mail (sent by kind, failed attempts, given up,
//! waiting in the outbox). Imports only `error`; the middleware takes [`Metrics`] from the
//! state, and the `/metrics` route hands [`Metrics::render`] what it reads from the engine.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use paperscout_app::digest::MailKind;

use std::sync::Arc;

use crate::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// One of the standard methods, else `other`: bounded cardinality (a client chooses it).
    method: &'static str,
    /// The route pattern (`/api/papers/{id}`), never the raw path: bounded cardinality.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// The method as a label: the standard ones by name, anything a client made up as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// confirm, notice or digest.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    /// open or idle.
    state: &'static str,
}

/// The shared-database figures `/metrics` reads (see [`Metrics::render`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreFigures {
    /// PostgreSQL connection pool: (open, idle); `None` on SQLite.
    pub(crate) pool: Option<(u32, u32)>,
    /// Papers waiting for an embedding from the model, whoever holds them.
    pub(crate) queue_depth: Option<usize>,
    pub(crate) queue: paperscout_app::QueueStats,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    papers: Gauge,
    encoding_pending: Gauge,
    pub(crate) votes: Counter,
    mail_sent: Family<KindLabels, Counter>,
    mail_failed_attempts: Counter,
    mail_given_up: Counter,
    mail_pending: Gauge,
    digests_skipped_empty: Counter,
    db_pool: Family<PoolLabels, Gauge>,
    queue_depth: Gauge,
    queue_claims: Counter,
    queue_claimed: Counter,
    queue_taken_over: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("paperscout");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let papers = Gauge::default();
        let encoding_pending = Gauge::default();
        let votes = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register("papers", "Papers in the store and indexes", papers.clone());
        registry.register(
            "encoding_pending",
            "Papers waiting for their embedding in the running encoding",
            encoding_pending.clone(),
        );
        registry.register("upvotes", "Upvotes recorded", votes.clone());
        let mail_sent = Family::<KindLabels, Counter>::default();
        let mail_failed_attempts = Counter::default();
        let mail_given_up = Counter::default();
        let mail_pending = Gauge::default();
        let digests_skipped_empty = Counter::default();
        registry.register(
            "mail_sent",
            "Mails accepted by the SMTP server, by kind",
            mail_sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Attempts to send a mail that failed (each retry counts)",
            mail_failed_attempts.clone(),
        );
        registry.register(
            "mail_given_up",
            "Mails given up on (permanent SMTP errors or too many attempts)",
            mail_given_up.clone(),
        );
        registry.register(
            "mail_outbox_pending",
            "Mails waiting in the outbox (including those waiting to retry)",
            mail_pending.clone(),
        );
        registry.register(
            "digests_skipped_empty",
            "Digest days with nothing new, not sent (send_empty off)",
            digests_skipped_empty.clone(),
        );
        let db_pool = Family::<PoolLabels, Gauge>::default();
        let queue_depth = Gauge::default();
        let queue_claims = Counter::default();
        let queue_claimed = Counter::default();
        let queue_taken_over = Counter::default();
        registry.register(
            "db_pool_connections",
            "PostgreSQL connections this process holds, open and idle (absent on SQLite)",
            db_pool.clone(),
        );
        registry.register(
            "encoding_queue_depth",
            "Papers whose embedding is missing or stale, in the whole store (any process may hold them)",
            queue_depth.clone(),
        );
        registry.register(
            "encoding_claims",
            "Claims on the shared encoding queue this process made that handed out papers",
            queue_claims.clone(),
        );
        registry.register(
            "encoding_claimed_papers",
            "Papers this process claimed from the shared encoding queue",
            queue_claimed.clone(),
        );
        registry.register(
            "encoding_lease_expiries",
            "Claimed papers whose previous encoder's lease had expired (it died): taken over",
            queue_taken_over.clone(),
        );
        Metrics {
            db_pool,
            queue_depth,
            queue_claims,
            queue_claimed,
            queue_taken_over,
            registry,
            requests,
            latency,
            papers,
            encoding_pending,
            votes,
            mail_sent,
            mail_failed_attempts,
            mail_given_up,
            mail_pending,
            digests_skipped_empty,
        }
    }
}

/// Middleware: counts and times every request by its route.
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

impl Metrics {
    /// The OpenMetrics text, after setting the gauges and mirroring the digest's counters from
    /// what the route read: the engine's status, the outbox, and the digest's own counters
    /// (they live in the app, which also runs without a server).
    pub(crate) fn render(
        &self,
        status: &paperscout_app::Status,
        outbox: &paperscout_app::digest::OutboxStats,
        stats: &paperscout_app::digest::DigestStats,
        store: &StoreFigures,
    ) -> Result<Response, ApiError> {
        self.papers.set(status.papers as i64);
        self.encoding_pending.set(
            status
                .encoding
                .map(|(done, total)| total - done)
                .unwrap_or(0) as i64,
        );
        let sync = |c: &Counter, v: u64| {
            c.inc_by(v.saturating_sub(c.get()));
        };
        for kind in [
            MailKind::Confirm,
            MailKind::Notice,
            MailKind::Digest,
            MailKind::Signin,
        ] {
            sync(
                &self.mail_sent.get_or_create(&KindLabels {
                    kind: kind.as_str(),
                }),
                stats.sent(kind),
            );
        }
        sync(
            &self.mail_failed_attempts,
            stats.failed_attempts.load(Ordering::Relaxed),
        );
        sync(&self.mail_given_up, stats.failed.load(Ordering::Relaxed));
        sync(
            &self.digests_skipped_empty,
            stats.digests_skipped_empty.load(Ordering::Relaxed),
        );
        self.mail_pending.set(outbox.pending as i64);
        if let Some((open, idle)) = store.pool {
            self.db_pool
                .get_or_create(&PoolLabels { state: "open" })
                .set(i64::from(open));
            self.db_pool
                .get_or_create(&PoolLabels { state: "idle" })
                .set(i64::from(idle));
        }
        if let Some(depth) = store.queue_depth {
            self.queue_depth.set(depth as i64);
        }
        sync(&self.queue_claims, store.queue.claims);
        sync(&self.queue_claimed, store.queue.claimed);
        sync(&self.queue_taken_over, store.queue.taken_over);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|_| ApiError::internal())?;
        Ok((
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        let made_up = Method::from_bytes(&b"X".repeat(8000)).unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "other");
    }
}
