use super::*;

fn paper(id: &str, title: &str, abstract_text: &str) -> Paper {
    Paper {
        id: id.parse().unwrap(),
        title: title.into(),
        abstract_text: abstract_text.into(),
        authors: vec!["Ada".into()],
        published: NaiveDate::from_ymd_opt(2024, 1, 2),
        categories: vec!["cs.IR".into()],
        links: Links {
            pdf: Some("https://arxiv.org/pdf/2401.00001".into()),
            ..Links::default()
        },
        source: Source::Jsonl,
    }
}

#[test]
fn upsert_inserts_then_updates_without_duplicating() {
    let store = Store::open_in_memory().unwrap();
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

#[test]
fn upsert_is_all_or_nothing() {
    let store = Store::open_in_memory().unwrap();
    store.upsert(&[paper("2401.00001", "A", "x")]).unwrap();
    // Sabotage the second row of a batch with a trigger, as a crash or disk error would.
    store
        .conn()
        .execute_batch("CREATE TRIGGER boom BEFORE INSERT ON papers WHEN NEW.title = 'bad' BEGIN SELECT RAISE(ABORT, 'boom'); END;")
        .unwrap();
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

#[test]
fn for_each_since_streams_only_newer_changes() {
    let store = Store::open_in_memory().unwrap();
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

#[test]
fn embeddings_follow_content_changes() {
    let store = Store::open_in_memory().unwrap();
    store
        .upsert(&[paper("2401.00001", "A", "x"), paper("2401.00002", "B", "y")])
        .unwrap();
    let pending = store.pending_embeddings("m").unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].text, "A x");
    let rows: Vec<_> = pending
        .iter()
        .map(|p| (p.key, p.content_hash.clone(), vec![p.key as f32, 0.5]))
        .collect();
    assert_eq!(store.put_embeddings("m", &rows).unwrap(), 2);
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
            .unwrap(),
        0
    );
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
        .conn()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}
