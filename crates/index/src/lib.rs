//! The derived search indexes: lexical (tantivy BM25), vector (exact, behind [`VectorIndex`]),
//! and the fusion of their rankings. This crate takes query vectors, never an encoder, and
//! papers by their store key ([`Key`]), never the store itself.

mod fusion;
mod highlight;
mod lexical;
pub mod query;
mod vector;

pub use fusion::{fuse, Fusion};
pub use highlight::snippet;
pub use lexical::{LexicalDoc, LexicalIndex};
pub use tantivy::TantivyError;
pub use vector::{FlatIndex, VectorIndex};

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
    #[error("vector of dimension {found} given to an index of dimension {expected}")]
    Dimension { expected: usize, found: usize },
}
