//! The BERT forward pass written directly on our own kernels: the default backend.
//!
//! Why not candle-transformers' `BertModel` (still here as [`crate::Precision::Candle`], and
//! the reference the tests hold this to): on 2 CPU cores it reaches ~9 docs/s on SciFact where
//! sentence-transformers reaches ~20. The time went to padding every batch to its longest
//! text, materialising the attention tensors through generic strided ops, the batched
//! attention matmul, exact GELU through libm, and allocating every intermediate afresh.
//! Here:
//! - No padding at all: the linear layers run on the tokens of several texts stacked, and
//!   attention runs per text, so no token ever attends to padding and none is computed.
//! - Weights are packed once at load ([`gemm::Packed`], or int8 [`qgemm::PackedI8`]); Q/K/V are
//!   one matrix; the `1/√d` of attention is folded into the query weights.
//! - Each worker thread owns one [`Scratch`] of buffers, reused from call to call.
//! - Texts are spread over threads (each runs single-threaded kernels), which scales better
//!   than splitting each matrix multiply between two cores.

#![allow(unsafe_code)] // `dispatch!` calls its `#[target_feature]` copy after checking the CPU.

/// Defines `pub fn $name` that runs `$body` compiled for AVX2+FMA where the CPU has them.
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::native::gemm::avx2() {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { fast($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) mod gemm;
pub(crate) mod ops;
pub(crate) mod qgemm;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::{Error, Pooling, Precision, Result};
use gemm::Packed;
use qgemm::{PackedI8, QuantRows};

/// The parts of a BERT `config.json` the forward pass needs.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Gelu,
    GeluTanh,
    Relu,
}

#[derive(Debug)]
enum Linear {
    F32 { w: Packed, bias: Vec<f32> },
    I8 { w: PackedI8, bias: Vec<f32> },
}

impl Linear {
    fn new(w: Vec<f32>, bias: Vec<f32>, n: usize, k: usize, precision: Precision) -> Linear {
        let bias = gemm::pad_bias(&bias);
        match precision {
            Precision::Int8 => Linear::I8 {
                w: PackedI8::quantize(&w, n, k),
                bias,
            },
            _ => {
                let mut p = Packed::default();
                p.pack_nk(&w, n, k, k);
                Linear::F32 { w: p, bias }
            }
        }
    }

    fn n(&self) -> usize {
        match self {
            Linear::F32 { w, .. } => w.n,
            Linear::I8 { w, .. } => w.n,
        }
    }

    /// `out[i] = a[i]·Wᵀ + b` for the `m` rows of `a` (row stride = depth).
    ///
    /// (Splitting a small call's columns between two threads, so that a one-query call uses
    /// both cores, was measured and lost: 6.7 vs 6.0 ms fp32, 5.2 vs 3.8 ms int8 per query.)
    fn forward(&self, m: usize, a: &[f32], out: &mut [f32], q: &mut QuantRows) {
        match self {
            Linear::F32 { w, bias } => gemm::gemm(m, a, w.k, w.all(), Some(bias), out, w.n),
            Linear::I8 { w, bias } => {
                q.quantize(m, a, w.k, w.k);
                qgemm::gemm(q, w.all(), bias, out, w.n)
            }
        }
    }
}

#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    qkv: Linear,
    out: Linear,
    norm1: Norm,
    up: Linear,
    down: Linear,
    norm2: Norm,
}

/// A loaded model, ready for [`NativeBert::forward`].
#[derive(Debug)]
pub(crate) struct NativeBert {
    hidden: usize,
    heads: usize,
    head_dim: usize,
    inter: usize,
    eps: f32,
    act: Act,
    vocab: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
}

/// Buffers one worker reuses from text group to text group.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
    scores: Vec<f32>,
    keys: Packed,
    values: Packed,
    /// The input of an int8 layer, quantized.
    q: QuantRows,
}

/// The first `n` values of a reused buffer, grown if needed. Not cleared: every caller
/// overwrites all `n` (zeroing them anew for each layer cost ~3% of the pass).
fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

impl NativeBert {
    /// Builds the model from a `VarBuilder` over the checkpoint (weights named as in
    /// HF `BertModel`, with or without a `bert.` prefix).
    pub fn load(vb: VarBuilder, c: &Config, precision: Precision) -> Result<NativeBert> {
        let bad = |m: String| Error::Candle(candle_core::Error::Msg(m));
        if c.hidden_size.checked_rem(c.num_attention_heads) != Some(0) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        if let Some(p) = c.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(bad(format!(
                    "position_embedding_type {p:?} is not supported"
                )));
            }
        }
        let act = match c.hidden_act.as_str() {
            "gelu" => Act::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => return Err(bad(format!("hidden_act {other:?} is not supported"))),
        };
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let get = |vb: &VarBuilder, shape: &[usize], name: &str| -> Result<Vec<f32>> {
            Ok(vb
                .get(shape, name)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?)
        };
        let norm = |vb: VarBuilder| -> Result<Norm> {
            // Old checkpoints name the LayerNorm parameters gamma/beta.
            let (g, b) = if vb.contains_tensor("weight") {
                ("weight", "bias")
            } else {
                ("gamma", "beta")
            };
            Ok(Norm {
                gamma: get(&vb, &[h], g)?,
                beta: get(&vb, &[h], b)?,
            })
        };
        let linear = |vb: VarBuilder, n: usize, k: usize| -> Result<(Vec<f32>, Vec<f32>)> {
            Ok((get(&vb, &[n, k], "weight")?, get(&vb, &[n], "bias")?))
        };
        let e = vb.pp("embeddings");
        let word = get(&e, &[c.vocab_size, h], "word_embeddings.weight")?;
        let position = get(
            &e,
            &[c.max_position_embeddings, h],
            "position_embeddings.weight",
        )?;
        let token_type = get(
            &e,
            &[c.type_vocab_size.max(1), h],
            "token_type_embeddings.weight",
        )?;
        let embed_norm = norm(e.pp("LayerNorm"))?;
        let head_dim = h / c.num_attention_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let lb = vb.pp(format!("encoder.layer.{l}"));
            let (mut wq, mut bq) = linear(lb.pp("attention.self.query"), h, h)?;
            wq.iter_mut().chain(bq.iter_mut()).for_each(|v| *v *= scale);
            let (wk, bk) = linear(lb.pp("attention.self.key"), h, h)?;
            let (wv, bv) = linear(lb.pp("attention.self.value"), h, h)?;
            let (wo, bo) = linear(lb.pp("attention.output.dense"), h, h)?;
            let (wu, bu) = linear(lb.pp("intermediate.dense"), i, h)?;
            let (wd, bd) = linear(lb.pp("output.dense"), h, i)?;
            layers.push(Layer {
                qkv: Linear::new(
                    [wq, wk, wv].concat(),
                    [bq, bk, bv].concat(),
                    3 * h,
                    h,
                    precision,
                ),
                out: Linear::new(wo, bo, h, h, precision),
                norm1: norm(lb.pp("attention.output.LayerNorm"))?,
                up: Linear::new(wu, bu, i, h, precision),
                down: Linear::new(wd, bd, h, i, precision),
                norm2: norm(lb.pp("output.LayerNorm"))?,
            });
        }
        Ok(NativeBert {
            hidden: h,
            heads: c.num_attention_heads,
            head_dim,
            inter: i,
            eps: c.layer_norm_eps as f32,
            act,
            vocab: c.vocab_size,
            word,
            position,
            token_type: token_type[..h].to_vec(),
            embed_norm,
            layers,
        })
    }

    /// A VarBuilder over a safetensors file's bytes, as [`NativeBert::load`] takes it.
    pub fn weights(bytes: Vec<u8>) -> Result<VarBuilder<'static>> {
        Ok(VarBuilder::from_buffered_safetensors(
            bytes,
            DType::F32,
            &Device::Cpu,
        )?)
    }

    /// Sentence vectors (pooled, unit length) of each sequence of token ids. The sequences are
    /// run together through the linear layers; each attends only to itself.
    pub fn forward(
        &self,
        seqs: &[&[u32]],
        pooling: Pooling,
        s: &mut Scratch,
    ) -> Result<Vec<Vec<f32>>> {
        let h = self.hidden;
        let t: usize = seqs.iter().map(|q| q.len()).sum();
        let max_len = self.position.len() / h;
        if let Some(q) = seqs.iter().find(|q| q.len() > max_len) {
            return Err(Error::Tokenizer(format!(
                "{} tokens, more than the model's {max_len} positions",
                q.len()
            )));
        }
        if t == 0 {
            return Ok(seqs.iter().map(|_| vec![0.0; h]).collect());
        }

        // Embeddings: word + position + token type 0, then LayerNorm.
        let x = sized(&mut s.x, t * h);
        let mut row = 0;
        for seq in seqs {
            for (p, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(Error::Tokenizer(format!(
                        "token id {id} is outside the model's vocabulary of {}",
                        self.vocab
                    )));
                }
                let out = &mut x[row * h..(row + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let pe = &self.position[p * h..(p + 1) * h];
                for j in 0..h {
                    out[j] = w[j] + pe[j] + self.token_type[j];
                }
                row += 1;
            }
        }
        ops::layer_norm(
            x,
            h,
            &self.embed_norm.gamma,
            &self.embed_norm.beta,
            self.eps,
        );

        for layer in &self.layers {
            self.layer(layer, seqs, t, s);
        }

        let x = &s.x;
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for seq in seqs {
            let rows = &x[start * h..(start + seq.len()) * h];
            start += seq.len();
            let mut v = vec![0f32; h];
            match pooling {
                Pooling::Cls if rows.len() >= h => v.copy_from_slice(&rows[..h]),
                Pooling::Cls => {} // an empty sequence: the zero vector
                Pooling::Mean => {
                    for r in rows.chunks_exact(h) {
                        v.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                    }
                    let n = seq.len().max(1) as f32;
                    v.iter_mut().for_each(|a| *a /= n);
                }
                Pooling::Max => {
                    v.fill(f32::NEG_INFINITY);
                    for r in rows.chunks_exact(h) {
                        v.iter_mut().zip(r).for_each(|(a, &b)| *a = a.max(b));
                    }
                    if seq.is_empty() {
                        v.fill(0.0);
                    }
                }
            }
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|a| *a /= norm);
            out.push(v);
        }
        Ok(out)
    }

    fn layer(&self, layer: &Layer, seqs: &[&[u32]], t: usize, s: &mut Scratch) {
        let (h, d) = (self.hidden, self.head_dim);
        let qkv = sized(&mut s.qkv, t * 3 * h);
        layer.qkv.forward(t, &s.x, qkv, &mut s.q);
        debug_assert_eq!(layer.qkv.n(), 3 * h);

        // Attention, per text and head: scores = Q·Kᵀ (Q pre-scaled), softmax, ·V.
        let ctx = sized(&mut s.ctx, t * h);
        let mut start = 0;
        for seq in seqs.iter().filter(|s| !s.is_empty()) {
            let len = seq.len();
            let base = start * 3 * h;
            let scores = sized(&mut s.scores, len * len);
            for head in 0..self.heads {
                let (q, k, v) = (
                    base + head * d,
                    base + h + head * d,
                    base + 2 * h + head * d,
                );
                s.keys.pack_nk(&qkv[k..], len, d, 3 * h);
                gemm::gemm(len, &qkv[q..], 3 * h, s.keys.all(), None, scores, len);
                ops::softmax_rows(scores, len);
                s.values.pack_kn(&qkv[v..], len, d, 3 * h);
                gemm::gemm(
                    len,
                    scores,
                    len,
                    s.values.all(),
                    None,
                    &mut ctx[start * h + head * d..],
                    h,
                );
            }
            start += len;
        }

        let tmp = sized(&mut s.tmp, t * h);
        layer.out.forward(t, ctx, tmp, &mut s.q);
        ops::add_layer_norm(
            &mut s.x,
            tmp,
            h,
            &layer.norm1.gamma,
            &layer.norm1.beta,
            self.eps,
        );

        let inter = sized(&mut s.inter, t * self.inter);
        layer.up.forward(t, &s.x, inter, &mut s.q);
        match self.act {
            Act::Gelu => ops::gelu(inter),
            Act::GeluTanh => ops::gelu_tanh(inter),
            Act::Relu => ops::relu(inter),
        }
        layer.down.forward(t, inter, tmp, &mut s.q);
        ops::add_layer_norm(
            &mut s.x,
            tmp,
            h,
            &layer.norm2.gamma,
            &layer.norm2.beta,
            self.eps,
        );
    }

    /// Bytes of packed weights and embeddings held.
    pub fn bytes(&self) -> usize {
        let lin = |l: &Linear| match l {
            Linear::F32 { w, bias } => 4 * (w.data.len() + bias.len()),
            Linear::I8 { w, bias } => w.bytes() + 4 * bias.len(),
        };
        4 * (self.word.len() + self.position.len())
            + self
                .layers
                .iter()
                .map(|l| lin(&l.qkv) + lin(&l.out) + lin(&l.up) + lin(&l.down))
                .sum::<usize>()
    }
}

/// The native pass against candle-transformers' `BertModel` on a small random BERT: every
/// activation, pooling and layout branch, with no model download. (The real model is held to
/// both in `tests/it`.)
#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};
    use candle_transformers::models::bert as candle_bert;

    use super::*;

    const H: usize = 32;
    const I: usize = 64;
    const V: usize = 50;
    const P: usize = 24;

    fn tensors(prefix: &str) -> HashMap<String, Tensor> {
        let mut t = HashMap::new();
        let mut seed = 100;
        let mut add = |name: String, shape: &[usize], scale: f32, offset: f32| {
            seed += 1;
            let n = shape.iter().product();
            let v: Vec<f32> = gemm::tests::values(n, seed)
                .iter()
                .map(|x| x * scale + offset)
                .collect();
            let tensor = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
            t.insert(format!("{prefix}{name}"), tensor);
        };
        add(
            "embeddings.word_embeddings.weight".into(),
            &[V, H],
            1.0,
            0.0,
        );
        add(
            "embeddings.position_embeddings.weight".into(),
            &[P, H],
            0.5,
            0.0,
        );
        add(
            "embeddings.token_type_embeddings.weight".into(),
            &[2, H],
            0.5,
            0.0,
        );
        add("embeddings.LayerNorm.weight".into(), &[H], 0.2, 1.0);
        add("embeddings.LayerNorm.bias".into(), &[H], 0.1, 0.0);
        for l in 0..2 {
            let p = format!("encoder.layer.{l}.");
            for n in [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
            ] {
                add(format!("{p}{n}.weight"), &[H, H], 0.3, 0.0);
                add(format!("{p}{n}.bias"), &[H], 0.1, 0.0);
            }
            add(format!("{p}intermediate.dense.weight"), &[I, H], 0.3, 0.0);
            add(format!("{p}intermediate.dense.bias"), &[I], 0.1, 0.0);
            add(format!("{p}output.dense.weight"), &[H, I], 0.2, 0.0);
            add(format!("{p}output.dense.bias"), &[H], 0.1, 0.0);
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                add(format!("{p}{n}.weight"), &[H], 0.2, 1.0);
                add(format!("{p}{n}.bias"), &[H], 0.1, 0.0);
            }
        }
        t
    }

    fn config(act: &str) -> serde_json::Value {
        serde_json::json!({
            "vocab_size": V, "hidden_size": H, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": I, "hidden_act": act, "hidden_dropout_prob": 0.0,
            "max_position_embeddings": P, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null
        })
    }

    fn native(act: &str, precision: Precision, prefix: &str) -> Result<NativeBert> {
        let vb = VarBuilder::from_tensors(tensors(prefix), DType::F32, &Device::Cpu);
        NativeBert::load(vb, &serde_json::from_value(config(act)).unwrap(), precision)
    }

    /// candle on one sequence alone (no padding), mean-pooled and normalised.
    fn candle_mean(act: &str, seq: &[u32]) -> Vec<f32> {
        let vb = VarBuilder::from_tensors(tensors(""), DType::F32, &Device::Cpu);
        let cfg: candle_bert::Config = serde_json::from_value(config(act)).unwrap();
        let model = candle_bert::BertModel::load(vb, &cfg).unwrap();
        let ids = Tensor::new(seq, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let hidden = model
            .forward(&ids, &ids.zeros_like().unwrap(), None)
            .unwrap();
        let mean = hidden
            .mean(1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
        mean.iter().map(|x| x / norm).collect()
    }

    fn seqs() -> Vec<Vec<u32>> {
        vec![
            vec![1, 5, 7, 2],
            (0..P as u32).map(|i| (i * 7 + 3) % V as u32).collect(),
            vec![1, 9, 2],
            (0..11).map(|i| (i * 13 + 1) % V as u32).collect(),
        ]
    }

    #[test]
    fn matches_candle_for_each_activation_with_texts_stacked() {
        // candle's name for the tanh GELU, then ours.
        for (candle_act, act) in [
            ("gelu", "gelu"),
            ("relu", "relu"),
            ("geluapproximate", "gelu_new"),
        ] {
            let model = native(act, Precision::Fp32, "").unwrap();
            let seqs = seqs();
            let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
            let got = model
                .forward(&refs, Pooling::Mean, &mut Scratch::default())
                .unwrap();
            for (seq, g) in seqs.iter().zip(&got) {
                let want = candle_mean(candle_act, seq);
                let worst = g
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 2e-5, "{act}, {} tokens: off by {worst}", seq.len());
            }
        }
    }

    #[test]
    fn int8_stays_close_and_prefixed_weights_load() {
        let seqs = seqs();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let fp32 = native("gelu", Precision::Fp32, "").unwrap();
        let int8 = native("gelu", Precision::Int8, "bert.").unwrap();
        let mut s = Scratch::default();
        let a = fp32.forward(&refs, Pooling::Mean, &mut s).unwrap();
        let b = int8.forward(&refs, Pooling::Mean, &mut s).unwrap();
        for (x, y) in a.iter().zip(&b) {
            let cos: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            assert!(cos > 0.999, "int8 cosine {cos}");
        }
        assert!(fp32.bytes() > int8.bytes());
    }

    #[test]
    fn every_pooling_handles_empty_and_bad_input_without_panicking() {
        let model = native("gelu", Precision::Fp32, "").unwrap();
        let mut s = Scratch::default();
        for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Max] {
            let out = model.forward(&[&[], &[1, 2]], pooling, &mut s).unwrap();
            assert!(out[0].iter().all(|&x| x == 0.0), "{pooling:?}");
            let norm: f32 = out[1].iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{pooling:?}");
            assert!(model.forward(&[], pooling, &mut s).unwrap().is_empty());
        }
        let err = model
            .forward(&[&[1, V as u32]], Pooling::Mean, &mut s)
            .unwrap_err();
        assert!(
            err.to_string().contains("outside the model's vocabulary"),
            "{err}"
        );
        let long: Vec<u32> = vec![1; P + 1];
        let err = model.forward(&[&long], Pooling::Mean, &mut s).unwrap_err();
        assert!(err.to_string().contains("positions"), "{err}");
        let err = native("swish", Precision::Fp32, "").unwrap_err();
        assert!(err.to_string().contains("hidden_act \"swish\""), "{err}");
    }
}
