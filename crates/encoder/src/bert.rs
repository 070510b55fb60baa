use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::native::{self, NativeBert, Scratch};
use crate::{Encoder, Error, Precision, Result};

/// How token vectors become one sentence vector (sentence-transformers' `1_Pooling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps (all-MiniLM-L6-v2).
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// Element-wise max over the kept tokens.
    Max,
}

#[derive(Clone, Debug)]
pub struct EncoderOptions {
    /// Truncate inputs to this many tokens (with `[CLS]`/`[SEP]`). `None`: the model's
    /// `sentence_bert_config.json` `max_seq_length`, else 256; never more than its positions.
    pub max_tokens: Option<usize>,
    /// Texts per forward pass. Batches are formed from texts of similar length.
    pub batch_size: usize,
    /// A name for the model in [`Encoder::model_key`] (e.g. the Hub repo id).
    pub name: Option<String>,
    /// How the forward pass computes (fp32, int8, or candle's reference implementation).
    pub precision: Precision,
    /// Threads one call may use; `None`: every core.
    pub threads: Option<usize>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            max_tokens: None,
            batch_size: 32,
            name: None,
            precision: Precision::default(),
            threads: None,
        }
    }
}

/// Texts are run through the native forward pass in groups of about this many tokens: enough
/// rows for the matrix kernels to reuse each weight panel, few enough for the buffers to stay
/// in cache-friendly sizes (~6 MB per worker at MiniLM's sizes).
const GROUP_TOKENS: usize = 1024;

type Vectors = Vec<Vec<f32>>;

enum Backend {
    Native {
        model: NativeBert,
        /// One set of buffers per worker, kept between calls.
        scratch: Mutex<Vec<Scratch>>,
    },
    Candle {
        model: BertModel,
        device: Device,
    },
}

/// A BERT-family sentence encoder run on the CPU: by our own forward pass ([`Precision::Fp32`],
/// [`Precision::Int8`]) or by candle-transformers ([`Precision::Candle`]).
pub struct BertEncoder {
    backend: Backend,
    precision: Precision,
    threads: usize,
    tokenizer: Tokenizer,
    pooling: Pooling,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    pad_id: u32,
    key: String,
}

impl std::fmt::Debug for BertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEncoder")
            .field("key", &self.key)
            .field("pooling", &self.pooling)
            .field("max_tokens", &self.max_tokens)
            .field("precision", &self.precision)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>> {
    std::fs::read(dir.join(file)).map_err(|e| Error::BadModel {
        dir: dir.into(),
        message: format!("cannot read {file}: {e}"),
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Result<T> {
    serde_json::from_slice(&read(dir, file)?).map_err(|e| Error::BadModel {
        dir: dir.into(),
        message: format!("{file} is not what was expected: {e}"),
    })
}

impl BertEncoder {
    /// Loads the model in `dir` (sentence-transformers layout).
    pub fn load(dir: &Path, options: &EncoderOptions) -> Result<Self> {
        let bad = |message: String| Error::BadModel {
            dir: PathBuf::from(dir),
            message,
        };
        let config_bytes = read(dir, "config.json")?;
        let config: Config = serde_json::from_slice(&config_bytes)
            .map_err(|e| bad(format!("config.json is not a BERT config: {e}")))?;

        let pooling = if dir.join("1_Pooling/config.json").exists() {
            let p: PoolingConfig = read_json(dir, "1_Pooling/config.json")?;
            match (
                p.pooling_mode_mean_tokens,
                p.pooling_mode_cls_token,
                p.pooling_mode_max_tokens,
            ) {
                (true, false, false) => Pooling::Mean,
                (false, true, false) => Pooling::Cls,
                (false, false, true) => Pooling::Max,
                _ => return Err(bad(
                    "1_Pooling/config.json: exactly one of mean, cls or max pooling is supported"
                        .into(),
                )),
            }
        } else {
            Pooling::Mean
        };
        let configured = if dir.join("sentence_bert_config.json").exists() {
            read_json::<SentenceBertConfig>(dir, "sentence_bert_config.json")?.max_seq_length
        } else {
            None
        };
        let max_tokens = options
            .max_tokens
            .or(configured)
            .unwrap_or(256)
            .min(config.max_position_embeddings);
        if max_tokens < 2 {
            return Err(bad(format!(
                "max_tokens {max_tokens} leaves no room for [CLS] and [SEP]"
            )));
        }

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| bad(format!("tokenizer.json does not load: {e}")))?;
        // tokenizer.json of all-MiniLM-L6-v2 truncates at 128 and pads every input to 128;
        // sentence-transformers truncates at max_seq_length (256) and pads per batch. Do the same.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);

        let weights = read(dir, "model.safetensors")?;
        let does_not_fit =
            |e: Error| bad(format!("model.safetensors does not fit config.json: {e}"));
        let backend = match options.precision {
            Precision::Candle => {
                let device = Device::Cpu;
                let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
                let model = BertModel::load(vb, &config).map_err(|e| does_not_fit(e.into()))?;
                Backend::Candle { model, device }
            }
            precision => {
                let native_config: native::Config = serde_json::from_slice(&config_bytes)
                    .map_err(|e| bad(format!("config.json is not a BERT config: {e}")))?;
                let vb = NativeBert::weights(weights)?;
                let model =
                    NativeBert::load(vb, &native_config, precision).map_err(does_not_fit)?;
                tracing::debug!(%precision, weights_mb = model.bytes() >> 20, "encoder loaded");
                Backend::Native {
                    model,
                    scratch: Mutex::new(Vec::new()),
                }
            }
        };

        let mut h = Sha256::new();
        h.update(&config_bytes);
        h.update(format!("{pooling:?}/{max_tokens}").as_bytes());
        // fp32 and candle give the same vectors (to 1e-4); int8's differ, so they never mix.
        let suffix = match options.precision {
            Precision::Int8 => "/int8",
            Precision::Fp32 | Precision::Candle => "",
        };
        let digest: String = h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = options.name.clone().unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into())
        });
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        Ok(BertEncoder {
            backend,
            precision: options.precision,
            threads,
            tokenizer,
            pooling,
            dim: config.hidden_size,
            max_tokens,
            batch_size: options.batch_size.max(1),
            pad_id,
            key: format!("{name}@{max_tokens}#{digest}{suffix}"),
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Token ids of each text after truncation, with `[CLS]`/`[SEP]`.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// The native forward pass over `seqs` (longest first), in groups of about
    /// [`GROUP_TOKENS`] tokens spread over up to `threads` workers.
    fn forward_native(
        &self,
        model: &NativeBert,
        scratch: &Mutex<Vec<Scratch>>,
        seqs: &[&[u32]],
    ) -> Result<Vec<Vec<f32>>> {
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        let mut tokens = 0;
        for (i, s) in seqs.iter().enumerate() {
            tokens += s.len();
            if tokens >= GROUP_TOKENS || i + 1 == seqs.len() {
                groups.push(start..i + 1);
                start = i + 1;
                tokens = 0;
            }
        }
        let take = || {
            scratch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default()
        };
        let give = |s: Scratch| scratch.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        let workers = self.threads.min(groups.len());
        if workers <= 1 {
            let mut s = take();
            let mut out = Vec::with_capacity(seqs.len());
            for g in &groups {
                out.extend(model.forward(&seqs[g.clone()], self.pooling, &mut s)?);
            }
            give(s);
            return Ok(out);
        }
        // Workers take the next group until none is left; each writes its own results.
        let next = AtomicUsize::new(0);
        let results: Vec<Result<Vec<(usize, Vectors)>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut s = take();
                        let mut mine = Vec::new();
                        loop {
                            let g = next.fetch_add(1, Ordering::Relaxed);
                            let Some(range) = groups.get(g) else { break };
                            match model.forward(&seqs[range.clone()], self.pooling, &mut s) {
                                Ok(v) => mine.push((g, v)),
                                Err(e) => {
                                    give(s);
                                    return Err(e);
                                }
                            }
                        }
                        give(s);
                        Ok(mine)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut by_group: Vec<Option<Vec<Vec<f32>>>> = vec![None; groups.len()];
        for r in results {
            for (g, v) in r? {
                by_group[g] = Some(v);
            }
        }
        Ok(by_group.into_iter().flatten().flatten().collect())
    }

    /// One candle forward pass over sequences of token ids, padded to the longest.
    fn forward_candle(
        &self,
        model: &BertModel,
        device: &Device,
        batch: &[&[u32]],
    ) -> Result<Vec<Vec<f32>>> {
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let n = batch.len();
        let mut ids = vec![self.pad_id; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, seq) in batch.iter().enumerate() {
            ids[row * len..row * len + seq.len()].copy_from_slice(seq);
            mask[row * len..row * len + seq.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (n, len), device)?;
        let mask = Tensor::from_vec(mask, (n, len), device)?;
        let types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
        let maskf = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
        let pooled = match self.pooling {
            Pooling::Mean => {
                let summed = hidden.broadcast_mul(&maskf)?.sum(1)?;
                let counts = maskf.sum(1)?.clamp(1e-9, f64::MAX)?;
                summed.broadcast_div(&counts)?
            }
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Max => {
                // Padded positions get a large negative value so they never win the max.
                let neg = ((maskf.ones_like()? - &maskf)? * -1e9)?;
                hidden.broadcast_add(&neg)?.max(1)?
            }
        };
        let norms = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(pooled.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

impl Encoder for BertEncoder {
    fn model_key(&self) -> &str {
        &self.key
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let tokens = self.tokenize(texts)?;
        // Batch texts of similar length together: padding is wasted work, and a batch of one
        // long abstract with 31 titles would pad the titles to the abstract's length.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        match &self.backend {
            Backend::Native { model, scratch } => {
                let seqs: Vec<&[u32]> = order.iter().map(|&i| tokens[i].as_slice()).collect();
                for (&i, v) in order
                    .iter()
                    .zip(self.forward_native(model, scratch, &seqs)?)
                {
                    out[i] = v;
                }
            }
            Backend::Candle { model, device } => {
                for chunk in order.chunks(self.batch_size) {
                    let batch: Vec<&[u32]> = chunk.iter().map(|&i| tokens[i].as_slice()).collect();
                    for (&i, v) in chunk
                        .iter()
                        .zip(self.forward_candle(model, device, &batch)?)
                    {
                        out[i] = v;
                    }
                }
            }
        }
        Ok(out)
    }
}
