#!/usr/bin/env bash
# PostgreSQL against SQLite, on this machine, in one run (BENCHMARKS.md "Several replicas on
# PostgreSQL"):
#   1. ingest: a RECORDS-record arXiv snapshot (bench snapshot) into SQLite and into PostgreSQL
#      (records/s; peak RSS of paperscout, and of all PostgreSQL processes together);
#   2. search: SciFact, lexical /api/search under wrk (CONNS connections in all, DURATION) on one
#      SQLite server, then on 1, 2 and 3 replicas sharing one PostgreSQL database (the
#      connections split across them); requests/s, p50/p99, and CPU seconds per 1,000 requests
#      of paperscout and PostgreSQL together. The replicas share this machine's cores: this
#      shows the overhead of the PostgreSQL path and that it stays correct, not scaling. The
#      encoder is pointed at a missing model so no background encoding competes (lexical only);
#   3. encoding: ENCODE papers of the snapshot encoded by 1, then 2 `worker --once` processes
#      (papers/s; every paper claimed once: claimed papers = ENCODE, embeddings = ENCODE).
# Starts its own throwaway PostgreSQL (.ci/postgres) and stops it at the end.
#   bench/replicas.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${1:-target/bench/replicas}"
RECORDS="${RECORDS:-1000000}"
ENCODE="${ENCODE:-2000}"
DURATION="${DURATION:-30s}"
CONNS="${CONNS:-12}"
PHASES="${PHASES:-1 2 3}"   # which of the three parts to run
phase() { [[ " $PHASES " == *" $1 "* ]]; }
SCIFACT="${SCIFACT:-../shared/data/scifact}"
export PAPERSCOUT_CACHE_DIR="${PAPERSCOUT_CACHE_DIR:-$HOME/.cache/paperscout}"
mkdir -p "$SCRATCH"
cargo build --release --locked -p paperscout
PS="$PWD/target/release/paperscout"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

pg_env="$(.ci/postgres start)"
eval "$pg_env"
SERVERS=""
trap 'kill $SERVERS 2>/dev/null || true; .ci/postgres stop' EXIT
BASE="${PAPERSCOUT_TEST_POSTGRES%/*}"
newdb() { psql -q "$PAPERSCOUT_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; echo "$BASE/$1"; }
# CPU ticks (user + system) of the given processes, or of every PostgreSQL process.
ticks() { python3 - "$@" <<'PY'
import os, sys
pids = sys.argv[1:]
if pids == ["postgres"]:
    pids = [p for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/stat")
            and open(f"/proc/{p}/comm").read().strip() == "postgres"]
total = 0
for p in pids:
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except OSError:
        pass
print(total)
PY
}
# Peak summed RSS (KiB) of all PostgreSQL processes while $1 (a pid) runs.
watch_pg_rss() { python3 - "$1" <<'PY'
import os, sys, time
pid, peak = sys.argv[1], 0
while os.path.exists(f"/proc/{pid}"):
    total = 0
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/comm").read().strip() == "postgres":
                for line in open(f"/proc/{p}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    peak = max(peak, total)
    time.sleep(0.5)
print(f"postgres peak RSS (all processes): {peak} KiB")
PY
}
HZ=$(getconf CLK_TCK)

if phase 1; then
echo "== 1. ingest, $RECORDS records"
SNAP="$SCRATCH/snapshot-$RECORDS.jsonl"
[ -f "$SNAP" ] || $PS bench snapshot --records "$RECORDS" --out "$SNAP"
rm -rf "$SCRATCH/sqlite-ingest"
echo "-- SQLite"
/usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, system %S s" \
  $PS --data-dir "$SCRATCH/sqlite-ingest" --no-demo ingest --no-encode --format arxiv-snapshot "$SNAP"
echo "-- PostgreSQL"
DB=$(newdb ingest)
rm -rf "$SCRATCH/pg-ingest"
/usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, system %S s" \
  $PS --database "$DB" --data-dir "$SCRATCH/pg-ingest" --no-demo ingest --no-encode --format arxiv-snapshot "$SNAP" &
INGEST=$!
watch_pg_rss $INGEST &
WATCH=$!
wait $INGEST
wait $WATCH
psql -qAt "$DB" -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size(current_database()))"
fi

if phase 2; then
echo "== 2. search, SciFact, lexical"
QUERIES="$SCRATCH/queries.txt"
python3 - "$SCIFACT/queries.jsonl" > "$QUERIES" <<'PY'
import json, sys, urllib.parse
for line in open(sys.argv[1]):
    print(urllib.parse.quote(json.loads(line)["text"], safe=""))
PY
rm -rf "$SCRATCH/scifact-sqlite"
$PS --data-dir "$SCRATCH/scifact-sqlite" --no-demo ingest --no-encode "$SCIFACT/corpus.jsonl" >/dev/null
SEARCHDB=$(newdb search)
$PS --data-dir "$SCRATCH/scifact-sqlite" migrate --to "$SEARCHDB"
wait_up() {
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        sleep 0.2
    done
    echo "server on port $1 did not come up" >&2
    return 1
}
# run_load LABEL PORT... : wrk on each port at once, CONNS split between them.
run_load() {
    local label=$1; shift
    local n=$# per=$((CONNS / $#)) pids=() before_ps before_pg after_ps after_pg
    before_ps=$(ticks $SERVERS); before_pg=$(ticks postgres)
    for port in "$@"; do
        QUERIES="$QUERIES" MODE=lexical wrk -t1 -c"$per" -d"$DURATION" --latency -s bench/search.lua \
            "http://127.0.0.1:$port" > "$SCRATCH/wrk-$label-$port.txt" &
        pids+=($!)
    done
    wait "${pids[@]}"
    after_ps=$(ticks $SERVERS); after_pg=$(ticks postgres)
    python3 - "$label" "$n" "$HZ" "$((after_ps - before_ps))" "$((after_pg - before_pg))" "$SCRATCH"/wrk-"$label"-*.txt <<'PY'
import re, sys
label, n, hz, ps, pg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
reqs, rps, p50, p99, errors = 0, 0.0, [], [], 0
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]
for path in sys.argv[6:]:
    text = open(path).read()
    reqs += int(re.search(r"(\d+) requests in", text).group(1))
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50.append(ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)))
    p99.append(ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(m.group(1)) if m else 0
cpu_ps, cpu_pg = ps / hz, pg / hz
print(f"{label}: {n} server(s), {reqs} requests, {rps:.0f} req/s, p50 {max(p50):.1f} ms, "
      f"p99 {max(p99):.1f} ms (worst server), non-2xx {errors}, CPU per 1,000 requests: "
      f"paperscout {1000 * cpu_ps / reqs:.2f} s + postgres {1000 * cpu_pg / reqs:.2f} s")
PY
}
NOMODEL="$SCRATCH/no-model"   # a missing model: no background encoding
SERVERS=""
$PS --data-dir "$SCRATCH/scifact-sqlite" --model "$NOMODEL" serve --addr 127.0.0.1:7890 --reads-per-minute 0 2>"$SCRATCH/serve-sqlite.log" &
SERVERS="$!"
wait_up 7890
curl -sf "http://127.0.0.1:7890/api/search?q=warm&mode=lexical" >/dev/null
run_load sqlite 7890
kill $SERVERS; wait $SERVERS 2>/dev/null || true
for n in 1 2 3; do
    SERVERS=""; ports=()
    for i in $(seq 1 $n); do
        port=$((7890 + i))
        rm -rf "$SCRATCH/replica-$i"
        $PS --database "$SEARCHDB" --data-dir "$SCRATCH/replica-$i" --model "$NOMODEL" serve \
            --addr "127.0.0.1:$port" --reads-per-minute 0 2>"$SCRATCH/serve-replica-$i.log" &
        SERVERS="$SERVERS $!"; ports+=($port)
    done
    for port in "${ports[@]}"; do wait_up $port; curl -sf "http://127.0.0.1:$port/api/search?q=warm&mode=lexical" >/dev/null; done
    run_load "postgres-$n" "${ports[@]}"
    kill $SERVERS; wait $SERVERS 2>/dev/null || true
done

fi

if phase 3; then
echo "== 3. encoding $ENCODE papers with 1 and 2 workers"
ESNAP="$SCRATCH/snapshot-$ENCODE.jsonl"
[ -f "$ESNAP" ] || $PS bench snapshot --records "$ENCODE" --out "$ESNAP"
for workers in 1 2; do
    EDB=$(newdb "encode$workers")
    $PS --database "$EDB" --data-dir "$SCRATCH/encode-ingest" --no-demo ingest --no-encode --format arxiv-snapshot "$ESNAP" >/dev/null
    start=$(date +%s.%N)
    pids=()
    for w in $(seq 1 $workers); do
        $PS --database "$EDB" --data-dir "$SCRATCH/worker-$w" worker --once > "$SCRATCH/worker-$workers-$w.txt" 2>/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    cat "$SCRATCH"/worker-"$workers"-*.txt
    python3 - "$workers" "$start" "$end" "$ENCODE" "$(psql -qAt "$EDB" -c 'SELECT COUNT(*) FROM embeddings')" \
        "$(cat "$SCRATCH"/worker-"$workers"-*.txt | sed -E 's/^encoded ([0-9]+) papers.*/\1/' | paste -sd+ | bc)" <<'PY'
import sys
w, start, end, n, stored, encoded = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
print(f"{w} worker(s): {n} papers in {end - start:.1f} s = {n / (end - start):.1f} papers/s; "
      f"encoded by the workers in all: {encoded}; embeddings stored: {stored}; "
      f"{'no paper encoded twice' if encoded == n == stored else 'MISMATCH'}")
PY
done
fi
