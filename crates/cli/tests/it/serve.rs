//! `serve` stopping on SIGTERM.

use super::{ok, paperscout};

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
