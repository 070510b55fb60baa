//! `ingest`, `search`, `export` and `stats` on a data dir of their own.

use super::{fails, ok, paperscout, run};

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
    // From the demo to real papers: ingest, then remove the demo.
    let real = dir.path().join("real.jsonl");
    std::fs::write(
        &real,
        r#"{"id": "2401.00001", "title": "Edit wars on Wikipedia", "abstract": "How edits are reverted.", "source": "jsonl"}"#,
    )
    .unwrap();
    ok(paperscout(dir.path()).args(["ingest", real.to_str().unwrap(), "--no-encode"]));
    let err = fails(
        paperscout(dir.path()).args(["remove", "--source", "demos"]),
        2,
    );
    assert!(
        err.contains("unknown source `demos`") && err.contains("demo"),
        "{err}"
    );
    let out = ok(paperscout(dir.path()).args(["remove", "--source", "demo", "--json"]));
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (out["removed"].as_u64(), out["papers_left"].as_u64()),
        (Some(228), Some(1))
    );
    let out = ok(paperscout(dir.path()).args([
        "search",
        "edit quality wikipedia",
        "--mode",
        "lexical",
        "--json",
    ]));
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids,
        ["arxiv:2401.00001"],
        "the demo is gone from the index too"
    );
    let again = ok(paperscout(dir.path()).args(["remove", "--source", "demo"]));
    assert!(
        again.contains("no papers from demo to remove; 1 papers left"),
        "{again}"
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
