//! Per-IP rate limits (governor's GCRA): pages and API reads, votes, and subscription
//! requests; and the gate in front of the encoder ([`admit_encoder`]), which bounds what each
//! address and everyone together may ask of it, by cost.
//!
//! An IPv6 client is limited by its /64 (one subscriber line gets a /64 or more, so per
//! address limits would not limit anyone).
//!
//! Imports `error` and `respond` (a limited page is answered as a page); the middleware takes
//! [`Limits`] from the state.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;
use crate::respond::error_page;
use paperscout_app::sync::MutexExt;

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

/// Every limit the server applies per address: reads, votes, subscription requests, and the
/// encoder's gate.
pub(crate) struct Limits {
    reads: Option<Limiter>,
    votes: Option<Limiter>,
    subscribes: Option<Limiter>,
    encoder: Arc<EncoderGate>,
}

impl Limits {
    pub(crate) fn new(
        reads_per_minute: u32,
        votes_per_minute: u32,
        subscribes_per_hour: u32,
        encoder: EncoderLimits,
    ) -> Limits {
        Limits {
            reads: limiter(reads_per_minute),
            votes: limiter(votes_per_minute),
            subscribes: hourly_limiter(subscribes_per_hour),
            encoder: EncoderGate::new(encoder),
        }
    }

    /// Checks the vote limit for `ip`.
    pub(crate) fn check_vote(&self, ip: ClientIp) -> Result<(), ApiError> {
        check(&self.votes, ip.0)
    }

    /// Checks the subscription-request limit for `ip` (each request may send a mail).
    pub(crate) fn check_subscribe(&self, ip: ClientIp) -> Result<(), ApiError> {
        check(&self.subscribes, ip.0)
    }

    /// Admits a search that needs the encoder (semantic or hybrid), or says why not: 429 when
    /// this address has too many such searches running or has spent its cost units, 503 when
    /// the queue is full for everyone. Lexical searches need no permit (`None`).
    pub(crate) fn admit_encoder(
        &self,
        ip: ClientIp,
        mode: paperscout_app::SearchMode,
        query: &str,
    ) -> Result<Option<EncoderPermit>, ApiError> {
        if !mode.needs_encoder() {
            return Ok(None);
        }
        self.encoder.admit(ip.0, query_cost(query)).map(Some)
    }

    /// Drops the state of addresses that have been quiet, so memory stays bounded.
    pub(crate) fn forget_idle(&self) {
        for limiter in [
            &self.reads,
            &self.votes,
            &self.subscribes,
            &self.encoder.cost,
        ]
        .into_iter()
        .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The peer's IP address (unspecified when the server runs without connection info, as in
/// handler tests). Proxies are not trusted: behind one, every visitor shares its address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(limit_key(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        )))
    }
}

/// The address limits count against: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// How much of the encoder one client and everyone together may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderLimits {
    /// Encoder-bound requests (semantic and hybrid searches) running or waiting, from everyone;
    /// past it, 503 with Retry-After.
    pub queue: usize,
    /// Encoder-bound requests running or waiting from one address; past it, 429.
    pub per_ip: usize,
    /// Cost units per minute per address (a query costs one unit per started 100 characters);
    /// 0: no limit.
    pub units_per_minute: u32,
}

impl Default for EncoderLimits {
    fn default() -> Self {
        EncoderLimits {
            queue: 32,
            per_ip: 4,
            units_per_minute: 300,
        }
    }
}

/// The cost of encoding `query`, in units of 100 characters: the encoder's work grows with
/// the query's tokens, so a 1,000-character query counts as ten short ones.
pub(crate) fn query_cost(query: &str) -> u32 {
    (query.trim().chars().count().div_ceil(100)).clamp(1, 10_000) as u32
}

pub(crate) struct EncoderGate {
    limits: EncoderLimits,
    queue: Arc<tokio::sync::Semaphore>,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
    cost: Option<Limiter>,
}

impl EncoderGate {
    pub(crate) fn new(limits: EncoderLimits) -> Arc<EncoderGate> {
        let cost = NonZeroU32::new(limits.units_per_minute).map(|rate| {
            let burst = NonZeroU32::new((limits.units_per_minute / 6).max(20)).expect("> 0");
            Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            ))
        });
        Arc::new(EncoderGate {
            limits,
            queue: Arc::new(tokio::sync::Semaphore::new(limits.queue.max(1))),
            in_flight: Mutex::new(HashMap::new()),
            cost,
        })
    }
}

/// A place in the encoder's queue, held for as long as the request runs.
pub(crate) struct EncoderPermit {
    gate: Arc<EncoderGate>,
    ip: IpAddr,
    _queue: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for EncoderPermit {
    fn drop(&mut self) {
        let mut map = self.gate.in_flight.lock_unpoisoned();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl EncoderGate {
    /// A place for a request from `ip` costing `units`, or why not (see
    /// [`Limits::admit_encoder`]).
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        units: u32,
    ) -> Result<EncoderPermit, ApiError> {
        let mut map = self.in_flight.lock_unpoisoned();
        if map.get(&ip).copied().unwrap_or(0) >= self.limits.per_ip.max(1) {
            return Err(ApiError::rate_limited(1));
        }
        // The shared queue first: a request turned away because everyone's queue is full
        // (503, retry) has used none of its address's allowance.
        let Ok(queue) = self.queue.clone().try_acquire_owned() else {
            return Err(ApiError::busy(1));
        };
        if let Some(cost) = &self.cost {
            let units = NonZeroU32::new(units.max(1)).expect("at least 1");
            match cost.check_key_n(&ip, units) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    return Err(ApiError::rate_limited(wait.as_secs().max(1)));
                }
                // Costs more than a whole burst: never admissible.
                Err(_) => return Err(ApiError::invalid("the query is too long to encode")),
            }
        }
        *map.entry(ip).or_insert(0) += 1;
        Ok(EncoderPermit {
            gate: self.clone(),
            ip,
            _queue: queue,
        })
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

/// Middleware: the read limit, for everything but health checks, metrics, static files and
/// one-click unsubscribes.
pub(crate) async fn reads(
    State(limits): State<Arc<Limits>>,
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
        if let Err(e) = check(&limits.reads, ip.0) {
            return if path.starts_with("/api/") {
                e.into_response()
            } else {
                error_page(e)
            };
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(limit_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_encoder_gate_bounds_each_address_and_everyone() {
        let gate = EncoderGate::new(EncoderLimits {
            queue: 3,
            per_ip: 2,
            units_per_minute: 0,
        });
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n));
        let a1 = gate.admit(ip(1), 1).unwrap();
        let _a2 = gate.admit(ip(1), 1).unwrap();
        // A third from the same address: 429.
        let e = gate.admit(ip(1), 1).err().unwrap();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        let _b1 = gate.admit(ip(2), 1).unwrap();
        // The queue (3) is full: 503 for everyone, with Retry-After.
        let e = gate.admit(ip(3), 1).err().unwrap();
        assert_eq!(
            (e.status, e.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, Some(1))
        );
        // A finished request gives its place back.
        drop(a1);
        let _c1 = gate.admit(ip(3), 1).unwrap();
        assert_eq!(query_cost("short"), 1);
        assert_eq!(query_cost(&"x".repeat(1000)), 10);
        assert_eq!(query_cost(&"x".repeat(1001)), 11);
    }

    #[test]
    fn costly_queries_spend_the_allowance_faster() {
        let gate = EncoderGate::new(EncoderLimits {
            queue: 100,
            per_ip: 100,
            units_per_minute: 60,
        });
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Bursts of 20 units: two 10-unit queries, then 429.
        let _p: Vec<_> = (0..2).map(|_| gate.admit(ip, 10).unwrap()).collect();
        let e = gate.admit(ip, 10).err().unwrap();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.retry_after.is_some());
        // Another address has its own allowance.
        assert!(gate
            .admit(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), 10)
            .is_ok());
    }

    #[test]
    fn turned_away_by_a_full_queue_costs_nothing() {
        let gate = EncoderGate::new(EncoderLimits {
            queue: 1,
            per_ip: 100,
            units_per_minute: 60,
        });
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        );
        let held = gate.admit(a, 1).unwrap();
        // b is told "busy" many times while a's request runs...
        for _ in 0..10 {
            let e = gate.admit(b, 10).err().unwrap();
            assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        }
        drop(held);
        // ...and still has its whole burst (20 units) afterwards.
        let first = gate.admit(b, 10).unwrap();
        drop(first);
        assert!(gate.admit(b, 10).is_ok());
    }
}
