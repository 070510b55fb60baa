//! The `paperscout` binary as users run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod harvest;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// `paperscout` with its own data dir, the shared model cache, and no inherited settings.
fn paperscout(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paperscout"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PAPERSCOUT_") && k != "PAPERSCOUT_MODEL" {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PAPERSCOUT_DATA_DIR", data_dir)
        .env("PAPERSCOUT_CACHE_DIR", paperscout_testkit::cache_dir());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("paperscout runs")
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(cmd: &mut Command, code: i32) -> String {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn lexical_search_on_a_fresh_machine_uses_the_demo_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(paperscout(dir.path()).args([
        "search",
        "edit quality wikipedia",
        "--mode",
        "lexical",
        "--limit",
        "3",
        "--json",
    ]));
    let hits: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 3);
    assert_eq!(
        hits[0]["title"],
        "StRE: Self Attentive Edit Quality Prediction in Wikipedia"
    );
    assert_eq!(hits[0]["rank"], 1);
    assert_eq!(hits[0]["mode"], "lexical");
    for key in ["id", "score", "snippet"] {
        assert!(hits[0].get(key).is_some(), "missing {key}: {}", hits[0]);
    }
    let text = ok(paperscout(dir.path()).args([
        "search",
        "edit quality wikipedia",
        "--mode",
        "lexical",
        "-n",
        "1",
    ]));
    assert!(
        text.contains(" 1. StRE") && text.contains("*edits*"),
        "highlighted terms: {text}"
    );
    let stats = ok(paperscout(dir.path()).args(["stats", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()["papers"],
        228
    );
}

#[test]
fn malformed_input_names_file_line_and_field_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"_id\": \"1\", \"title\": \"t\", \"text\": \"ok\"}\n{\"_id\": \"2\", \"title\": \"t\"}\n").unwrap();
    let err = fails(
        paperscout(dir.path())
            .args(["--no-demo", "ingest", "--no-encode"])
            .arg(&bad),
        2,
    );
    assert!(err.contains("bad.jsonl:2: field `text`: missing"), "{err}");
    let stats = ok(paperscout(dir.path()).args(["stats", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()["papers"],
        0
    );

    let out = run(paperscout(dir.path())
        .args(["ingest", "--no-encode", "--skip-bad"])
        .arg(&bad));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 added"));

    let err = fails(
        paperscout(dir.path()).args(["ingest", "/nonexistent/file.txt"]),
        3,
    );
    assert!(
        err.contains("cannot read /nonexistent/file.txt\n  caused by: No such file"),
        "{err}"
    );
    let err = fails(
        paperscout(dir.path()).args(["search", &"q".repeat(1001), "--mode", "lexical"]),
        2,
    );
    assert!(err.contains("1000"), "{err}");
    let err = fails(
        paperscout(dir.path()).args(["ingest", "--format", "csv", "x"]),
        2,
    );
    assert!(err.contains("csv"), "{err}");
}

#[test]
fn export_then_ingest_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let export = dir.path().join("papers.jsonl");
    ok(paperscout(&a).args(["export", "--output"]).arg(&export));
    assert_eq!(
        std::fs::read_to_string(&export).unwrap().lines().count(),
        228
    );
    let out = ok(paperscout(&b)
        .args(["--no-demo", "ingest", "--no-encode"])
        .arg(&export));
    assert!(out.starts_with("228 records: 228 added"), "{out}");
    let again = dir.path().join("again.jsonl");
    ok(paperscout(&b).args(["export", "-o"]).arg(&again));
    assert_eq!(
        std::fs::read(&export).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn killing_an_ingest_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("corpus.jsonl");
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!("{{\"_id\":\"{i}\",\"title\":\"Paper {i}\",\"text\":\"An abstract about topic {} and more words.\"}}\n", i % 997));
    }
    std::fs::write(&big, text).unwrap();
    let data_dir = dir.path().join("data");
    ok(paperscout(&data_dir).args(["--no-demo", "stats"]));
    // Kill at several points; whatever the moment, the store holds all or nothing, and the
    // index agrees with it on the next run.
    for delay_ms in [300, 1500, 4000] {
        let mut child = paperscout(&data_dir)
            .args(["ingest", "--no-encode"])
            .arg(&big)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let stats: serde_json::Value =
            serde_json::from_str(&ok(paperscout(&data_dir).args(["stats", "--json"]))).unwrap();
        let n = stats["papers"].as_u64().unwrap();
        assert!(
            n == 0 || n == 200_000,
            "after a kill at {delay_ms} ms the store holds {n} papers"
        );
        if n == 200_000 {
            let out = ok(paperscout(&data_dir).args([
                "search",
                "\"Paper 199999\"",
                "--mode",
                "lexical",
                "--json",
                "-n",
                "1",
            ]));
            assert!(out.contains("\"beir:199999\""), "{out}");
        }
    }
}

/// The encoder benchmarks run per precision and say which one they measured.
#[test]
fn bench_encode_and_query_report_their_precision() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |out: String| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for precision in ["fp32", "int8"] {
        let out = ok(paperscout(dir.path())
            .args([
                "--precision",
                precision,
                "bench",
                "encode",
                "--limit",
                "12",
                "--json",
            ])
            .arg("--beir")
            .arg(data("scifact-mini")));
        let r = &rows(out)[0];
        assert_eq!(
            (r["precision"].as_str(), r["docs"].as_u64()),
            (Some(precision), Some(12))
        );
        assert!(r["docs_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    let out = ok(paperscout(dir.path())
        .env("PAPERSCOUT_PRECISION", "fp32")
        .args(["bench", "query", "--limit", "3", "--json", "--scratch-dir"])
        .arg(dir.path().join("scratch"))
        .arg("--beir")
        .arg(data("scifact-mini")));
    let rows = rows(out);
    let modes: Vec<&str> = rows.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["lexical", "semantic", "hybrid", "encode"]);
    assert!(rows
        .iter()
        .all(|r| r["precision"] == "fp32" && r["queries"] == 3));

    let err = fails(
        paperscout(dir.path()).args(["--precision", "fp16", "model"]),
        2,
    );
    assert!(err.contains("fp16") && err.contains("int8"), "{err}");
}

#[test]
fn eval_prints_one_json_object_per_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(paperscout(dir.path())
        .args(["eval", "--json", "--scratch-dir"])
        .arg(dir.path().join("scratch"))
        .arg("--beir")
        .arg(data("scifact-mini"))
        .arg("--qrels")
        .arg(data("scifact-mini/qrels/train.tsv")));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.iter()
            .map(|r| r["mode"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["lexical", "semantic", "hybrid"]
    );
    for r in &rows {
        assert_eq!(r["queries"], 25);
        for key in ["ndcg@10", "recall@100", "mrr@10"] {
            let v = r[key].as_f64().unwrap();
            // 170 documents hold every relevant one: any working ranker finds most of them.
            assert!((0.4..=1.0).contains(&v), "{key} = {v} in {r}");
        }
    }
    let err = fails(
        paperscout(dir.path())
            .args(["eval", "--beir"])
            .arg(data("scifact-mini"))
            .arg("--qrels")
            .arg(data("nope.tsv")),
        1,
    );
    assert!(err.contains("nope.tsv"), "{err}");
}

/// A digest claimed by a run that then crashed (abort: no unwinding, no cleanup) is sent by the
/// next run, exactly once; a third run sends nothing.
#[test]
fn a_crash_between_claiming_and_sending_a_digest_neither_loses_nor_repeats_it() {
    use paperscout_app::digest::DigestConfig;
    use paperscout_app::{Config, Digests, Engine, ModelSpec, NoProgress, SmtpUrl};
    use paperscout_mailsink::MailSink;
    use std::sync::Arc;
    use std::time::Duration;

    const SECRET: &str = "a test secret that is long enough for hmac keys";
    let dir = tempfile::tempdir().unwrap();
    let sink = MailSink::start();
    // Subscribe and confirm in-process, on the data dir the binary will use.
    {
        let mut model = ModelSpec::new(paperscout_testkit::cache_dir());
        model.dir = paperscout_testkit::model_dir();
        let engine = Engine::open(
            Config {
                demo: false,
                ..Config::new(dir.path().to_path_buf(), model)
            },
            Arc::new(NoProgress),
        )
        .unwrap();
        let config = DigestConfig {
            smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
            ..DigestConfig::default()
        };
        let d = Digests::new(Arc::new(engine), config, SECRET.as_bytes()).unwrap();
        let now = chrono::Utc::now();
        d.subscribe(
            &paperscout_app::SubscriptionRequest {
                email: "crash@example.org".into(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        d.deliver(now).unwrap();
        assert!(sink.wait_for(1, Duration::from_secs(10)));
        let text = sink.messages()[0].text();
        let token: String = text.split("confirm?t=").nth(1).unwrap()[..80].to_string();
        d.confirm(&token, now).unwrap();
    }
    let config = dir.path().join("paperscout.toml");
    std::fs::write(&config, "[digest]\nsend_empty = true\n").unwrap();
    let send = || {
        let mut cmd = paperscout(dir.path());
        cmd.args(["digest", "send", "--now"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_SECRET", SECRET)
            .env("PAPERSCOUT_CONFIG", &config)
            .env("PAPERSCOUT_SMTP_URL", sink.url());
        cmd
    };

    // A dry run changes nothing.
    let plan = ok(send().arg("--dry-run"));
    assert!(plan.contains("crash@example.org"), "{plan}");
    let crashed = run(send().env("PAPERSCOUT_FAULT", "crash-after-claim"));
    assert!(
        !crashed.status.success(),
        "the fault hook aborts the process"
    );
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("crashing after claiming"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1, "nothing was sent before the crash");

    let out = ok(&mut send());
    assert!(out.contains("0 due") && out.contains("1 sent"), "{out}");
    assert!(sink.wait_for(2, Duration::from_secs(10)));
    let out = ok(&mut send());
    assert!(out.contains("0 due") && out.contains("0 sent"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "exactly one digest");
    assert!(
        mails[1].subject().contains("nothing new"),
        "{}",
        mails[1].subject()
    );
    let status = ok(paperscout(dir.path())
        .args(["digest", "status", "--json"])
        .env("PAPERSCOUT_NO_DEMO", "1"));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["active_subscribers"], 1);
    assert_eq!(status["outbox"]["sent"], 2);
}

#[test]
fn mail_settings_are_checked_and_passwords_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "status"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_SMTP_URL", "http://ada:hunter2@mail.example.org"),
        2,
    );
    assert!(err.contains("smtp://") && !err.contains("hunter2"), "{err}");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[smtp]\nurl = \"smtp://127.0.0.1:2525\"\nfrom = 3\n",
    )
    .unwrap();
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "status"])
            .env("PAPERSCOUT_NO_DEMO", "1")
            .env("PAPERSCOUT_CONFIG", &config),
        2,
    );
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");
    let out = ok(paperscout(dir.path())
        .args(["digest", "status"])
        .env("PAPERSCOUT_NO_DEMO", "1")
        .env(
            "PAPERSCOUT_SMTP_URL",
            "smtp://ada:hunter2@mail.example.org:587?tls=required",
        ));
    assert!(
        out.contains("smtp://ada:***@mail.example.org:587") && !out.contains("hunter2"),
        "{out}"
    );
    // Without a mail server, sending says so.
    let err = fails(
        paperscout(dir.path())
            .args(["digest", "send"])
            .env("PAPERSCOUT_NO_DEMO", "1"),
        1,
    );
    assert!(err.contains("PAPERSCOUT_SMTP_URL"), "{err}");
}

#[test]
fn sigterm_stops_a_server_within_seconds_even_while_it_encodes() {
    use std::io::{BufRead, BufReader};
    // A backlog of ~2,200 papers to encode (over a minute of work): the server encodes it in
    // the background. It used to keep encoding the whole backlog after SIGTERM closed its
    // listener.
    let dir = tempfile::tempdir().unwrap();
    let words = [
        "sparse",
        "dense",
        "retrieval",
        "encoder",
        "graph",
        "protein",
        "vision",
        "token",
    ];
    let lines: Vec<String> = (0..2000)
        .map(|i| {
            let text: Vec<&str> = (0..60).map(|j| words[(i * 7 + j * 3) % words.len()]).collect();
            format!(
                "{{\"id\": \"2401.{i:05}\", \"title\": \"Backlog paper {i}\", \"abstract\": \"{}\"}}",
                text.join(" ")
            )
        })
        .collect();
    let backlog = dir.path().join("backlog.jsonl");
    std::fs::write(&backlog, lines.join("\n")).unwrap();
    ok(paperscout(dir.path())
        .args(["ingest", "--no-encode"])
        .arg(&backlog));
    let mut child = paperscout(dir.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // Wait until it serves and has started encoding.
    while !log
        .iter()
        .any(|l: &String| l.contains("loading the sentence encoder"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("the server did not start encoding:\n{}", log.join("\n")),
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let sent = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > std::time::Duration::from_secs(15) {
            let _ = child.kill();
            panic!("still running 15 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    // What it encoded before stopping is kept; the next start encodes the rest.
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(200)) {
        log.push(line);
    }
    assert!(
        log.iter().any(|l| l.contains("shutting down")),
        "{}",
        log.join("\n")
    );
}
