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

/// A PostgreSQL cluster of a test's own, for tests that stop and start the server (an outage
/// must not hit the other tests' server). Needs the binaries (`PAPERSCOUT_TEST_PGBIN`, else
/// Debian's `/usr/lib/postgresql/*/bin`); runs as the `postgres` user when this is root, as
/// PostgreSQL refuses to run as root. Stopped and removed when dropped.
#[derive(Debug)]
pub struct Cluster {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    port: u16,
}

fn pg_bin() -> Option<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("PAPERSCOUT_TEST_PGBIN") {
        return Some(bin.into());
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Cluster {
    /// Starts a new cluster on a free loopback port, or `None` (with a notice, or a failure
    /// under `PAPERSCOUT_REQUIRE_POSTGRES=1`) when the binaries are missing.
    pub fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            let notice = format!(
                "NOT RUN: {test} needs PostgreSQL's binaries (Debian: apt-get install postgresql)"
            );
            assert!(
                std::env::var("PAPERSCOUT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{notice}"
            );
            eprintln!("{notice}");
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "paperscout-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = std::process::Command::new("chown")
                .args(["postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown postgres {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster { bin, dir, port };
        let data = cluster.dir.join("data");
        cluster.pg(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "paperscout",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        cluster.start_server();
        Some(cluster)
    }

    fn pg(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server (again, after [`Cluster::stop_server`]), on the same port.
    pub fn start_server(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.pg(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// Stops the server (fast shutdown: sessions are cut, as in a crash or a restart).
    pub fn stop_server(&self) {
        let data = self.dir.join("data");
        self.pg(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://paperscout@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
