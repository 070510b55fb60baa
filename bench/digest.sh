#!/usr/bin/env bash
# Digest build + send for $SUBSCRIBERS subscribers against a real SMTP server on loopback
# (`mailsink`, mailin-embedded, counting and dropping what it receives), then the peer
# (bench/peer_smtp.py: Python's smtplib sending as many mails of the same size to the same
# server). The corpus is SciFact; its claims become the subscribers' interests.
#   bench/digest.sh DATA_DIR [SCIFACT_DIR]
# DATA_DIR must hold SciFact, ingested and encoded (bench/run.sh makes target/bench/scifact-data).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$1"
SCIFACT="${2:-../shared/data/scifact}"
SUBSCRIBERS="${SUBSCRIBERS:-10000}"
CONNECTIONS="${CONNECTIONS:-4}"
PORT="${PORT:-2526}"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
cargo build --release --locked -p paperscout
cargo build --release --locked -p paperscout-mailsink --example mailsink
target/release/examples/mailsink "127.0.0.1:$PORT" > "target/bench-mailsink-$PORT.log" 2>&1 &
SINK=$!
trap 'kill $SINK 2>/dev/null || true' EXIT
sleep 1
CONFIG=$(mktemp)
printf '[smtp]\nconnections = %s\n' "$CONNECTIONS" > "$CONFIG"
target/release/paperscout --config "$CONFIG" bench digest --beir "$SCIFACT" --scratch-dir "$DATA" \
    --smtp-url "smtp://127.0.0.1:$PORT" --subscribers "$SUBSCRIBERS"
sleep 2
LAST=$(tail -1 "target/bench-mailsink-$PORT.log")
echo "mailsink: $LAST"
MAILS=$(echo "$LAST" | awk '{print $1}')
BYTES=$(echo "$LAST" | awk '{print $3}')
SIZE=$((BYTES / MAILS))
echo "average mail: $SIZE bytes"
python3 bench/peer_smtp.py "127.0.0.1:$PORT" "$SUBSCRIBERS" "$SIZE" "$CONNECTIONS"
python3 bench/peer_smtp.py "127.0.0.1:$PORT" "$SUBSCRIBERS" "$SIZE" 1
rm -f "$CONFIG"
