"""The peer for the load benchmark: the obvious Python search server. sentence-transformers
encodes each query (same model files, same threads), numpy scores it against the same SciFact
embeddings (read from paperscout's store, so both search identical vectors), and
ThreadingHTTPServer answers GET /api/search?q=...&limit=10 with JSON. Semantic only: it has no
BM25, so compare it with paperscout's semantic mode.

    python3 bench/peer_serve.py --store DATA_DIR/papers.sqlite --model MODEL_DIR --port 7881 [--threads 2]
"""
import argparse
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

parser = argparse.ArgumentParser()
parser.add_argument("--store", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--port", type=int, default=7881)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

torch.set_num_threads(args.threads)
db = sqlite3.connect(args.store)
rows = db.execute(
    "SELECT p.id, p.title, e.vector FROM embeddings e JOIN papers p ON p.key = e.paper_key"
).fetchall()
ids = [r[0] for r in rows]
titles = [r[1] for r in rows]
matrix = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
model = SentenceTransformer(args.model, device="cpu")
model.max_seq_length = 256
model.encode(["warm up"], normalize_embeddings=True)
lock = threading.Lock()  # torch is not re-entrant across request threads on one model


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/healthz":
            return self.answer(200, {"status": "ok", "papers": len(ids)})
        q = parse_qs(url.query).get("q", [""])[0].strip()
        if url.path != "/api/search" or not q:
            return self.answer(400, {"error": "bad request"})
        limit = int(parse_qs(url.query).get("limit", ["10"])[0])
        with lock:
            v = model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        scores = matrix @ v
        top = np.argpartition(-scores, limit)[:limit]
        top = top[np.argsort(-scores[top])]
        self.answer(200, {"hits": [{"id": ids[i], "title": titles[i], "score": float(scores[i])} for i in top]})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
