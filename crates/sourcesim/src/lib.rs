//! A real HTTP server on loopback that stands in for a paper source in tests: each request to
//! a path gets the next reply scripted for that path (a fixture file, an error status with a
//! `Retry-After`, a page cut short), and every request is logged with its query and
//! User-Agent. The harvester talks to it over TCP exactly as it would to arXiv.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// 200 with the contents of `path`.
    pub fn file(path: impl AsRef<std::path::Path>) -> Reply {
        let path = path.as_ref();
        Reply::ok(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    /// The first half of the file: what a connection dropped mid-page leaves.
    pub fn cut_short(path: impl AsRef<std::path::Path>) -> Reply {
        let mut reply = Reply::file(path);
        reply.body.truncate(reply.body.len() / 2);
        reply
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub user_agent: String,
}

impl Seen {
    /// The value of query parameter `name` (percent-decoding `%7C` and `%3A` is enough for
    /// the tokens and dates the harvester sends).
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| {
                v.replace("%7C", "|")
                    .replace("%7c", "|")
                    .replace("%3A", ":")
                    .replace("%3a", ":")
            })
        })
    }
}

#[derive(Default)]
struct State {
    script: HashMap<String, VecDeque<Reply>>,
    seen: Vec<Seen>,
}

/// The server; it stops when dropped (its runtime thread ends with the process).
pub struct SourceSim {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for SourceSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSim")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SourceSim {
    /// Starts a server on a free loopback port.
    pub fn start() -> SourceSim {
        let state = Arc::new(Mutex::new(State::default()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("bound"))
                    .expect("the starter waits");
                let app = axum::Router::new().fallback(move |request: Request<Body>| {
                    let state = Arc::clone(&shared);
                    async move { answer(&state, request) }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("the server starts");
        SourceSim {
            addr,
            state,
            _shutdown: shutdown,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues `reply` as the answer to the next unanswered request to `path`.
    pub fn push(&self, path: &str, reply: Reply) {
        self.lock()
            .script
            .entry(path.to_string())
            .or_default()
            .push_back(reply);
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Replies queued and not yet asked for.
    pub fn unanswered(&self) -> usize {
        self.lock().script.values().map(VecDeque::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn answer(state: &Mutex<State>, request: Request<Body>) -> Response<Body> {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let path = request.uri().path().to_string();
    state.seen.push(Seen {
        path: path.clone(),
        query: request.uri().query().unwrap_or_default().to_string(),
        user_agent: request
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    });
    let reply = state
        .script
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or_else(|| Reply::status(404, format!("nothing scripted for {path}")));
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}
