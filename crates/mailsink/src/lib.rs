//! A real SMTP server on loopback for tests and benchmarks: mailin-embedded speaking SMTP
//! over TCP, keeping each message it accepts. Tests send to it through lettre exactly as they
//! would to a mail server, and can make it refuse mail (temporarily or for good) to exercise
//! retries.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{response, Handler, Response, Server};

/// A message as received: the envelope and the raw RFC 5322 bytes.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    /// The parsed message (headers decoded, MIME parts split).
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("the server only keeps complete messages")
    }

    /// A header's raw value (unfolded, trimmed), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|s| s.into_owned())
            .unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|s| s.into_owned())
            .unwrap_or_default()
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    arrived: Condvar,
    /// Refuse this many coming messages with 451 (try again later).
    fail_temporarily: AtomicUsize,
    /// Refuse this many coming messages with 554 (permanent).
    fail_permanently: AtomicUsize,
    /// Keep only a count, not the messages (benchmarks).
    count_only: bool,
    count: AtomicUsize,
    bytes: AtomicUsize,
}

#[derive(Clone)]
struct Sink {
    shared: Arc<Shared>,
    current: Option<Received>,
}

impl Handler for Sink {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.shared.bytes.fetch_add(buf.len(), Ordering::Relaxed);
        if let Some(m) = self.current.as_mut() {
            if !self.shared.count_only {
                m.data.extend_from_slice(buf);
            }
        }
        Ok(())
    }

    // Refusals come at RCPT, as greylisting and full mailboxes do. (At the end of DATA,
    // mailin stays in its data state after an error and never answers RSET or QUIT.)
    fn rcpt(&mut self, _to: &str) -> Response {
        let take = |n: &AtomicUsize| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                .is_ok()
        };
        if take(&self.shared.fail_temporarily) {
            return response::INTERNAL_ERROR;
        }
        if take(&self.shared.fail_permanently) {
            return response::NO_MAILBOX;
        }
        response::OK
    }

    fn data_end(&mut self) -> Response {
        if let Some(m) = self.current.take() {
            self.shared.count.fetch_add(1, Ordering::SeqCst);
            if !self.shared.count_only {
                self.shared
                    .messages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(m);
            }
            self.shared.arrived.notify_all();
        }
        response::OK
    }
}

/// A running SMTP server on 127.0.0.1. It lives until the process ends.
#[derive(Clone)]
pub struct MailSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailSink({})", self.addr)
    }
}

impl MailSink {
    /// Starts a server on a free loopback port, keeping every message.
    pub fn start() -> MailSink {
        Self::start_on("127.0.0.1:0", false)
    }

    /// Starts a server on `addr`; with `count_only`, messages are counted and dropped.
    pub fn start_on(addr: &str, count_only: bool) -> MailSink {
        let listener = TcpListener::bind(addr).expect("bind the SMTP sink");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let shared = Arc::new(Shared {
            count_only,
            ..Default::default()
        });
        let handler = Sink {
            shared: shared.clone(),
            current: None,
        };
        std::thread::Builder::new()
            .name("mailsink".into())
            .spawn(move || {
                let mut server = Server::new(handler);
                server
                    .with_name("mailsink.test")
                    .with_num_threads(16)
                    .with_tcp_listener(listener);
                if let Err(e) = server.serve() {
                    eprintln!("mailsink stopped: {e}");
                }
            })
            .expect("spawn the SMTP sink");
        MailSink { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give lettre (plain SMTP: this is loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Messages accepted so far (also in `count_only` mode).
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Bytes of message data received so far.
    pub fn bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` messages have arrived; false on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .shared
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while self.shared.count.load(Ordering::SeqCst) < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .shared
                .arrived
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Refuses the next `n` messages with `451` (a temporary failure).
    pub fn fail_next_temporarily(&self, n: usize) {
        self.shared.fail_temporarily.store(n, Ordering::SeqCst);
    }

    /// Refuses the next `n` messages with `554` (a permanent failure).
    pub fn fail_next_permanently(&self, n: usize) {
        self.shared.fail_permanently.store(n, Ordering::SeqCst);
    }
}
