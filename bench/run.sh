#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md on this machine, ours next to the peer in one run.
#   bench/run.sh [SCIFACT_DIR]      (default: ../shared/data/scifact)
# Needs: a release build (cargo build --release), and for the peer a Python venv with
# sentence-transformers at $PEER_PY (default /tmp/peer/bin/python; created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SCIFACT="${1:-../shared/data/scifact}"
PS=target/release/paperscout
PEER_PY="${PEER_PY:-/tmp/peer/bin/python}"
OUT="${OUT:-target/bench}"
mkdir -p "$OUT"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

if [ ! -x "$PEER_PY" ]; then
    python3 -m venv "$(dirname "$(dirname "$PEER_PY")")"
    "$PEER_PY" -m pip install -q sentence-transformers
fi
MODEL_DIR="$($PS model | cut -d' ' -f1)"

echo "== ingest + index + encode SciFact into a fresh data dir"
rm -rf "$OUT/scifact-data"
/usr/bin/time -f "peak RSS %M KiB, wall %e s" $PS --data-dir "$OUT/scifact-data" --no-demo ingest "$SCIFACT" | tee "$OUT/ingest.txt"

echo "== quality (train qrels)"
for fusion in convex:0.5 convex:0.6 convex:0.7 rrf:60; do
    echo "-- fusion $fusion"
    $PS --fusion "$fusion" eval --scratch-dir "$OUT/scifact-data" --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" --json
done | tee "$OUT/eval.txt"

echo "== query latency, one query at a time"
$PS bench query --scratch-dir "$OUT/scifact-data" --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" --limit 809 --json | tee "$OUT/query.txt"
"$PEER_PY" bench/peer_query.py --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" --model "$MODEL_DIR" --threads 2 | tee -a "$OUT/query.txt"

echo "== encoding throughput: paperscout per precision, then sentence-transformers, same docs, batch 32, 2 threads"
LIMIT="${LIMIT:-5183}"
for p in int8 fp32; do
    $PS --precision "$p" bench encode --beir "$SCIFACT" --limit "$LIMIT" --json
done | tee "$OUT/encode.txt"
# int8 on the AVX2 kernel too, where the CPU has a better one (AVX-512 VNNI), and ONNX Runtime's int8
PAPERSCOUT_KERNEL=avx2 $PS --precision int8 bench encode --beir "$SCIFACT" --limit "$LIMIT" --json | tee -a "$OUT/encode.txt"
"$PEER_PY" -m pip install -q onnx onnxruntime
"$PEER_PY" bench/peer_encode_ort.py --beir "$SCIFACT" --model "$MODEL_DIR" --limit "$LIMIT" --threads 2 --work "$OUT/ort" | tee -a "$OUT/encode.txt"
"$PEER_PY" bench/peer_encode.py --beir "$SCIFACT" --model "$MODEL_DIR" --limit "$LIMIT" --threads 2 | tee -a "$OUT/encode.txt"
# candle-transformers, the reference implementation, on fewer docs (it is slow), and the peer on the same
RAYON_NUM_THREADS=2 $PS --precision candle bench encode --beir "$SCIFACT" --limit 1000 --json | tee -a "$OUT/encode.txt"
"$PEER_PY" bench/peer_encode.py --beir "$SCIFACT" --model "$MODEL_DIR" --limit 1000 --threads 2 | tee -a "$OUT/encode.txt"

echo "== quality per precision (semantic mode; the data dir above is int8, the default)"
rm -rf "$OUT/scifact-fp32"
$PS --precision fp32 eval --scratch-dir "$OUT/scifact-fp32" --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" --mode semantic --json | tee "$OUT/eval-fp32.txt"

echo "== the encoder on a fixed batch and one query (criterion)"
cargo bench -p paperscout-encoder --bench encode 2>&1 | grep -E '^(batch|query)/|time:|thrpt:' | tee "$OUT/criterion.txt"

echo "== digest match threshold (train qrels)"
$PS bench threshold --scratch-dir "$OUT/scifact-data" --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" | tee "$OUT/threshold.txt"

echo "== the site's relevance floor: nonsense and what it costs (SciFact train, NFCorpus dev)"
NFCORPUS_DIR="${NFCORPUS:-../shared/data/nfcorpus}"
$PS bench threshold --scratch-dir "$OUT/nfcorpus-data" --beir "$NFCORPUS_DIR" --qrels "$NFCORPUS_DIR/qrels/dev.tsv" | tee "$OUT/threshold-nfcorpus.txt"
for floored in "" --floored; do
    $PS eval --scratch-dir "$OUT/scifact-data" --beir "$SCIFACT" --qrels "$SCIFACT/qrels/train.tsv" $floored
    $PS eval --scratch-dir "$OUT/nfcorpus-data" --beir "$NFCORPUS_DIR" --qrels "$NFCORPUS_DIR/qrels/dev.tsv" $floored
done | tee "$OUT/floor.txt"

echo "== digest build + send, 10,000 subscribers, loopback SMTP (and the smtplib peer)"
bench/digest.sh "$OUT/scifact-data" "$SCIFACT" | tee "$OUT/digest.txt"

echo "== vector search at scale: exact and approximate, each in its own process (issue 17)"
for n in 100000 1000000 2700000; do
    for index in exact ann; do
        $PS bench vectors --count "$n" --index "$index" --beir "$SCIFACT" --json
    done
done | tee "$OUT/vectors.txt"
