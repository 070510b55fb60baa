//! The PostgreSQL server tests run against: `PAPERSCOUT_TEST_POSTGRES` (a URL; `.ci/run`
//! starts a throwaway cluster on loopback with `.ci/postgres start` and sets it). Each test
//! gets a schema of its own on it, so tests run in parallel and leave each other alone.
//!
//! Without the variable the PostgreSQL tests do not run, and say so on stderr (`cargo test --
//! --nocapture` shows it, and `.ci/run` never lets it happen: it sets
//! `PAPERSCOUT_REQUIRE_POSTGRES=1`, which turns the notice into a failure).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The server's URL, or `None` after a notice naming `test` as not run.
pub fn url(test: &str) -> Option<String> {
    match std::env::var("PAPERSCOUT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("PAPERSCOUT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            let notice = format!(
                "NOT RUN: {test} needs PostgreSQL; start one with `eval \"$(.ci/postgres start)\"` \
                 (sets PAPERSCOUT_TEST_POSTGRES) or run .ci/run"
            );
            assert!(!required, "{notice} (PAPERSCOUT_REQUIRE_POSTGRES=1)");
            eprintln!("{notice}");
            None
        }
    }
}

/// A URL for a new, empty schema on the test server (the connection's `search_path` points
/// there), or `None` as [`url`].
pub fn fresh_schema(test: &str) -> Option<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = url(test)?;
    let tail: String = test
        .rsplit("::")
        .nth(1)
        .unwrap_or(test)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(30)
        .collect();
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        tail.to_ascii_lowercase()
    );
    let mut client = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {base}: {e}"));
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}
