//! Harvests against a real HTTP server on loopback that answers with real arXiv and Hugging
//! Face responses (crates/ingest/tests/data/fixtures): paging, resuming, retries, politeness,
//! and why nothing came. No test touches the internet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use paperscout_app::harvest::{harvest, last_runs};
use paperscout_app::{HarvestConfig, HarvestSpec, PaperId};
use paperscout_sourcesim::{Reply, SourceSim};

use super::open;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/data/fixtures")
        .join(rel)
}

fn config(sim: &SourceSim) -> HarvestConfig {
    HarvestConfig {
        oai_url: sim.url("/oai2"),
        hf_url: sim.url("/api/daily_papers"),
        delay: Duration::ZERO,
        timeout: Duration::from_secs(10),
        max_retries: 2,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_secs(5),
        ..HarvestConfig::default()
    }
}

fn arxiv(set: &str, from: Option<&str>) -> HarvestSpec {
    HarvestSpec::Arxiv {
        set: set.into(),
        from: from.map(|d| d.parse().unwrap()),
        until: None,
    }
}

fn run(
    engine: &paperscout_app::Engine,
    sim: &SourceSim,
    spec: HarvestSpec,
    now: chrono::DateTime<Utc>,
) -> paperscout_app::HarvestReport {
    harvest(engine, &config(sim), &spec, false, now).unwrap()
}

const PAGE_1: &str = "arxiv-oai-pmh/arXivRaw_ListRecordsResponse.xml"; // 6 records, then a token
const PAGE_2: &str = "arxiv-oai-pmh/arXiv_ListRecords_physics-hep-ex.xml"; // 3 records, the end

#[test]
fn an_interrupted_arxiv_harvest_resumes_from_its_last_whole_page() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), false);
    let sim = SourceSim::start();
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap();

    // Run 1: page 1, then the server fails page 2 three times (every allowed attempt).
    sim.push("/oai2", Reply::file(fixture(PAGE_1)));
    for _ in 0..3 {
        sim.push("/oai2", Reply::status(500, "Internal Server Error"));
    }
    let r = run(&engine, &sim, arxiv("cs", Some("2014-10-01")), now);
    assert_eq!(
        (r.status.as_str(), r.pages, r.added),
        ("failed", 1, 6),
        "{r:?}"
    );
    assert!(r.message.as_deref().unwrap().contains("HTTP 500"), "{r:?}");
    assert_eq!(engine.store().count().unwrap(), 6, "page 1 is kept");
    let seen = sim.seen();
    assert_eq!(seen[0].param("metadataPrefix").as_deref(), Some("arXivRaw"));
    assert_eq!(seen[0].param("set").as_deref(), Some("cs"));
    assert_eq!(seen[0].param("from").as_deref(), Some("2014-10-01"));
    assert_eq!(
        seen[1].param("resumptionToken").as_deref(),
        Some("726959|1001")
    );
    assert!(
        seen[0].user_agent.starts_with("paperscout/"),
        "{:?}",
        seen[0]
    );

    // Run 2: page 2 arrives cut short (never half-ingested), then whole.
    sim.push("/oai2", Reply::cut_short(fixture(PAGE_2)));
    sim.push("/oai2", Reply::file(fixture(PAGE_2)));
    let r = run(&engine, &sim, arxiv("cs", None), now);
    assert_eq!(
        (r.status.as_str(), r.pages, r.added, r.retries),
        ("ok", 1, 3, 1),
        "{r:?}"
    );
    let resumed = &sim.seen()[4];
    assert_eq!(
        resumed.param("resumptionToken").as_deref(),
        Some("726959|1001"),
        "resumed, not restarted"
    );
    assert_eq!(resumed.param("from"), None);
    assert_eq!(engine.store().count().unwrap(), 9);
    // The papers are searchable and carry what arXivRaw gives.
    let p = engine
        .paper(&PaperId::arxiv("0704.0716").unwrap())
        .unwrap()
        .paper;
    assert_eq!(p.version, Some(4));
    assert!(!engine
        .search(
            "photomultipliers xenon",
            paperscout_app::SearchMode::Lexical,
            3
        )
        .unwrap()
        .is_empty());

    // Run 3: incremental from where run 2 ended; nothing new, and it says why.
    sim.push(
        "/oai2",
        Reply::file(fixture(
            "arxiv-oai-pmh/arXivRaw_ErrorResponseNoRecordsMatch.xml",
        )),
    );
    let r = run(&engine, &sim, arxiv("cs", None), now);
    assert_eq!(r.status.as_str(), "empty", "{r:?}");
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("no new records in arXiv cs since 2026-11-30"),
        "{r:?}"
    );
    assert_eq!(
        sim.seen().last().unwrap().param("from").as_deref(),
        Some("2026-11-30")
    );

    let runs = last_runs(&engine).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].harvest.as_str(), runs[0].status.as_str()),
        ("arxiv:cs", "empty")
    );
    assert_eq!(
        engine.store().harvest_runs("arxiv:cs", 10).unwrap().len(),
        3
    );
}

#[test]
fn busy_answers_are_waited_out_with_retry_after_and_bad_requests_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), false);
    let sim = SourceSim::start();
    let now = Utc::now();
    sim.push(
        "/oai2",
        Reply::status(503, "Retry later").header("Retry-After", "1"),
    );
    sim.push("/oai2", Reply::file(fixture(PAGE_2)));
    let t = Instant::now();
    let r = run(
        &engine,
        &sim,
        arxiv("physics:hep-ex", Some("2017-12-14")),
        now,
    );
    assert_eq!(
        (r.status.as_str(), r.added, r.retries),
        ("ok", 3, 1),
        "{r:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured, not the 10 ms backoff"
    );

    // A 400 (a bad set, say) is not retried.
    sim.push("/oai2", Reply::status(400, "bad argument"));
    let r = run(&engine, &sim, arxiv("nope", Some("2017-12-14")), now);
    assert_eq!((r.status.as_str(), r.retries), ("failed", 0), "{r:?}");
    assert!(r.message.as_deref().unwrap().contains("HTTP 400"), "{r:?}");
    assert_eq!(sim.unanswered(), 0);

    // An OAI-PMH error is reported as the source's answer.
    sim.push(
        "/oai2",
        Reply::file(fixture(
            "arxiv-oai-pmh/arXivRaw_ErrorResponseIdDoesNotExist.xml",
        )),
    );
    let r = run(&engine, &sim, arxiv("cs", Some("2017-12-14")), now);
    assert_eq!(r.status.as_str(), "failed");
    assert!(
        r.message.as_deref().unwrap().contains("idDoesNotExist"),
        "{r:?}"
    );
}

#[test]
fn an_expired_resumption_token_restarts_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), false);
    let sim = SourceSim::start();
    let now = Utc::now();
    sim.push("/oai2", Reply::file(fixture(PAGE_1)));
    sim.push(
        "/oai2",
        Reply::file(fixture(
            "arxiv-oai-pmh/arXivRaw_ErrorResponseBadResumptionToken.xml",
        )),
    );
    sim.push("/oai2", Reply::file(fixture(PAGE_2)));
    let r = run(&engine, &sim, arxiv("cs", Some("2014-10-01")), now);
    assert_eq!((r.status.as_str(), r.added), ("ok", 9), "{r:?}");
    let seen = sim.seen();
    assert_eq!(
        seen[2].param("from").as_deref(),
        Some("2014-10-01"),
        "started over"
    );
    assert_eq!(seen[2].param("resumptionToken"), None);
}

#[test]
fn hugging_face_daily_papers_bring_upvotes_and_code_links() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), false);
    let sim = SourceSim::start();
    sim.push(
        "/api/daily_papers",
        Reply::file(fixture("hf-daily-papers/hf_daily_papers.json")),
    );
    let now = Utc::now();
    let spec = HarvestSpec::HfDaily {
        date: Some("2026-06-12".parse().unwrap()),
    };
    let r = run(&engine, &sim, spec, now);
    assert_eq!((r.status.as_str(), r.added), ("ok", 30), "{r:?}");
    assert_eq!(sim.seen()[0].param("date").as_deref(), Some("2026-06-12"));
    // The most upvoted paper's count is its initial vote count.
    let records = paperscout_ingest::parse_document(
        paperscout_ingest::Format::HfDaily,
        "hf",
        &std::fs::read(fixture("hf-daily-papers/hf_daily_papers.json")).unwrap(),
    )
    .unwrap();
    let top = records.iter().flatten().max_by_key(|p| p.upvotes).unwrap();
    let stored = engine.paper(&top.id).unwrap();
    let votes = engine.store().vote_counts(&[stored.key]).unwrap();
    assert_eq!(
        votes.get(&stored.key).copied(),
        top.upvotes.map(|u| u as usize)
    );
    assert!(top.upvotes.unwrap() > 0);
    let with_code = records
        .iter()
        .flatten()
        .find(|p| p.links.code.is_some())
        .unwrap();
    assert_eq!(
        engine.paper(&with_code.id).unwrap().paper.links.code,
        with_code.links.code
    );

    // A day with nothing listed.
    sim.push("/api/daily_papers", Reply::ok("[]"));
    let spec = HarvestSpec::HfDaily {
        date: Some("2026-11-29".parse().unwrap()),
    };
    let r = run(&engine, &sim, spec, now);
    assert_eq!(r.status.as_str(), "empty");
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("no daily papers for 2026-11-29 (a weekend"),
        "{r:?}"
    );
}
