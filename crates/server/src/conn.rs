//! The connection level: accepting, capping and timing out TCP connections, then serving HTTP/1
//! on each with hyper.
//!
//! Written here rather than using `axum::serve` because that offers none of the limits a
//! server facing the open internet needs: a deadline for the request head (slowloris), an
//! idle keep-alive timeout, and caps on connections in all and per address. Everything above
//! the connection (routes, rate limits, timeouts per request) stays in the tower stack.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::limit::limit_key;
use paperscout_app::sync::MutexExt;

/// Limits on connections. The defaults suit a site on one machine behind no proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's head (request line and headers) must arrive within this. hyper starts
    /// this deadline as soon as a connection waits for its next request, so it also bounds
    /// how long a keep-alive connection may sit idle.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request running is closed after this, or after
    /// `header_timeout` if that is shorter (see above).
    pub idle_timeout: Duration,
    /// Open connections in all; further ones are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections from one address (an IPv6 client: its /64).
    pub max_per_ip: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_per_ip: 64,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Counts connections in all and per address.
#[derive(Default)]
struct Counts {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's place in [`Counts`], given back on drop.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Counts {
    fn take(self: &Arc<Self>, ip: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
        let mut map = self.per_ip.lock_unpoisoned();
        if self.total.load(Ordering::SeqCst) >= limits.max_connections
            || map.get(&ip).copied().unwrap_or(0) >= limits.max_per_ip
        {
            return None;
        }
        *map.entry(ip).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.per_ip.lock_unpoisoned();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.counts.total.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Requests running on one connection, and when the last one ended.
struct Activity {
    running: AtomicUsize,
    last: Mutex<Instant>,
}

struct Running(Arc<Activity>);

impl Running {
    fn start(a: &Arc<Activity>) -> Running {
        a.running.fetch_add(1, Ordering::SeqCst);
        Running(a.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *self.0.last.lock_unpoisoned() = Instant::now();
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish (up to `limits.drain_timeout`) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(slot) = counts.take(limit_key(peer.ip()), &limits) else {
            tracing::debug!(%peer, "connection limit reached; closing the new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(connection(stream, peer, router, limits, stop, slot));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + limits.drain_timeout;
    while counts.total.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = counts.total.load(Ordering::SeqCst);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "shutting down with requests still running"
        );
    }
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let activity = Arc::new(Activity {
        running: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let running = Running::start(&activity);
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(axum::body::Body::new)).await;
                drop(running);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(limits.idle_timeout));
    let mut closing = false;
    let mut closing_since = Instant::now();
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !closing => {
                let _ = changed;
                closing = true;
                closing_since = Instant::now();
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => {
                if closing {
                    // A client that never reads its answer cannot hold the connection open.
                    if closing_since.elapsed() >= limits.drain_timeout {
                        return;
                    }
                    continue;
                }
                let idle = activity.running.load(Ordering::SeqCst) == 0
                    && activity.last.lock_unpoisoned().elapsed()
                        >= limits.idle_timeout;
                if idle {
                    closing = true;
                    closing_since = Instant::now();
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
