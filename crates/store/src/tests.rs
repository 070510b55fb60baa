use std::collections::{HashMap, HashSet};

use super::*;
use chrono::NaiveDate;
use paperscout_model::{Links, Source};

/// Runs a test on both backends: `<name>::sqlite` on an in-memory SQLite store, and
/// `<name>::postgres` on a fresh schema of the PostgreSQL server `PAPERSCOUT_TEST_POSTGRES`
/// names (`.ci/run` starts one; without it the PostgreSQL half says it did not run).
macro_rules! on_both_backends {
    (fn $name:ident($store:ident) $body:block) => {
        mod $name {
            use super::*;

            fn run($store: Store) $body

            #[test]
            fn sqlite() {
                run(Store::open_in_memory().unwrap())
            }

            #[test]
            fn postgres() {
                if let Some(store) = pg_store(concat!(module_path!(), "::postgres")) {
                    run(store)
                }
            }
        }
    };
}

/// A PostgreSQL store on a schema of its own, or `None` (with a notice) when no server is
/// configured.
pub(crate) fn pg_store(test: &str) -> Option<Store> {
    let url = paperscout_testkit::postgres::fresh_schema(test)?;
    Some(Store::connect(&url.parse().unwrap(), std::time::Duration::from_secs(10)).unwrap())
}

fn paper(id: &str, title: &str, abstract_text: &str) -> Paper {
    let mut p = Paper::new(
        id.parse().unwrap(),
        title.into(),
        abstract_text.into(),
        Source::Jsonl,
    );
    p.authors = vec!["Ada".into()];
    p.published = NaiveDate::from_ymd_opt(2024, 1, 2);
    p.categories = vec!["cs.IR".into()];
    p.links = Links {
        pdf: Some("https://arxiv.org/pdf/2401.00001".into()),
        ..Links::default()
    };
    p
}

on_both_backends! {
fn a_paper_arriving_by_doi_and_by_arxiv_id_is_one_paper(store) {
    // OpenAlex first: only a DOI.
    let mut by_doi = paper(
        "10.1000/xyz",
        "Sparse retrieval at scale",
        "From the journal.",
    );
    by_doi.source = Source::OpenAlex;
    store.upsert(&[by_doi]).unwrap();
    let key = store
        .get(&"doi:10.1000/xyz".parse().unwrap())
        .unwrap()
        .unwrap()
        .key;
    // Then arXiv, which knows both ids.
    let mut by_arxiv = paper(
        "2401.00009v2",
        "Sparse Retrieval at Scale",
        "The preprint's abstract.",
    );
    by_arxiv.add_alias("10.1000/XYZ".parse().unwrap());
    by_arxiv.version = Some(2);
    by_arxiv.source = Source::ArxivApi;
    let r = store.upsert(&[by_arxiv]).unwrap();
    assert_eq!((r.added, r.updated), (0, 1));
    assert_eq!(store.count().unwrap(), 1);
    let stored = store
        .get(&"arxiv:2401.00009".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.key, key, "one paper, one key");
    assert_eq!(
        stored.paper.id.as_str(),
        "arxiv:2401.00009",
        "the arXiv id becomes its id"
    );
    assert_eq!(
        stored.paper.source,
        Source::OpenAlex,
        "where it came from first"
    );
    // Both ids (and the old one) still find it.
    assert_eq!(
        store
            .get(&"doi:10.1000/xyz".parse().unwrap())
            .unwrap()
            .unwrap()
            .key,
        key
    );
    // A later record by DOI alone lands on it too, without erasing the arXiv text or version.
    let mut again = paper("10.1000/xyz", "Sparse retrieval at scale", "");
    again.upvotes = Some(7);
    store.upsert(&[again]).unwrap();
    let stored = store.get_by_key(key).unwrap().unwrap();
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(stored.paper.abstract_text, "The preprint's abstract.");
    assert_eq!(
        (stored.paper.version, stored.paper.upvotes),
        (Some(2), Some(7))
    );
}
}

on_both_backends! {
fn two_arxiv_papers_sharing_a_doi_stay_two_papers(store) {
    let mut a = paper("0704.0471", "A paper", "x");
    a.add_alias("10.1103/PhysRevC.76.024606".parse().unwrap());
    let mut b = paper("0704.0999", "Its erratum", "y");
    b.add_alias("10.1103/PhysRevC.76.024606".parse().unwrap());
    store.upsert(&[a, b]).unwrap();
    assert_eq!(store.count().unwrap(), 2);
    assert_eq!(
        store
            .get(&"0704.0999".parse().unwrap())
            .unwrap()
            .unwrap()
            .paper
            .title,
        "Its erratum"
    );
}
}

on_both_backends! {
fn an_older_arxiv_version_never_replaces_a_newer_one(store) {
    let mut v2 = paper("2401.00001v2", "Title v2", "Abstract v2");
    v2.version = Some(2);
    v2.updated = NaiveDate::from_ymd_opt(2024, 3, 1);
    let mut v1 = paper("2401.00001v1", "Title v1", "Abstract v1");
    v1.version = Some(1);
    store.upsert(&[v2]).unwrap();
    let r = store.upsert(&[v1]).unwrap();
    assert_eq!(r.unchanged, 1, "{r:?}");
    let stored = store
        .get(&"2401.00001".parse().unwrap())
        .unwrap()
        .unwrap()
        .paper;
    assert_eq!(
        (stored.title.as_str(), stored.version),
        ("Title v2", Some(2))
    );
    assert_eq!(
        stored.published,
        NaiveDate::from_ymd_opt(2024, 1, 2),
        "first version's date kept"
    );
}
}

on_both_backends! {
fn titles_dedup_only_papers_without_a_better_id(store) {
    // A reading-list entry with no ids, then the arXiv record with the same title (in LaTeX).
    let listed = paper(
        &PaperId::from_title("{NeRF}: Neural Radiance Fields").to_string(),
        "NeRF: Neural Radiance Fields",
        "",
    );
    store.upsert(&[listed]).unwrap();
    let arxiv = paper(
        "2003.08934",
        "{NeRF}: Neural Radiance Fields",
        "We present a method.",
    );
    let r = store.upsert(&[arxiv]).unwrap();
    assert_eq!((r.added, r.updated, store.count().unwrap()), (0, 1, 1));
    // Two arXiv papers that share a title stay two papers.
    store
        .upsert(&[
            paper("2101.00001", "Introduction", "one"),
            paper("2101.00002", "Introduction", "two"),
        ])
        .unwrap();
    assert_eq!(store.count().unwrap(), 3);
    // An id-less record with that title updates one of them rather than adding a third.
    store
        .upsert(&[paper(
            &PaperId::from_title("Introduction").to_string(),
            "Introduction",
            "",
        )])
        .unwrap();
    assert_eq!(store.count().unwrap(), 3);
}
}

on_both_backends! {
fn a_write_that_fails_midway_leaves_nothing(store) {
    let result = store.write(|w| {
        w.put(paper("2401.00001", "A", "x"))?;
        Err::<(), Error>(Error::Corrupt {
            key: 0,
            message: "stop".into(),
        })
    });
    assert!(result.is_err());
    assert_eq!(
        (store.count().unwrap(), store.generation().unwrap()),
        (0, 0)
    );
}
}

on_both_backends! {
fn upsert_inserts_then_updates_without_duplicating(store) {
    let a = paper("2401.00001", "A", "first");
    let r = store
        .upsert(&[a.clone(), paper("2401.00002", "B", "second")])
        .unwrap();
    assert_eq!(
        (r.added, r.updated, r.unchanged, r.generation),
        (2, 0, 0, 1)
    );
    let key = store.get(&a.id).unwrap().unwrap().key;

    let r = store.upsert(std::slice::from_ref(&a)).unwrap();
    assert_eq!(
        (r.added, r.updated, r.unchanged, r.generation),
        (0, 0, 1, 1),
        "no change, no new generation"
    );

    let mut a2 = a.clone();
    a2.abstract_text = "revised".into();
    let r = store.upsert(&[a2.clone()]).unwrap();
    assert_eq!((r.added, r.updated, r.generation), (0, 1, 2));
    let stored = store.get(&a.id).unwrap().unwrap();
    assert_eq!(stored.paper, a2);
    assert_eq!(stored.key, key, "keys are stable across updates");
    assert_eq!(stored.generation, 2);
    assert_eq!(store.count().unwrap(), 2);
}
}

on_both_backends! {
fn upsert_is_all_or_nothing(store) {
    store.upsert(&[paper("2401.00001", "A", "x")]).unwrap();
    // Sabotage the second row of a batch with a trigger, as a crash or disk error would.
    store.test_sql(
        "CREATE TRIGGER boom BEFORE INSERT ON papers WHEN NEW.title = 'bad' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.title = 'bad' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER boom BEFORE INSERT ON papers FOR EACH ROW EXECUTE FUNCTION boom();",
    );
    let err = store
        .upsert(&[
            paper("2401.00002", "B", "y"),
            paper("2401.00003", "bad", "z"),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.generation().unwrap(), 1);
}
}

on_both_backends! {
fn for_each_since_streams_only_newer_changes(store) {
    store
        .upsert(&[paper("2401.00001", "A", "x"), paper("2401.00002", "B", "y")])
        .unwrap();
    store.upsert(&[paper("2401.00003", "C", "z")]).unwrap();
    let mut seen = Vec::new();
    store
        .for_each_since(1, |p| {
            seen.push(p.paper.title);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["C"]);
    assert_eq!(store.count_since(0).unwrap(), 3);
}
}

on_both_backends! {
fn embeddings_follow_content_changes(store) {
    store
        .upsert(&[paper("2401.00001", "A", "x"), paper("2401.00002", "B", "y")])
        .unwrap();
    let pending = store.pending_embeddings("m").unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].text, "A x");
    assert_eq!(store.count_pending_embeddings("m").unwrap(), 2);
    // In pieces, by key.
    let first = store.pending_embeddings_after("m", i64::MIN, 1).unwrap();
    let rest = store
        .pending_embeddings_after("m", first[0].key, 10)
        .unwrap();
    assert_eq!(
        (first[0].key, rest.len(), rest[0].key),
        (pending[0].key, 1, pending[1].key)
    );
    let rows: Vec<_> = pending
        .iter()
        .map(|p| (p.key, p.content_hash.clone(), vec![p.key as f32, 0.5]))
        .collect();
    assert_eq!(store.put_embeddings("m", &rows).unwrap().written, 2);
    assert!(store.pending_embeddings("m").unwrap().is_empty());
    assert_eq!(store.pending_embeddings("other-model").unwrap().len(), 2);

    // Changing authors keeps the embedding; changing the abstract makes it stale.
    let mut a = paper("2401.00001", "A", "x");
    a.authors.push("Grace".into());
    store.upsert(&[a.clone()]).unwrap();
    assert!(store.pending_embeddings("m").unwrap().is_empty());
    a.abstract_text = "changed".into();
    store.upsert(&[a]).unwrap();
    let pending = store.pending_embeddings("m").unwrap();
    assert_eq!(pending.len(), 1);
    let mut vectors = Vec::new();
    store
        .for_each_embedding("m", |k, v| vectors.push((k, v)))
        .unwrap();
    assert_eq!(vectors.len(), 1, "the stale embedding is not served");
    assert_eq!(vectors[0].1, vec![vectors[0].0 as f32, 0.5]);

    // An embedding computed for old content is refused.
    assert_eq!(
        store
            .put_embeddings("m", &[(pending[0].key, "stale".into(), vec![1.0])])
            .unwrap()
            .written,
        0
    );
}
}

#[test]
fn store_persists_across_reopen_and_rejects_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("papers.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.upsert(&[paper("2401.00001", "A", "x")]).unwrap();
        store.set_meta("demo", "loaded").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.meta("demo").unwrap().as_deref(), Some("loaded"));
    assert_eq!(
        store.count_by_source().unwrap(),
        vec![("jsonl".to_string(), 1)]
    );
    store
        .sqlite()
        .conn()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

on_both_backends! {
fn one_vote_per_voter_per_paper_and_votes_can_be_taken_back(store) {
    store
        .upsert(&[paper("2401.00001", "A", "x"), paper("2401.00002", "B", "y")])
        .unwrap();
    let a = store
        .get(&"arxiv:2401.00001".parse().unwrap())
        .unwrap()
        .unwrap()
        .key;
    assert!(store.vote(a, "v1", 100).unwrap());
    assert!(
        !store.vote(a, "v1", 200).unwrap(),
        "a second vote from v1 counts once"
    );
    assert!(store.vote(a, "v2", 300).unwrap());
    assert!(!store.vote(9999, "v1", 300).unwrap(), "no such paper");
    assert_eq!(
        store.vote_counts(&[a, 9999]).unwrap(),
        HashMap::from([(a, 2)])
    );
    assert_eq!(store.voted_by("v1", &[a]).unwrap(), HashSet::from([a]));
    assert!(store.unvote(a, "v1").unwrap());
    assert!(!store.unvote(a, "v1").unwrap());
    assert_eq!(store.vote_counts(&[a]).unwrap(), HashMap::from([(a, 1)]));
    assert!(store.voted_by("v1", &[a]).unwrap().is_empty());
}
}

on_both_backends! {
fn trending_candidates_are_the_window_plus_the_most_recent(store) {
    let mut old = paper("2001.00001", "Old", "x");
    old.published = NaiveDate::from_ymd_opt(2020, 1, 1);
    let mut older = paper("1901.00001", "Older", "x");
    older.published = NaiveDate::from_ymd_opt(2019, 1, 1);
    let mut new = paper("2401.00001", "New", "x");
    new.published = None;
    store.upsert(&[old, older, new]).unwrap();
    let key = |id: &str| store.get(&id.parse().unwrap()).unwrap().unwrap();
    let (old, older, new) = (
        key("arxiv:2001.00001"),
        key("arxiv:1901.00001"),
        key("arxiv:2401.00001"),
    );
    assert_eq!(
        old.listed_at, 1577836800,
        "midnight UTC of the publication date"
    );
    assert!(new.listed_at > 1700000000, "no date: when it was added");

    let since = new.listed_at - 3600;
    store.vote(older.key, "v", since + 1).unwrap();
    store.vote(old.key, "v", since - 1).unwrap(); // before the window
                                                  // An unvoted paper in the window is a candidate only among the `recent` newest (it ranks by
                                                  // age alone, below every newer one): with none asked for, only the voted paper.
    let mut got = store.trending_candidates(since, 0).unwrap();
    got.sort_by_key(|c| c.key);
    let mut want = vec![Candidate {
        key: older.key,
        listed_at: older.listed_at,
        votes: 1,
        in_window: true,
    }];
    want.sort_by_key(|c| c.key);
    assert_eq!(got, want);
    // Asking for the 2 most recent adds `old`, outside the window and without window votes.
    let got = store.trending_candidates(since, 2).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.contains(&Candidate {
        key: old.key,
        listed_at: old.listed_at,
        votes: 0,
        in_window: false
    }));
    assert_eq!(
        store.newest(0, 10).unwrap(),
        vec![new.key, old.key, older.key]
    );
    assert_eq!(store.newest(1, 1).unwrap(), vec![old.key]);
    let facets = store.facets(&[old.key]).unwrap();
    assert_eq!(
        facets[&old.key].published,
        NaiveDate::from_ymd_opt(2020, 1, 1)
    );
    assert_eq!(facets[&old.key].categories, vec!["cs.IR".to_string()]);
}
}

#[test]
fn migrating_a_version_1_store_keeps_its_papers_and_dates_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("papers.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(crate::sqlite::schema::MIGRATIONS[0])
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO papers VALUES (1, 'arxiv:2401.00001', 'T', 'A', '[]', '2024-01-02', '[]',
             '{}', 'jsonl', 'c', 'r', 1, '2026-11-29T22:16:00.123456789+00:00', '2026-11-29T22:16:00+00:00'),
             (2, 'arxiv:2401.00002', 'T', 'A', '[]', NULL, '[]',
             '{}', 'jsonl', 'c', 'r', 1, '2026-11-29T22:16:00.5+00:00', '2026-11-29T22:16:00+00:00')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get_by_key(1).unwrap().unwrap().listed_at, 1704153600);
    assert_eq!(store.get_by_key(2).unwrap().unwrap().listed_at, 1795990560);
    let paper_id: PaperId = "arxiv:2401.00001".parse().unwrap();
    assert!(store.get(&paper_id).unwrap().is_some());
}

fn mail(kind: MailKind, to: &str) -> OutgoingMail {
    OutgoingMail {
        kind,
        recipient: to.into(),
        message_id: "<x@example.org>".into(),
        message: b"Subject: x\r\n\r\nbody".to_vec(),
        papers: 0,
    }
}

on_both_backends! {
fn a_digest_day_is_claimed_once_and_its_papers_are_never_sent_again(store) {
    store
        .upsert(&[paper("2401.00001", "A", "a"), paper("2401.00002", "B", "b")])
        .unwrap();
    let sub = Subscription {
        email: "Ada@Example.org".into(),
        interests: "x".into(),
        categories: vec![],
        hour: 8,
        timezone: "UTC".into(),
    };
    let outcome = store
        .subscribe(&sub, &[1; 16], 100, 900, |s, k| {
            mail(k, &s.subscription.email)
        })
        .unwrap();
    let SubscribeOutcome::Confirm(s) = outcome else {
        panic!("{outcome:?}")
    };
    // Same address in other case, moments later: throttled, nothing queued.
    let again = Subscription {
        email: "ada@example.org".into(),
        ..sub.clone()
    };
    assert_eq!(
        store
            .subscribe(&again, &[2; 16], 200, 900, |s, k| mail(
                k,
                &s.subscription.email
            ))
            .unwrap(),
        SubscribeOutcome::Throttled
    );
    // Not active yet: no digest can be claimed.
    assert!(!store
        .claim_digest(
            s.id,
            "2026-12-01",
            Some(&mail(MailKind::Digest, "a")),
            &[1],
            2,
            300
        )
        .unwrap());
    let s = store.confirm(&[1; 16], 300, 0).unwrap().unwrap();
    assert_eq!(s.status, SubscriberStatus::Active);
    assert!(store
        .claim_digest(
            s.id,
            "2026-12-01",
            Some(&mail(MailKind::Digest, "a")),
            &[1],
            2,
            400
        )
        .unwrap());
    // The same day again (a second process, a restart): refused, nothing changes.
    assert!(!store
        .claim_digest(
            s.id,
            "2026-12-01",
            Some(&mail(MailKind::Digest, "a")),
            &[2],
            2,
            401
        )
        .unwrap());
    assert_eq!(store.sent_papers(s.id).unwrap(), HashSet::from([1]));
    assert!(store.digest_claimed(s.id, "2026-12-01").unwrap());
    // The confirmation and the digest wait in the outbox; a lease lets one sender take each.
    let due = store.due_mail(500, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(store.lease_mail(due[0].id, 500, 620).unwrap());
    assert!(!store.lease_mail(due[0].id, 500, 620).unwrap(), "taken");
    assert_eq!(store.due_mail(500, 10).unwrap().len(), 1);
    store.mark_sent(due[0].id, 501).unwrap();
    store
        .mark_attempt_failed(due[1].id, "451 try later", Some(560))
        .unwrap();
    assert!(store.due_mail(559, 10).unwrap().is_empty());
    assert_eq!(store.due_mail(560, 10).unwrap()[0].attempts, 1);
    // Unsubscribing cancels what waits and makes the handle useless for confirming.
    assert!(store.unsubscribe(&[1; 16], 600).unwrap());
    assert!(store.due_mail(600, 10).unwrap().is_empty());
    assert_eq!(store.confirm(&[1; 16], 601, 0).unwrap(), None);
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.sent, stats.pending), (1, 0));
    // Resubscribing starts over with a new handle.
    let outcome = store
        .subscribe(&sub, &[3; 16], 10_000, 900, |s, k| {
            mail(k, &s.subscription.email)
        })
        .unwrap();
    let SubscribeOutcome::Confirm(s2) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((s2.id, s2.handle.as_slice()), (s.id, &[3u8; 16][..]));
    assert_eq!(store.subscriber_by_handle(&[1; 16]).unwrap(), None);
}
}

on_both_backends! {
fn trending_candidates_stay_few_when_a_big_ingest_shares_one_listing_time(store) {
    let papers: Vec<Paper> = (0..3000)
        .map(|i| {
            let mut p = paper(&format!("arxiv:2401.{i:05}"), &format!("Undated {i}"), "A");
            p.published = None;
            p
        })
        .collect();
    store.upsert(&papers).unwrap();
    let since = chrono::Utc::now().timestamp() - 86_400;
    let voted = store
        .get(&"arxiv:2401.01234".parse().unwrap())
        .unwrap()
        .unwrap()
        .key;
    store.vote(voted, "v", since + 10).unwrap();
    let got = store.trending_candidates(since, 20).unwrap();
    // The 20 newest and the voted one: not all 3,000 papers of the window.
    assert_eq!(got.len(), 21, "{}", got.len());
    assert!(got.iter().any(|c| c.key == voted && c.votes == 1));
}
}

#[test]
fn feed_queries_read_a_bounded_number_of_rows() {
    // 400k undated papers of one ingest share one listing time; the feed and trending used to
    // read all of them on every request (~4 s for the home page).
    let store = Store::open_in_memory().unwrap();
    let conn = store.sqlite().conn();
    for sql in [
        crate::sqlite::votes::TRENDING_LISTED_SQL,
        crate::sqlite::votes::NEWEST_SQL,
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params![0i64, 20i64], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        // (The UNION's own de-duplication may use a temporary tree: it holds a bounded set.)
        assert!(
            plan.lines()
                .all(|l| !(l.contains("TEMP B-TREE") && l.contains("ORDER BY"))),
            "{sql}\n{plan}"
        );
        assert!(
            plan.lines()
                .all(|l| !l.contains("SCAN papers") || l.contains("USING")),
            "{sql}\n{plan}"
        );
    }
}

/// Two stores on one database stand for two processes: two connections to one SQLite file,
/// or two pools on one PostgreSQL schema.
fn two_processes(test: &str, sqlite_dir: &std::path::Path) -> Vec<(&'static str, Store, Store)> {
    let path = sqlite_dir.join("papers.sqlite");
    let mut out = vec![(
        "sqlite",
        Store::open(&path).unwrap(),
        Store::open(&path).unwrap(),
    )];
    if let Some(url) = paperscout_testkit::postgres::fresh_schema(test) {
        let connect =
            || Store::connect(&url.parse().unwrap(), std::time::Duration::from_secs(10)).unwrap();
        out.push(("postgres", connect(), connect()));
    }
    out
}

#[test]
fn writes_from_two_processes_wait_their_turn() {
    // A write transaction that read first and wrote second failed with SQLITE_BUSY when the
    // other process wrote in between.
    let dir = tempfile::tempdir().unwrap();
    for (backend, a, b) in two_processes(
        "tests::writes_from_two_processes_wait_their_turn",
        dir.path(),
    ) {
        let (started, wait) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                a.write(|w| {
                    w.put(paper("arxiv:2401.00001", "First", "Held open."))?;
                    started.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(400));
                    Ok::<_, Error>(())
                })
                .unwrap();
            });
            wait.recv().unwrap();
            b.upsert(&[paper("arxiv:2401.00002", "Second", "Waited.")])
                .expect("the second writer waits for the first");
        });
        assert_eq!(a.count().unwrap(), 2, "{backend}");
        assert_eq!(b.generation().unwrap(), 2, "{backend}");
        let keys: Vec<PaperKey> = ["arxiv:2401.00001", "arxiv:2401.00002"]
            .iter()
            .map(|id| b.get(&id.parse().unwrap()).unwrap().unwrap().key)
            .collect();
        assert!(
            keys[0] < keys[1],
            "{backend}: keys grow in commit order: {keys:?}"
        );

        // A writer that waits too briefly is told the store is busy, and nothing is lost.
        b.set_busy_timeout(std::time::Duration::from_millis(50))
            .unwrap();
        let (started, wait) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                a.write(|w| {
                    w.put(paper("arxiv:2401.00003", "Third", "Held open."))?;
                    started.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    Ok::<_, Error>(())
                })
                .unwrap();
            });
            wait.recv().unwrap();
            let e = b
                .upsert(&[paper("arxiv:2401.00004", "Fourth", "Too impatient.")])
                .unwrap_err();
            assert!(e.is_busy(), "{backend}: {e}");
            if backend == "sqlite" {
                // SQLite has one write lock: even a vote waits for the ingest. (PostgreSQL
                // locks rows: a vote goes ahead.)
                let e = b.vote(keys[0], "voter", 1).unwrap_err();
                assert!(e.is_busy(), "{e}");
            } else {
                assert!(b.vote(keys[0], "voter", 1).unwrap());
            }
        });
        assert_eq!(b.count().unwrap(), 3, "{backend}");
    }
}

#[cfg(unix)]
#[test]
fn a_new_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("papers.sqlite");
    let store = Store::open(&path).unwrap();
    store
        .upsert(&[paper("arxiv:2401.00001", "T", "A")])
        .unwrap();
    for f in ["papers.sqlite", "papers.sqlite-wal", "papers.sqlite-shm"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
}

on_both_backends! {
fn encoders_share_the_queue_and_take_over_expired_leases(store) {
    let papers: Vec<Paper> = (1..=10)
        .map(|i| paper(&format!("2401.{i:05}"), &format!("T{i}"), "x"))
        .collect();
    store.upsert(&papers).unwrap();
    let (m, now) = ("model", 1_000);
    let a = store.claim_embeddings(m, "a", PaperKey::MIN, 4, now, now + 60).unwrap();
    let b = store.claim_embeddings(m, "b", PaperKey::MIN, 100, now, now + 60).unwrap();
    assert_eq!((a.papers.len(), b.papers.len()), (4, 6));
    let keys = |c: &Claim| c.papers.iter().map(|p| p.key).collect::<HashSet<_>>();
    assert!(keys(&a).is_disjoint(&keys(&b)), "no paper is handed out twice");
    assert_eq!(a.taken_over + b.taken_over, 0);
    assert!(store.claim_embeddings(m, "c", PaperKey::MIN, 100, now, now + 60).unwrap().papers.is_empty());

    // b finishes; a dies. Once a's leases expire, c takes over a's papers, and only those.
    let rows: Vec<_> = b.papers.iter().map(|p| (p.key, p.content_hash.clone(), vec![1.0f32])).collect();
    store.put_embeddings(m, &rows).unwrap();
    assert!(store.claim_embeddings(m, "c", PaperKey::MIN, 100, now + 59, now + 120).unwrap().papers.is_empty());
    let c = store.claim_embeddings(m, "c", PaperKey::MIN, 100, now + 60, now + 120).unwrap();
    assert_eq!(keys(&c), keys(&a));
    assert_eq!(c.taken_over, 4);
    // Long after, nothing written is handed out again: the written papers are done.
    let rows: Vec<_> = c.papers.iter().map(|p| (p.key, p.content_hash.clone(), vec![1.0f32])).collect();
    store.put_embeddings(m, &rows).unwrap();
    assert!(store.claim_embeddings(m, "d", PaperKey::MIN, 100, i64::MAX - 1, i64::MAX).unwrap().papers.is_empty());
    assert_eq!(store.count_pending_embeddings(m).unwrap(), 0);

    // A paper whose text changes is pending again, whatever its lease said.
    let mut changed = papers[0].clone();
    changed.abstract_text = "revised".into();
    store.upsert(&[changed]).unwrap();
    let e = store.claim_embeddings(m, "e", PaperKey::MIN, 100, now, now + 60).unwrap();
    assert_eq!(e.papers.len(), 1);
    assert_eq!(e.taken_over, 0);
    // A walk in pieces: keys above `after` only.
    let last = e.papers[0].key;
    assert!(store.claim_embeddings(m, "f", last, 100, now + 61, now + 120).unwrap().papers.is_empty());
}
}

#[test]
fn concurrent_claims_from_two_processes_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, a, b) in two_processes(
        "tests::concurrent_claims_from_two_processes_never_overlap",
        dir.path(),
    ) {
        let papers: Vec<Paper> = (1..=400)
            .map(|i| paper(&format!("2402.{i:05}"), &format!("P{i}"), "x"))
            .collect();
        a.upsert(&papers).unwrap();
        let claimed = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for (name, store) in [("a1", &a), ("a2", &a), ("b1", &b), ("b2", &b)] {
                let claimed = &claimed;
                scope.spawn(move || loop {
                    let c = store
                        .claim_embeddings("m", name, PaperKey::MIN, 7, 0, 600)
                        .unwrap();
                    if c.papers.is_empty() {
                        break;
                    }
                    claimed
                        .lock()
                        .unwrap()
                        .extend(c.papers.iter().map(|p| p.key));
                });
            }
        });
        let claimed = claimed.into_inner().unwrap();
        let unique: HashSet<_> = claimed.iter().collect();
        assert_eq!(claimed.len(), 400, "{backend}: every paper claimed");
        assert_eq!(unique.len(), 400, "{backend}: none twice");
    }
}

#[test]
fn one_process_leads_a_role_and_another_takes_over_when_it_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, a, b) in two_processes("tests::one_process_leads_a_role", dir.path()) {
        let mut held = a.lead("digest").unwrap().expect("nobody held it");
        assert!(held.still_held());
        if backend == "sqlite" {
            // One machine: the ledgers keep schedulers apart; every process may lead.
            assert!(b.lead("digest").unwrap().is_some());
            continue;
        }
        assert!(b.lead("digest").unwrap().is_none(), "held by a");
        assert!(b.lead("harvest").unwrap().is_some(), "roles are separate");
        drop(held);
        assert!(b.lead("digest").unwrap().is_some(), "a let go");
    }
}

#[test]
fn a_write_wakes_other_processes_waiting_for_changes() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, a, b) in two_processes("tests::a_write_wakes_other_processes", dir.path()) {
        if backend == "sqlite" {
            continue; // SQLite only polls.
        }
        // The first wait opens the listening connection.
        assert!(!b.wait_for_change(std::time::Duration::from_millis(50)));
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(200));
                a.upsert(&[paper("2403.00001", "Announced", "x")]).unwrap();
            });
            assert!(b.wait_for_change(std::time::Duration::from_secs(20)));
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(b.count().unwrap(), 1);
    }
}

/// A SQLite store with something in every table `copy_to` copies.
fn filled_sqlite(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("papers.sqlite")).unwrap();
    let papers: Vec<Paper> = (1..=30)
        .map(|i| paper(&format!("2404.{i:05}"), &format!("Copied {i}"), "x"))
        .collect();
    store.upsert(&papers).unwrap();
    let keys: Vec<PaperKey> = store.keys_after(0).unwrap();
    store
        .put_embeddings(
            "m",
            &[(
                keys[0],
                store.get_by_key(keys[0]).unwrap().unwrap().content_hash,
                vec![0.5, -1.0],
            )],
        )
        .unwrap();
    store.vote(keys[1], "v1", 100).unwrap();
    store.vote(keys[1], "v2", 101).unwrap();
    let request = Subscription {
        email: "Reader@Example.org".into(),
        interests: "retrieval".into(),
        categories: vec!["cs.IR".into()],
        hour: 8,
        timezone: "Europe/Paris".into(),
    };
    let SubscribeOutcome::Confirm(s) = store
        .subscribe(&request, b"handle-1", 1_000, 60, |_, k| {
            mail(k, "reader@example.org")
        })
        .unwrap()
    else {
        panic!("a new subscriber")
    };
    store.confirm(&s.handle, 1_001, keys[0]).unwrap().unwrap();
    assert!(store
        .claim_digest(
            s.id,
            "2024-05-01",
            Some(&mail(MailKind::Digest, "reader@example.org")),
            &keys[..3],
            keys[2],
            2_000
        )
        .unwrap());
    let run = store.start_harvest("arxiv:cs", 3_000).unwrap().unwrap();
    store
        .finish_harvest(run, HarvestStatus::Ok, Some("fine"), 3_100)
        .unwrap();
    store
        .set_harvest_state("arxiv:cs", "token-7", 3_100)
        .unwrap();
    let account = sign_in(&store, "Reader@Example.org", "", 4_000).0.account;
    let saved = store.collections(account.id).unwrap()[0].id;
    store
        .add_to_collection(account.id, saved, &keys[..2], 4_100)
        .unwrap();
    let list = store
        .create_collection(account.id, "Reading group", 4_200)
        .unwrap()
        .unwrap()
        .id;
    store
        .add_to_collection(account.id, list, &keys[2..3], 4_300)
        .unwrap();
    store
        .set_rules(
            account.id,
            list,
            &Rules {
                authors: vec!["Ada".into()],
                ..Rules::default()
            },
        )
        .unwrap();
    store.set_collection_digest(account.id, list, true).unwrap();
    store
        .set_feed_token(account.id, list, Some(b"feed-1"))
        .unwrap();
    store.dismiss(account.id, keys[5], 4_400).unwrap();
    store
        .create_api_token(account.id, "laptop", b"api-1", 4_500)
        .unwrap();
    store
}

#[test]
fn copy_to_postgres_copies_everything_and_refuses_a_second_time() {
    let Some(url) = paperscout_testkit::postgres::fresh_schema("tests::copy_to_postgres::copies")
    else {
        return;
    };
    let url: DatabaseUrl = url.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = filled_sqlite(dir.path());
    let wait = std::time::Duration::from_secs(10);
    let report = sqlite.copy_to(&url, wait, |_, _| {}).unwrap();
    assert_eq!(report.rows["papers"], 30);
    assert_eq!(report.rows["votes"], 2);
    assert_eq!(report.rows["subscribers"], 1);
    assert_eq!(
        report.rows["outbox"], 3,
        "the confirmation, the digest and a sign-in link"
    );
    assert_eq!(report.rows["digest_papers"], 3);
    for (table, n) in [
        ("accounts", 1),
        ("sessions", 1),
        ("signin_tokens", 1),
        ("api_tokens", 1),
        ("collections", 2),
        ("collection_papers", 3),
        ("dismissed", 1),
    ] {
        assert_eq!(report.rows[table], n, "{table}");
    }

    let pg = Store::connect(&url, wait).unwrap();
    assert_eq!(pg.count().unwrap(), 30);
    assert_eq!(pg.generation().unwrap(), sqlite.generation().unwrap());
    assert_eq!(
        pg.embedding_stamp().unwrap(),
        sqlite.embedding_stamp().unwrap()
    );
    let keys = sqlite.keys_after(0).unwrap();
    assert_eq!(pg.keys_after(0).unwrap(), keys, "keys are kept");
    for &key in [keys[0], keys[17], keys[29]].iter() {
        assert_eq!(pg.get_by_key(key).unwrap(), sqlite.get_by_key(key).unwrap());
    }
    assert_eq!(pg.embedding("m", keys[0]).unwrap(), Some(vec![0.5, -1.0]));
    assert_eq!(
        pg.vote_counts(&keys).unwrap(),
        sqlite.vote_counts(&keys).unwrap()
    );
    assert_eq!(
        pg.active_subscribers().unwrap(),
        sqlite.active_subscribers().unwrap()
    );
    let sub = &pg.active_subscribers().unwrap()[0];
    assert_eq!(
        pg.sent_papers(sub.id).unwrap(),
        sqlite.sent_papers(sub.id).unwrap()
    );
    assert!(pg.digest_claimed(sub.id, "2024-05-01").unwrap());
    assert_eq!(pg.outbox_stats().unwrap(), sqlite.outbox_stats().unwrap());
    let (a, b) = (
        pg.due_mail(i64::MAX, 10).unwrap(),
        sqlite.due_mail(i64::MAX, 10).unwrap(),
    );
    assert_eq!(
        a.iter()
            .map(|m| (m.id, m.message.clone()))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|m| (m.id, m.message.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(pg.last_harvests().unwrap(), sqlite.last_harvests().unwrap());
    assert_eq!(
        pg.harvest_state("arxiv:cs").unwrap().as_deref(),
        Some("token-7")
    );
    // New rows get keys after the copied ones.
    pg.upsert(&[paper("2404.99999", "After the copy", "y")])
        .unwrap();
    let new_key = pg
        .get(&"arxiv:2404.99999".parse().unwrap())
        .unwrap()
        .unwrap()
        .key;
    assert!(new_key > *keys.last().unwrap());
    assert_eq!(pg.last_key_added_before(i64::MAX).unwrap(), new_key);
    // The account, its session, token, feed and collections came along.
    let account = sqlite
        .account_by_email("reader@example.org")
        .unwrap()
        .unwrap();
    assert_eq!(
        pg.account_by_email("READER@example.org").unwrap(),
        Some(account.clone())
    );
    assert_eq!(
        pg.export_account(account.id).unwrap(),
        sqlite.export_account(account.id).unwrap()
    );
    assert_eq!(
        pg.collections(account.id).unwrap(),
        sqlite.collections(account.id).unwrap()
    );
    assert_eq!(
        pg.session(b"session Reader@Example.org 4000", 5_000, 86_400)
            .unwrap(),
        Some(account.clone())
    );
    assert_eq!(
        pg.account_by_api_token(b"api-1", 5_000).unwrap(),
        Some(account.clone())
    );
    assert!(
        pg.collection_by_feed_token(b"feed-1")
            .unwrap()
            .unwrap()
            .digest
    );
    // New accounts, tokens and collections get ids after the copied ones.
    let last_collection = sqlite.collections(account.id).unwrap().last().unwrap().id;
    let created = pg
        .create_collection(account.id, "After the copy", 6_000)
        .unwrap()
        .unwrap();
    assert!(created.id > last_collection);
    let token = pg
        .create_api_token(account.id, "new", b"api-2", 6_000)
        .unwrap();
    assert!(token.id > sqlite.api_tokens(account.id).unwrap()[0].id);
    let other = sign_in(&pg, "other@example.org", "", 6_000).0.account;
    assert!(other.id > account.id);

    let e = sqlite
        .copy_to(&url, wait, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("not empty") && e.contains("31 papers"), "{e}");
}

#[test]
fn a_failed_copy_leaves_the_database_empty() {
    let Some(url) = paperscout_testkit::postgres::fresh_schema("tests::copy_to_postgres::fails")
    else {
        return;
    };
    let url: DatabaseUrl = url.parse().unwrap();
    let wait = std::time::Duration::from_secs(10);
    let target = Store::connect(&url, wait).unwrap();
    // A table midway fails, as a full disk or a dropped connection would.
    target.test_sql(
        "",
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'disk full'; END $$;
         CREATE TRIGGER boom BEFORE INSERT ON harvests FOR EACH ROW EXECUTE FUNCTION boom();",
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = filled_sqlite(dir.path());
    let e = sqlite
        .copy_to(&url, wait, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("disk full"), "{e}");
    assert_eq!(target.count().unwrap(), 0);
    assert!(target.active_subscribers().unwrap().is_empty());
    assert_eq!(target.outbox_stats().unwrap(), OutboxStats::default());
    assert_eq!(target.generation().unwrap(), 0);
    assert_eq!(target.account_by_email("reader@example.org").unwrap(), None);
}

on_both_backends! {
fn a_digest_built_from_a_stale_view_is_refused(store) {
    let papers: Vec<Paper> = (1..=3)
        .map(|i| paper(&format!("2408.{i:05}"), &format!("Sent {i}"), "x"))
        .collect();
    store.upsert(&papers).unwrap();
    let keys = store.keys_after(0).unwrap();
    let s = store
        .import_subscriber(
            &Subscription {
                email: "stale@example.org".into(),
                interests: String::new(),
                categories: vec![],
                hour: 8,
                timezone: "UTC".into(),
            },
            b"stale",
            0,
            0,
        )
        .unwrap()
        .unwrap();
    let m = mail(MailKind::Digest, "stale@example.org");
    assert!(store.claim_digest(s, "2024-06-01", Some(&m), &keys[..2], keys[1], 10).unwrap());
    // Another day's digest, built before the first was claimed, lists a paper sent since.
    assert!(!store.claim_digest(s, "2024-06-02", Some(&m), &keys[1..], keys[2], 11).unwrap());
    assert!(!store.digest_claimed(s, "2024-06-02").unwrap(), "nothing of it was kept");
    // Built anew, without it, it goes through.
    assert!(store.claim_digest(s, "2024-06-02", Some(&m), &keys[2..], keys[2], 12).unwrap());
    assert_eq!(store.sent_papers(s).unwrap().len(), 3);
}
}

on_both_backends! {
fn a_dropped_embedding_leaves_its_paper_claimable(store) {
    let original = paper("2409.00001", "Flip", "first text");
    store.upsert(std::slice::from_ref(&original)).unwrap();
    let claim = store.claim_embeddings("m", "a", PaperKey::MIN, 10, 0, 60).unwrap();
    let first = claim.papers[0].clone();
    // The text changes while it is encoded: the embedding is dropped on write.
    let mut changed = original.clone();
    changed.abstract_text = "second text".into();
    store.upsert(&[changed]).unwrap();
    let w = store.put_embeddings("m", &[(first.key, first.content_hash.clone(), vec![1.0])]).unwrap();
    assert_eq!(w.written, 0);
    // And changes back: the paper is pending with its first content, and can be claimed.
    store.upsert(&[original]).unwrap();
    assert_eq!(store.count_pending_embeddings("m").unwrap(), 1);
    let again = store.claim_embeddings("m", "b", PaperKey::MIN, 10, 61, 120).unwrap();
    assert_eq!(again.papers.len(), 1);
}
}

on_both_backends! {
fn deleting_embeddings_moves_the_stamp(store) {
    store.upsert(&[paper("2410.00001", "Stamped", "x")]).unwrap();
    let p = store.pending_embeddings("m").unwrap().remove(0);
    store.put_embeddings("m", &[(p.key, p.content_hash, vec![1.0])]).unwrap();
    let before = store.embedding_stamp().unwrap();
    assert_eq!(store.delete_embeddings("m").unwrap(), 1);
    assert!(store.embedding_stamp().unwrap() > before, "other processes look again");
    assert_eq!(store.count_pending_embeddings("m").unwrap(), 1);
}
}

#[test]
fn a_postgres_store_and_its_roles_can_be_dropped_inside_a_runtime() {
    // A server's last handle on the engine (and a scheduler's role) may be dropped on a
    // runtime thread; the client's own drop would panic there ("Cannot start a runtime from
    // within a runtime"), and a second panic while unwinding aborts the process.
    let Some(store) = pg_store("tests::dropped_inside_a_runtime") else {
        return;
    };
    store
        .upsert(&[paper("2411.00001", "Dropped", "x")])
        .unwrap();
    assert!(!store.wait_for_change(std::time::Duration::from_millis(10)));
    let leader = store.lead("digest").unwrap().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async move {
        drop(leader);
        drop(store);
    });
}

on_both_backends! {
fn embeddings_of_many_papers_and_every_papers_facets_in_one_call(store) {
    let mut dated = paper("2401.00001", "A", "x");
    dated.published = chrono::NaiveDate::from_ymd_opt(2024, 1, 5);
    dated.categories = vec!["cs.IR".into()];
    let mut plain = paper("2401.00002", "B", "y");
    plain.categories.clear();
    store
        .upsert(&[dated, plain.clone(), paper("2401.00003", "C", "z")])
        .unwrap();
    let pending = store.pending_embeddings("m").unwrap();
    let rows: Vec<_> = pending[..2]
        .iter()
        .map(|p| (p.key, p.content_hash.clone(), vec![p.key as f32, 0.5]))
        .collect();
    store.put_embeddings("m", &rows).unwrap();
    let keys: Vec<_> = pending.iter().map(|p| p.key).collect();
    // The third paper has none; a stale one is left out too.
    let got = store.embeddings("m", &keys).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&keys[1]], vec![keys[1] as f32, 0.5]);
    assert!(store.embeddings("other", &keys).unwrap().is_empty());
    assert!(store.embeddings("m", &[]).unwrap().is_empty());
    let mut changed = plain;
    changed.abstract_text = "changed".into();
    store.upsert(&[changed]).unwrap();
    assert_eq!(store.embeddings("m", &keys).unwrap().len(), 1);

    let mut facets = Vec::new();
    store.for_each_facets(|k, f| facets.push((k, f))).unwrap();
    facets.sort_by_key(|f| f.0);
    assert_eq!(facets.len(), 3);
    assert_eq!(facets[0].1.published, chrono::NaiveDate::from_ymd_opt(2024, 1, 5));
    assert_eq!(facets[0].1.categories, ["cs.IR"]);
    assert!(facets[1].1.categories.is_empty());
}
}

on_both_backends! {
fn removing_a_source_leaves_tombstones_and_never_reuses_its_keys(store) {
    let mut demo = paper("2401.09999", "A demo paper", "Bundled.");
    demo.id = PaperId::from_title("A demo paper");
    demo.source = Source::Demo;
    demo.published = None;
    let real = paper("2401.00001", "A real paper", "Harvested.");
    store.upsert(&[real.clone(), demo.clone()]).unwrap();
    let demo_key = store.get(&demo.id).unwrap().unwrap().key;
    store.vote(demo_key, "v1", 100).unwrap();
    store.put_embeddings("m", &[(demo_key, store.get(&demo.id).unwrap().unwrap().paper.content_hash(), vec![1.0, 0.0])]).unwrap();
    // The demo paper never entered the feed: the real one comes first in New.
    let newest = store.newest(0, 10).unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[1], demo_key, "demo papers come last");
    let before = store.generation().unwrap();
    assert_eq!(store.remove_source("demo").unwrap(), vec![demo_key]);
    assert!(store.generation().unwrap() > before);
    assert!(store.get(&demo.id).unwrap().is_none());
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.removed_since(before).unwrap(), vec![demo_key]);
    assert!(store.removed_since(store.generation().unwrap()).unwrap().is_empty());
    assert!(store.vote_counts(&[demo_key]).unwrap().is_empty());
    assert!(store.embedding("m", demo_key).unwrap().is_none());
    // Nothing left of that source: no-op, no new generation.
    let now = store.generation().unwrap();
    assert!(store.remove_source("demo").unwrap().is_empty());
    assert_eq!(store.generation().unwrap(), now);
    // The removed key is not handed out again, even though it was the largest.
    store.upsert(&[paper("2401.00002", "Another paper", "New.")]).unwrap();
    let next = store.get(&"2401.00002".parse().unwrap()).unwrap().unwrap().key;
    assert!(next > demo_key, "{next} > {demo_key}");
    let counts = store.source_counts().unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].source.as_str(), counts[0].papers), ("jsonl", 2));
    assert!(counts[0].last_change.is_some());
}
}

on_both_backends! {
fn a_demo_paper_that_a_real_source_lists_becomes_that_sources(store) {
    let mut demo = paper("2401.09998", "Shared title", "Bundled.");
    demo.id = PaperId::from_title("Shared title");
    demo.source = Source::Demo;
    demo.published = None;
    store.upsert(&[demo]).unwrap();
    let mut real = paper("2401.00007", "Shared title", "Harvested.");
    real.source = Source::HfDaily;
    store.upsert(&[real]).unwrap();
    assert_eq!(store.count().unwrap(), 1);
    let counts = store.source_counts().unwrap();
    assert_eq!((counts[0].source.as_str(), counts[0].papers), ("hf-daily", 1));
    assert!(store.remove_source("demo").unwrap().is_empty());
    // It entered the feed with its real date.
    let c = store.trending_candidates(0, 10).unwrap();
    assert_eq!(c[0].listed_at, NaiveDate::from_ymd_opt(2024, 1, 2).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp());
}
}

on_both_backends! {
fn papers_by_publication_date_most_upvoted_first(store) {
    let day = |d| NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let mut papers = Vec::new();
    for (i, d) in [(1, 4), (2, 4), (3, 5), (4, 8)] {
        let mut p = paper(&format!("2403.0000{i}"), &format!("Paper {i}"), "x");
        p.published = Some(day(d));
        papers.push(p);
    }
    papers[1].upvotes = Some(3);
    store.upsert(&papers).unwrap();
    let key = |i: usize| store.get(&papers[i].id).unwrap().unwrap().key;
    store.vote(key(0), "v", 1).unwrap();
    let (keys, total) = store.published_between(day(4), day(4), 0, 10).unwrap();
    assert_eq!((keys, total), (vec![key(1), key(0)], 2));
    let (keys, total) = store.published_between(day(4), day(5), 1, 1).unwrap();
    assert_eq!((keys, total), (vec![key(0)], 3), "paged");
    assert_eq!(store.published_between(day(6), day(7), 0, 10).unwrap(), (vec![], 0));
    let n = store.published_neighbours(day(6), day(7)).unwrap();
    assert_eq!((n.before, n.after), (Some(day(5)), Some(day(8))));
    let n = store.published_neighbours(day(1), day(3)).unwrap();
    assert_eq!((n.before, n.after), (None, Some(day(4))));
}
}

#[test]
fn a_copy_to_postgres_keeps_removed_keys_retired() {
    let Some(url) = paperscout_testkit::postgres::fresh_schema("tests::copy_to_postgres::removed")
    else {
        return;
    };
    let url: DatabaseUrl = url.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("papers.sqlite")).unwrap();
    let mut demo = paper("2401.09997", "A demo paper", "Bundled.");
    demo.source = Source::Demo;
    sqlite
        .upsert(&[paper("2401.00001", "Real", "Kept."), demo])
        .unwrap();
    let removed = sqlite.remove_source("demo").unwrap();
    let wait = std::time::Duration::from_secs(10);
    let report = sqlite.copy_to(&url, wait, |_, _| {}).unwrap();
    assert_eq!(report.rows["removed_papers"], 1);
    let pg = Store::connect(&url, wait).unwrap();
    assert_eq!(pg.removed_since(0).unwrap(), removed);
    pg.upsert(&[paper("2401.00002", "New", "After the copy.")])
        .unwrap();
    let key = pg.get(&"2401.00002".parse().unwrap()).unwrap().unwrap().key;
    assert!(key > removed[0], "{key} > {}", removed[0]);
}

// Accounts.

const DAY: i64 = 86_400;

/// `n` papers; their keys in order.
fn some_papers(store: &Store, n: usize) -> Vec<PaperKey> {
    let papers: Vec<Paper> = (1..=n)
        .map(|i| paper(&format!("2405.{i:05}"), &format!("Paper {i}"), "x"))
        .collect();
    store.upsert(&papers).unwrap();
    store.keys_after(0).unwrap()
}

/// Signs `email` in by a mailed link, as visitor `voter`, at `now`: what the sign-in did, and
/// its session's hash.
fn sign_in(store: &Store, email: &str, voter: &str, now: i64) -> (SignIn, Vec<u8>) {
    let token = format!("link {email} {now}").into_bytes();
    assert!(store
        .queue_signin(email, &token, now, now + 900, 0, || {
            mail(MailKind::Signin, email)
        })
        .unwrap());
    let session = format!("session {email} {now}").into_bytes();
    let signed_in = store
        .redeem_signin(&token, &session, voter, now + 1)
        .unwrap()
        .unwrap();
    (signed_in, session)
}

on_both_backends! {
fn a_signin_link_works_once_before_it_expires_and_is_not_resent_at_once(store) {
    let keys = some_papers(&store, 3);
    store.vote(keys[0], "visitor-1", 10).unwrap();
    store.vote(keys[1], "visitor-1", 11).unwrap();
    let queue = |email: &str, token: &[u8], now: i64, expires_at: i64| {
        store
            .queue_signin(email, token, now, expires_at, 60, || {
                mail(MailKind::Signin, email)
            })
            .unwrap()
    };
    assert!(queue("Ada@Example.org", b"link-1", 1_000, 1_900));
    // The same address in another case, moments later: nothing is written.
    assert!(!queue("ada@example.org", b"link-2", 1_030, 1_930));
    assert_eq!(store.redeem_signin(b"link-2", b"s", "visitor-1", 1_031).unwrap(), None);
    // The mail waits in the outbox, with no subscriber, deliverable.
    let due = store.due_mail(1_000, 10).unwrap();
    assert_eq!(due.len(), 1);
    let m = &due[0];
    assert_eq!(
        (m.subscriber_id, m.subscriber_status, m.kind, m.recipient.as_str()),
        (None, SubscriberStatus::Active, MailKind::Signin, "Ada@Example.org")
    );
    assert!(store.lease_mail(m.id, 1_000, 1_100).unwrap());
    store.mark_sent(m.id, 1_001).unwrap();
    assert_eq!(store.outbox_stats().unwrap().sent, 1);
    // A link that expires unused signs no one in.
    assert!(queue("ada@example.org", b"link-3", 1_070, 1_100));
    assert_eq!(store.redeem_signin(b"link-3", b"s", "visitor-1", 1_100).unwrap(), None);
    assert_eq!(store.redeem_signin(b"no such link", b"s", "visitor-1", 1_100).unwrap(), None);
    assert_eq!(store.account_by_email("ada@example.org").unwrap(), None);

    // The first sign-in makes the account, its "Saved" collection, and takes the visitor's votes.
    let first = store.redeem_signin(b"link-1", b"session-1", "visitor-1", 1_200).unwrap().unwrap();
    assert!(first.created);
    assert_eq!(first.votes_moved, 2);
    let ada = first.account.clone();
    assert_eq!((ada.email.as_str(), ada.created_at), ("Ada@Example.org", 1_200));
    assert_eq!(ada.voter(), format!("account:{}", ada.id));
    assert_eq!(store.voted_by(&ada.voter(), &keys).unwrap(), HashSet::from([keys[0], keys[1]]));
    assert!(store.voted_by("visitor-1", &keys).unwrap().is_empty());
    let names: Vec<String> = store.collections(ada.id).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec![DEFAULT_COLLECTION.to_string()]);
    assert_eq!(store.session(b"session-1", 1_201, DAY).unwrap(), Some(ada.clone()));
    // Once only, even within its time.
    assert_eq!(store.redeem_signin(b"link-1", b"session-2", "visitor-1", 1_300).unwrap(), None);
    assert_eq!(store.session(b"session-2", 1_301, DAY).unwrap(), None);

    // Signing in again from another browser: the same account; of that visitor's votes, the
    // one for a paper the account voted for already is dropped, the other moves.
    store.vote(keys[0], "visitor-2", 20).unwrap();
    store.vote(keys[2], "visitor-2", 21).unwrap();
    assert!(queue("ADA@example.org", b"link-4", 2_000, 2_900));
    let again = store.redeem_signin(b"link-4", b"session-3", "visitor-2", 2_001).unwrap().unwrap();
    assert_eq!((again.account.clone(), again.created, again.votes_moved), (ada.clone(), false, 1));
    assert_eq!(
        store.vote_counts(&keys).unwrap(),
        HashMap::from([(keys[0], 1), (keys[1], 1), (keys[2], 1)])
    );
    assert!(store.voted_by("visitor-2", &keys).unwrap().is_empty());
    assert_eq!(store.collections(ada.id).unwrap().len(), 1, "one Saved collection");
    let count_links = || {
        store.test_count("SELECT COUNT(*) FROM signin_tokens WHERE lower(email) = 'ada@example.org'")
    };
    assert_eq!(count_links(), 3, "link-1, link-3 (expired) and link-4");
    // Used and expired links are cleared away a day on, by the address's next request.
    assert!(queue("ada@example.org", b"link-5", 2_000 + DAY, 2_900 + DAY));
    assert_eq!(count_links(), 2, "link-4 (used less than a day ago) and link-5");
}
}

on_both_backends! {
fn sessions_expire_and_can_be_ended_one_or_all(store) {
    let (ada, s1) = sign_in(&store, "ada@example.org", "", 1_000);
    let ada = ada.account;
    let last_seen = || {
        store.test_count(&format!(
            "SELECT last_seen_at FROM sessions WHERE account_id = {} ORDER BY created_at LIMIT 1",
            ada.id
        ))
    };
    assert_eq!(last_seen(), 1_001);
    assert_eq!(store.session(&s1, 1_030, 3_600).unwrap(), Some(ada.clone()));
    assert_eq!(last_seen(), 1_001, "written at most once a minute");
    assert_eq!(store.session(&s1, 1_061, 3_600).unwrap(), Some(ada.clone()));
    assert_eq!(last_seen(), 1_061);
    // Its age counts from the sign-in, however recently it was used.
    assert_eq!(store.session(&s1, 4_601, 3_600).unwrap(), Some(ada.clone()));
    assert_eq!(store.session(&s1, 4_602, 3_600).unwrap(), None);
    assert_eq!(store.session(&s1, 1_062, 3_600).unwrap(), None, "an expired session is gone");
    let (_, s2) = sign_in(&store, "ada@example.org", "", 5_000);
    let (_, s3) = sign_in(&store, "ada@example.org", "", 5_010);
    let (bob, s4) = sign_in(&store, "bob@example.org", "", 5_020);
    assert!(store.end_session(&s2).unwrap());
    assert!(!store.end_session(&s2).unwrap());
    assert_eq!(store.session(&s2, 5_100, 3_600).unwrap(), None);
    assert_eq!(store.session(&s3, 5_100, 3_600).unwrap(), Some(ada.clone()));
    let (_, s5) = sign_in(&store, "ada@example.org", "", 5_030);
    assert_eq!(store.end_all_sessions(ada.id).unwrap(), 2);
    assert_eq!(store.session(&s3, 5_100, 3_600).unwrap(), None);
    assert_eq!(store.session(&s5, 5_100, 3_600).unwrap(), None);
    assert_eq!(store.session(&s4, 5_100, 3_600).unwrap(), Some(bob.account), "another account's");
    assert_eq!(store.account(ada.id).unwrap(), Some(ada.clone()));
    assert_eq!(store.account_by_email("ADA@EXAMPLE.ORG").unwrap(), Some(ada));
    assert_eq!(store.account(-1).unwrap(), None);
}
}

on_both_backends! {
fn api_tokens_are_listed_looked_up_revoked_and_capped(store) {
    let ada = sign_in(&store, "ada@example.org", "", 1_000).0.account;
    let bob = sign_in(&store, "bob@example.org", "", 1_000).0.account;
    let t1 = store.create_api_token(ada.id, "laptop", b"hash-1", 2_000).unwrap();
    assert_eq!((t1.name.as_str(), t1.created_at, t1.last_used_at), ("laptop", 2_000, None));
    let t2 = store.create_api_token(ada.id, "script", b"hash-2", 2_001).unwrap();
    assert_eq!(store.api_tokens(ada.id).unwrap(), vec![t1.clone(), t2.clone()]);
    assert!(store.api_tokens(bob.id).unwrap().is_empty());
    assert_eq!(store.account_by_api_token(b"hash-1", 3_000).unwrap(), Some(ada.clone()));
    assert_eq!(store.account_by_api_token(b"hash-1", 3_030).unwrap(), Some(ada.clone()));
    assert_eq!(
        store.api_tokens(ada.id).unwrap()[0].last_used_at,
        Some(3_000),
        "written at most once a minute"
    );
    store.account_by_api_token(b"hash-1", 3_060).unwrap();
    assert_eq!(store.api_tokens(ada.id).unwrap()[0].last_used_at, Some(3_060));
    assert_eq!(store.account_by_api_token(b"unknown", 3_000).unwrap(), None);
    // Another account cannot revoke it.
    assert!(!store.revoke_api_token(bob.id, t1.id).unwrap());
    assert!(store.revoke_api_token(ada.id, t1.id).unwrap());
    assert!(!store.revoke_api_token(ada.id, t1.id).unwrap());
    assert_eq!(store.account_by_api_token(b"hash-1", 4_000).unwrap(), None);
    for i in 1..MAX_API_TOKENS {
        store.create_api_token(ada.id, "more", format!("more-{i}").as_bytes(), 5_000).unwrap();
    }
    let e = store.create_api_token(ada.id, "one too many", b"x", 5_000).unwrap_err();
    assert!(matches!(&e, Error::Refused(m) if m.contains("at most 20 API tokens")), "{e}");
    assert_eq!(store.api_tokens(ada.id).unwrap().len(), MAX_API_TOKENS);
    assert!(matches!(store.create_api_token(-1, "x", b"y", 1).unwrap_err(), Error::Refused(_)));
}
}

on_both_backends! {
fn collections_belong_to_their_account(store) {
    let ada = sign_in(&store, "ada@example.org", "", 1_000).0.account;
    let bob = sign_in(&store, "bob@example.org", "", 1_000).0.account;
    let saved = store.collections(ada.id).unwrap().remove(0);
    let reading = store.create_collection(ada.id, "Reading group", 2_000).unwrap().unwrap();
    assert_eq!(
        (reading.account_id, reading.name.as_str(), reading.created_at, reading.digest, reading.has_feed, reading.papers),
        (ada.id, "Reading group", 2_000, false, false, 0)
    );
    assert_eq!(reading.rules, Rules::default());
    assert_eq!(store.create_collection(ada.id, "reading GROUP", 2_001).unwrap(), None, "names are unique in any case");
    assert!(store.create_collection(bob.id, "Reading group", 2_001).unwrap().is_some(), "per account");
    assert_eq!(store.create_collection(-1, "Nobody's", 2_001).unwrap(), None);
    assert_eq!(store.collections(ada.id).unwrap(), vec![saved.clone(), reading.clone()]);
    assert_eq!(store.collection(ada.id, reading.id).unwrap(), Some(reading.clone()));

    // Another account sees nothing and changes nothing.
    let rules = Rules {
        must: vec!["retrieval".into()],
        never: vec!["survey".into()],
        categories: vec!["cs.IR".into()],
        authors: vec!["Ada Lovelace".into()],
    };
    assert_eq!(store.collection(bob.id, reading.id).unwrap(), None);
    assert!(!store.rename_collection(bob.id, reading.id, "Mine").unwrap());
    assert!(!store.set_rules(bob.id, reading.id, &rules).unwrap());
    assert!(!store.set_collection_digest(bob.id, reading.id, true).unwrap());
    assert!(!store.set_feed_token(bob.id, reading.id, Some(b"feed")).unwrap());
    assert!(!store.delete_collection(bob.id, reading.id).unwrap());
    assert_eq!(store.collection(ada.id, reading.id).unwrap(), Some(reading.clone()));

    // Renames: not onto another of its names (in any case); a change of case is fine.
    assert!(!store.rename_collection(ada.id, reading.id, "saved").unwrap());
    assert!(store.rename_collection(ada.id, reading.id, "Reading Group").unwrap());
    assert!(store.rename_collection(ada.id, reading.id, "Journal club").unwrap());
    assert!(!store.rename_collection(ada.id, -1, "Nothing").unwrap());
    // Rules, digest and feed token round-trip.
    assert!(store.set_rules(ada.id, reading.id, &rules).unwrap());
    assert!(store.set_collection_digest(ada.id, reading.id, true).unwrap());
    assert!(store.set_feed_token(ada.id, reading.id, Some(b"feed-1")).unwrap());
    let changed = store.collection(ada.id, reading.id).unwrap().unwrap();
    assert_eq!(
        (changed.name.as_str(), &changed.rules, changed.digest, changed.has_feed),
        ("Journal club", &rules, true, true)
    );
    assert_eq!(store.collection_by_feed_token(b"feed-1").unwrap(), Some(changed.clone()));
    assert!(store.set_feed_token(ada.id, reading.id, Some(b"feed-2")).unwrap());
    assert_eq!(store.collection_by_feed_token(b"feed-1").unwrap(), None, "replaced");
    assert_eq!(store.collection_by_feed_token(b"feed-2").unwrap().map(|c| c.id), Some(reading.id));
    assert!(store.set_feed_token(ada.id, reading.id, None).unwrap());
    assert_eq!(store.collection_by_feed_token(b"feed-2").unwrap(), None, "revoked");
    assert!(!store.collection(ada.id, reading.id).unwrap().unwrap().has_feed);
    // The daily digest finds the collections it covers by the address.
    assert_eq!(
        store.digest_collections("ADA@example.org").unwrap().iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![reading.id]
    );
    assert!(store.digest_collections("bob@example.org").unwrap().is_empty());
    assert!(store.digest_collections("nobody@example.org").unwrap().is_empty());
    assert!(store.delete_collection(ada.id, reading.id).unwrap());
    assert!(!store.delete_collection(ada.id, reading.id).unwrap());
    assert_eq!(store.collections(ada.id).unwrap(), vec![saved]);
    // At most MAX_COLLECTIONS.
    for i in 1..MAX_COLLECTIONS {
        store.create_collection(ada.id, &format!("List {i}"), 3_000).unwrap().unwrap();
    }
    let e = store.create_collection(ada.id, "One too many", 3_000).unwrap_err();
    assert!(matches!(&e, Error::Refused(m) if m.contains("at most 100 collections")), "{e}");
    assert_eq!(store.collections(ada.id).unwrap().len(), MAX_COLLECTIONS);
}
}

on_both_backends! {
fn papers_are_saved_in_collections_and_dismissed_per_account(store) {
    let keys = some_papers(&store, 4);
    let ada = sign_in(&store, "ada@example.org", "", 1_000).0.account;
    let bob = sign_in(&store, "bob@example.org", "", 1_000).0.account;
    let saved = store.collections(ada.id).unwrap()[0].id;
    let other = store.create_collection(ada.id, "Other", 1_000).unwrap().unwrap().id;
    let bobs = store.collections(bob.id).unwrap()[0].id;
    // Dismissed first: saving a paper takes it off the "not interested" list.
    assert!(store.dismiss(ada.id, keys[0], 1_500).unwrap());
    assert!(!store.dismiss(ada.id, keys[0], 1_501).unwrap(), "once");
    assert!(store.dismiss(ada.id, keys[3], 1_502).unwrap());
    assert!(!store.dismiss(ada.id, 999_999, 1_502).unwrap(), "no such paper");
    assert!(store.dismiss(bob.id, keys[0], 1_502).unwrap());
    assert_eq!(store.dismissed(ada.id).unwrap(), vec![keys[3], keys[0]], "latest first");
    assert_eq!(store.add_to_collection(ada.id, saved, &[keys[0], keys[1], 999_999], 2_000).unwrap(), 2);
    assert_eq!(store.add_to_collection(ada.id, saved, &[keys[1], keys[2]], 2_001).unwrap(), 1);
    assert_eq!(store.dismissed(ada.id).unwrap(), vec![keys[3]]);
    assert_eq!(store.dismissed(bob.id).unwrap(), vec![keys[0]], "another account's list stays");
    assert_eq!(store.add_to_collection(ada.id, other, &[keys[1]], 2_002).unwrap(), 1);
    // Dismissing leaves the collections alone.
    assert!(store.dismiss(ada.id, keys[2], 2_003).unwrap());
    assert_eq!(
        store.collection_papers(ada.id, saved).unwrap(),
        vec![(keys[2], 2_001), (keys[1], 2_000), (keys[0], 2_000)],
        "newest first"
    );
    assert_eq!(store.collection(ada.id, saved).unwrap().unwrap().papers, 3);
    assert_eq!(
        store.saved_in(ada.id, &keys).unwrap(),
        HashMap::from([
            (keys[0], vec![saved]),
            (keys[1], vec![saved, other]),
            (keys[2], vec![saved]),
        ])
    );
    // Another account can neither see nor change them.
    assert!(store.saved_in(bob.id, &keys).unwrap().is_empty());
    assert!(store.collection_papers(bob.id, saved).unwrap().is_empty());
    assert_eq!(store.add_to_collection(bob.id, saved, &[keys[3]], 2_004).unwrap(), 0);
    assert!(!store.remove_from_collection(bob.id, saved, keys[0]).unwrap());
    assert_eq!(store.add_to_collection(ada.id, bobs, &[keys[3]], 2_004).unwrap(), 0);
    assert!(store.collection_papers(bob.id, bobs).unwrap().is_empty());
    assert!(store.undismiss(ada.id, keys[2]).unwrap());
    assert!(!store.undismiss(ada.id, keys[2]).unwrap());
    assert!(!store.undismiss(bob.id, keys[3]).unwrap());
    assert!(store.remove_from_collection(ada.id, saved, keys[0]).unwrap());
    assert!(!store.remove_from_collection(ada.id, saved, keys[0]).unwrap());
    assert_eq!(store.saved_in(ada.id, &[keys[0]]).unwrap(), HashMap::new());
    // Deleting a collection takes its list, not the papers or the other lists.
    assert!(store.delete_collection(ada.id, saved).unwrap());
    assert_eq!(store.saved_in(ada.id, &keys).unwrap(), HashMap::from([(keys[1], vec![other])]));
    assert_eq!(store.count().unwrap(), 4);
}
}

on_both_backends! {
fn a_collection_holds_at_most_max_collection_papers(store) {
    // Many papers at once, in SQL: the cap is what is under test, not the ingest.
    store.test_sql(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 10001)
         INSERT INTO papers (id, title, abstract, authors, categories, links, source, content_hash,
                             record_hash, generation, added_at, updated_at)
         SELECT 'arxiv:2406.' || n, 'T', 'A', '[]', '[]', '{}', 'jsonl', 'c', 'r', 1,
                '2024-06-01T00:00:00+00:00', '2024-06-01T00:00:00+00:00' FROM g;",
        "INSERT INTO papers (id, title, abstract, authors, categories, links, source, content_hash,
                             record_hash, generation, added_at, updated_at, listed_at)
         SELECT 'arxiv:2406.' || n, 'T', 'A', '[]', '[]', '{}', 'jsonl', 'c', 'r', 1, 0, 0, 0
         FROM generate_series(1, 10001) AS n;",
    );
    let keys = store.keys_after(0).unwrap();
    assert_eq!(keys.len(), MAX_COLLECTION_PAPERS + 1);
    let ada = sign_in(&store, "ada@example.org", "", 1_000).0.account;
    let saved = store.collections(ada.id).unwrap()[0].id;
    store.dismiss(ada.id, keys[MAX_COLLECTION_PAPERS], 1_500).unwrap();
    assert_eq!(
        store.add_to_collection(ada.id, saved, &keys[..MAX_COLLECTION_PAPERS], 2_000).unwrap(),
        MAX_COLLECTION_PAPERS
    );
    let e = store
        .add_to_collection(ada.id, saved, &keys[MAX_COLLECTION_PAPERS - 1..], 2_001)
        .unwrap_err();
    assert!(matches!(&e, Error::Refused(m) if m.contains("at most 10000 papers")), "{e}");
    // Refused whole: nothing added, nothing taken off the dismissed list.
    assert_eq!(store.collection(ada.id, saved).unwrap().unwrap().papers, MAX_COLLECTION_PAPERS);
    assert_eq!(store.dismissed(ada.id).unwrap(), vec![keys[MAX_COLLECTION_PAPERS]]);
    // Papers already in it can be added again (nothing grows).
    assert_eq!(store.add_to_collection(ada.id, saved, &keys[..3], 2_002).unwrap(), 0);
}
}

on_both_backends! {
fn removing_a_source_takes_its_papers_out_of_collections_and_dismissals(store) {
    let mut demo = paper("2401.09999", "A demo paper", "Bundled.");
    demo.source = Source::Demo;
    store.upsert(&[paper("2401.00001", "A real paper", "Harvested."), demo.clone()]).unwrap();
    let real_key = store.get(&"2401.00001".parse().unwrap()).unwrap().unwrap().key;
    let demo_key = store.get(&demo.id).unwrap().unwrap().key;
    let ada = sign_in(&store, "ada@example.org", "", 1_000).0.account;
    let saved = store.collections(ada.id).unwrap()[0].id;
    store.add_to_collection(ada.id, saved, &[real_key, demo_key], 2_000).unwrap();
    let other = store.create_collection(ada.id, "Other", 2_000).unwrap().unwrap().id;
    store.add_to_collection(ada.id, other, &[demo_key], 2_000).unwrap();
    store.dismiss(ada.id, demo_key, 2_001).unwrap();
    assert_eq!(store.remove_source("demo").unwrap(), vec![demo_key]);
    assert_eq!(store.collection_papers(ada.id, saved).unwrap(), vec![(real_key, 2_000)]);
    assert!(store.collection_papers(ada.id, other).unwrap().is_empty());
    assert!(store.dismissed(ada.id).unwrap().is_empty());
    assert_eq!(store.test_count(&format!("SELECT COUNT(*) FROM collection_papers WHERE paper_key = {demo_key}")), 0);
    assert_eq!(store.test_count(&format!("SELECT COUNT(*) FROM dismissed WHERE paper_key = {demo_key}")), 0);
}
}

/// An account with a row in every table that holds personal data: what [`fill_account`] made.
struct Filled {
    account: Account,
    subscriber_id: i64,
    collections: Vec<i64>,
}

/// Signs `email` in (its visitor `voter` having voted) and gives it a second session, an API
/// token, a pending sign-in link, a collection with papers, a feed and rules, a dismissed paper,
/// and a confirmed digest subscription (under the address in lower case) with a day's digest.
fn fill_account(store: &Store, email: &str, voter: &str, keys: &[PaperKey]) -> Filled {
    store.vote(keys[0], voter, 900).unwrap();
    let account = sign_in(store, email, voter, 1_000).0.account;
    sign_in(store, email, voter, 1_100);
    store.vote(keys[1], &account.voter(), 1_200).unwrap();
    store
        .create_api_token(
            account.id,
            "laptop",
            format!("api {email}").as_bytes(),
            1_300,
        )
        .unwrap();
    assert!(store
        .queue_signin(
            email,
            format!("pending {email}").as_bytes(),
            1_400,
            9_000,
            0,
            || { mail(MailKind::Signin, email) }
        )
        .unwrap());
    let saved = store.collections(account.id).unwrap()[0].id;
    store
        .add_to_collection(account.id, saved, &keys[..2], 1_500)
        .unwrap();
    let list = store
        .create_collection(account.id, "Reading group", 1_600)
        .unwrap()
        .unwrap()
        .id;
    store
        .add_to_collection(account.id, list, &keys[2..3], 1_700)
        .unwrap();
    store
        .set_rules(
            account.id,
            list,
            &Rules {
                must: vec!["retrieval".into()],
                ..Rules::default()
            },
        )
        .unwrap();
    store.set_collection_digest(account.id, list, true).unwrap();
    store
        .set_feed_token(account.id, list, Some(format!("feed {email}").as_bytes()))
        .unwrap();
    store.dismiss(account.id, keys[3], 1_800).unwrap();
    let request = Subscription {
        email: email.to_lowercase(),
        interests: "retrieval".into(),
        categories: vec!["cs.IR".into()],
        hour: 8,
        timezone: "Europe/Paris".into(),
    };
    let SubscribeOutcome::Confirm(s) = store
        .subscribe(
            &request,
            format!("handle {email}").as_bytes(),
            1_900,
            60,
            |s, k| mail(k, &s.subscription.email),
        )
        .unwrap()
    else {
        panic!("a new subscriber")
    };
    store.confirm(&s.handle, 1_901, 0).unwrap().unwrap();
    assert!(store
        .claim_digest(
            s.id,
            "2024-05-01",
            Some(&mail(MailKind::Digest, email)),
            &keys[..2],
            keys[1],
            2_000
        )
        .unwrap());
    Filled {
        account,
        subscriber_id: s.id,
        collections: vec![saved, list],
    }
}

/// The rows each table holds for `f`'s account, by table. Every table is named: one that
/// holds no personal data counts nothing.
fn personal_rows(store: &Store, f: &Filled) -> Vec<(String, i64)> {
    let id = f.account.id;
    let email = f.account.email.to_lowercase();
    let collections = f
        .collections
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let personal: Vec<(&str, String)> = vec![
        ("accounts", format!("id = {id}")),
        ("api_tokens", format!("account_id = {id}")),
        (
            "collection_papers",
            format!("collection_id IN ({collections})"),
        ),
        ("collections", format!("account_id = {id}")),
        (
            "digest_papers",
            format!("subscriber_id = {}", f.subscriber_id),
        ),
        ("dismissed", format!("account_id = {id}")),
        (
            "outbox",
            format!(
                "subscriber_id = {} OR lower(recipient) = '{email}'",
                f.subscriber_id
            ),
        ),
        ("sessions", format!("account_id = {id}")),
        ("signin_tokens", format!("lower(email) = '{email}'")),
        ("subscribers", format!("lower(email) = '{email}'")),
        ("votes", format!("voter = 'account:{id}'")),
    ];
    // Papers and what is derived from them, and the store's own bookkeeping.
    let impersonal = [
        "embedding_leases",
        "embeddings",
        "harvest_state",
        "harvests",
        "meta",
        "paper_ids",
        "papers",
        "removed_papers",
        "schema_version",
    ];
    for table in store.test_tables() {
        assert!(
            impersonal.contains(&table.as_str()) || personal.iter().any(|(t, _)| *t == table),
            "table {table}: personal or not? Add it to `personal_rows`, and to `delete_account` if it is"
        );
    }
    personal
        .into_iter()
        .map(|(table, filter)| {
            let n = store.test_count(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"));
            (table.to_string(), n)
        })
        .collect()
}

on_both_backends! {
fn deleting_an_account_leaves_none_of_its_rows(store) {
    let keys = some_papers(&store, 4);
    let ada = fill_account(&store, "Ada@Example.org", "visitor-a", &keys);
    let bob = fill_account(&store, "bob@example.org", "visitor-b", &keys);
    for (table, n) in personal_rows(&store, &ada) {
        assert!(n > 0, "the test fills {table}");
    }
    let bob_before = personal_rows(&store, &bob);
    assert!(store.delete_account(ada.account.id).unwrap());
    for (table, n) in personal_rows(&store, &ada) {
        assert_eq!(n, 0, "{table} still holds rows of the deleted account");
    }
    assert_eq!(personal_rows(&store, &bob), bob_before, "another account keeps everything");
    assert!(!store.delete_account(ada.account.id).unwrap());
    assert_eq!(store.account_by_email("ada@example.org").unwrap(), None);
    assert_eq!(store.export_account(ada.account.id).unwrap(), None);
    // The papers stay, with the other account's votes.
    assert_eq!(store.count().unwrap(), 4);
    assert_eq!(store.vote_counts(&keys[1..2]).unwrap()[&keys[1]], 1);
    // The address may sign up again, from scratch.
    let again = sign_in(&store, "ada@example.org", "", 10_000).0;
    assert!(again.created);
    assert_ne!(again.account.id, ada.account.id);
}
}

on_both_backends! {
fn an_export_holds_the_accounts_data_and_no_secret(store) {
    let keys = some_papers(&store, 4);
    let f = fill_account(&store, "Ada@Example.org", "visitor-a", &keys);
    fill_account(&store, "bob@example.org", "visitor-b", &keys);
    store.account_by_api_token(b"api Ada@Example.org", 5_000).unwrap().unwrap();
    let id = |i: usize| store.get_by_key(keys[i]).unwrap().unwrap().paper.id.as_str().to_string();
    let export = store.export_account(f.account.id).unwrap().unwrap();
    assert_eq!(
        export.account,
        ExportedAccount { email: "Ada@Example.org".into(), created_at: 1_001 }
    );
    assert_eq!(
        export.collections,
        vec![
            ExportedCollection {
                name: DEFAULT_COLLECTION.into(),
                created_at: 1_001,
                rules: Rules::default(),
                digest: false,
                papers: vec![
                    ExportedPaper { id: id(1), added_at: 1_500 },
                    ExportedPaper { id: id(0), added_at: 1_500 },
                ],
            },
            ExportedCollection {
                name: "Reading group".into(),
                created_at: 1_600,
                rules: Rules { must: vec!["retrieval".into()], ..Rules::default() },
                digest: true,
                papers: vec![ExportedPaper { id: id(2), added_at: 1_700 }],
            },
        ]
    );
    assert_eq!(export.not_interested, vec![ExportedMark { id: id(3), at: 1_800 }]);
    // The visitor's vote moved at sign-in, and one cast since.
    assert_eq!(
        export.votes,
        vec![ExportedMark { id: id(1), at: 1_200 }, ExportedMark { id: id(0), at: 900 }]
    );
    assert_eq!(
        export.api_tokens,
        vec![ExportedToken { name: "laptop".into(), created_at: 1_300, last_used_at: Some(5_000) }]
    );
    assert_eq!(
        export.subscription,
        Some(ExportedSubscription {
            interests: "retrieval".into(),
            categories: vec!["cs.IR".into()],
            hour: 8,
            timezone: "Europe/Paris".into(),
            status: "active".into(),
        })
    );
    let json = serde_json::to_string(&export).unwrap();
    assert!(!json.contains("bob@example.org"));
    assert!(!json.contains("hash") && !json.contains("feed"), "{json}");
}
}

#[test]
fn migrating_a_version_8_store_keeps_its_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("papers.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &crate::sqlite::schema::MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        conn.execute_batch(
            "INSERT INTO subscribers (id, handle, email, interests, categories, hour, timezone,
                                      status, created_at)
             VALUES (7, x'01', 'ada@example.org', '', '[]', 8, 'UTC', 'active', 1);
             INSERT INTO outbox (id, subscriber_id, kind, local_date, state, recipient, message,
                                 next_attempt_at, created_at)
             VALUES (41, 7, 'digest', '2024-05-01', 'pending', 'ada@example.org', x'6869', 5, 5),
                    (42, 7, 'digest', '2024-05-02', 'sent', 'ada@example.org', NULL, 6, 6);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let due = store.due_mail(10, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (
            due[0].id,
            due[0].subscriber_id,
            due[0].kind,
            due[0].message.as_slice()
        ),
        (41, Some(7), MailKind::Digest, &b"hi"[..])
    );
    assert_eq!(store.outbox_stats().unwrap().sent, 1);
    // The digest ledger still refuses a second digest for a claimed day.
    assert!(store.digest_claimed(7, "2024-05-02").unwrap());
    assert!(!store
        .claim_digest(
            7,
            "2024-05-01",
            Some(&mail(MailKind::Digest, "a")),
            &[],
            0,
            20
        )
        .unwrap());
    let indexes = store.test_count(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'
         AND name IN ('outbox_digest', 'outbox_due', 'outbox_recipient')",
    );
    assert_eq!(indexes, 3);
    // A new mail gets an id after the kept ones.
    assert!(store
        .queue_signin("ada@example.org", b"t", 100, 200, 60, || mail(
            MailKind::Signin,
            "ada@example.org"
        ))
        .unwrap());
    assert_eq!(store.due_mail(100, 10).unwrap().last().unwrap().id, 43);
}

#[test]
fn a_signin_link_redeemed_twice_at_once_signs_in_once() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, a, b) in two_processes(
        "tests::a_signin_link_redeemed_twice_at_once_signs_in_once",
        dir.path(),
    ) {
        for round in 0..20i64 {
            let token = format!("link {round}").into_bytes();
            assert!(a
                .queue_signin("ada@example.org", &token, round, round + 900, 0, || {
                    mail(MailKind::Signin, "ada@example.org")
                })
                .unwrap());
            let barrier = std::sync::Barrier::new(2);
            let won: Vec<bool> = std::thread::scope(|scope| {
                let runs: Vec<_> = [(&a, "a"), (&b, "b")]
                    .into_iter()
                    .map(|(store, name)| {
                        let (barrier, token) = (&barrier, &token);
                        scope.spawn(move || {
                            let session = format!("session {round} {name}").into_bytes();
                            barrier.wait();
                            store
                                .redeem_signin(token, &session, "", round + 1)
                                .unwrap()
                                .is_some()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(
                won.iter().filter(|&&w| w).count(),
                1,
                "{backend}: round {round}: {won:?}"
            );
        }
        let ada = a.account_by_email("ada@example.org").unwrap().unwrap();
        assert_eq!(
            a.end_all_sessions(ada.id).unwrap(),
            20,
            "{backend}: one session a link"
        );
        // Two links of a new address redeemed at once: one account, made once.
        for round in 0..10i64 {
            let email = format!("new{round}@example.org");
            for token in ["first", "second"] {
                let token = format!("{token} {round}").into_bytes();
                assert!(a
                    .queue_signin(&email, &token, round, round + 900, 0, || {
                        mail(MailKind::Signin, &email)
                    })
                    .unwrap());
            }
            let barrier = std::sync::Barrier::new(2);
            let signed_in: Vec<SignIn> = std::thread::scope(|scope| {
                let runs: Vec<_> = [(&a, "first"), (&b, "second")]
                    .into_iter()
                    .map(|(store, token)| {
                        let barrier = &barrier;
                        scope.spawn(move || {
                            let token = format!("{token} {round}").into_bytes();
                            barrier.wait();
                            store
                                .redeem_signin(&token, &token, "", round + 1)
                                .unwrap()
                                .unwrap()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(
                signed_in[0].account, signed_in[1].account,
                "{backend}: {email}"
            );
            assert_eq!(
                signed_in.iter().filter(|s| s.created).count(),
                1,
                "{backend}: {email}"
            );
            assert_eq!(
                a.collections(signed_in[0].account.id).unwrap().len(),
                1,
                "{backend}: one Saved"
            );
        }
    }
}
