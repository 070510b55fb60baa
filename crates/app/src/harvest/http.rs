//! HTTP for harvesting: one agent with timeouts and a User-Agent that names us, a polite delay
//! between requests to the same source, retries with exponential backoff on transport errors
//! and 5xx, and `Retry-After` honoured on 503 and 429 (arXiv's OAI-PMH interface answers 503
//! with `Retry-After` to pace harvesters).
//!
//! What a fetch reports is shown on public pages (`/sources`, `/api/harvests`), so it never
//! holds a URL's credentials (`user:password@`) nor what the source answered in an error
//! body. Redirects are followed only within the source's own scheme, host and port.

use std::io::Read;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::HarvestConfig;

/// An API page is a few MB; anything larger is refused.
const MAX_BODY_BYTES: u64 = 64 << 20;
/// Redirects followed for one request (within the source's origin).
const MAX_REDIRECTS: u32 = 5;

/// Why a fetch gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

pub(crate) struct Fetcher {
    agent: ureq::Agent,
    config: HarvestConfig,
    last_request: Option<Instant>,
    /// Retries so far in this harvest (for the report).
    pub retries: u32,
}

impl Fetcher {
    pub fn new(config: &HarvestConfig) -> Fetcher {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(config.timeout.min(Duration::from_secs(30)))
            .timeout(config.timeout)
            .user_agent(&config.user_agent)
            // Followed by hand, within the source's origin (see `get`).
            .redirects(0)
            .build();
        Fetcher {
            agent,
            config: config.clone(),
            last_request: None,
            retries: 0,
        }
    }

    /// GETs `url` with `query`, retrying as the module says, and returns what `accept` makes
    /// of a 200 body; a body it refuses (a page cut short by a dropped connection does not
    /// parse) is fetched again.
    pub fn get<T>(
        &mut self,
        url: &str,
        query: &[(&str, &str)],
        accept: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        let shown = shown_url(url, query);
        let mut failures = 0u32;
        let mut redirected: Option<String> = None;
        let mut redirects = 0u32;
        loop {
            self.wait_politely();
            let request = match &redirected {
                Some(target) => self.agent.get(target),
                None => {
                    let mut r = self.agent.get(url);
                    for (k, v) in query {
                        r = r.query(k, v);
                    }
                    r
                }
            };
            let outcome = match request.call() {
                Ok(response) if (300..400).contains(&response.status()) => {
                    let location = response.header("Location").unwrap_or("").to_string();
                    match same_origin_target(url, &location) {
                        Some(target) if redirects < MAX_REDIRECTS => {
                            redirects += 1;
                            redirected = Some(target);
                            continue;
                        }
                        Some(_) => Retry::Never(format!("{shown}: more than {MAX_REDIRECTS} redirects")),
                        None => Retry::Never(format!(
                            "{shown} answered HTTP {} with a redirect to another host ({}); not followed",
                            response.status(),
                            origin(&location).map(|o| redact(&o)).unwrap_or_else(|| "no Location".into())
                        )),
                    }
                }
                Ok(response) => match read_body(response) {
                    Ok(body) => match accept(&body) {
                        Ok(value) => return Ok(value),
                        Err(why) => Retry::After(None, format!("an unreadable answer ({why})")),
                    },
                    Err(why) => Retry::After(None, why),
                },
                Err(ureq::Error::Status(code, response)) => {
                    let wait = response.header("Retry-After").and_then(parse_retry_after);
                    // The body is logged for the operator, never kept in the report: it is
                    // shown publicly and may echo anything (credentials, internal pages).
                    let body = read_body(response).unwrap_or_default();
                    tracing::debug!(url = %shown, status = code, body = %String::from_utf8_lossy(&body[..body.len().min(500)]), "the source answered an error");
                    match code {
                        429 | 503 => Retry::After(wait, format!("HTTP {code} (busy)")),
                        500..=599 => Retry::After(None, format!("HTTP {code}")),
                        _ => Retry::Never(format!("{shown} answered HTTP {code}")),
                    }
                }
                Err(ureq::Error::Transport(t)) => Retry::After(None, redact(&t.to_string())),
            };
            let (wait, why) = match outcome {
                Retry::Never(message) => return Err(FetchError(message)),
                Retry::After(wait, why) => (wait, why),
            };
            failures += 1;
            if failures > self.config.max_retries {
                return Err(FetchError(format!(
                    "{shown}: gave up after {failures} attempts; the last: {why}"
                )));
            }
            self.retries += 1;
            let backoff = self
                .config
                .backoff
                .saturating_mul(1u32 << (failures - 1).min(16));
            let wait = wait.unwrap_or(backoff).min(self.config.max_wait);
            tracing::warn!(url = %shown, attempt = failures, wait_s = wait.as_secs_f64(), "{why}; retrying");
            sleep(wait);
        }
    }

    fn wait_politely(&mut self) {
        if let Some(last) = self.last_request {
            let since = last.elapsed();
            if since < self.config.delay {
                sleep(self.config.delay - since);
            }
        }
        self.last_request = Some(Instant::now());
    }
}

enum Retry {
    Never(String),
    After(Option<Duration>, String),
}

fn read_body(response: ureq::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("the connection broke while reading: {e}"))?;
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(format!("an answer over {} MB", MAX_BODY_BYTES >> 20));
    }
    Ok(body)
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

fn shown_url(url: &str, query: &[(&str, &str)]) -> String {
    let url = redact(url);
    if query.is_empty() {
        return url;
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{url}?{}", q.join("&"))
}

/// `text` with the credentials (`user:password@`) of every URL in it removed.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// `scheme://host[:port]` of an absolute URL, lower-cased, without credentials.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

/// Where a redirect from `source` to `location` leads, if it stays on the source's origin.
fn same_origin_target(source: &str, location: &str) -> Option<String> {
    let location = location.trim();
    // URL parsers end an http authority at `\` too (`http://evil\@good/` goes to `evil`):
    // such a location is refused rather than second-guessed.
    if location.contains('\\')
        || location
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let base = origin(source)?;
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(format!("{base}{location}"));
    }
    (origin(location)? == base).then(|| location.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_leave_and_redirects_stay_home() {
        assert_eq!(
            redact("GET http://ada:s3cret@oai.example.org/oai?verb=x failed"),
            "GET http://oai.example.org/oai?verb=x failed"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(
            shown_url("https://u:p@h.org/x", &[("a", "b")]),
            "https://h.org/x?a=b"
        );
        let src = "http://ada:pw@oai.example.org:8080/oai";
        assert_eq!(
            same_origin_target(src, "/oai?page=2").as_deref(),
            Some("http://oai.example.org:8080/oai?page=2")
        );
        assert_eq!(
            same_origin_target(src, "http://OAI.example.org:8080/next").as_deref(),
            Some("http://OAI.example.org:8080/next")
        );
        assert_eq!(same_origin_target(src, "http://evil.example/steal"), None);
        assert_eq!(same_origin_target(src, "//evil.example/x"), None);
        assert_eq!(
            same_origin_target(src, "http://evil.example\\@oai.example.org:8080/x"),
            None
        );
        assert_eq!(
            same_origin_target(src, "https://oai.example.org:8080/oai"),
            None
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(d.as_secs() >= 85 && d.as_secs() <= 90, "{d:?}");
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
