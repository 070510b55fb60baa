//! Several `serve` replicas and `worker`s on one PostgreSQL database: what one writes, the
//! others serve; work is shared, never done twice; a dead process's work is taken over; an
//! outage of the database is survived. Real processes, a real PostgreSQL (see
//! `paperscout_testkit::postgres`), a real SMTP server on loopback.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{fails, ok, paperscout};

const SECRET: &str = "the replicas' shared secret, long enough for hmac keys";

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Data dirs that print their replicas' logs if the test fails.
struct Dirs(Vec<tempfile::TempDir>);

impl Dirs {
    fn new(n: usize) -> Dirs {
        Dirs((0..n).map(|_| tempfile::tempdir().unwrap()).collect())
    }

    fn path(&self, i: usize) -> &Path {
        self.0[i].path()
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (i, dir) in self.0.iter().enumerate() {
                if let Ok(log) = std::fs::read_to_string(dir.path().join("serve.log")) {
                    let tail: Vec<&str> = log.lines().rev().take(40).collect();
                    eprintln!("---- replica {i} log (last lines) ----");
                    for line in tail.iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `paperscout` on the shared database, with its own data dir (its indexes).
fn on_db(db: &str, dir: &Path) -> Command {
    let mut cmd = paperscout(dir);
    cmd.env("PAPERSCOUT_DATABASE_URL", db)
        .env("PAPERSCOUT_SECRET", SECRET);
    cmd
}

/// A `serve` replica on `db`, answering at the URL returned once it is healthy.
fn replica(db: &str, dir: &Path, configure: impl FnOnce(&mut Command)) -> (Proc, String) {
    let port = free_port();
    let mut cmd = on_db(db, dir);
    // The log stays in the data dir: a failing test's replicas can be read afterwards.
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("PAPERSCOUT_READS_PER_MINUTE", "0")
        .env("PAPERSCOUT_VOTES_PER_MINUTE", "0")
        .env("PAPERSCOUT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    configure(&mut cmd);
    let child = Proc(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    wait_until(Duration::from_secs(120), "the replica to answer", || {
        ureq::get(&format!("{base}/healthz")).call().is_ok()
    });
    (child, base)
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get_json(url: &str) -> serde_json::Value {
    ureq::get(url).call().unwrap().into_json().unwrap()
}

/// The voter cookie a replica sets on a first visit, as a `Cookie` header value.
fn voter_cookie(base: &str) -> String {
    let r = ureq::get(&format!("{base}/api/papers")).call().unwrap();
    let set = r.header("set-cookie").expect("a first visit gets a cookie");
    set.split(';').next().unwrap().to_string()
}

fn upvote(base: &str, id: &str, cookie: &str) -> (u16, serde_json::Value) {
    match ureq::post(&format!("{base}/api/papers/{id}/upvote"))
        .set("Cookie", cookie)
        .call()
    {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

fn jsonl(papers: &[(&str, &str, &str)]) -> String {
    papers
        .iter()
        .map(|(id, title, abstract_text)| {
            serde_json::json!({"id": id, "title": title, "abstract": abstract_text}).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sql_i64(db: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn three_replicas_share_papers_votes_and_visitors() {
    let Some(db) = paperscout_testkit::postgres::fresh_schema("replicas::three_replicas") else {
        return;
    };
    let dirs = Dirs::new(4);
    // The first replica finds an empty database and loads the demo corpus into it.
    let (mut a_proc, a) = replica(&db, dirs.path(0), |_| {});
    let (_b, b) = replica(&db, dirs.path(1), |_| {});
    let (_c, c) = replica(&db, dirs.path(2), |_| {});
    for base in [&a, &b, &c] {
        assert_eq!(
            get_json(&format!("{base}/healthz"))["papers"],
            228,
            "{base}"
        );
    }

    // An ingest through another process is searchable on every replica within seconds
    // (they are told of the write, and catch their own indexes up).
    let file = dirs.path(3).join("new.jsonl");
    std::fs::write(
        &file,
        jsonl(&[
            (
                "2405.00001",
                "Quokka retrieval",
                "Marsupial-grade dense retrieval.",
            ),
            (
                "2405.00002",
                "Quokka reranking",
                "Cross-encoders, but small and happy.",
            ),
        ]),
    )
    .unwrap();
    ok(on_db(&db, dirs.path(3))
        .args(["ingest", "--no-encode"])
        .arg(&file));
    let written = Instant::now();
    for base in [&a, &b, &c] {
        wait_until(
            Duration::from_secs(10),
            "the ingest on every replica",
            || get_json(&format!("{base}/api/search?q=quokka&mode=lexical"))["total"] == 2,
        );
    }
    assert!(written.elapsed() < Duration::from_secs(10));

    // Votes cast through A and through B add up in C's trending.
    let id = "arxiv:2405.00001";
    let (from_a, from_b) = (voter_cookie(&a), voter_cookie(&b));
    assert_eq!(upvote(&a, id, &from_a).0, 200);
    let (status, body) = upvote(&b, id, &from_b);
    assert_eq!((status, body["votes"].as_u64()), (200, Some(2)), "{body}");
    let trending = get_json(&format!("{c}/api/trending"));
    assert_eq!(trending["papers"][0]["id"], id, "{trending}");
    assert_eq!(trending["papers"][0]["votes"], 2, "{trending}");

    // A visitor's cookie signed by A is valid on C: the same voter, who has voted already.
    let (status, body) = upvote(&c, id, &from_a);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["votes"].as_u64(), body["voted"].as_bool()),
        (Some(2), Some(true))
    );
    // A cookie no replica signed is refused everywhere.
    let forged = format!("paperscout_voter={}", "0".repeat(32));
    assert_eq!(upvote(&c, id, &forged).0, 403);

    // SIGTERM stops a replica cleanly (closing its database connections must not panic on
    // the runtime's threads), and the others go on.
    let killed = Command::new("kill")
        .args(["-TERM", &a_proc.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = a_proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        get_json(&format!("{b}/api/trending"))["papers"][0]["votes"],
        2
    );
}

#[test]
fn a_worker_killed_mid_batch_loses_its_claim_and_every_paper_gets_one_embedding() {
    let Some(db) = paperscout_testkit::postgres::fresh_schema("replicas::worker_killed") else {
        return;
    };
    let dirs = Dirs::new(5);
    let papers: Vec<(String, String, String)> = (0..300)
        .map(|i| {
            (
                format!("2406.{i:05}"),
                format!("Backlog paper {i} on topic {}", i % 17),
                format!(
                    "An abstract about subject {} and method {}.",
                    i % 23,
                    i % 11
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = papers
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let file = dirs.path(4).join("backlog.jsonl");
    std::fs::write(&file, jsonl(&refs)).unwrap();
    ok(on_db(&db, dirs.path(4))
        .args(["ingest", "--no-encode"])
        .env("PAPERSCOUT_NO_DEMO", "1")
        .arg(&file));

    let lease = "3";
    let mut first = Proc(
        on_db(&db, dirs.path(0))
            .args(["worker", "--encode-lease", lease])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Kill it (no cleanup, no unwinding) as soon as it holds a claim it has not written.
    let open_claims =
        "SELECT COUNT(*) FROM embedding_leases WHERE expires_at < 9223372036854775807";
    wait_until(Duration::from_secs(120), "the first worker's claim", || {
        sql_i64(&db, open_claims) > 0
    });
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let orphaned = sql_i64(&db, open_claims);
    assert!(orphaned > 0, "it died holding a claim");
    let encoded_before = sql_i64(&db, "SELECT COUNT(*) FROM embeddings");
    assert!(encoded_before < 300);

    // Two replicas and a second worker share the rest, the dead worker's papers included
    // once its claim expires.
    let (_a, a) = replica(&db, dirs.path(1), |c| {
        c.args(["--encode-lease", lease]);
    });
    let (_b, b) = replica(&db, dirs.path(2), |c| {
        c.args(["--encode-lease", lease]);
    });
    let out = ok(on_db(&db, dirs.path(3)).args(["worker", "--once", "--encode-lease", lease]));
    assert!(out.contains("encoded"), "{out}");
    assert_eq!(sql_i64(&db, "SELECT COUNT(*) FROM embeddings"), 300);
    assert_eq!(
        sql_i64(
            &db,
            "SELECT COUNT(DISTINCT (paper_key, model)) FROM embeddings"
        ),
        300,
        "one embedding per paper"
    );
    let metric = |base: &str, name: &str| -> f64 {
        let text = ureq::get(&format!("{base}/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // (The line ends in a newline: trimmed, or the last part never matches.)
    let taken_over: f64 = out
        .trim()
        .split(", ")
        .find_map(|p| p.strip_suffix(" taken over from encoders that died"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
        + metric(&a, "paperscout_encoding_lease_expiries_total")
        + metric(&b, "paperscout_encoding_lease_expiries_total");
    assert!(
        taken_over >= 1.0,
        "the dead worker's claim was taken over: {out}"
    );
    assert_eq!(metric(&a, "paperscout_encoding_queue_depth"), 0.0);

    // Every replica's vector index holds every paper (a semantic search ranks all 300):
    // their rankings agree.
    let query = "subject 7 and method 3";
    let mut totals = Vec::new();
    let search = |base: &str| {
        ureq::get(&format!(
            "{base}/api/search?q={}&mode=semantic",
            query.replace(' ', "+")
        ))
        .call()
        .map(|r| r.into_json::<serde_json::Value>().unwrap()["total"].clone())
        .unwrap_or_default()
    };
    wait_until(Duration::from_secs(30), "both replicas' vectors", || {
        totals = vec![search(&a), search(&b)];
        eprintln!("semantic totals: {totals:?}");
        totals.iter().all(|t| t == 300)
    });
    let ranking = |base: &str| -> Vec<String> {
        get_json(&format!(
            "{base}/api/search?q={}&mode=semantic&limit=20",
            query.replace(' ', "+")
        ))["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ranking(&a), ranking(&b));
}

#[test]
fn another_replica_takes_the_digest_over_when_the_one_running_it_dies() {
    use paperscout_app::digest::DigestConfig;
    use paperscout_app::{Config, Digests, Engine, ModelSpec, NoProgress, SmtpUrl};
    use paperscout_mailsink::MailSink;
    use std::sync::Arc;

    let Some(db) = paperscout_testkit::postgres::fresh_schema("replicas::digest_failover") else {
        return;
    };
    let dirs = Dirs::new(3);
    let sink = MailSink::start();
    // Three subscribers, confirmed two days ago: today's digest is due for each.
    let subscribers = ["ada@example.org", "bo@example.org", "cy@example.org"];
    {
        let mut model = ModelSpec::new(paperscout_testkit::cache_dir());
        model.dir = paperscout_testkit::model_dir();
        let engine = Engine::open(
            Config {
                database: Some(db.parse().unwrap()),
                ..Config::new(dirs.path(2).to_path_buf(), model)
            },
            Arc::new(NoProgress),
        )
        .unwrap();
        let config = DigestConfig {
            smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
            ..DigestConfig::default()
        };
        let d = Digests::new(Arc::new(engine), config, SECRET.as_bytes()).unwrap();
        let then = chrono::Utc::now() - chrono::Duration::days(2);
        for (i, email) in subscribers.iter().enumerate() {
            d.subscribe(
                &paperscout_app::SubscriptionRequest {
                    email: email.to_string(),
                    hour: Some(0),
                    timezone: Some("UTC".into()),
                    ..Default::default()
                },
                then,
            )
            .unwrap();
            d.deliver(then).unwrap();
            assert!(sink.wait_for(i + 1, Duration::from_secs(10)));
            let text = sink.messages()[i].text();
            let token: String = text.split("confirm?t=").nth(1).unwrap()[..80].to_string();
            d.confirm(&token, then).unwrap();
        }
    }
    let confirmations = sink.count();
    let config = dirs.path(2).join("paperscout.toml");
    std::fs::write(&config, "[digest]\nsend_empty = true\n").unwrap();
    let mail = |c: &mut Command| {
        c.env("PAPERSCOUT_SMTP_URL", sink.url())
            .env("PAPERSCOUT_CONFIG", &config)
            .env("PAPERSCOUT_SCHEDULER_TICK_SECS", "2");
    };
    // A runs the digest scheduler and dies right after claiming the first digest (abort:
    // nothing sent, no cleanup). B, started while A still held the scheduler, takes it over.
    let (mut a, _) = replica(&db, dirs.path(0), |c| {
        mail(c);
        c.env("PAPERSCOUT_FAULT", "crash-after-claim");
    });
    let (_b, b) = replica(&db, dirs.path(1), mail);
    wait_until(Duration::from_secs(60), "A to crash", || {
        a.0.try_wait().unwrap().is_some()
    });
    assert!(sink.wait_for(confirmations + subscribers.len(), Duration::from_secs(60)));
    // Several more scheduler rounds: nothing more goes out.
    std::thread::sleep(Duration::from_secs(6));
    let digests: Vec<String> = sink.messages()[confirmations..]
        .iter()
        .map(|m| m.to.join(","))
        .collect();
    let mut sorted = digests.clone();
    sorted.sort();
    assert_eq!(sorted, subscribers, "exactly one digest each: {digests:?}");
    let status = get_json(&format!("{b}/healthz"));
    assert_eq!(status["status"], "ok");
}

#[test]
fn replicas_answer_503_while_the_database_is_down_and_lose_nothing() {
    let Some(cluster) = paperscout_testkit::postgres::Cluster::start("replicas::outage") else {
        return;
    };
    let db = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = replica(&db, dir.path(), |_| {});
    let cookie = voter_cookie(&a);
    let id = "title:1915301b88c7177f"; // DeCLUTR, in the demo corpus
    assert_eq!(upvote(&a, id, &cookie).0, 200);

    // A light load throughout: pages, API reads, a vote now and then.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::<(Instant, u16, Option<String>, String)>::new());
    std::thread::scope(|scope| {
        for worker in 0..3 {
            let (stop, seen, a) = (&stop, &seen, &a);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let url = match (worker + i) % 3 {
                        0 => format!("{a}/api/search?q=contrastive&mode=lexical"),
                        1 => format!("{a}/api/papers/{id}"),
                        _ => format!("{a}/"),
                    };
                    let (status, retry) = match ureq::get(&url).call() {
                        Ok(r) => (r.status(), None),
                        Err(ureq::Error::Status(code, r)) => {
                            (code, r.header("retry-after").map(str::to_string))
                        }
                        Err(e) => panic!("{url}: {e}"),
                    };
                    seen.lock()
                        .unwrap()
                        .push((Instant::now(), status, retry, url));
                    i += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        cluster.stop_server();
        let down = Instant::now();
        std::thread::sleep(Duration::from_secs(5));
        // The health check says what is wrong.
        match ureq::get(&format!("{a}/healthz")).call() {
            Err(ureq::Error::Status(503, r)) => {
                let body: serde_json::Value = r.into_json().unwrap();
                assert!(
                    body["error"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("database is unreachable"),
                    "{body}"
                );
            }
            other => panic!("healthz during the outage: {other:?}"),
        }
        // A vote during the outage is refused (and may be retried), never half applied.
        let (status, _) = upvote(&a, id, &voter_cookie_or_same(&a, &cookie));
        assert_eq!(status, 503);
        cluster.start_server();
        let up = Instant::now();
        std::thread::sleep(Duration::from_secs(6));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = seen.lock().unwrap();
        let bad: Vec<_> = seen.iter().filter(|s| s.1 != 200 && s.1 != 503).collect();
        assert!(bad.is_empty(), "only 200s and 503s: {bad:?}");
        let during: Vec<_> = seen
            .iter()
            .filter(|s| s.0 > down + Duration::from_secs(1) && s.0 < up)
            .collect();
        assert!(during.iter().any(|s| s.1 == 503), "the outage shows");
        assert!(
            seen.iter().filter(|s| s.1 == 503).all(|s| s.2.is_some()),
            "every 503 says when to retry"
        );
        let after: Vec<_> = seen
            .iter()
            .filter(|s| s.0 > up + Duration::from_secs(3))
            .collect();
        assert!(
            !after.is_empty() && after.iter().all(|s| s.1 == 200),
            "full service after: {:?}",
            after.iter().filter(|s| s.1 != 200).collect::<Vec<_>>()
        );
    });
    // Nothing lost: the vote from before the outage stands, and voting works again.
    let paper = get_json(&format!("{a}/api/papers/{id}"));
    assert_eq!(paper["votes"], 1, "{paper}");
    let other = voter_cookie(&a);
    assert_eq!(upvote(&a, id, &other).1["votes"], 2);
    assert_eq!(get_json(&format!("{a}/healthz"))["status"], "ok");
}

/// A new voter's cookie while the database may be down (issuing one needs no database); the
/// given one if the replica sets none.
fn voter_cookie_or_same(base: &str, cookie: &str) -> String {
    match ureq::get(&format!("{base}/api/papers")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r
            .header("set-cookie")
            .and_then(|s| s.split(';').next())
            .map(str::to_string)
            .unwrap_or_else(|| cookie.to_string()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn migrate_copies_a_data_dir_into_an_empty_database_once() {
    let Some(db) = paperscout_testkit::postgres::fresh_schema("replicas::migrate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more.jsonl");
    std::fs::write(
        &file,
        jsonl(&[("2407.00001", "Migrated paper", "Moved to PostgreSQL.")]),
    )
    .unwrap();
    ok(paperscout(dir.path())
        .args(["ingest", "--no-encode"])
        .arg(&file));
    let out = ok(paperscout(dir.path()).args(["migrate", "--to", &db]));
    assert!(out.contains("papers 229"), "{out}");
    let stats = ok(on_db(&db, dir.path()).args(["stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["papers"], 229, "{stats}");
    let found = ok(on_db(&db, dir.path()).args(["search", "--mode", "lexical", "migrated"]));
    assert!(found.contains("Migrated paper"), "{found}");
    // Once only: the database is no longer empty.
    let err = fails(paperscout(dir.path()).args(["migrate", "--to", &db]), 1);
    assert!(
        err.contains("not empty") && err.contains("229 papers"),
        "{err}"
    );
    // A URL that is not PostgreSQL's is a usage error; the password never shows.
    let err = fails(
        paperscout(dir.path()).args(["migrate", "--to", "mysql://u:hunter2@h/db"]),
        2,
    );
    assert!(
        err.contains("postgres://") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn rate_limits_count_per_replica() {
    let Some(db) = paperscout_testkit::postgres::fresh_schema("replicas::rate_limits") else {
        return;
    };
    let dirs = Dirs::new(2);
    let limited = |c: &mut Command| {
        c.env("PAPERSCOUT_READS_PER_MINUTE", "3");
    };
    let (_a, a) = replica(&db, dirs.path(0), limited);
    let (_b, b) = replica(&db, dirs.path(1), limited);
    let status = |base: &str| match ureq::get(&format!("{base}/api/papers")).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    // (A burst of up to 5 passes, whatever the rate.)
    let on_a: Vec<u16> = (0..6).map(|_| status(&a)).collect();
    assert_eq!(on_a, [200, 200, 200, 200, 200, 429], "A's own limit");
    // The same client still has B's whole allowance: limits are per replica (README).
    let on_b: Vec<u16> = (0..6).map(|_| status(&b)).collect();
    assert_eq!(on_b, [200, 200, 200, 200, 200, 429], "B counts apart");
}
