#!/usr/bin/env bash
# Load on loopback: `paperscout serve` on SciFact, wrk with 16 connections for $DURATION on
# /api/search (each SciFact query in turn), per mode; then the peer (bench/peer_serve.py) the
# same way. Prints wrk's figures and the serving process's memory.
#   bench/load.sh DATA_DIR [SCIFACT_DIR]
# DATA_DIR must hold SciFact, ingested and encoded (bench/run.sh makes target/bench/scifact-data).
# QUERY_CACHE=N sets the server's query-embedding cache (default 4096; 0: off, every request
# encodes its query). The queries cycle, so with the cache on most semantic/hybrid requests
# after the first ~1,100 skip the encoder: run both to see each.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$1"
SCIFACT="${2:-../shared/data/scifact}"
PS=target/release/paperscout
PEER_PY="${PEER_PY:-/tmp/peer/bin/python}"
DURATION="${DURATION:-60s}"
CONNS="${CONNS:-16}"
OUT="${OUT:-target/bench}"
PORT=7880
mkdir -p "$OUT"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

# Every SciFact query, URL-encoded, one per line.
python3 - "$SCIFACT/queries.jsonl" > "$OUT/queries.txt" <<'PY'
import json, sys, urllib.parse
for line in open(sys.argv[1]):
    print(urllib.parse.quote(json.loads(line)["text"], safe=""))
PY
echo "queries: $(wc -l < "$OUT/queries.txt")"

wait_up() {
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        sleep 0.5
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

mem() {
    grep -E '^(VmRSS|VmHWM)' "/proc/$1/status" | tr -s ' ' | tr '\n' ' '
    echo
}

QUERY_CACHE="${QUERY_CACHE:-4096}"
echo "query-embedding cache: $QUERY_CACHE entries$([ "$QUERY_CACHE" = 0 ] && echo ' (off)')"
$PS --data-dir "$DATA" --query-cache "$QUERY_CACHE" serve --addr "127.0.0.1:$PORT" --reads-per-minute 0 --encoder-per-ip 64 --encoder-units-per-minute 0 2> "$OUT/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_up $PORT
echo "serving process after start: $(mem $SERVER)"
for mode in lexical semantic hybrid; do
    # Warm up (loads the vector index and the model on first use).
    curl -sf "http://127.0.0.1:$PORT/api/search?q=warm&mode=$mode" >/dev/null
    echo "== paperscout /api/search mode=$mode, $CONNS connections, $DURATION"
    QUERIES="$OUT/queries.txt" MODE=$mode wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/search.lua "http://127.0.0.1:$PORT" | tee "$OUT/load-$mode.txt"
    echo "serving process: $(mem $SERVER)"
done
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

if [ -x "$PEER_PY" ]; then
    MODEL_DIR="$($PS model | cut -d' ' -f1)"
    "$PEER_PY" bench/peer_serve.py --store "$DATA/papers.sqlite" --model "$MODEL_DIR" --port 7881 &
    PEER=$!
    trap 'kill $PEER 2>/dev/null || true' EXIT
    wait_up 7881
    echo "== peer (sentence-transformers + numpy, ThreadingHTTPServer) semantic, $CONNS connections, $DURATION"
    QUERIES="$OUT/queries.txt" MODE=semantic wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/search.lua "http://127.0.0.1:7881" | tee "$OUT/load-peer.txt"
    echo "peer process: $(mem $PEER)"
fi
