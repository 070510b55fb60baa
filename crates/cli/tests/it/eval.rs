//! `eval` and the encoder benchmarks on the bundled SciFact sample.

use super::{data, fails, ok, paperscout};

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
