//! Libraries through the engine: a BibTeX import's report, entry by entry, and "For you" with
//! reasons and rules, on the real model.

use chrono::Utc;
use paperscout_app::store::{OutgoingMail, Rules};
use paperscout_app::{IngestOptions, Window};
use paperscout_store::MailKind;

use super::{input, jsonl, open};

fn line(id: &str, doi: Option<&str>, title: &str, abstract_text: &str, author: &str) -> String {
    let mut v = serde_json::json!({"id": id, "title": title, "abstract": abstract_text,
        "authors": [author], "published": "2024-05-01", "source": "jsonl"});
    if let Some(d) = doi {
        v["aliases"] = serde_json::json!([format!("doi:{d}")]);
    }
    v.to_string()
}

#[test]
fn a_bibtex_import_reports_every_entry_and_for_you_explains_and_obeys_rules() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir.path().join("data"), false);
    let retrieval = [
        "Dense passage retrieval for open-domain question answering",
        "Sparse lexical retrieval with learned term weights",
        "Re-ranking retrieved passages with cross-encoders",
        "Query expansion for neural retrieval models",
        "Hybrid retrieval fusing BM25 and dense vectors",
        "A survey of neural information retrieval",
    ];
    let proteins = [
        "Protein structure prediction from amino acid sequences",
        "Enzyme kinetics of kinase inhibitors in cancer cells",
        "Folding pathways of small globular proteins",
        "Antibody binding affinity measured by calorimetry",
        "Membrane protein crystallography at room temperature",
        "Gene expression changes under heat shock in yeast",
    ];
    let mut lines = Vec::new();
    for (i, t) in retrieval.iter().enumerate() {
        let doi = (i == 1).then_some("10.1000/sparse");
        lines.push(line(
            &format!("arxiv:2401.0000{i}"),
            doi,
            t,
            &format!("{t}. We study search engines, documents, queries and ranking."),
            "Ada Lovelace",
        ));
    }
    for (i, t) in proteins.iter().enumerate() {
        let author = if i == 5 {
            "Grace Hopper"
        } else {
            "Rosalind Franklin"
        };
        lines.push(line(
            &format!("arxiv:2402.0000{i}"),
            None,
            t,
            &format!("{t}. We study molecules, cells and biochemistry."),
            author,
        ));
    }
    let file = jsonl(dir.path(), "papers.jsonl", &lines);
    let r = engine
        .ingest(
            &[input(&file)],
            IngestOptions {
                encode: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((r.added, r.encoded), (12, 12));

    // An account, as a redeemed sign-in link makes one.
    let store = engine.store();
    let now = Utc::now().timestamp();
    let mail = || OutgoingMail {
        kind: MailKind::Signin,
        recipient: "reader@example.org".into(),
        message_id: "<x@example.org>".into(),
        message: b"Subject: x\r\n\r\nx".to_vec(),
        papers: 0,
    };
    assert!(store
        .queue_signin("reader@example.org", b"t1", now, now + 600, 60, mail)
        .unwrap());
    let account = store
        .redeem_signin(b"t1", b"s1", "v1", now)
        .unwrap()
        .unwrap()
        .account;
    let saved = store.collections(account.id).unwrap()[0].clone();
    assert_eq!(saved.name, "Saved");

    let bib = "@misc{dpr,\n  title = {Something else entirely},\n  eprint = {2401.00000},\n  archivePrefix = {arXiv}\n}\n\
@article{sparse,\n  title = {Another title},\n  doi = {10.1000/SPARSE}\n}\n\
@inproceedings{rerank,\n  title = {Re-Ranking Retrieved Passages with Cross-Encoders}\n}\n\
@misc{missing,\n  title = {A paper we do not have},\n  eprint = {2501.99999},\n  archivePrefix = {arXiv}\n}\n\
@article{broken,\n  title = {Unclosed\n\n";
    let report = engine
        .import_references(account.id, saved.id, "mine.bib", bib.as_bytes(), Utc::now())
        .unwrap();
    let matched: Vec<(Option<&str>, &str, &str)> = report
        .matched
        .iter()
        .map(|m| (m.key.as_deref(), m.id.as_str(), m.by))
        .collect();
    assert_eq!(
        matched,
        vec![
            (Some("dpr"), "arxiv:2401.00000", "arXiv id"),
            (Some("sparse"), "arxiv:2401.00001", "DOI"),
            (Some("rerank"), "arxiv:2401.00002", "title"),
        ]
    );
    assert_eq!(report.unmatched.len(), 1);
    assert_eq!(report.unmatched[0].key.as_deref(), Some("missing"));
    assert!(
        report.unmatched[0].reason.contains("arxiv:2501.99999"),
        "{:?}",
        report.unmatched
    );
    assert_eq!(report.broken.len(), 1);
    assert_eq!(
        (report.broken[0].key.as_deref(), report.broken[0].line),
        (Some("broken"), 18)
    );
    assert_eq!((report.entries, report.added), (5, 3));

    // For you: the other retrieval papers first, each with its nearest library papers.
    let page = engine
        .for_you(account.id, Some(saved.id), Window::Month, Utc::now(), 20)
        .unwrap();
    assert_eq!((page.method, page.library), ("learned", 3));
    let top: Vec<&str> = page.items[..3]
        .iter()
        .map(|i| i.item.paper.title.as_str())
        .collect();
    for t in &top {
        assert!(retrieval.contains(t), "{top:?}");
    }
    assert_eq!(page.items[0].why.nearest.len(), 2);
    assert!(page
        .items
        .iter()
        .all(|i| !i.item.paper.title.starts_with("Dense passage")));

    // Rules: never "survey"; a followed author's paper comes first whatever the model says.
    let rules = Rules {
        never: vec!["survey".into()],
        authors: vec!["grace  hopper".into()],
        ..Rules::default()
    };
    assert!(store.set_rules(account.id, saved.id, &rules).unwrap());
    let page = engine
        .for_you(account.id, Some(saved.id), Window::Month, Utc::now(), 20)
        .unwrap();
    assert_eq!(page.items[0].item.paper.title, proteins[5]);
    assert_eq!(
        page.items[0].why.followed_author.as_deref(),
        Some("Grace Hopper")
    );
    assert!(page
        .items
        .iter()
        .all(|i| !i.item.paper.title.contains("survey")));
    assert_eq!(page.excluded_by_rules, 1);

    // The fitted model is kept while nothing it learned from changes, and refitted when the
    // library or the dismissals do: the same page twice, then each change shows at once.
    let again = engine
        .for_you(account.id, Some(saved.id), Window::Month, Utc::now(), 20)
        .unwrap();
    let ids = |p: &paperscout_app::library::ForYou| -> Vec<String> {
        p.items
            .iter()
            .map(|i| i.item.paper.id.to_string())
            .collect()
    };
    assert_eq!(ids(&again), ids(&page));
    assert_eq!(again.train_ms, page.train_ms, "the same fit, not a new one");
    let next = page.items[1].item.paper.id.clone();
    assert!(engine
        .save_paper(account.id, saved.id, &next, Utc::now())
        .unwrap());
    let saved_more = engine
        .for_you(account.id, Some(saved.id), Window::Month, Utc::now(), 20)
        .unwrap();
    assert_eq!(saved_more.library, 4);
    assert!(!ids(&saved_more).contains(&next.to_string()));
    let dismiss = saved_more.items[1].item.paper.id.clone();
    assert!(engine
        .set_not_interested(account.id, &dismiss, true, Utc::now())
        .unwrap());
    let dismissed = engine
        .for_you(account.id, Some(saved.id), Window::Month, Utc::now(), 20)
        .unwrap();
    assert_eq!(dismissed.dismissed, 1);
    assert!(!ids(&dismissed).contains(&dismiss.to_string()));
    assert!(engine.unsave_paper(account.id, saved.id, &next).unwrap());

    // Export reads back as BibTeX with the same papers.
    let bib = engine.export_bibtex(account.id, saved.id).unwrap();
    let back = paperscout_ingest::bibtex::parse_entries("out.bib", bib.as_bytes()).unwrap();
    assert_eq!(back.len(), 3);
    // The same references from Zotero as RIS and as CSL-JSON match the same papers.
    let ris = "TY  - PREPRINT\r\nTI  - Something else entirely\r\nUR  - http://arxiv.org/abs/2401.00000\r\nER  - \r\n\r\n\
TY  - JOUR\r\nTI  - Another title\r\nDO  - 10.1000/sparse\r\nER  - \r\n\r\n\
TY  - CONF\r\nTI  - Re-Ranking Retrieved Passages with Cross-Encoders\r\nER  - \r\n\r\n\
TY  - JOUR\r\nAU  - Nobody, A.\r\nER  - \r\n";
    let csl = r#"[
  {"id": "dpr", "type": "article", "title": "Something else entirely", "number": "arXiv:2401.00000"},
  {"id": "sparse", "type": "article-journal", "title": "Another title", "DOI": "10.1000/SPARSE"},
  {"id": "rerank", "type": "paper-conference", "title": "Re-ranking retrieved passages with cross-encoders"},
  {"id": "broken", "type": "article", "title": "   "}
]"#;
    let mine = engine
        .create_collection(account.id, "From Zotero", Utc::now())
        .unwrap();
    for (name, file, format, broken_line) in [
        ("zotero.ris", ris, "ris", 15),
        ("zotero.json", csl, "csl-json", 5),
    ] {
        let report = engine
            .import_references(account.id, mine.id, name, file.as_bytes(), Utc::now())
            .unwrap();
        assert_eq!(report.format, format);
        let by: Vec<(&str, &str)> = report
            .matched
            .iter()
            .map(|m| (m.id.as_str(), m.by))
            .collect();
        assert_eq!(
            by,
            [
                ("arxiv:2401.00000", "arXiv id"),
                ("arxiv:2401.00001", "DOI"),
                ("arxiv:2401.00002", "title")
            ],
            "{name}"
        );
        assert_eq!(report.broken.len(), 1, "{name}");
        assert_eq!(report.broken[0].line, broken_line, "{name}");
        assert_eq!(report.added, if format == "ris" { 3 } else { 0 }, "{name}");
    }
    // Something that is no reference list is refused whole, saying what it looks like.
    let err = engine
        .import_references(
            account.id,
            mine.id,
            "notes.txt",
            b"A title\nAn abstract\n",
            Utc::now(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("BibTeX, RIS or CSL-JSON"), "{err}");
}

#[test]
fn a_collection_in_the_digest_adds_its_models_new_papers_and_never_one_twice() {
    use paperscout_app::digest::DigestConfig;
    use paperscout_app::{Digests, SmtpUrl, SubscriptionRequest};
    use paperscout_mailsink::MailSink;
    use std::sync::Arc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(&dir.path().join("data"), false));
    let topics = [
        (
            "Dense passage retrieval for open-domain question answering",
            "retrieval",
        ),
        (
            "Sparse lexical retrieval with learned term weights",
            "retrieval",
        ),
        (
            "Re-ranking retrieved passages with cross-encoders",
            "retrieval",
        ),
        (
            "Hybrid retrieval fusing BM25 and dense vectors",
            "retrieval",
        ),
        (
            "Protein structure prediction from amino acid sequences",
            "biology",
        ),
        (
            "Enzyme kinetics of kinase inhibitors in cancer cells",
            "biology",
        ),
        ("Folding pathways of small globular proteins", "biology"),
        (
            "Antibody binding affinity measured by calorimetry",
            "biology",
        ),
    ];
    let about = |t: &str, kind: &str| match kind {
        "retrieval" => format!("{t}. We study search engines, documents, queries and ranking."),
        _ => format!("{t}. We study molecules, cells and biochemistry."),
    };
    let lines: Vec<String> = topics
        .iter()
        .enumerate()
        .map(|(i, (t, k))| {
            line(
                &format!("arxiv:2403.0000{i}"),
                None,
                t,
                &about(t, k),
                "A. Author",
            )
        })
        .collect();
    let encode = IngestOptions {
        encode: true,
        ..Default::default()
    };
    engine
        .ingest(&[input(&jsonl(dir.path(), "old.jsonl", &lines))], encode)
        .unwrap();

    let sink = MailSink::start();
    let d = Digests::new(
        engine.clone(),
        DigestConfig {
            base_url: "https://papers.example.org".into(),
            from: "paperscout <digest@papers.example.org>".into(),
            smtp: Some(SmtpUrl::new(&sink.url()).unwrap()),
            ..DigestConfig::default()
        },
        b"a test secret that is long enough for hmac keys",
    )
    .unwrap();
    let t0 = (Utc::now().date_naive() + chrono::Duration::days(30))
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc();
    // The reader: a digest subscriber with no typed interests, and an account of the same
    // address whose "Saved" holds three retrieval papers, with the digest on.
    let req = SubscriptionRequest {
        email: "reader@example.org".into(),
        interests: String::new(),
        categories: Vec::new(),
        hour: Some(8),
        timezone: Some("UTC".into()),
    };
    d.subscribe(&req, t0).unwrap();
    d.deliver(t0).unwrap();
    assert!(sink.wait_for(1, Duration::from_secs(10)));
    let text = sink.messages()[0].text();
    let at = text.find("/subscribe/confirm?t=").unwrap() + 21;
    let token: String = text[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    d.confirm(&token, t0).unwrap();
    let store = engine.store();
    let mail = || OutgoingMail {
        kind: MailKind::Signin,
        recipient: "reader@example.org".into(),
        message_id: "<y@example.org>".into(),
        message: b"Subject: x\r\n\r\nx".to_vec(),
        papers: 0,
    };
    let now = t0.timestamp();
    assert!(store
        .queue_signin("Reader@example.org", b"t", now, now + 600, 60, mail)
        .unwrap());
    let account = store
        .redeem_signin(b"t", b"s", "", now)
        .unwrap()
        .unwrap()
        .account;
    let saved = store.collections(account.id).unwrap()[0].clone();
    let keys: Vec<i64> = (0..3)
        .map(|i| {
            engine
                .paper(&format!("2403.0000{i}").parse().unwrap())
                .unwrap()
                .key
        })
        .collect();
    store
        .add_to_collection(account.id, saved.id, &keys, now)
        .unwrap();
    assert!(store
        .set_collection_digest(account.id, saved.id, true)
        .unwrap());

    // New papers: two on retrieval, one on biology.
    let new = [
        (
            "2404.00001",
            "Learned dense retrieval with hard negative mining",
            "retrieval",
        ),
        (
            "2404.00002",
            "Query-document ranking with neural rerankers",
            "retrieval",
        ),
        (
            "2404.00003",
            "Heat shock proteins and cellular stress in yeast",
            "biology",
        ),
    ];
    let lines: Vec<String> = new
        .iter()
        .map(|(id, t, k)| line(&format!("arxiv:{id}"), None, t, &about(t, k), "B. Author"))
        .collect();
    engine
        .ingest(&[input(&jsonl(dir.path(), "new.jsonl", &lines))], encode)
        .unwrap();

    let report = d.run(t0 + chrono::Duration::hours(3), false).unwrap();
    assert_eq!(report.queued, 1, "{report:?}");
    // (The run also delivers the stand-in sign-in mail queued above.)
    assert!(sink.wait_for(3, Duration::from_secs(10)));
    let digest = sink
        .messages()
        .iter()
        .map(|m| m.text())
        .find(|t| t.contains("collection"))
        .expect("the digest");
    assert!(digest.contains("for your collection “Saved”"), "{digest}");
    for (_, t, kind) in &new {
        assert_eq!(digest.contains(t), *kind == "retrieval", "{t} in {digest}");
    }

    // The next day: nothing new for the collection, and nothing sent twice.
    let next = d.run(t0 + chrono::Duration::hours(27), false).unwrap();
    assert_eq!(next.queued, 0, "{next:?}");
}
