//! `paperscout harvest`, `stats` and `serve --harvest` as users run them, against a real HTTP
//! server on loopback that answers with real arXiv and Hugging Face responses.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paperscout_sourcesim::{Reply, SourceSim};

use super::{fails, ok, paperscout};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/data/fixtures")
        .join(rel)
}

fn harvest_cmd(dir: &std::path::Path, sim: &SourceSim) -> std::process::Command {
    let mut cmd = paperscout(dir);
    cmd.env("PAPERSCOUT_NO_DEMO", "1")
        .env("PAPERSCOUT_OAI_URL", sim.url("/oai2"))
        .env("PAPERSCOUT_HF_URL", sim.url("/api/daily_papers"))
        .env("PAPERSCOUT_HARVEST_DELAY", "0");
    cmd
}

#[test]
fn harvest_resumes_after_a_failure_and_stats_reports_each_source() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SourceSim::start();
    sim.push(
        "/oai2",
        Reply::file(fixture("arxiv-oai-pmh/arXivRaw_ListRecordsResponse.xml")),
    );
    // Then nothing is scripted: the server answers 404, which is not retried.
    let err = fails(
        harvest_cmd(dir.path(), &sim).args([
            "harvest",
            "arxiv",
            "--set",
            "cs",
            "--from",
            "2014-10-01",
            "--no-encode",
        ]),
        1,
    );
    assert!(err.contains("the harvest of arxiv:cs failed"), "{err}");
    let out = ok(harvest_cmd(dir.path(), &sim).args(["stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["by_source"]["arxiv-oai"], 6, "{stats}");
    assert_eq!(stats["harvests"][0]["status"], "failed", "{stats}");
    assert!(
        stats["harvests"][0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 404"),
        "{stats}"
    );

    sim.push(
        "/oai2",
        Reply::file(fixture(
            "arxiv-oai-pmh/arXiv_ListRecords_physics-hep-ex.xml",
        )),
    );
    let out = ok(harvest_cmd(dir.path(), &sim).args([
        "harvest",
        "arxiv",
        "--set",
        "cs",
        "--no-encode",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["status"].as_str(), report["added"].as_u64()),
        (Some("ok"), Some(3)),
        "{report}"
    );
    assert_eq!(
        sim.seen()
            .last()
            .unwrap()
            .param("resumptionToken")
            .as_deref(),
        Some("726959|1001")
    );

    sim.push(
        "/api/daily_papers",
        Reply::file(fixture("hf-daily-papers/hf_daily_papers.json")),
    );
    let out = ok(harvest_cmd(dir.path(), &sim).args(["harvest", "hf-daily", "--no-encode"]));
    assert!(
        out.starts_with("hf-daily: ok — 1 pages, 30 records: 30 added"),
        "{out}"
    );

    let out = ok(harvest_cmd(dir.path(), &sim).args(["stats"]));
    assert!(out.contains("39 papers"), "{out}");
    assert!(out.contains("last harvest of arxiv:cs: ok"), "{out}");
    assert!(out.contains("last harvest of hf-daily: ok"), "{out}");
    // Bad arguments are the user's mistake.
    let err = fails(
        harvest_cmd(dir.path(), &sim).args(["harvest", "arxiv", "--set", "c s"]),
        2,
    );
    assert!(err.contains("not an arXiv set"), "{err}");
}

#[test]
fn every_source_format_ingests_by_detection() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "arxiv-api-atom/search_query=all_testing_start0_max10.xml",
        "arxiv-oai-pmh/oai_dc_ListRecords_cs_test_arxiv_data.xml",
        "kaggle-arxiv-snapshot/arxiv-metadata-oai-snapshot.json",
        "arxiv-rss/arxiv_rss_example.xml",
        "hf-daily-papers/hf_daily_papers.json",
        "openalex/works_filter=title.search_paperqa.json",
        "semantic-scholar/semantic_scholar_transformer.json",
        "bibtex/NeRF-and-Beyond.bib",
    ];
    let mut cmd = paperscout(dir.path());
    cmd.env("PAPERSCOUT_NO_DEMO", "1")
        .args(["ingest", "--no-encode"]);
    for f in files {
        cmd.arg(fixture(f));
    }
    let out = ok(&mut cmd);
    assert!(out.contains("0 skipped"), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(paperscout(dir.path()).args(["stats", "--json"]))).unwrap();
    for source in [
        "arxiv-api",
        "arxiv-oai",
        "arxiv-snapshot",
        "arxiv-rss",
        "hf-daily",
        "openalex",
        "semantic-scholar",
        "bibtex",
    ] {
        assert!(
            stats["by_source"][source].as_u64().unwrap_or(0) > 0,
            "{source}: {stats}"
        );
    }
    // An error answer saved as a file is refused, naming the file and arXiv's message.
    let err = fails(
        paperscout(dir.path())
            .args(["ingest", "--no-encode"])
            .arg(fixture("arxiv-api-atom/error400_id_list=abc.xml")),
        2,
    );
    assert!(
        err.contains("error400_id_list=abc.xml") && err.contains("incorrect id format"),
        "{err}"
    );
}

#[test]
fn serve_harvests_on_schedule_and_shows_the_ingestion_status() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SourceSim::start();
    sim.push(
        "/oai2",
        Reply::file(fixture(
            "arxiv-oai-pmh/arXiv_ListRecords_physics-hep-ex.xml",
        )),
    );
    sim.push("/api/daily_papers", Reply::ok("[]"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(
        harvest_cmd(dir.path(), &sim)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--harvest",
                "arxiv:physics:hep-ex,hf-daily",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Never harvested: the scheduler runs both at once.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Ok(r) = ureq::get(&format!("{base}/api/harvests")).call() {
            let v: serde_json::Value = r.into_json().unwrap();
            let done = v["harvests"].as_array().is_some_and(|h| {
                h.len() == 2
                    && h.iter()
                        .all(|h| h["status"] != "running" && h["status"] != "never")
            });
            if done {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled harvests did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_name = |name: &str| {
        status["harvests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["harvest"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("arxiv:physics:hep-ex")["added"], 3, "{status}");
    assert_eq!(by_name("hf-daily")["status"], "empty", "{status}");
    assert!(by_name("hf-daily")["next_run"].is_string(), "{status}");
    assert_eq!(status["scheduled"], true);
    let page = ureq::get(&format!("{base}/sources"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        page.contains("arXiv physics:hep-ex") && page.contains("Hugging Face daily papers"),
        "{page}"
    );
    assert!(page.contains("lists no daily papers"), "{page}");
    let hits = ureq::get(&format!(
        "{base}/api/search?q=photomultipliers&mode=lexical"
    ))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    assert!(hits.contains("Silicon Photomultipliers"), "{hits}");
}
