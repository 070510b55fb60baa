#!/usr/bin/env bash
# Snapshot ingest: a RECORDS-record arXiv metadata snapshot built from the fixture's 200 records
# (new ids and DOIs, so every line is its own paper), ingested into a fresh data dir lexical only
# (parse, store, tantivy index), then the first ENCODE records again with encoding; each under
# /usr/bin/time for wall clock and peak RSS. Then the peer (bench/peer_snapshot.py) on the same
# file, and sentence-transformers encoding the same ENCODE texts (PEER_PYTHON: a Python with
# sentence-transformers; skipped when it has none). A 100,000-record run shows whether memory
# grows with the input.
#   bench/snapshot.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${1:-target/bench/snapshot}"
RECORDS="${RECORDS:-1000000}"
ENCODE="${ENCODE:-2000}"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
mkdir -p "$SCRATCH"
cargo build --release --locked -p paperscout
PS=target/release/paperscout
for n in 100000 "$RECORDS"; do
  $PS bench snapshot --records "$n" --out "$SCRATCH/snapshot-$n.jsonl"
  rm -rf "$SCRATCH/lexical-$n"
  echo "== lexical, $n records"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, system %S s" \
    $PS --data-dir "$SCRATCH/lexical-$n" --no-demo ingest --no-encode --format arxiv-snapshot "$SCRATCH/snapshot-$n.jsonl"
  du -sh "$SCRATCH/lexical-$n"
done
$PS bench snapshot --records "$ENCODE" --out "$SCRATCH/snapshot-$ENCODE.jsonl"
rm -rf "$SCRATCH/encoded-$ENCODE"
echo "== with encoding, $ENCODE records"
/usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, system %S s" \
  $PS --data-dir "$SCRATCH/encoded-$ENCODE" --no-demo ingest --format arxiv-snapshot "$SCRATCH/snapshot-$ENCODE.jsonl"
echo "== peer: parse + store"
python3 bench/peer_snapshot.py "$SCRATCH/snapshot-$RECORDS.jsonl" "$SCRATCH"
PEER_PYTHON="${PEER_PYTHON:-python3}"
if "$PEER_PYTHON" -c "import sentence_transformers" 2>/dev/null; then
  echo "== peer: encode the same $ENCODE texts"
  # The snapshot's title and abstract as a BEIR corpus, the peer's input format.
  mkdir -p "$SCRATCH/beir-$ENCODE"
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"_id": r["id"], "title": r["title"], "text": r["abstract"]}))' \
    "$SCRATCH/snapshot-$ENCODE.jsonl" > "$SCRATCH/beir-$ENCODE/corpus.jsonl"
  "$PEER_PYTHON" bench/peer_encode.py --beir "$SCRATCH/beir-$ENCODE" \
    --model "$($PS model | cut -d' ' -f1)" --limit "$ENCODE" --threads 2
else
  echo "(no sentence-transformers in $PEER_PYTHON: encoding peer skipped)"
fi
