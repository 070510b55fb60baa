#!/usr/bin/env python3
"""Soak on loopback: `paperscout serve` under well-behaved and hostile clients at once, while
an `ingest` of SciFact runs in another process.

    python3 bench/soak.py [--binary target/release/paperscout] [--duration 600]
                          [--scifact ../shared/data/scifact] [--out target/bench/soak.json]

- 16 well-behaved clients (source addresses 127.0.0.10-25), each searching SciFact claims in
  every mode (lexical, semantic, hybrid) and opening pages, paced at ~2 requests/s.
- 4 hostile clients (127.0.1.1-4): deeply nested and operator-laden queries up to the length
  limit and past it, in every mode and on the page; slowloris connections (request heads
  dribbled a header at a time); requests with random 8,000-character methods; long hybrid
  queries as fast as they are answered, malformed forms and query strings.
- After a minute, `paperscout ingest SCIFACT` into the same data dir, in another process.
- Before all that, the peer: the same 16 well-behaved clients alone for --baseline seconds.

Reports, for the well-behaved: every status seen (5xx must be zero), p50/p95/p99 latency per
mode; for the hostile: statuses; the server's peak RSS (VmHWM) and whether it survived.
Loopback only; every loop is bounded by the duration and stops by itself.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("--binary", default="target/release/paperscout")
ap.add_argument("--duration", type=float, default=600)
ap.add_argument("--scifact", default="../shared/data/scifact")
ap.add_argument("--port", type=int, default=7891)
ap.add_argument("--out", default="target/bench/soak.json")
ap.add_argument("--ingest-after", type=float, default=60)
ap.add_argument("--baseline", type=float, default=60,
                help="seconds of well-behaved clients alone first (the peer figures)")
args = ap.parse_args()

PORT = args.port
stop = threading.Event()
lock = threading.Lock()
good_status = Counter()
good_lat = {"baseline": defaultdict(list), "soak": defaultdict(list)}
phase = ["baseline"]
bad_status = Counter()
notes = Counter()

queries = [json.loads(l)["text"] for l in open(os.path.join(args.scifact, "queries.jsonl"))]
data_dir = tempfile.mkdtemp(prefix="paperscout-soak-")
env = dict(os.environ)
env.setdefault("PAPERSCOUT_CACHE_DIR", os.path.expanduser("~/.cache/paperscout"))
log = open(os.path.join(data_dir, "serve.log"), "w")
server = subprocess.Popen(
    [args.binary, "--data-dir", data_dir, "serve", "--addr", f"127.0.0.1:{PORT}"],
    stdout=log, stderr=log, env=env,
)


def request(src, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout, source_address=(src, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def wait_up():
    """Until the model is loaded and the demo corpus encoded: before that, semantic and hybrid
    searches are answered 503 `busy` by design, which is not what this soak measures."""
    for _ in range(1200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/healthz")
            health = json.loads(conn.getresponse().read())
            conn.close()
            if health.get("model") == "ready" and not health.get("encoding"):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    sys.exit("the server did not come up")


def good(i):
    src = f"127.0.0.{10 + i}"
    rng = random.Random(i)
    modes = ["lexical", "semantic", "hybrid"]
    while not stop.is_set():
        mode = rng.choice(modes)
        q = urllib.parse.quote(rng.choice(queries), safe="")
        kind, path = (mode, f"/api/search?q={q}&mode={mode}&limit=10")
        if rng.random() < 0.15:
            kind, path = "page", rng.choice(["/", "/new", f"/search?q={q}&mode=lexical"])
        t = time.perf_counter()
        try:
            status = request(src, "GET", path)
        except OSError as e:
            status = f"error:{type(e).__name__}"
        dt = time.perf_counter() - t
        with lock:
            good_status[status] += 1
            good_lat[phase[0]][kind].append(dt)
        stop.wait(max(0.0, 0.5 - dt))


def nested(rng):
    unit = rng.choice(["(", "[", "{", "\"", "+", "-", "title:(", "NOT (", "a AND (", "\\", "*", "title:*", "((\""])
    n = rng.choice([50, 300, 999, 3000])
    return (unit * (n // len(unit) + 1))[:n]


def hostile_queries(i):
    src = f"127.0.1.{i}"
    rng = random.Random(100 + i)
    while not stop.is_set():
        q = urllib.parse.quote(nested(rng), safe="")
        path = rng.choice([
            f"/api/search?q={q}&mode={rng.choice(['lexical', 'semantic', 'hybrid'])}",
            f"/search?q={q}&mode=lexical",
            "/api/search?q=title:*&mode=lexical",
            "/?page=-1",
        ])
        try:
            s = request(src, "GET", path)
        except OSError as e:
            s = f"error:{type(e).__name__}"
        with lock:
            bad_status[s] += 1


def slowloris(i):
    src = f"127.0.1.{i}"
    socks = []
    while not stop.is_set():
        while len(socks) < 80 and not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", PORT), timeout=5, source_address=(src, 0))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                with lock:
                    notes["slowloris connect refused"] += 1
                break
        alive = []
        for s in socks:
            try:
                s.sendall(b"X-a: b\r\n")
                alive.append(s)
            except OSError:
                with lock:
                    notes["slowloris connections cut"] += 1
                s.close()
        socks = alive
        stop.wait(2)
    for s in socks:
        s.close()


def methods(i):
    src = f"127.0.1.{i}"
    rng = random.Random(300 + i)
    while not stop.is_set():
        m = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8000))
        try:
            s = request(src, m, "/api/search?q=x")
        except OSError as e:
            s = f"error:{type(e).__name__}"
        with lock:
            bad_status[s] += 1


def heavy(i):
    src = f"127.0.1.{i}"
    rng = random.Random(400 + i)
    while not stop.is_set():
        long = urllib.parse.quote(" ".join(rng.choice(queries) for _ in range(20))[:1000], safe="")
        choice = rng.random()
        try:
            if choice < 0.8:
                s = request(src, "GET", f"/api/search?q={long}&mode=hybrid")
            elif choice < 0.9:
                body = json.dumps({"email": rng.choice(['"a,b@evil.example"@example.org', "v@[127.0.0.1]", "ädä@example.org"])})
                s = request(src, "POST", "/api/subscriptions", body=body, headers={"Content-Type": "application/json"})
            else:
                s = request(src, "POST", "/api/papers/arxiv:0000.00000/upvote")
        except OSError as e:
            s = f"error:{type(e).__name__}"
        with lock:
            bad_status[s] += 1


def rss():
    peak, now = 0, 0
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) // 1024
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) // 1024
    return peak, now


wait_up()
print(f"server up (data dir {data_dir}); well-behaved clients alone for {args.baseline:.0f} s",
      flush=True)
threads = [threading.Thread(target=good, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
time.sleep(args.baseline)
with lock:
    phase[0] = "soak"
print(f"soaking for {args.duration:.0f} s", flush=True)
hostile = [
    threading.Thread(target=hostile_queries, args=(1,)),
    threading.Thread(target=slowloris, args=(2,)),
    threading.Thread(target=methods, args=(3,)),
    threading.Thread(target=heavy, args=(4,)),
]
for t in hostile:
    t.start()
threads += hostile
start = time.time()
ingest = None
ingest_result = None
rss_samples = []
while time.time() - start < args.duration:
    if server.poll() is not None:
        notes["server exited during the soak"] += 1
        break
    if ingest is None and time.time() - start >= args.ingest_after:
        ingest_log = open(os.path.join(data_dir, "ingest.log"), "w")
        ingest_started = time.time()
        ingest = subprocess.Popen([args.binary, "--data-dir", data_dir, "ingest", args.scifact],
                                  stdout=ingest_log, stderr=ingest_log, env=env)
    if ingest is not None and ingest_result is None and ingest.poll() is not None:
        ingest_result = {"exit": ingest.returncode, "seconds": round(time.time() - ingest_started, 1)}
        print(f"ingest finished: {ingest_result}", flush=True)
    rss_samples.append(rss()[1])
    time.sleep(1)
stop.set()
for t in threads:
    t.join(timeout=90)
alive = server.poll() is None
peak, _ = rss() if alive else (None, None)
metrics_bytes = None
if alive:
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", "/metrics")
    metrics_bytes = len(c.getresponse().read())
    server.send_signal(signal.SIGTERM)
    t = time.time()
    server.wait(timeout=60)
    notes["seconds to exit after SIGTERM"] = round(time.time() - t, 1)
if ingest is not None and ingest_result is None:
    ingest.wait()
    ingest_result = {"exit": ingest.returncode, "seconds": round(time.time() - ingest_started, 1)}


def pct(xs, p):
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 1) if xs else None


summary = {
    "duration_s": args.duration,
    "server_survived": alive,
    "peak_rss_mib": peak,
    "rss_mib_first_last": [rss_samples[0], rss_samples[-1]] if rss_samples else None,
    "metrics_bytes_at_end": metrics_bytes,
    "ingest": ingest_result,
    "good_requests": sum(good_status.values()),
    "good_status": {str(k): v for k, v in sorted(good_status.items(), key=str)},
    "good_5xx": sum(v for k, v in good_status.items() if isinstance(k, int) and k >= 500),
    "good_errors": sum(v for k, v in good_status.items() if not isinstance(k, int)),
    "good_latency_ms": {
        ph: {k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99)}
             for k, v in sorted(lat.items())}
        for ph, lat in good_lat.items()},
    "hostile_status": {str(k): v for k, v in sorted(bad_status.items(), key=str)},
    "notes": dict(notes),
}
os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
with open(args.out, "w") as f:
    json.dump(summary, f, indent=1)
print(json.dumps(summary, indent=1))
shutil.rmtree(data_dir, ignore_errors=True)
sys.exit(0 if alive and summary["good_5xx"] == 0 and summary["good_errors"] == 0 else 1)
