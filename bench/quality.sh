#!/usr/bin/env bash
# Retrieval quality on the tuning judgements, paperscout and its peers in one run
# (BENCHMARKS.md, "Retrieval quality"): SciFact train, then NFCorpus dev.
#   bench/quality.sh [DATA_DIR]      (default: ../shared/data)
# Needs: a release build (cargo build --release), and for the peers a Python venv at $PEER_PY
# (default /tmp/peer/bin/python; created if missing) with bm25s, PyStemmer and
# sentence-transformers. PHASES selects parts: lexical fusion feedback final peers, and
# sentences (multi-vector papers: ~7 min of encoding per set, so not run unless named).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data}"
PS=target/release/paperscout
PEER_PY="${PEER_PY:-/tmp/peer/bin/python}"
OUT="${OUT:-target/bench}"
PHASES="${PHASES:-lexical fusion feedback final peers}"
mkdir -p "$OUT"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); paperscout $(git rev-parse --short HEAD)"
has() { [[ " $PHASES " == *" $1 "* ]]; }

for set in "scifact train" "nfcorpus dev"; do
    read -r name split <<<"$set"
    beir="$DATA/$name"
    qrels="$beir/qrels/$split.tsv"
    scratch="$OUT/$name-data"
    run() { $PS --no-demo "$@" --scratch-dir "$scratch" --beir "$beir" --qrels "$qrels"; }
    echo "==== $name, $split judgements"
    if has lexical; then
        echo "== lexical: each analysis (bench lexical)"
        run bench lexical
    fi
    if has fusion; then
        echo "== fusion: normalisation x weight (eval --mode hybrid), default depth"
        for f in zscore:0.45 zscore:0.5 zscore:0.55 zscore:0.6 zscore:0.7 convex:0.4 convex:0.45 \
                 convex:0.5 convex:0.55 convex:0.6 convex:0.7 dbsf:0.5 dbsf:0.6 dbsf:0.7 rrf:60; do
            echo "-- $f $(run --fusion "$f" eval --mode hybrid | grep hybrid)"
        done
        for d in 200 500; do
            echo "-- default fusion, depth $d $(run --fusion-depth "$d" eval --mode hybrid | grep hybrid)"
        done
    fi
    if has feedback; then
        echo "== pseudo-relevance feedback (bench feedback, default fusion)"
        run bench feedback
    fi
    if has sentences; then
        echo "== multi-vector papers (bench sentences, default fusion)"
        run bench sentences
    fi
    if has final; then
        echo "== shipped configuration, every mode, TREC runs in $OUT/runs-$name"
        run eval --runs "$OUT/runs-$name"
    fi
    if has peers; then
        if [ ! -x "$PEER_PY" ]; then
            python3 -m venv "$(dirname "$(dirname "$PEER_PY")")"
            "$PEER_PY" -m pip install -q bm25s PyStemmer sentence-transformers
        fi
        echo "== peers: bm25s, sentence-transformers, their z-score fusion (BM25 weight 0.3)"
        "$PEER_PY" bench/peer_search.py --beir "$beir" --qrels "$qrels" \
            --model "$($PS model | cut -d' ' -f1)" --threads 2 --cache "$OUT/peer-cache" 2>/dev/null
    fi
done
