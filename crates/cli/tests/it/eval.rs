//! `eval` and the encoder benchmarks on the bundled SciFact sample.

use super::{data, fails, ok, paperscout, run};

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

/// `--runs` writes a TREC run per mode that agrees with the printed metrics' rankings, and a
/// corpus with empty documents is evaluated without them, saying how many it skipped.
#[test]
fn eval_writes_trec_runs_and_skips_empty_documents() {
    let dir = tempfile::tempdir().unwrap();
    let beir = dir.path().join("beir");
    std::fs::create_dir_all(beir.join("qrels")).unwrap();
    let mini = data("scifact-mini");
    let mut corpus = std::fs::read_to_string(mini.join("corpus.jsonl")).unwrap();
    corpus.push_str("{\"_id\": \"empty-1\", \"title\": \"\", \"text\": \"  \"}\n");
    corpus.push_str("{\"_id\": \"empty-2\", \"text\": \"\"}\n");
    std::fs::write(beir.join("corpus.jsonl"), corpus).unwrap();
    std::fs::copy(mini.join("queries.jsonl"), beir.join("queries.jsonl")).unwrap();
    std::fs::copy(mini.join("qrels/train.tsv"), beir.join("qrels/test.tsv")).unwrap();
    let runs = dir.path().join("runs");
    let out = run(paperscout(dir.path())
        .args([
            "eval",
            "--mode",
            "lexical,hybrid",
            "--json",
            "--scratch-dir",
        ])
        .arg(dir.path().join("scratch"))
        .arg("--beir")
        .arg(&beir)
        .arg("--runs")
        .arg(&runs));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("skipped 2 empty document(s)"), "{stderr}");
    for mode in ["lexical", "hybrid"] {
        let text = std::fs::read_to_string(runs.join(format!("{mode}.run"))).unwrap();
        let mut per_query: std::collections::HashMap<&str, Vec<(usize, f64)>> = Default::default();
        for line in text.lines() {
            let cols: Vec<&str> = line.split(' ').collect();
            assert_eq!(cols.len(), 6, "{line}");
            assert_eq!(
                (cols[1], cols[5]),
                ("Q0", format!("paperscout-{mode}").as_str())
            );
            assert!(!cols[2].starts_with("empty"), "{line}");
            per_query
                .entry(cols[0])
                .or_default()
                .push((cols[3].parse().unwrap(), cols[4].parse().unwrap()));
        }
        assert_eq!(per_query.len(), 25, "{mode}: one ranking per judged query");
        for ranks in per_query.values() {
            assert!(ranks.len() <= 100);
            assert!(ranks.iter().enumerate().all(|(i, r)| r.0 == i + 1));
            assert!(
                ranks.windows(2).all(|w| w[0].1 >= w[1].1),
                "scores best first"
            );
        }
    }
    assert!(!runs.join("semantic.run").exists());
}

/// `bench lexical` measures every analysis, the shipped one among them.
#[test]
fn bench_lexical_measures_each_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(paperscout(dir.path())
        .args(["bench", "lexical", "--json", "--scratch-dir"])
        .arg(dir.path().join("scratch"))
        .arg("--beir")
        .arg(data("scifact-mini"))
        .arg("--qrels")
        .arg(data("scifact-mini/qrels/train.tsv")));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 8, "{out}");
    assert!(rows[0]["name"].as_str().unwrap().starts_with("before"));
    let shipped = rows
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("shipped:"))
        .unwrap();
    assert!(shipped["ndcg@10"].as_f64().unwrap() > 0.4, "{shipped}");
    assert!(shipped["index_bytes"].as_u64().unwrap() > 0);
}
