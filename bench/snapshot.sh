#!/usr/bin/env bash
# Snapshot ingest: a RECORDS-record arXiv metadata snapshot built from the fixture's 200 records
# (new ids and DOIs, so every line is its own paper), ingested into a fresh data dir lexical only
# (parse, store, tantivy index), then the first ENCODE records again with encoding; each under
# /usr/bin/time for wall clock and peak RSS. Then the peer (bench/peer_snapshot.py) on the same
# file. A 100,000-record run shows whether memory grows with the input.
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
echo "== peer"
python3 bench/peer_snapshot.py "$SCRATCH/snapshot-$RECORDS.jsonl" "$SCRATCH"
