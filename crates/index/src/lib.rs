//! The derived search indexes: lexical (tantivy BM25), vector (exact, behind [`VectorIndex`]),
//! and the fusion of their rankings. This crate takes query vectors, never an encoder, and
//! papers by their store key ([`Key`]), never the store itself.

mod ann;
mod fusion;
mod highlight;
mod lexical;
pub mod query;
mod vector;

pub use ann::{rescore_depth, AnnIndex, AnnParams};
pub use fusion::{fuse, Fusion, Norm};
pub use highlight::snippet;
pub use lexical::{Analysis, LexicalDoc, LexicalIndex};
pub use tantivy::TantivyError;
pub use vector::{dot, Filter, FlatIndex, VectorIndex};

/// A paper's key in the store.
pub type Key = i64;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lexical index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("cannot open the lexical index at {path}: {message}")]
    Open {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("vector index: {0}")]
    Ann(String),
    #[error("vector of dimension {found} given to an index of dimension {expected}")]
    Dimension { expected: usize, found: usize },
}

/// What the `search_query` fuzz target (`fuzz/`) asserts for any bytes taken as a query: the
/// query parses, the lexical search and the snippet built for it neither panic nor recurse
/// without bound, and what comes back is well formed. The index is a small one built once.
pub fn fuzz_search(data: &[u8]) {
    use std::sync::OnceLock;
    static INDEX: OnceLock<LexicalIndex> = OnceLock::new();
    const ABSTRACT: &str = "We embed passages with a dual encoder (BERT-based) and rank them; \
                            BM25 remains strong. Title: \"quoted\" [brackets] a+b -c.";
    let index = INDEX.get_or_init(|| {
        let index = LexicalIndex::in_memory().expect("an index in memory");
        let authors = ["Ada Lovelace".to_string(), "Alan Turing".to_string()];
        index
            .apply(
                (1..=20).map(|key| LexicalDoc {
                    key,
                    title: if key % 2 == 0 {
                        "Dense passage retrieval"
                    } else {
                        "Sparse (lexical) models"
                    },
                    abstract_text: ABSTRACT,
                    authors: &authors,
                }),
                1,
            )
            .expect("indexing a few papers");
        index
    });
    let query = String::from_utf8_lossy(data);
    let clauses = query::parse(&query);
    assert!(clauses.len() <= query::MAX_CLAUSES);
    let hits = index
        .search(&query, 10)
        .expect("a search never fails on its query");
    assert!(hits.len() <= 10);
    assert!(hits
        .iter()
        .all(|(key, score)| (1..=20).contains(key) && score.is_finite()));
    let s = snippet(ABSTRACT, &query, 120);
    for &(a, b) in &s.highlights {
        assert!(
            a < b && b <= s.text.len(),
            "highlight {a}..{b} in {} bytes",
            s.text.len()
        );
        assert!(s.text.is_char_boundary(a) && s.text.is_char_boundary(b));
    }
}

#[cfg(test)]
mod fuzz_replay {
    /// The `search_query` fuzz target's seeds and every input that once broke it, replayed
    /// in every test run.
    #[test]
    fn search_query_seeds_and_regressions_pass() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut replayed = 0;
        for seed in std::fs::read_dir(fuzz.join("seeds/search_query")).unwrap() {
            super::fuzz_search(&std::fs::read(seed.unwrap().path()).unwrap());
            replayed += 1;
        }
        for input in std::fs::read_dir(fuzz.join("regressions")).unwrap() {
            let path = input.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("search_query--")
            {
                super::fuzz_search(&std::fs::read(&path).unwrap());
                replayed += 1;
            }
        }
        assert!(replayed >= 8, "{replayed}");
    }
}
